#include "scheduler/requests.h"

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/status.h"
#include "graph/lowering.h"
#include "graph/rpc/wire.h"

namespace tessera::scheduler {

absl::Status ValidateClientId(const std::string& rpc, const std::string& client_id,
                              const wire::RequestLimits& limits) {
  if (client_id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(rpc, ": client_id is empty"));
  }
  return wire::ValidateString(absl::StrCat(rpc, ": client_id"), client_id, limits);
}

namespace {

// TaskGraphFromSubmit over a const request (calls copied) or a mutable one (their strings moved).
template <typename Request>
absl::StatusOr<graph::TaskGraph> TaskGraphFromSubmitImpl(Request& request,
                                                         const wire::RequestLimits& limits) {
  // An empty client id is accepted for Submit (older clients, tests); its keys are then never
  // released by a session's end.
  TESSERA_RETURN_IF_ERROR(wire::ValidateString("submit: client_id", request.client_id(), limits));
  if (request.calls_size() > 0) {
    if constexpr (std::is_const_v<Request>) {
      return wire::CallGraphFromProto(request.calls(), request.call_outputs(), limits);
    } else {
      return wire::CallGraphFromProto(request.mutable_calls(), request.call_outputs(), limits);
    }
  }
  if (request.call_outputs_size() > 0) {
    return absl::InvalidArgumentError("submit: call_outputs without calls");
  }
  TESSERA_ASSIGN_OR_RETURN(graph::NodePtr root, wire::GraphFromProto(request.graph(), limits));
  graph::LowerOptions options;
  options.max_tasks = limits.max_tasks;
  return graph::Lower(root, options);
}

}  // namespace

absl::StatusOr<graph::TaskGraph> TaskGraphFromSubmit(const v1::SubmitRequest& request,
                                                     const wire::RequestLimits& limits) {
  return TaskGraphFromSubmitImpl(request, limits);
}

absl::StatusOr<graph::TaskGraph> TaskGraphFromSubmit(v1::SubmitRequest* request,
                                                     const wire::RequestLimits& limits) {
  return TaskGraphFromSubmitImpl(*request, limits);
}

absl::Status ValidateWait(const v1::WaitRequest& request, const wire::RequestLimits& limits) {
  TESSERA_RETURN_IF_ERROR(wire::ValidateString("wait: client_id", request.client_id(), limits));
  if (request.computation_id() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("wait: negative computation_id ", request.computation_id()));
  }
  return wire::ValidateKeys("wait", request.keys(), limits);
}

absl::Status ValidateLocate(const v1::LocateRequest& request, const wire::RequestLimits& limits) {
  return wire::ValidateKeys("locate", request.keys(), limits);
}

absl::Status ValidateRetire(const v1::RetireRequest& request, const wire::RequestLimits& limits) {
  TESSERA_RETURN_IF_ERROR(wire::ValidateKeys("retire", request.workers(), limits));
  if (!(request.timeout_seconds() >= 0) || request.timeout_seconds() > 86400) {
    return absl::InvalidArgumentError(absl::StrCat("retire: timeout_seconds ",
                                                   request.timeout_seconds(),
                                                   " is not between 0 and 86400"));
  }
  if (request.count() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("retire: count ", request.count(), " < 0"));
  }
  if (request.workers_size() == 0 && request.count() <= 0) {
    return absl::InvalidArgumentError("retire: no worker named");
  }
  if (request.workers_size() == 0 && request.kind() != "cpu" && request.kind() != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat(
        "retire: kind '", request.kind().substr(0, 64), "' is neither cpu nor cuda"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRelease(const v1::ReleaseRequest& request, const wire::RequestLimits& limits) {
  TESSERA_RETURN_IF_ERROR(wire::ValidateString("release: client_id", request.client_id(), limits));
  return wire::ValidateKeys("release", request.keys(), limits);
}

absl::Status ValidateRegistration(const v1::RegisterWorker& r, const wire::RequestLimits& limits) {
  if (r.nthreads() < 1 || r.nthreads() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("register: nthreads ", r.nthreads(), " out of range (1 to 4096)"));
  }
  if (r.memory_limit() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("register: negative memory_limit ", r.memory_limit()));
  }
  if (r.kind() != "cpu" && r.kind() != "cuda") {
    return absl::InvalidArgumentError(
        absl::StrCat("register: kind '", r.kind().substr(0, 64), "' is neither cpu nor cuda"));
  }
  TESSERA_RETURN_IF_ERROR(wire::ValidateString("register: name", r.name(), limits));
  TESSERA_RETURN_IF_ERROR(wire::ValidateString("register: address", r.address(), limits));
  TESSERA_RETURN_IF_ERROR(wire::ValidateString("register: device", r.device(), limits));
  TESSERA_RETURN_IF_ERROR(ParseAddress(r.address()).status());
  if (r.functions_size() > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("register: ", r.functions_size(), " functions; at most 65536"));
  }
  for (const auto& f : r.functions()) {
    TESSERA_RETURN_IF_ERROR(wire::ValidateString("register: function name", f.name(), limits));
    auto sig = wire::SignatureFromProto(f);
    if (!sig.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("register: ", sig.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera::scheduler
