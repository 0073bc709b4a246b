#include "graph/lowering.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status.h"

namespace tessera::graph {
namespace {

bool IsFusible(OpKind kind) {
  switch (kind) {
    case OpKind::kFull:
    case OpKind::kArange:
    case OpKind::kLinspace:
    case OpKind::kRandom:
    case OpKind::kScalar:
    case OpKind::kUnary:
    case OpKind::kBinary:
    case OpKind::kSlice:
    case OpKind::kTranspose:
    case OpKind::kWhere:
    case OpKind::kRechunk:
      return true;
    case OpKind::kSource:
    case OpKind::kReduce:
    case OpKind::kConcatenate:
    case OpKind::kReshape:
    case OpKind::kTensordot:
    case OpKind::kFromBuffer:
      return false;
  }
  return false;
}

// The op part of a task group name, as dask names its layers ("ones-...", "exp-...").
std::string NodeOpName(const Node& node) {
  switch (node.kind) {
    case OpKind::kFull:
      return node.value == 1 ? "ones" : node.value == 0 ? "zeros" : "full";
    case OpKind::kArange:
      return "arange";
    case OpKind::kLinspace:
      return "linspace";
    case OpKind::kRandom:
      return node.dist == RandomDist::kNormal ? "normal" : "random";
    case OpKind::kSource:
      return node.source_name;
    case OpKind::kScalar:
      return "scalar";
    case OpKind::kUnary:
      return std::string(UnaryOpName(node.unary));
    case OpKind::kBinary:
      return std::string(BinaryOpName(node.binary));
    case OpKind::kSlice:
      return "getitem";
    case OpKind::kTranspose:
      return "transpose";
    case OpKind::kReduce:
      return std::string(ReduceOpName(node.reduce));
    case OpKind::kWhere:
      return "where";
    case OpKind::kRechunk:
      return "rechunk";
    case OpKind::kConcatenate:
      return "concatenate";
    case OpKind::kReshape:
      return "reshape";
    case OpKind::kTensordot:
      return "tensordot";
    case OpKind::kFromBuffer:
      return "array";
  }
  return "op";
}

IndexMap Identity(int ndim) {
  IndexMap m;
  for (int a = 0; a < ndim; ++a) {
    m.offset.push_back(0);
    m.step.push_back(1);
    m.out_axis.push_back(a);
  }
  return m;
}

// Appends a constant coordinate to a map (an integer index, a broadcast axis, a length-1 axis).
void PushConstant(IndexMap* m, int64_t coord) {
  m->offset.push_back(coord);
  m->step.push_back(0);
  m->out_axis.push_back(-1);
}

// C-order odometer over a block grid; returns false after the last block.
bool NextBlock(const std::vector<int64_t>& nblocks, std::vector<int64_t>* index) {
  for (int a = static_cast<int>(nblocks.size()) - 1; a >= 0; --a) {
    if (++(*index)[a] < nblocks[a]) return true;
    (*index)[a] = 0;
  }
  return false;
}

// Block starts of a materialised array, for finding the chunks a task reads.
struct InputGrid {
  std::vector<std::vector<int64_t>> starts;  // per axis
  std::vector<int64_t> nblocks;
};

int64_t BlockContaining(const std::vector<int64_t>& starts, int64_t coord) {
  auto it = std::upper_bound(starts.begin(), starts.end(), coord);
  return std::max<int64_t>(0, (it - starts.begin()) - 1);
}

// Floor division for a possibly negative numerator.
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

class Lowerer {
 public:
  explicit Lowerer(const LowerOptions& options) : options_(options) {}

  absl::StatusOr<TaskGraph> Run(const NodePtr& root) {
    if (root == nullptr) return absl::InvalidArgumentError("cannot lower a null expression");
    graph_.shape = root->shape;
    graph_.dtype = root->dtype;
    graph_.chunks = root->chunks;
    if (IsFusible(root->kind)) {
      TESSERA_RETURN_IF_ERROR(LowerElementwiseRoot(root));
    } else {
      TESSERA_ASSIGN_OR_RETURN(ProgramInput out, Materialize(root));
      graph_.output_name = out.name;
      std::vector<int64_t> b(root->chunks.size(), 0);
      const std::vector<int64_t> nblocks = NumBlocks(root->chunks);
      do {
        graph_.output_keys.push_back(KeyFor(out.name, b));
        // A source root is its own existing keys: nothing to run, all of them external.
        if (root->kind == OpKind::kSource)
          graph_.external_deps.push_back(graph_.output_keys.back());
      } while (NextBlock(nblocks, &b));
    }
    return std::move(graph_);
  }

 private:
  // Refuses a graph that would need `more` tasks beyond those built so far past the limit, before
  // they are allocated.
  absl::Status CheckTaskCount(int64_t more) const {
    if (options_.max_tasks <= 0) return absl::OkStatus();
    const int64_t have = static_cast<int64_t>(graph_.tasks.size());
    if (more > options_.max_tasks - have) {
      return absl::InvalidArgumentError(absl::StrCat(
          "lowering needs more than ", options_.max_tasks, " tasks (", have, " built, ", more,
          " more wanted); at most ", options_.max_tasks, " per submit: use larger chunks"));
    }
    return absl::OkStatus();
  }

  absl::Status AddTask(TaskSpec t) {
    TESSERA_RETURN_IF_ERROR(CheckTaskCount(1));
    graph_.tasks.push_back(std::move(t));
    return absl::OkStatus();
  }

  // A fused program under construction, over the output space of one node.
  struct Builder {
    ChunkProgram program;
    // (node, map) -> program node, so shared subexpressions are emitted once.
    std::unordered_map<const Node*, std::vector<std::pair<IndexMap, int>>> memo;
    std::map<std::pair<uint64_t, DType>, int> scalars;  // (value bits, dtype) -> kScalar node
    std::vector<InputGrid> grids;                       // parallel to program.inputs
  };

