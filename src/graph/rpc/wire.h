// Conversions between the graph/task domain types and tessera.v1 Protobuf messages. This is the
// edge: nothing below it sees a Protobuf type.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common.pb.h"
#include "common/chunk.h"
#include "graph.pb.h"
#include "graph/expr.h"
#include "graph/rpc/limits.h"
#include "graph/task_graph.h"
#include "task.pb.h"

namespace tessera::wire {

/// The DAG under `root` in topological order (shared nodes sent once).
v1::Graph GraphToProto(const graph::NodePtr& root);
/// Rebuilds the DAG through the validating constructors of graph/expr.h, so a malformed graph
/// is an INVALID_ARGUMENT naming the node and the bad value, never a crash. Checks `limits`
/// (node count, depth, dimensions, chunks per array, string lengths) before building a node.
absl::StatusOr<graph::NodePtr> GraphFromProto(const v1::Graph& proto,
                                              const RequestLimits& limits = {});

void ProgramToProto(const graph::ChunkProgram& program, int64_t id, v1::ChunkProgram* out);
absl::StatusOr<graph::ChunkProgram> ProgramFromProto(const v1::ChunkProgram& proto);

/// The task as the scheduler assigns it to a worker: what the worker runs it from, without its
/// group and estimated size (the scheduler's bookkeeping, which the worker never reads).
/// TaskInput holders / inline data are filled by the scheduler.
void TaskToProto(const graph::TaskSpec& task, int64_t program_id, v1::Task* out);
/// Validates enums and lengths; `program` is set to -1 (the worker resolves program_id).
absl::StatusOr<graph::TaskSpec> TaskFromProto(const v1::Task& proto);
/// The same, moving the strings (key, group, function, input keys, literal) out of `proto`.
absl::StatusOr<graph::TaskSpec> TaskFromProto(v1::Task&& proto);
/// A CALL task's arguments, after checking that it names a function: argument references within
/// the task's inputs, literals decoded. TaskFromProto's check of a call, and all a worker needs to
/// run one without converting the rest of the task. `key` names the task in errors (a mutable
/// proto's own key may have been moved out already).
absl::StatusOr<std::vector<graph::CallArg>> CallArgsFromProto(const v1::Task& proto,
                                                              absl::string_view key);

/// The graph of CALL tasks a client submits (client.submit, map, delayed): every task must be a
/// CALL with a distinct, non-empty key; inputs name keys of earlier tasks or keys already in the
/// cluster (external_deps). `outputs` empty means every task is an output. The group of a call is
/// its function's name.
/// At most limits.max_tasks calls and limits.max_keys outputs; keys, groups and function names
/// of at most limits.max_string_bytes.
absl::StatusOr<graph::TaskGraph> CallGraphFromProto(
    const google::protobuf::RepeatedPtrField<v1::Task>& calls,
    const google::protobuf::RepeatedPtrField<std::string>& outputs,
    const RequestLimits& limits = {});
/// The same, moving the calls' strings into the graph (the scheduler's Submit, whose request is
/// discarded afterwards): no copy of each key.
absl::StatusOr<graph::TaskGraph> CallGraphFromProto(
    google::protobuf::RepeatedPtrField<v1::Task>* calls,
    const google::protobuf::RepeatedPtrField<std::string>& outputs,
    const RequestLimits& limits = {});

/// The offset of the first byte of `value` that is not part of well-formed UTF-8 (an overlong
/// form, a surrogate, a code point past U+10FFFF, a stray or missing continuation byte), or
/// std::string_view::npos when it is all well-formed. ASCII goes eight bytes at a time.
size_t FirstInvalidUtf8(std::string_view value);

/// `value` with each byte that is not part of well-formed UTF-8 written as "\xHH": for text that
/// goes into a proto `string` field (a task's error message, which may quote a function's
/// arguments), where bytes that are not UTF-8 would make the receiver refuse the whole message.
std::string EscapeInvalidUtf8(std::string_view value);
/// `value` for an error message that names it: in single quotes, its first 64 bytes only
/// ("...'" after a longer one), bytes that are not UTF-8 as "\xHH".
std::string QuotedForMessage(std::string_view value);

/// INVALID_ARGUMENT "<what> is N bytes; at most M" when `value` is longer than
/// limits.max_string_bytes, and "<what> is not UTF-8 (byte K is 0xHH)" when it is not UTF-8.
/// Keys, groups, function names and holders travel as proto `bytes` (a proto3 `string` is checked
/// for UTF-8 at every parse and serialization, on every hop of every task); this check, where
/// they enter the cluster, keeps them UTF-8 for the logs, the dashboard and error messages.
absl::Status ValidateString(absl::string_view what, std::string_view value,
                            const RequestLimits& limits = {});
/// The same, with the field's name built by `what()` only when the check fails: validating every
/// task of a 100 000-task submit must not format (and allocate) a name per task.
template <typename WhatFn>
absl::Status ValidateStringNamed(std::string_view value, const RequestLimits& limits,
                                 WhatFn&& what) {
  if (value.size() <= limits.max_string_bytes &&
      FirstInvalidUtf8(value) == std::string_view::npos) {
    return absl::OkStatus();
  }
  return ValidateString(what(), value, limits);
}
/// The keys of one request (`what` names it, "locate"): at most limits.max_keys of them, each
/// non-empty and of at most limits.max_string_bytes.
absl::Status ValidateKeys(absl::string_view what,
                          const google::protobuf::RepeatedPtrField<std::string>& keys,
                          const RequestLimits& limits = {});

void ChunkToProto(const ChunkBuffer& chunk, v1::ArrayData* out);
void SignatureToProto(const call::Signature& signature, v1::FunctionSignature* out);
/// Validates the type numbers and the name (non-empty).
absl::StatusOr<call::Signature> SignatureFromProto(const v1::FunctionSignature& proto);
/// Checks that the byte count matches dtype and shape.
absl::StatusOr<ChunkBuffer> ChunkFromProto(const v1::ArrayData& proto);

v1::DType DTypeToProto(DType dtype);
absl::StatusOr<DType> DTypeFromProto(int value);
void ChunksToProto(const Chunks& chunks, v1::ChunkGrid* out);
Chunks ChunksFromProto(const v1::ChunkGrid& proto);

}  // namespace tessera::wire
