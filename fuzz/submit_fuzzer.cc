// libFuzzer target: bytes as a tessera.v1.SubmitRequest, through exactly what the scheduler's
// Submit runs before it answers (scheduler::TaskGraphFromSubmit: the graph or call validation,
// wire::GraphFromProto, graph::Lower) and then its state machine (SchedulerState::Submit,
// Release). Every input must end in a Status, never a crash, a leak or undefined behaviour.
//
// The limits are the scheduler's except for the task and chunk counts, lowered so that an input
// asking for millions of tasks is refused quickly instead of spending the fuzzer's memory (the
// checks are the same code; only the numbers differ).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "graph/rpc/limits.h"
#include "graph/rpc/wire.h"
#include "scheduler.pb.h"
#include "scheduler/requests.h"
#include "scheduler/state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::v1::SubmitRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  tessera::wire::RequestLimits limits;
  limits.max_tasks = 20'000;
  limits.max_chunks_per_array = 20'000;
  auto graph = tessera::scheduler::TaskGraphFromSubmit(request, limits);
  if (!graph.ok()) return 0;
  // What a worker would be sent: every program and task must survive the wire both ways.
  for (size_t i = 0; i < graph->programs.size(); ++i) {
    tessera::v1::ChunkProgram p;
    tessera::wire::ProgramToProto(graph->programs[i], static_cast<int64_t>(i), &p);
    if (!tessera::wire::ProgramFromProto(p).ok()) __builtin_trap();
  }
  for (const auto& task : graph->tasks) {
    tessera::v1::Task t;
    tessera::wire::TaskToProto(task, 0, &t);
    if (!tessera::wire::TaskFromProto(t).ok()) __builtin_trap();
  }
  tessera::scheduler::SchedulerState state;
  const std::vector<std::string> keys = graph->output_keys;
  auto result = state.Submit(request.client_id(), *std::move(graph));
  if (result.ok()) {
    state.Release(request.client_id(), std::vector<std::string_view>(keys.begin(), keys.end()));
    state.RemoveClient(request.client_id());
  }
  return 0;
}