  std::string TokenOf(const NodePtr& node) {
    auto it = tokens_.find(node.get());
    if (it != tokens_.end()) return it->second;
    std::string t = Token(node);
    tokens_.emplace(node.get(), t);
    return t;
  }

  std::string Group(const NodePtr& node) {
    return absl::StrCat(NodeOpName(*node), "-", TokenOf(node).substr(0, 12));
  }

  // Emits `node` read through `map` (program coordinates -> node coordinates) into the
  // program, returning its ProgramNode index.
  absl::StatusOr<int> Emit(Builder* b, const NodePtr& node, const IndexMap& map) {
    auto& seen = b->memo[node.get()];
    for (const auto& [seen_map, seen_index] : seen) {
      if (seen_map == map) return seen_index;
    }
    ProgramNode p;
    p.dtype = node->dtype;
    switch (node->kind) {
      case OpKind::kFull:
        p.kind = ProgramNode::Kind::kFull;
        p.value = node->value;
        p.leaf_shape = node->shape;
        p.map = map;
        break;
      case OpKind::kArange:
        p.kind = ProgramNode::Kind::kArange;
        p.start = node->start;
        p.step = node->step;
        p.leaf_shape = node->shape;
        p.map = map;
        break;
      case OpKind::kLinspace: {
        p.kind = ProgramNode::Kind::kLinspace;
        const int64_t num = node->shape[0];
        p.start = node->start;
        p.step = node->step;
        p.value = node->stop;
        p.param_a = static_cast<double>(node->endpoint ? num - 1 : num);
        p.param_b = node->stop - node->start;
        p.leaf_shape = node->shape;
        p.map = map;
        break;
      }
      case OpKind::kRandom:
        p.kind = ProgramNode::Kind::kRandom;
        p.dist = node->dist;
        p.seed = node->seed;
        p.param_a = node->param_a;
        p.param_b = node->param_b;
        p.leaf_shape = node->shape;
        p.map = map;
        break;
      case OpKind::kScalar:
        p.kind = ProgramNode::Kind::kScalar;
        p.value = node->value;
        break;
      case OpKind::kSource:
      case OpKind::kReduce:
      case OpKind::kConcatenate:
      case OpKind::kReshape:
      case OpKind::kTensordot:
      case OpKind::kFromBuffer: {
        TESSERA_ASSIGN_OR_RETURN(ProgramInput in, Materialize(node));
        int index = -1;
        for (size_t i = 0; i < b->program.inputs.size(); ++i) {
          if (b->program.inputs[i] == in) index = static_cast<int>(i);
        }
        if (index < 0) {
          index = static_cast<int>(b->program.inputs.size());
          InputGrid grid;
          grid.starts = BlockOffsets(in.chunks);
          grid.nblocks = NumBlocks(in.chunks);
          b->grids.push_back(std::move(grid));
          b->program.inputs.push_back(std::move(in));
        }
        p.kind = ProgramNode::Kind::kInput;
        p.input = index;
        p.leaf_shape = node->shape;
        p.map = map;
        break;
      }
      case OpKind::kUnary: {
        TESSERA_ASSIGN_OR_RETURN(int arg, Emit(b, node->inputs[0], map));
        p.kind = ProgramNode::Kind::kUnary;
        p.unary = node->unary;
        p.arg0 = arg;
        break;
      }
      case OpKind::kBinary: {
        int args[2];
        for (int i = 0; i < 2; ++i) {
          const NodePtr& operand = node->inputs[i];
          const NodePtr& other = node->inputs[1 - i];
          if (operand->kind == OpKind::kScalar && other->kind != OpKind::kScalar) {
            // A Python scalar takes the array's dtype first, as NumPy's weak scalars do, so that
            // float32 arithmetic with a float literal rounds like NumPy's.
            args[i] =
                EmitScalar(b, *operand, PromoteWithScalar(other->dtype, operand->scalar_is_float));
            continue;
          }
          TESSERA_ASSIGN_OR_RETURN(args[i], Emit(b, operand, OperandMap(*node, *operand, map)));
        }
        p.kind = ProgramNode::Kind::kBinary;
        p.binary = node->binary;
        p.arg0 = args[0];
        p.arg1 = args[1];
        break;
      }
      case OpKind::kWhere: {
        int args[3];
        for (int i = 0; i < 3; ++i) {
          const NodePtr& operand = node->inputs[i];
          if (operand->kind == OpKind::kScalar) {
            // The condition as a bool; a Python scalar value in the result's dtype.
            args[i] = EmitScalar(b, *operand, i == 0 ? DType::kBool : node->dtype);
            continue;
          }
          TESSERA_ASSIGN_OR_RETURN(args[i], Emit(b, operand, OperandMap(*node, *operand, map)));
        }
        p.kind = ProgramNode::Kind::kWhere;
        p.arg0 = args[0];
        p.arg1 = args[1];
        p.arg2 = args[2];
        break;
      }
      case OpKind::kRechunk:
        return Emit(b, node->inputs[0], map);  // only the task regions change
      case OpKind::kSlice: {
        // Compose: input coord = start + step * node coord, node coord = map(out).
        IndexMap m;
        size_t axis = 0;  // axis of the slice's output (the node)
        for (const AxisIndex& ix : node->index) {
          switch (ix.kind) {
            case AxisIndex::Kind::kNewAxis:
              ++axis;
              break;
            case AxisIndex::Kind::kInteger:
              PushConstant(&m, ix.start);
              break;
            case AxisIndex::Kind::kSlice:
              if (ix.length <= 1 || map.out_axis[axis] < 0 || map.step[axis] == 0) {
                // One coordinate only: keeping the step would only risk overflow later.
                const int64_t node_coord = ix.length <= 1 ? 0 : map.offset[axis];
                PushConstant(&m, ix.start + ix.step * node_coord);
              } else {
                m.offset.push_back(ix.start + ix.step * map.offset[axis]);
                m.step.push_back(ix.step * map.step[axis]);
                m.out_axis.push_back(map.out_axis[axis]);
              }
              ++axis;
              break;
          }
        }
        return Emit(b, node->inputs[0], m);  // a slice is only a change of coordinates
      }
      case OpKind::kTranspose: {
        // Input axis axes[i] is the node's axis i: permute the map's entries back.
        const size_t r = node->axes.size();
        IndexMap m;
        m.offset.resize(r);
        m.step.resize(r);
        m.out_axis.resize(r);
        for (size_t i = 0; i < r; ++i) {
          const size_t in_axis = static_cast<size_t>(node->axes[i]);
          m.offset[in_axis] = map.offset[i];
          m.step[in_axis] = map.step[i];
          m.out_axis[in_axis] = map.out_axis[i];
        }
        return Emit(b, node->inputs[0], m);  // like a slice, only a change of coordinates
      }
    }
    const int index = static_cast<int>(b->program.nodes.size());
    b->program.nodes.push_back(std::move(p));
    b->memo[node.get()].emplace_back(map, index);
    return index;
  }

