// What the scheduler's RPCs check and convert before they touch the state machine, apart from
// gRPC so that unit tests and the fuzz target (fuzz/submit_fuzzer.cc) run exactly this code.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/rpc/limits.h"
#include "graph/task_graph.h"
#include "scheduler.pb.h"

namespace tessera::scheduler {

/// A Submit request as the tasks to add: the graph validated against `limits`
/// (wire::GraphFromProto) and lowered with at most limits.max_tasks tasks, or the CALL tasks
/// (wire::CallGraphFromProto). The client id must be non-empty and short. Errors are
/// INVALID_ARGUMENT naming the field and the limit; a chunk too large for `max_chunk_bytes`
/// (0: none) is RESOURCE_EXHAUSTED. Thread-safe (pure).
absl::StatusOr<graph::TaskGraph> TaskGraphFromSubmit(const v1::SubmitRequest& request,
                                                     const wire::RequestLimits& limits = {});
/// The same, moving the calls' strings out of `request` (the scheduler discards it afterwards).
absl::StatusOr<graph::TaskGraph> TaskGraphFromSubmit(v1::SubmitRequest* request,
                                                     const wire::RequestLimits& limits = {});

/// A client id (ClientSession, Submit, Release): non-empty, at most limits.max_string_bytes.
absl::Status ValidateClientId(const std::string& rpc, const std::string& client_id,
                              const wire::RequestLimits& limits = {});

/// Wait: the keys (wire::ValidateKeys) and the client id's length (it may be empty).
absl::Status ValidateWait(const v1::WaitRequest& request, const wire::RequestLimits& limits = {});
/// Locate: the keys.
absl::Status ValidateLocate(const v1::LocateRequest& request,
                            const wire::RequestLimits& limits = {});
/// Release: the client id and the keys.
absl::Status ValidateRelease(const v1::ReleaseRequest& request,
                             const wire::RequestLimits& limits = {});
/// Retire: some worker named or a count asked for, the worker names (as keys: count and length),
/// the kind ("" with names, else cpu or
/// cuda), a count >= 0 and a timeout that is a number >= 0.
absl::Status ValidateRetire(const v1::RetireRequest& request,
                            const wire::RequestLimits& limits = {});
/// RegisterWorker: nthreads 1..4096, memory limit >= 0, kind cpu or cuda, a parsable address,
/// well-formed function signatures, and strings of at most limits.max_string_bytes.
absl::Status ValidateRegistration(const v1::RegisterWorker& request,
                                  const wire::RequestLimits& limits = {});

}  // namespace tessera::scheduler