  // The map of a broadcast operand of an elementwise `node` read through `map`: operand axes
  // align with the node's trailing axes; an extent-1 axis against a larger one is broadcast.
  static IndexMap OperandMap(const Node& node, const Node& operand, const IndexMap& map) {
    const size_t pad = node.shape.size() - operand.shape.size();
    IndexMap m;
    for (size_t j = 0; j < operand.shape.size(); ++j) {
      const size_t axis = j + pad;
      if (operand.shape[j] != node.shape[axis]) {
        PushConstant(&m, 0);  // broadcast of an extent-1 axis
      } else {
        m.offset.push_back(map.offset[axis]);
        m.step.push_back(map.step[axis]);
        m.out_axis.push_back(map.out_axis[axis]);
      }
    }
    return m;
  }

  // A kScalar leaf holding `scalar`'s value as an element of `dtype`.
  int EmitScalar(Builder* b, const Node& scalar, DType dtype) {
    double value = scalar.value;
    if (dtype == DType::kFloat32) value = static_cast<double>(static_cast<float>(value));
    if (dtype == DType::kBool) value = value != 0 ? 1.0 : 0.0;
    uint64_t bits;  // by bit pattern: NaN and -0.0 must not compare equal to other values
    std::memcpy(&bits, &value, sizeof bits);
    const auto key = std::make_pair(bits, dtype);
    auto it = b->scalars.find(key);
    if (it != b->scalars.end()) return it->second;
    ProgramNode p;
    p.kind = ProgramNode::Kind::kScalar;
    p.dtype = dtype;
    p.value = value;
    const int index = static_cast<int>(b->program.nodes.size());
    b->program.nodes.push_back(std::move(p));
    b->scalars.emplace(key, index);
    return index;
  }

  // Builds the fused program over the space of `node` (which may itself be materialised: then
  // the program is one kInput leaf).
  absl::StatusOr<Builder> BuildProgram(const NodePtr& node) {
    Builder b;
    b.program.ndim = static_cast<int>(node->shape.size());
    TESSERA_ASSIGN_OR_RETURN(int root, Emit(&b, node, Identity(b.program.ndim)));
    (void)root;
    return b;
  }

  int StoreProgram(const ChunkProgram& program) {
    for (size_t i = 0; i < graph_.programs.size(); ++i) {
      if (graph_.programs[i] == program) return static_cast<int>(i);
    }
    graph_.programs.push_back(program);
    return static_cast<int>(graph_.programs.size()) - 1;
  }

  // Fills deps and input_chunks of a kChunk task over [lo, hi) with the input chunks that the
  // program's kInput leaves read there.
  void AddInputChunks(const Builder& b, TaskSpec* task) {
    if (b.program.inputs.empty()) return;
    for (size_t a = 0; a < task->lo.size(); ++a) {
      if (task->hi[a] <= task->lo[a]) return;  // an empty region reads nothing
    }
    std::vector<std::vector<int64_t>>& wanted = wanted_;  // flat block indices per input
    wanted.resize(b.program.inputs.size());
    for (auto& w : wanted) w.clear();
    std::vector<std::vector<int64_t>> candidates;
    for (const ProgramNode& p : b.program.nodes) {
      if (p.kind != ProgramNode::Kind::kInput) continue;
      const InputGrid& grid = b.grids[p.input];
      const size_t ndim = p.map.offset.size();
      candidates.assign(ndim, {});
      bool empty = false;
      for (size_t a = 0; a < ndim; ++a) {
        const int o = p.map.out_axis[a];
        const int64_t step = o < 0 ? 0 : p.map.step[a];
        const int64_t c1 = p.map.offset[a] + (o < 0 ? 0 : step * task->lo[o]);
        const int64_t c2 = p.map.offset[a] + (o < 0 ? 0 : step * (task->hi[o] - 1));
        const int64_t cmin = std::min(c1, c2), cmax = std::max(c1, c2);
        const auto& starts = grid.starts[a];
        const int64_t first = BlockContaining(starts, cmin);
        const int64_t last = BlockContaining(starts, cmax);
        const int64_t stride = step < 0 ? -step : step;
        const int64_t extent = p.leaf_shape[a];
        for (int64_t blk = first; blk <= last; ++blk) {
          if (stride > 1) {
            // Strided reads skip blocks that no coordinate cmin + k * stride falls in.
            const int64_t b0 = std::max(starts[blk], cmin);
            const int64_t b1 = blk + 1 < grid.nblocks[a] ? starts[blk + 1] : extent;
            const int64_t k = FloorDiv(b0 - cmin + stride - 1, stride);
            if (cmin + k * stride >= b1) continue;
          }
          candidates[a].push_back(blk);
        }
        if (candidates[a].empty()) empty = true;
      }
      if (empty) continue;
      // Cartesian product of the per-axis candidates, as flat indices.
      std::vector<size_t> pos(ndim, 0);
      while (true) {
        int64_t flat = 0;
        for (size_t a = 0; a < ndim; ++a) flat = flat * grid.nblocks[a] + candidates[a][pos[a]];
        wanted[p.input].push_back(flat);
        int a = static_cast<int>(ndim) - 1;
        for (; a >= 0; --a) {
          if (++pos[a] < candidates[a].size()) break;
          pos[a] = 0;
        }
        if (a < 0) break;
      }
    }
    for (size_t i = 0; i < wanted.size(); ++i) {
      std::sort(wanted[i].begin(), wanted[i].end());  // C order, each chunk once
      wanted[i].erase(std::unique(wanted[i].begin(), wanted[i].end()), wanted[i].end());
      const ProgramInput& in = b.program.inputs[i];
      const InputGrid& grid = b.grids[i];
      const size_t ndim = in.shape.size();
      for (int64_t flat : wanted[i]) {
        const int64_t flat_index = flat;
        std::vector<int64_t> block(ndim);
        for (int a = static_cast<int>(ndim) - 1; a >= 0; --a) {
          block[a] = flat % grid.nblocks[a];
          flat /= grid.nblocks[a];
        }
        InputChunk chunk;
        chunk.input = static_cast<int>(i);
        for (size_t a = 0; a < ndim; ++a) {
          chunk.lo.push_back(grid.starts[a][block[a]]);
          chunk.shape.push_back(in.chunks[a][block[a]]);
        }
        std::string key = KeyFor(in.name, block);
        NoteIfExternal(in.name, flat_index, key);
        task->deps.push_back(std::move(key));
        task->input_chunks.push_back(std::move(chunk));
      }
    }
  }

  // Keys of a source already exist: block `flat` of input `name`, read as `key`, is listed once
  // in external_deps. Nothing for inputs this graph computes.
  void NoteIfExternal(const std::string& name, int64_t flat, const std::string& key) {
    auto source = sources_.find(name);
    if (source != sources_.end() && source->second.insert(flat).second) {
      graph_.external_deps.push_back(key);
    }
  }

  absl::Status CheckLimits(const ChunkProgram& program, const TaskSpec& task) {
    if (options_.max_chunk_bytes <= 0) return absl::OkStatus();
    if (task.est_bytes > options_.max_chunk_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "task ", task.key, " produces ", FormatBytes(task.est_bytes), ", more than the limit of ",
          FormatBytes(options_.max_chunk_bytes), " per chunk; use smaller chunks"));
    }
    int64_t input_bytes = 0;
    for (const InputChunk& c : task.input_chunks) {
      input_bytes += NumElements(c.shape) * ItemSize(program.inputs[c.input].dtype);
    }
    if (input_bytes > options_.max_chunk_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("task ", task.key, " reads ", FormatBytes(input_bytes),
                       " of materialised input, more than the limit of ",
                       FormatBytes(options_.max_chunk_bytes), " per chunk; rechunk the inputs"));
    }
    return absl::OkStatus();
  }

  absl::Status LowerElementwiseRoot(const NodePtr& root) {
    TESSERA_ASSIGN_OR_RETURN(ProgramInput out, MaterializeWithChunks(root, root->chunks));
    graph_.output_name = out.name;
    const std::vector<int64_t> nblocks = NumBlocks(root->chunks);
    graph_.output_keys.reserve(static_cast<size_t>(TotalBlocks(root->chunks)));
    std::vector<int64_t> blk(root->shape.size(), 0);
    do {
      graph_.output_keys.push_back(KeyFor(out.name, blk));
    } while (NextBlock(nblocks, &blk));
    return absl::OkStatus();
  }

  // A kChunk task evaluating `b`'s program over [lo, hi), with its input chunks.
  absl::StatusOr<TaskSpec> ChunkTask(const Builder& b, int program, std::string key,
                                     const std::string& group, std::vector<int64_t> lo,
                                     std::vector<int64_t> hi) {
    TaskSpec t;
    t.key = std::move(key);
    t.group = group;
    t.kind = TaskKind::kChunk;
    t.program = program;
    int64_t elements = 1;
    for (size_t a = 0; a < lo.size(); ++a) elements *= hi[a] - lo[a];
    t.est_bytes = elements * ItemSize(b.program.nodes.back().dtype);
    t.lo = std::move(lo);
    t.hi = std::move(hi);
    AddInputChunks(b, &t);
    TESSERA_RETURN_IF_ERROR(CheckLimits(b.program, t));
    return t;
  }

  // `node` as an array in the cluster chunked as `chunks`: a materialised node with those chunks
  // is itself; otherwise its fused program runs over the blocks of `chunks` (a fused node under
  // its own name, as "exp-<token>"; another chunking as "rechunk-<token>").
  absl::StatusOr<ProgramInput> MaterializeWithChunks(const NodePtr& node, const Chunks& chunks) {
    const bool own = chunks == node->chunks;
    if (own && !IsFusible(node->kind)) return Materialize(node);
    std::string group = Group(node);
    if (!own) {
      std::string spec = TokenOf(node);
      for (const auto& axis : chunks) absl::StrAppend(&spec, "|", absl::StrJoin(axis, ","));
      group = absl::StrCat("rechunk-", absl::StrFormat("%016x", std::hash<std::string>{}(spec)));
    }
    ProgramInput result;
    result.name = group;
    result.shape = node->shape;
    result.dtype = node->dtype;
    result.chunks = chunks;
    if (!rechunked_.insert(group).second) return result;  // lowered already
    TESSERA_ASSIGN_OR_RETURN(Builder b, BuildProgram(node));
    const int program = StoreProgram(b.program);
    const std::vector<int64_t> nblocks = NumBlocks(chunks);
    const auto starts = BlockOffsets(chunks);
    const size_t ndim = node->shape.size();
    TESSERA_RETURN_IF_ERROR(CheckTaskCount(TotalBlocks(chunks)));
    graph_.tasks.reserve(graph_.tasks.size() + static_cast<size_t>(TotalBlocks(chunks)));
    std::vector<int64_t> blk(ndim, 0);
    do {
      std::vector<int64_t> lo(ndim), hi(ndim);
      for (size_t a = 0; a < ndim; ++a) {
        lo[a] = starts[a][blk[a]];
        hi[a] = lo[a] + chunks[a][blk[a]];
      }
      TESSERA_ASSIGN_OR_RETURN(TaskSpec t, ChunkTask(b, program, KeyFor(group, blk), group,
                                                     std::move(lo), std::move(hi)));
      TESSERA_RETURN_IF_ERROR(AddTask(std::move(t)));
    } while (NextBlock(nblocks, &blk));
    return result;
  }

  // Emits the combine tree of fan-in `split` over `level_keys` (partials of one output block, in
  // order), the last task keyed `final_key` with `finalize`. A single partial must already be
  // final. Intermediate keys are KeyFor(combine_group, out_block + {level, index}).
  absl::Status EmitCombineTree(std::vector<std::string> level_keys, ReduceOp op, size_t split,
                               const std::string& final_key, const std::string& group,
                               const std::string& combine_group,
                               const std::vector<int64_t>& out_block, const Finalize& finalize,
                               int64_t partial_bytes, int64_t final_bytes,
                               const ChunkProgram& limits_program) {
    for (int64_t level = 0; level_keys.size() > 1; ++level) {
      const bool last_level = level_keys.size() <= split;
      std::vector<std::string> next;
      for (size_t g = 0; g < level_keys.size(); g += split) {
        const size_t end = std::min(level_keys.size(), g + split);
        if (end - g == 1) {
          next.push_back(level_keys[g]);  // a lone leftover moves up unchanged
          continue;
        }
        TaskSpec t;
        t.kind = TaskKind::kCombine;
        t.combine_op = op;
        t.deps.assign(level_keys.begin() + static_cast<ptrdiff_t>(g),
                      level_keys.begin() + static_cast<ptrdiff_t>(end));
        if (last_level) {
          t.key = final_key;
          t.group = group;
          t.finalize = finalize;
          t.est_bytes = final_bytes;
        } else {
          std::vector<int64_t> index = out_block;
          index.push_back(level);
          index.push_back(static_cast<int64_t>(g / split));
          t.key = KeyFor(combine_group, index);
          t.group = combine_group;
          t.est_bytes = partial_bytes;
        }
        TESSERA_RETURN_IF_ERROR(CheckLimits(limits_program, t));
        next.push_back(t.key);
        TESSERA_RETURN_IF_ERROR(AddTask(std::move(t)));
      }
      level_keys = std::move(next);
    }
    return absl::OkStatus();
  }

  // Lowers a reduction: chunk tasks emitting partials over the input's chunks, then a combine
  // tree per output block. Returns the reduction's result as a materialised input.
  absl::StatusOr<ProgramInput> LowerReduce(const NodePtr& red) {
    const NodePtr& in = red->inputs[0];
    TESSERA_ASSIGN_OR_RETURN(Builder b, BuildProgram(in));
    b.program.has_reduce = true;
    b.program.reduce.op = red->reduce;
    b.program.reduce.axes = red->axes;
    if (IsArgReduce(red->reduce)) {
      // The result index is the C-order flat index over the reduced axes (one axis: its
      // coordinate; all axes: numpy's index into the flattened array).
      b.program.reduce.index_strides.assign(in->shape.size(), 0);
      int64_t stride = 1;
      for (auto it = red->axes.rbegin(); it != red->axes.rend(); ++it) {
        b.program.reduce.index_strides[*it] = stride;
        stride *= in->shape[*it];
      }
    }
    const int program = StoreProgram(b.program);

    const std::string token12 = TokenOf(red).substr(0, 12);
    const std::string op = NodeOpName(*red);
    const std::string group = absl::StrCat(op, "-", token12);
    const std::string partial_group = absl::StrCat(op, "-partial-", token12);
    const std::string combine_group = absl::StrCat(op, "-combine-", token12);

    const size_t ndim = in->shape.size();
    std::vector<bool> reduced(ndim, false);
    double count = 1;
    for (int a : red->axes) {
      reduced[a] = true;
      count *= static_cast<double>(in->shape[a]);
    }
    const DType partial_dtype = PartialDType(red->reduce, in->dtype);
    // argmin / argmax partials are (value, index) pairs.
    const int64_t partial_item = ItemSize(partial_dtype) * (IsArgReduce(red->reduce) ? 2 : 1);
    const int64_t out_item = ItemSize(red->dtype);

    // Output block grid and, per output block, its partials' keys in C order.
    const std::vector<int64_t> out_nblocks = NumBlocks(red->chunks);
    const auto out_starts = BlockOffsets(red->chunks);
    const size_t num_out = static_cast<size_t>(TotalBlocks(red->chunks));
    std::vector<std::vector<size_t>> partials(num_out);  // task indices

    const std::vector<int64_t> in_nblocks = NumBlocks(in->chunks);
    const auto in_starts = BlockOffsets(in->chunks);
    const bool single_partial = [&] {
      for (size_t a = 0; a < ndim; ++a) {
        if (reduced[a] && in_nblocks[a] > 1) return false;
      }
      return true;
    }();

    auto out_index_of = [&](const std::vector<int64_t>& in_block) {
      std::vector<int64_t> out;
      for (size_t a = 0; a < ndim; ++a) {
        if (!reduced[a]) {
          out.push_back(in_block[a]);
        } else if (red->keepdims) {
          out.push_back(0);
        }
      }
      return out;
    };
    auto flat_of = [](const std::vector<int64_t>& index, const std::vector<int64_t>& nblocks) {
      int64_t flat = 0;
      for (size_t a = 0; a < index.size(); ++a) flat = flat * nblocks[a] + index[a];
      return flat;
    };
    auto out_block_shape = [&](const std::vector<int64_t>& out_block) {
      Shape s;
      for (size_t a = 0; a < out_block.size(); ++a) s.push_back(red->chunks[a][out_block[a]]);
      return s;
    };
    auto finalize_for = [&](const std::vector<int64_t>& out_block) {
      Finalize f;
      f.enabled = true;
      f.divide_by = red->reduce == ReduceOp::kMean ? count : 1;
      f.out_shape = out_block_shape(out_block);
      f.out_dtype = red->dtype;
      return f;
    };

    // Chunk tasks, one per input chunk, in C order.
    const size_t first_task = graph_.tasks.size();
    TESSERA_RETURN_IF_ERROR(CheckTaskCount(TotalBlocks(in->chunks)));
    graph_.tasks.reserve(first_task + static_cast<size_t>(TotalBlocks(in->chunks)));
    std::vector<int64_t> blk(ndim, 0);
    do {
      const std::vector<int64_t> out_block = out_index_of(blk);
      TaskSpec t;
      t.kind = TaskKind::kChunk;
      t.program = program;
      int64_t partial_elements = 1;
      for (size_t a = 0; a < ndim; ++a) {
        t.lo.push_back(in_starts[a][blk[a]]);
        t.hi.push_back(in_starts[a][blk[a]] + in->chunks[a][blk[a]]);
        if (!reduced[a]) partial_elements *= in->chunks[a][blk[a]];
      }
      if (single_partial) {
        t.key = KeyFor(group, out_block);
        t.group = group;
        t.finalize = finalize_for(out_block);
        t.est_bytes = NumElements(t.finalize.out_shape) * out_item;
      } else {
        t.key = KeyFor(partial_group, blk);
        t.group = partial_group;
        t.est_bytes = partial_elements * partial_item;
      }
      AddInputChunks(b, &t);
      TESSERA_RETURN_IF_ERROR(CheckLimits(b.program, t));
      partials[static_cast<size_t>(flat_of(out_block, out_nblocks))].push_back(graph_.tasks.size());
      TESSERA_RETURN_IF_ERROR(AddTask(std::move(t)));
    } while (NextBlock(in_nblocks, &blk));

    // Combine trees, one per output block, in C order of the output blocks.
    if (!single_partial) {
      std::vector<int64_t> out_block(out_nblocks.size(), 0);
      const size_t split = static_cast<size_t>(red->split_every);
      do {
        const size_t flat = static_cast<size_t>(flat_of(out_block, out_nblocks));
        std::vector<std::string> level_keys;
        int64_t partial_bytes = 0;
        for (size_t i : partials[flat]) {
          level_keys.push_back(graph_.tasks[i].key);
          partial_bytes = std::max(partial_bytes, graph_.tasks[i].est_bytes);
        }
        const Finalize f = finalize_for(out_block);
        TESSERA_RETURN_IF_ERROR(EmitCombineTree(
            std::move(level_keys), red->reduce, split, KeyFor(group, out_block), group,
            combine_group, out_block, f, partial_bytes, NumElements(f.out_shape) * out_item,
            b.program));
      } while (NextBlock(out_nblocks, &out_block));
    }

    ProgramInput result;
    result.name = group;
    result.shape = red->shape;
    result.dtype = red->dtype;
    result.chunks = red->chunks;
    return result;
  }

  ProgramInput ResultOf(const NodePtr& node, std::string name) {
    ProgramInput result;
    result.name = std::move(name);
    result.shape = node->shape;
    result.dtype = node->dtype;
    result.chunks = node->chunks;
    return result;
  }

  // Concatenation: output block j along the axis is block jj of input k, evaluated by input k's
  // own program over its region (other axes follow the output's chunks).
  absl::StatusOr<ProgramInput> LowerConcatenate(const NodePtr& node) {
    const std::string group = Group(node);
    const int ax = node->axes[0];
    struct Part {
      size_t input;
      int64_t shift;  // output coordinate - input coordinate along the axis
    };
    std::vector<Part> parts;  // per output block along the axis
    int64_t offset = 0;
    for (size_t k = 0; k < node->inputs.size(); ++k) {
      for (int64_t c : node->inputs[k]->chunks[ax]) {
        if (c > 0) parts.push_back({k, offset});
      }
      offset += node->inputs[k]->shape[ax];
    }
    if (parts.empty()) parts.push_back({0, 0});  // everything empty: one empty block
    std::vector<std::optional<Builder>> builders(node->inputs.size());
    std::vector<int> programs(node->inputs.size(), -1);
    const std::vector<int64_t> nblocks = NumBlocks(node->chunks);
    const auto starts = BlockOffsets(node->chunks);
    const size_t ndim = node->shape.size();
    std::vector<int64_t> blk(ndim, 0);
    do {
      const Part& part = parts[static_cast<size_t>(blk[ax])];
      if (!builders[part.input]) {
        TESSERA_ASSIGN_OR_RETURN(Builder b, BuildProgram(node->inputs[part.input]));
        programs[part.input] = StoreProgram(b.program);
        builders[part.input] = std::move(b);
      }
      std::vector<int64_t> lo(ndim), hi(ndim);
      for (size_t a = 0; a < ndim; ++a) {
        lo[a] = starts[a][blk[a]];
        hi[a] = lo[a] + node->chunks[a][blk[a]];
      }
      lo[ax] -= part.shift;
      hi[ax] -= part.shift;
      TESSERA_ASSIGN_OR_RETURN(TaskSpec t,
                               ChunkTask(*builders[part.input], programs[part.input],
                                         KeyFor(group, blk), group, std::move(lo), std::move(hi)));
      TESSERA_RETURN_IF_ERROR(AddTask(std::move(t)));
    } while (NextBlock(nblocks, &blk));
    return ResultOf(node, group);
  }

  // Reshape: the input's program runs over the blocks of the input chunking ReshapeChunks
  // chose; block f (C order) of that grid holds the elements of output block f in the same
  // order, so each task's result is relabelled with the output block's shape.
  absl::StatusOr<ProgramInput> LowerReshape(const NodePtr& node) {
    const NodePtr& in = node->inputs[0];
    const std::string group = Group(node);
    const auto [in_chunks, out_chunks] = ReshapeChunks(in->shape, in->chunks, node->shape);
    if (out_chunks != node->chunks) {
      return absl::InternalError("reshape: the node's chunks are not ReshapeChunks'");
    }
    TESSERA_ASSIGN_OR_RETURN(Builder b, BuildProgram(in));
    const int program = StoreProgram(b.program);
    const std::vector<int64_t> in_nblocks = NumBlocks(in_chunks);
    const auto in_starts = BlockOffsets(in_chunks);
    const std::vector<int64_t> out_nblocks = NumBlocks(out_chunks);
    std::vector<int64_t> iblk(in->shape.size(), 0), oblk(node->shape.size(), 0);
    do {
      std::vector<int64_t> lo(in->shape.size()), hi(in->shape.size());
      for (size_t a = 0; a < lo.size(); ++a) {
        lo[a] = in_starts[a][iblk[a]];
        hi[a] = lo[a] + in_chunks[a][iblk[a]];
      }
      TESSERA_ASSIGN_OR_RETURN(TaskSpec t, ChunkTask(b, program, KeyFor(group, oblk), group,
                                                     std::move(lo), std::move(hi)));
      t.finalize.enabled = true;
      for (size_t a = 0; a < oblk.size(); ++a) t.finalize.out_shape.push_back(out_chunks[a][oblk[a]]);
      t.finalize.out_dtype = node->dtype;
      TESSERA_RETURN_IF_ERROR(AddTask(std::move(t)));
      NextBlock(in_nblocks, &iblk);
    } while (NextBlock(out_nblocks, &oblk));
    return ResultOf(node, group);
  }

  // Tensordot: both operands materialised with the same chunks along the contracted axes (a's);
  // one kContract task per output block and contracted block, summed by a combine tree.
  absl::StatusOr<ProgramInput> LowerTensordot(const NodePtr& node) {
    const NodePtr& a = node->inputs[0];
    const NodePtr& b = node->inputs[1];
    Chunks b_chunks = b->chunks;
    for (size_t k = 0; k < node->axes.size(); ++k) {
      b_chunks[node->axes_b[k]] = a->chunks[node->axes[k]];
    }
    TESSERA_ASSIGN_OR_RETURN(ProgramInput ain, MaterializeWithChunks(a, a->chunks));
    TESSERA_ASSIGN_OR_RETURN(ProgramInput bin, MaterializeWithChunks(b, b_chunks));
    const std::string token12 = TokenOf(node).substr(0, 12);
    const std::string group = absl::StrCat("tensordot-", token12);
    const std::string partial_group = absl::StrCat("tensordot-partial-", token12);
    const std::string combine_group = absl::StrCat("tensordot-combine-", token12);
    const size_t na = a->shape.size(), nb = b->shape.size(), nk = node->axes.size();
    std::vector<int> a_free, b_free;
    for (size_t i = 0; i < na; ++i) {
      if (std::find(node->axes.begin(), node->axes.end(), static_cast<int>(i)) == node->axes.end())
        a_free.push_back(static_cast<int>(i));
    }
    for (size_t i = 0; i < nb; ++i) {
      if (std::find(node->axes_b.begin(), node->axes_b.end(), static_cast<int>(i)) ==
          node->axes_b.end())
        b_free.push_back(static_cast<int>(i));
    }
    std::vector<int64_t> k_nblocks;
    for (size_t k = 0; k < nk; ++k) {
      k_nblocks.push_back(static_cast<int64_t>(a->chunks[node->axes[k]].size()));
    }
    int64_t k_total = 1;
    for (int64_t n : k_nblocks) k_total *= n;
    const DType partial_dtype = IsFloating(node->dtype) ? DType::kFloat64 : DType::kInt64;
    const int64_t out_item = ItemSize(node->dtype);
    const std::vector<int64_t> out_nblocks = NumBlocks(node->chunks);
    std::vector<int64_t> oblk(node->shape.size(), 0);
    const ChunkProgram no_program;
    do {
      Finalize f;
      f.enabled = true;
      for (size_t i = 0; i < oblk.size(); ++i) f.out_shape.push_back(node->chunks[i][oblk[i]]);
      f.out_dtype = node->dtype;
      const int64_t out_elements = NumElements(f.out_shape);
      std::vector<std::string> partial_keys;
      std::vector<int64_t> kblk(nk, 0);
      int64_t kflat = 0;
      do {
        std::vector<int64_t> ablk(na), bblk(nb);
        for (size_t i = 0; i < a_free.size(); ++i) ablk[a_free[i]] = oblk[i];
        for (size_t i = 0; i < b_free.size(); ++i) bblk[b_free[i]] = oblk[a_free.size() + i];
        for (size_t k = 0; k < nk; ++k) {
          ablk[node->axes[k]] = kblk[k];
          bblk[node->axes_b[k]] = kblk[k];
        }
        TaskSpec t;
        t.kind = TaskKind::kContract;
        t.deps = {KeyFor(ain.name, ablk), KeyFor(bin.name, bblk)};
        NoteIfExternal(ain.name, FlatIndex(ablk, a->chunks), t.deps[0]);
        NoteIfExternal(bin.name, FlatIndex(bblk, b_chunks), t.deps[1]);
        t.contract_a = node->axes;
        t.contract_b = node->axes_b;
        if (k_total == 1) {
          t.key = KeyFor(group, oblk);
          t.group = group;
          t.finalize = f;
          t.est_bytes = out_elements * out_item;
        } else {
          std::vector<int64_t> index = oblk;
          index.push_back(kflat);
          t.key = KeyFor(partial_group, index);
          t.group = partial_group;
          t.est_bytes = out_elements * ItemSize(partial_dtype);
        }
        TESSERA_RETURN_IF_ERROR(CheckLimits(no_program, t));
        partial_keys.push_back(t.key);
        TESSERA_RETURN_IF_ERROR(AddTask(std::move(t)));
        ++kflat;
      } while (NextBlock(k_nblocks, &kblk));
      if (k_total > 1) {
        TESSERA_RETURN_IF_ERROR(EmitCombineTree(
            std::move(partial_keys), ReduceOp::kSum, 8, KeyFor(group, oblk), group, combine_group,
            oblk, f, out_elements * ItemSize(partial_dtype), out_elements * out_item, no_program));
      }
    } while (NextBlock(out_nblocks, &oblk));
    return ResultOf(node, group);
  }

  static int64_t FlatIndex(const std::vector<int64_t>& blk, const Chunks& chunks) {
    int64_t flat = 0;
    for (size_t a = 0; a < blk.size(); ++a) {
      flat = flat * static_cast<int64_t>(chunks[a].size()) + blk[a];
    }
    return flat;
  }

  // Host data: one kLiteral task per block carrying the block's bytes.
  absl::StatusOr<ProgramInput> LowerFromBuffer(const NodePtr& node) {
    const std::string group = Group(node);
    const int64_t item = ItemSize(node->dtype);
    const size_t ndim = node->shape.size();
    const std::vector<int64_t> nblocks = NumBlocks(node->chunks);
    const auto starts = BlockOffsets(node->chunks);
    std::vector<int64_t> strides(ndim, item);
    for (int a = static_cast<int>(ndim) - 2; a >= 0; --a) strides[a] = strides[a + 1] * node->shape[a + 1];
    const std::string& data = *node->data;
    std::vector<int64_t> blk(ndim, 0);
    do {
      TaskSpec t;
      t.kind = TaskKind::kLiteral;
      t.key = KeyFor(group, blk);
      t.group = group;
      Shape shape(ndim);
      for (size_t a = 0; a < ndim; ++a) {
        t.lo.push_back(starts[a][blk[a]]);
        shape[a] = node->chunks[a][blk[a]];
        t.hi.push_back(t.lo[a] + shape[a]);
      }
      const int64_t count = NumElements(shape);
      t.literal.resize(static_cast<size_t>(count * item));
      if (count > 0) {
        // Copy rows of the last axis (the whole block for 0-d).
        const int64_t row = ndim == 0 ? item : shape[ndim - 1] * item;
        const int64_t rows = ndim == 0 ? 1 : count / shape[ndim - 1];
        std::vector<int64_t> idx(ndim, 0);
        for (int64_t r = 0; r < rows; ++r) {
          int64_t src = 0;
          for (size_t a = 0; a < ndim; ++a) src += (t.lo[a] + idx[a]) * strides[a];
          std::memcpy(t.literal.data() + r * row, data.data() + src, static_cast<size_t>(row));
          for (int a = static_cast<int>(ndim) - 2; a >= 0; --a) {
            if (++idx[a] < shape[a]) break;
            idx[a] = 0;
          }
        }
      }
      t.finalize.enabled = true;
      t.finalize.out_shape = shape;
      t.finalize.out_dtype = node->dtype;
      t.est_bytes = count * item;
      TESSERA_RETURN_IF_ERROR(AddTask(std::move(t)));
    } while (NextBlock(nblocks, &blk));
    return ResultOf(node, group);
  }

  // The node as an array in the cluster: a source's own keys, or a materialising node lowered
  // once.
  absl::StatusOr<ProgramInput> Materialize(const NodePtr& node) {
    if (node->kind == OpKind::kSource) {
      ProgramInput in;
      in.name = node->source_name;
      in.shape = node->shape;
      in.dtype = node->dtype;
      in.chunks = node->chunks;
      sources_[in.name];
      return in;
    }
    // Content-identical nodes built separately share one set of tasks (and keys).
    const std::string token = TokenOf(node);
    auto it = materialized_.find(token);
    if (it != materialized_.end()) return it->second;
    absl::StatusOr<ProgramInput> in;
    switch (node->kind) {
      case OpKind::kReduce:
        in = LowerReduce(node);
        break;
      case OpKind::kConcatenate:
        in = LowerConcatenate(node);
        break;
      case OpKind::kReshape:
        in = LowerReshape(node);
        break;
      case OpKind::kTensordot:
        in = LowerTensordot(node);
        break;
      case OpKind::kFromBuffer:
        in = LowerFromBuffer(node);
        break;
      default:
        return absl::InternalError(
            absl::StrCat("cannot materialise a ", NodeOpName(*node), " node"));
    }
    if (!in.ok()) return in.status();
    materialized_.emplace(token, *in);
    return in;
  }

  const LowerOptions& options_;
  TaskGraph graph_;
  std::unordered_map<const Node*, std::string> tokens_;
  std::unordered_map<std::string, ProgramInput> materialized_;
  std::unordered_set<std::string> rechunked_;  // groups lowered by MaterializeWithChunks
  // Per kSource array read, the flat indices of its chunks already in external_deps.
  std::unordered_map<std::string, std::unordered_set<int64_t>> sources_;
  std::vector<std::vector<int64_t>> wanted_;  // scratch of AddInputChunks
};

}  // namespace

absl::StatusOr<TaskGraph> Lower(const NodePtr& root, const LowerOptions& options) {
  Lowerer lowerer(options);
  return lowerer.Run(root);
}

}  // namespace tessera::graph
