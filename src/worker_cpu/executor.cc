#include "worker_cpu/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "worker_cpu/block_ops.h"
#include "worker_cpu/kernels.h"
#include "worker_cpu/task_util.h"

// How a chunk task runs. The region [lo, hi) is walked row by row (all axes but the last), and
// each row in blocks of up to kBlockSize elements along the last axis. Every program node is
// evaluated for a whole block into a scratch buffer of doubles by one tight loop (kernels.cc;
// exp and float64 arcsin / arccos there are vectorised, within 1 ulp of glibc);
// leaves read their coordinates through the affine IndexMap, which along a row is affine in
// the position: flat index = start + i * stride. The root block is then stored, or folded into
// the partial result of a fused reduction.

namespace tessera::cpu {
namespace {

using graph::ChunkProgram;
using graph::ProgramNode;
using graph::ReduceOp;
using graph::TaskKind;
using graph::TaskSpec;
using Kind = graph::ProgramNode::Kind;
using detail::kBlockSize;

using detail::Invalid;
using detail::StoreAs;
using detail::IsInteger;
using detail::SafeCount;
using detail::Strides;
using detail::VecToString;

// Debian's Abseil has its own string_view: StrCat takes std::string.
std::string DName(DType d) { return std::string(DTypeName(d)); }

bool ValidDType(DType d) {
  return d == DType::kFloat64 || d == DType::kFloat32 || d == DType::kInt64 || d == DType::kInt32 ||
         d == DType::kBool;
}

// Reads n values of `dtype` starting at element `at` of `src` as doubles.
void LoadAsDouble(DType dtype, const uint8_t* src, int64_t at, int64_t n, double* out) {
  switch (dtype) {
    case DType::kFloat64:
      std::memcpy(out, reinterpret_cast<const double*>(src) + at, n * sizeof(double));
      return;
    case DType::kFloat32: {
      const float* s = reinterpret_cast<const float*>(src) + at;
      for (int64_t i = 0; i < n; ++i) out[i] = s[i];
      return;
    }
    case DType::kInt64: {
      const int64_t* s = reinterpret_cast<const int64_t*>(src) + at;
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(s[i]);
      return;
    }
    case DType::kInt32: {
      const int32_t* s = reinterpret_cast<const int32_t*>(src) + at;
      for (int64_t i = 0; i < n; ++i) out[i] = s[i];
      return;
    }
    case DType::kBool: {
      const uint8_t* s = src + at;
      for (int64_t i = 0; i < n; ++i) out[i] = s[i] != 0 ? 1.0 : 0.0;
      return;
    }
  }
}

// A leaf's flat index (into the random array, the arange, or the gathered input window) as an
// affine function of the output coordinates: base + sum_k coef[k] * out[k].
struct LeafPlan {
  bool active = false;  // arange, random and input leaves
  int64_t base = 0;
  std::vector<int64_t> coef;
  int window = -1;  // kInput: index into Plan::windows
};

// A gathered input window: a box of the input array, copied to contiguous doubles.
// When one float64 chunk holds the whole box, the window is that chunk itself (no copy): `lo` and
// `shape` are then the chunk's.
struct Window {
  int input = -1;
  std::vector<int64_t> lo;
  Shape shape;
  std::vector<double> data;
  const double* values = nullptr;  // data.data() or the chunk's values
};

struct Plan {
  const ChunkProgram* program = nullptr;
  int ndim = 0;
  std::vector<LeafPlan> leaf;  // per node (unused entries for inner nodes)
  std::vector<int> buffer;     // per node: scratch buffer index, -1 for scalar operands
  std::vector<double> scalar;  // per node: kScalar value rounded to its dtype
  int num_buffers = 0;
  std::vector<Window> windows;
  // Per node: a kFull's buffer holds its values for a whole block (set by the first EvalBlock).
  std::vector<bool> filled;
};

// Checks the program's structure (indices, enums, map sizes); no region involved.
absl::Status ValidateProgram(const TaskSpec& task, const ChunkProgram& p) {
  if (p.ndim < 0 || p.ndim > kMaxDims)
    return Invalid(task, "program ndim ", p.ndim, " not in [0, 8]");
  if (p.nodes.empty()) return Invalid(task, "program has no nodes");
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const ProgramNode& n = p.nodes[i];
    // Built only on error: this runs for every task.
    auto where = [i] { return absl::StrCat("program node ", i, ": "); };
    if (!ValidDType(n.dtype))
      return Invalid(task, where(), "bad dtype ", static_cast<int>(n.dtype));
    switch (n.kind) {
      case Kind::kFull:
      case Kind::kScalar:
        break;
      case Kind::kArange:
      case Kind::kLinspace:
      case Kind::kRandom:
      case Kind::kInput: {
        if (n.kind == Kind::kInput &&
            (n.input < 0 || n.input >= static_cast<int>(p.inputs.size()))) {
          return Invalid(task, where(), "input index ", n.input, " out of range (", p.inputs.size(),
                         " inputs)");
        }
        const Shape& shape = n.kind == Kind::kInput ? p.inputs[n.input].shape : n.leaf_shape;
        if (n.kind == Kind::kInput && n.leaf_shape != shape && !n.leaf_shape.empty()) {
          return Invalid(task, where(), "leaf_shape ", VecToString(n.leaf_shape),
                         " differs from input shape ", VecToString(shape));
        }
        if (shape.size() > static_cast<size_t>(kMaxDims) || SafeCount(shape) < 0) {
          return Invalid(task, where(), "bad leaf shape ", VecToString(shape));
        }
        const size_t r = shape.size();
        if (n.map.offset.size() != r || n.map.step.size() != r || n.map.out_axis.size() != r) {
          return Invalid(task, where(), "index map sizes (", n.map.offset.size(), ", ",
                         n.map.step.size(), ", ", n.map.out_axis.size(),
                         ") do not match the leaf rank ", r);
        }
        for (size_t a = 0; a < r; ++a) {
          if (n.map.out_axis[a] < -1 || n.map.out_axis[a] >= p.ndim) {
            return Invalid(task, where(), "out_axis ", n.map.out_axis[a], " not in [-1, ", p.ndim,
                           ")");
          }
        }
        if (n.kind == Kind::kLinspace && r != 1) {
          return Invalid(task, where(), "linspace leaf of rank ", r);
        }
        if (n.kind == Kind::kRandom) {
          if (n.dist != graph::RandomDist::kUniform && n.dist != graph::RandomDist::kNormal) {
            return Invalid(task, where(), "bad random distribution ", static_cast<int>(n.dist));
          }
          if (n.dist == graph::RandomDist::kUniform && IsInteger(n.dtype) &&
              !(detail::ToInt64(n.param_a) < detail::ToInt64(n.param_b))) {
            return Invalid(task, where(), "randint needs low < high, got ", n.param_a, ", ",
                           n.param_b);
          }
        }
        break;
      }
      case Kind::kUnary:
        if (n.arg0 < 0 || n.arg0 >= static_cast<int>(i)) {
          return Invalid(task, where(), "arg0 ", n.arg0, " is not an earlier node");
        }
        if (static_cast<int>(n.unary) < 0 ||
            static_cast<int>(n.unary) > static_cast<int>(graph::UnaryOp::kAstype)) {
          return Invalid(task, where(), "bad unary op ", static_cast<int>(n.unary));
        }
        break;
      case Kind::kBinary:
        if (n.arg0 < 0 || n.arg0 >= static_cast<int>(i) || n.arg1 < 0 ||
            n.arg1 >= static_cast<int>(i)) {
          return Invalid(task, where(), "args (", n.arg0, ", ", n.arg1, ") are not earlier nodes");
        }
        if (static_cast<int>(n.binary) < 0 ||
            static_cast<int>(n.binary) > static_cast<int>(graph::BinaryOp::kNotEqual)) {
          return Invalid(task, where(), "bad binary op ", static_cast<int>(n.binary));
        }
        break;
      case Kind::kWhere:
        if (n.arg0 < 0 || n.arg0 >= static_cast<int>(i) || n.arg1 < 0 ||
            n.arg1 >= static_cast<int>(i) || n.arg2 < 0 || n.arg2 >= static_cast<int>(i)) {
          return Invalid(task, where(), "args (", n.arg0, ", ", n.arg1, ", ", n.arg2,
                         ") are not earlier nodes");
        }
        break;
      default:
        return Invalid(task, where(), "bad node kind ", static_cast<int>(n.kind));
    }
  }
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    if (!ValidDType(p.inputs[i].dtype) || SafeCount(p.inputs[i].shape) < 0) {
      return Invalid(task, "program input ", i, " has a bad dtype or shape");
    }
  }
  if (p.has_reduce) {
    const int op = static_cast<int>(p.reduce.op);
    if (op < 0 || op > static_cast<int>(ReduceOp::kArgmax)) {
      return Invalid(task, "bad reduce op ", op);
    }
    if (graph::IsArgReduce(p.reduce.op) &&
        static_cast<int>(p.reduce.index_strides.size()) != p.ndim) {
      return Invalid(task, "argmin / argmax program has ", p.reduce.index_strides.size(),
                     " index strides for ", p.ndim, " axes");
    }
    std::vector<bool> seen(p.ndim, false);
    for (int a : p.reduce.axes) {
      if (a < 0 || a >= p.ndim || seen[a]) {
        return Invalid(task, "bad or repeated reduce axis ", a, " for ndim ", p.ndim);
      }
      seen[a] = true;
    }
  }
  return absl::OkStatus();
}

// The range [min, max] of a leaf axis' coordinate over the region (requires a non-empty region).
void CoordRange(const graph::IndexMap& m, size_t a, const std::vector<int64_t>& lo,
                const std::vector<int64_t>& hi, int64_t* cmin, int64_t* cmax) {
  const int k = m.out_axis[a];
  if (k < 0) {
    *cmin = *cmax = m.offset[a];
    return;
  }
  // Computed in __int128 so absurd maps cannot overflow before they are rejected.
  const __int128 c0 = static_cast<__int128>(m.offset[a]) + static_cast<__int128>(m.step[a]) * lo[k];
  const __int128 c1 =
      static_cast<__int128>(m.offset[a]) + static_cast<__int128>(m.step[a]) * (hi[k] - 1);
  const __int128 mn = std::min(c0, c1), mx = std::max(c0, c1);
  constexpr __int128 kMax = std::numeric_limits<int64_t>::max();
  constexpr __int128 kMin = std::numeric_limits<int64_t>::min();
  *cmin = static_cast<int64_t>(std::clamp(mn, kMin, kMax));
  *cmax = static_cast<int64_t>(std::clamp(mx, kMin, kMax));
}

// Copies the part of every input chunk that falls in window `w` into w.data, and checks that
// the chunks cover the window.
absl::Status FillWindow(const TaskSpec& task, const ChunkProgram& p,
                        const std::vector<ChunkPtr>& deps, Window& w) {
  const int r = static_cast<int>(w.shape.size());
  const int64_t count = SafeCount(w.shape);
  // Chunks that together hold fewer elements than the window cannot cover it: fail before
  // allocating a window that may be absurdly large.
  int64_t available = 0;
  for (size_t d = 0; d < deps.size(); ++d) {
    if (task.input_chunks[d].input == w.input) available += deps[d]->num_elements();
  }
  if (available < count) {
    return Invalid(task, "input chunks of '", p.inputs[w.input].name, "' do not cover ",
                   "the elements read: box lo ", VecToString(w.lo), " shape ", VecToString(w.shape),
                   " needs ", count, " elements, the chunks hold ", available);
  }
  ResizeZeroed(w.data, static_cast<size_t>(count));
  const std::vector<int64_t> wstride = Strides(w.shape);
  int64_t covered = 0;
  std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> boxes;  // for overlap check
  for (size_t d = 0; d < deps.size(); ++d) {
    const graph::InputChunk& ic = task.input_chunks[d];
    if (ic.input != w.input) continue;
    // Intersection of the chunk with the window.
    std::vector<int64_t> ilo(r), ihi(r);
    bool empty = false;
    for (int a = 0; a < r; ++a) {
      ilo[a] = std::max(w.lo[a], ic.lo[a]);
      ihi[a] = std::min(w.lo[a] + w.shape[a], ic.lo[a] + ic.shape[a]);
      if (ihi[a] <= ilo[a]) empty = true;
    }
    if (empty) continue;
    for (const auto& [blo, bhi] : boxes) {
      bool overlap = true;
      for (int a = 0; a < r; ++a) overlap = overlap && ilo[a] < bhi[a] && blo[a] < ihi[a];
      if (overlap) {
        return Invalid(task, "input chunks of '", p.inputs[w.input].name, "' overlap (chunk ", d,
                       " at ", VecToString(ic.lo), ")");
      }
    }
    boxes.emplace_back(ilo, ihi);
    const ChunkBuffer& chunk = *deps[d];
    const std::vector<int64_t> cstride = Strides(chunk.shape);
    // Copy the intersection row by row along the last axis.
    int64_t rows = 1, vol = 1;
    for (int a = 0; a < r; ++a) {
      vol *= ihi[a] - ilo[a];
      if (a < r - 1) rows *= ihi[a] - ilo[a];
    }
    covered += vol;
    const int64_t len = r > 0 ? ihi[r - 1] - ilo[r - 1] : 1;
    std::vector<int64_t> idx(r > 0 ? r - 1 : 0, 0);
    for (int64_t row = 0; row < rows; ++row) {
      int64_t src = 0, dst = 0;
      for (int a = 0; a < r; ++a) {
        const int64_t c = (a < r - 1 ? ilo[a] + idx[a] : ilo[a]);
        src += (c - ic.lo[a]) * cstride[a];
        dst += (c - w.lo[a]) * wstride[a];
      }
      LoadAsDouble(chunk.dtype, chunk.bytes.data(), src, len, w.data.data() + dst);
      for (int a = r - 2; a >= 0; --a) {
        if (++idx[a] < ihi[a] - ilo[a]) break;
        idx[a] = 0;
      }
    }
  }
  if (covered != count) {
    return Invalid(task, "input chunks of '", p.inputs[w.input].name, "' do not cover ",
                   "the elements read: box lo ", VecToString(w.lo), " shape ", VecToString(w.shape),
                   " (", count - covered, " elements missing)");
  }
  return absl::OkStatus();
}

absl::StatusOr<Plan> MakePlan(const TaskSpec& task, const ChunkProgram& p,
                              const std::vector<ChunkPtr>& deps, bool empty_region) {
  Plan plan;
  plan.program = &p;
  plan.ndim = p.ndim;
  const int n = static_cast<int>(p.nodes.size());
  plan.leaf.resize(n);
  plan.scalar.assign(n, 0.0);

  // Dependencies: one per InputChunk, matching it.
  if (deps.size() != task.input_chunks.size()) {
    return Invalid(task, deps.size(), " dependencies given for ", task.input_chunks.size(),
                   " input chunks");
  }
  for (size_t d = 0; d < deps.size(); ++d) {
    const graph::InputChunk& ic = task.input_chunks[d];
    const std::string dep_name = d < task.deps.size() ? task.deps[d] : absl::StrCat("#", d);
    if (ic.input < 0 || ic.input >= static_cast<int>(p.inputs.size())) {
      return Invalid(task, "input chunk '", dep_name, "' names input ", ic.input, " of ",
                     p.inputs.size());
    }
    const graph::ProgramInput& in = p.inputs[ic.input];
    if (deps[d] == nullptr) return Invalid(task, "dependency '", dep_name, "' is null");
    const ChunkBuffer& c = *deps[d];
    if (c.dtype != in.dtype) {
      return Invalid(task, "dependency '", dep_name, "' has dtype ", DName(c.dtype), ", expected ",
                     DName(in.dtype));
    }
    if (c.shape != ic.shape) {
      return Invalid(task, "dependency '", dep_name, "' has shape ", VecToString(c.shape),
                     ", expected ", VecToString(ic.shape));
    }
    const int64_t cnt = SafeCount(c.shape);
    if (cnt < 0 || c.nbytes() != cnt * ItemSize(c.dtype)) {
      return Invalid(task, "dependency '", dep_name, "' holds ", c.nbytes(), " bytes for shape ",
                     VecToString(c.shape));
    }
    if (ic.lo.size() != in.shape.size() || ic.shape.size() != in.shape.size()) {
      return Invalid(task, "input chunk '", dep_name, "' rank does not match input '", in.name,
                     "' of shape ", VecToString(in.shape));
    }
    for (size_t a = 0; a < in.shape.size(); ++a) {
      if (ic.lo[a] < 0 || ic.lo[a] > in.shape[a] - ic.shape[a]) {
        return Invalid(task, "input chunk '", dep_name, "' at ", VecToString(ic.lo), " shape ",
                       VecToString(ic.shape), " lies outside input '", in.name, "' of shape ",
                       VecToString(in.shape));
      }
    }
  }

  // Leaves: bounds of the coordinates read, and their affine plans.
  for (int i = 0; i < n; ++i) {
    const ProgramNode& node = p.nodes[i];
    if (node.kind == Kind::kScalar || node.kind == Kind::kFull) {
      plan.scalar[i] = detail::RoundValue(node.dtype, node.value);
      continue;
    }
    if (node.kind != Kind::kArange && node.kind != Kind::kLinspace && node.kind != Kind::kRandom &&
        node.kind != Kind::kInput) {
      continue;
    }
    const Shape& shape = node.kind == Kind::kInput ? p.inputs[node.input].shape : node.leaf_shape;
    const size_t r = shape.size();
    LeafPlan& lp = plan.leaf[i];
    lp.active = true;
    lp.coef.assign(p.ndim, 0);
    if (empty_region) continue;  // nothing is read
    std::vector<int64_t> cmin(r), cmax(r);
    for (size_t a = 0; a < r; ++a) {
      CoordRange(node.map, a, task.lo, task.hi, &cmin[a], &cmax[a]);
      if (cmin[a] < 0 || cmax[a] >= shape[a]) {
        return Invalid(task, "program node ", i, " reads coordinates [", cmin[a], ", ", cmax[a],
                       "] on axis ", a, " of a leaf of shape ", VecToString(shape), " (region lo ",
                       VecToString(task.lo), " hi ", VecToString(task.hi), ")");
      }
    }
    std::vector<int64_t> origin(r, 0);
    Shape space = shape;
    if (node.kind == Kind::kInput) {
      // A float64 chunk that contains the whole box is read in place; otherwise one gathered
      // window per distinct (input, box).
      Shape wshape(r);
      for (size_t a = 0; a < r; ++a) wshape[a] = cmax[a] - cmin[a] + 1;
      int wi = -1;
      for (size_t d = 0; d < deps.size() && wi < 0; ++d) {
        const graph::InputChunk& ic = task.input_chunks[d];
        if (ic.input != node.input || deps[d]->dtype != DType::kFloat64) continue;
        bool inside = true;
        for (size_t a = 0; a < r; ++a) {
          inside = inside && ic.lo[a] <= cmin[a] && cmax[a] < ic.lo[a] + ic.shape[a];
        }
        if (!inside) continue;
        Window w;
        w.input = node.input;
        w.lo = ic.lo;
        w.shape = ic.shape;
        w.values = deps[d]->data<double>();
        plan.windows.push_back(std::move(w));
        wi = static_cast<int>(plan.windows.size()) - 1;
      }
      for (size_t k = 0; k < plan.windows.size() && wi < 0; ++k) {
        if (plan.windows[k].input == node.input && plan.windows[k].lo == cmin &&
            plan.windows[k].shape == wshape) {
          wi = static_cast<int>(k);
        }
      }
      if (wi < 0) {
        Window w;
        w.input = node.input;
        w.lo = cmin;
        w.shape = wshape;
        TESSERA_RETURN_IF_ERROR(FillWindow(task, p, deps, w));
        w.values = w.data.data();
        plan.windows.push_back(std::move(w));
        wi = static_cast<int>(plan.windows.size()) - 1;
      }
      lp.window = wi;
      origin = plan.windows[wi].lo;
      space = plan.windows[wi].shape;
    }
    const std::vector<int64_t> stride = Strides(space);
    for (size_t a = 0; a < r; ++a) {
      lp.base += stride[a] * (node.map.offset[a] - origin[a]);
      if (node.map.out_axis[a] >= 0) lp.coef[node.map.out_axis[a]] += stride[a] * node.map.step[a];
    }
  }

  // Scratch buffers by liveness: a buffer is reused once its node's last reader has run. The
  // root always gets a buffer (a scalar root is materialised).
  std::vector<int> last_use(n, -1);
  for (int i = 0; i < n; ++i) {
    const ProgramNode& node = p.nodes[i];
    if (node.kind == Kind::kUnary) last_use[node.arg0] = i;
    if (node.kind == Kind::kBinary || node.kind == Kind::kWhere) {
      last_use[node.arg0] = i;
      last_use[node.arg1] = i;
    }
    if (node.kind == Kind::kWhere) last_use[node.arg2] = i;
  }
  last_use[n - 1] = n;
  // A kFull leaf read only by binary nodes is passed to them as a broadcast scalar operand (its
  // value rounded to its dtype, as filling and rounding a block would give) instead of being
  // filled into a buffer for every block; the binary nodes still compute every element.
  std::vector<bool> as_scalar(n, false);
  for (int i = 0; i < n - 1; ++i) {
    as_scalar[i] = p.nodes[i].kind == Kind::kFull && last_use[i] >= 0;
  }
  // Every element is still computed by its binary node, so a node needs one materialised
  // operand: when both would be scalars, a kFull one is filled into a buffer.
  auto scalar_operand = [&](int a) { return p.nodes[a].kind == Kind::kScalar || as_scalar[a]; };
  for (int i = 0; i < n; ++i) {
    const ProgramNode& node = p.nodes[i];
    if (node.kind == Kind::kUnary) as_scalar[node.arg0] = false;
    if (node.kind == Kind::kBinary && scalar_operand(node.arg0) && scalar_operand(node.arg1)) {
      if (as_scalar[node.arg0]) {
        as_scalar[node.arg0] = false;
      } else {
        as_scalar[node.arg1] = false;
      }
    }
  }
  plan.buffer.assign(n, -1);
  std::vector<int> free_list;
  for (int i = 0; i < n; ++i) {
    const ProgramNode& node = p.nodes[i];
    if ((node.kind == Kind::kScalar || as_scalar[i]) && i != n - 1) continue;
    if (!free_list.empty()) {
      plan.buffer[i] = free_list.back();
      free_list.pop_back();
    } else {
      plan.buffer[i] = plan.num_buffers++;
    }
    int args[3] = {-1, -1, -1};
    if (node.kind == Kind::kUnary) args[0] = node.arg0;
    if (node.kind == Kind::kBinary || node.kind == Kind::kWhere) {
      args[0] = node.arg0;
      args[1] = node.arg1 != node.arg0 ? node.arg1 : -1;
    }
    if (node.kind == Kind::kWhere && node.arg2 != node.arg0 && node.arg2 != node.arg1) {
      args[2] = node.arg2;
    }
    // A materialised kFull keeps its buffer for the whole task: it is filled once (EvalBlock).
    auto release = [&](int a) {
      if (p.nodes[a].kind != Kind::kFull) free_list.push_back(plan.buffer[a]);
    };
    for (int a : args) {
      if (a >= 0 && last_use[a] == i && plan.buffer[a] >= 0) release(a);
    }
    if (last_use[i] < 0 && i != n - 1) release(i);  // dead node
  }
  plan.filled.assign(n, false);
  return plan;
}

// Evaluates every node for one block: `rows` row segments of `seg` elements each, stored one after
// the other (several short rows share a block so per-node overheads are paid per block, not per
// row). `start[i * max_rows + r]` is leaf i's flat index at the first element of segment r.
// Returns the root's values; with skip_root, evaluates all nodes but the root and returns null.
const double* EvalBlock(Plan& plan, const int64_t* start, int64_t max_rows, int64_t rows,
                        int64_t seg, double* scratch, int64_t* index, bool skip_root) {
  const ChunkProgram& p = *plan.program;
  const int last = plan.ndim - 1;
  const int count = static_cast<int>(p.nodes.size()) - (skip_root ? 1 : 0);
  const int64_t n = rows * seg;
  int index_leaf = -1;  // the leaf whose flat indices `index` holds
  for (int i = 0; i < count; ++i) {
    const ProgramNode& node = p.nodes[i];
    if (plan.buffer[i] < 0) continue;  // scalar operand
    double* out = scratch + plan.buffer[i] * kBlockSize;
    const LeafPlan& lp = plan.leaf[i];
    const int64_t stride = (last >= 0 && lp.active) ? lp.coef[last] : 0;
    const int64_t* st = start + i * max_rows;
    // A random leaf over one row segment takes its indices as first + i * stride.
    const bool affine_random = node.kind == Kind::kRandom && rows == 1;
    if (lp.active && !affine_random && (node.kind != Kind::kInput || rows > 1)) {
      // Leaves with the same affine map (x and y of the same shape) share the indices.
      const LeafPlan* prev = index_leaf >= 0 ? &plan.leaf[index_leaf] : nullptr;
      if (prev == nullptr || prev->base != lp.base || prev->coef != lp.coef) {
        detail::AffineIndexRows(index, st, rows, seg, stride);
        index_leaf = i;
      }
    }
    switch (node.kind) {
      case Kind::kFull:
        // The same values in every block: its buffer is its own (MakePlan), filled once.
        if (!plan.filled[i]) {
          detail::FillBlock(out, node.value, kBlockSize);
          detail::RoundBlock(node.dtype, out, kBlockSize);
          plan.filled[i] = true;
        }
        continue;  // rounded when filled
      case Kind::kScalar:
        detail::FillBlock(out, plan.scalar[i], n);
        break;
      case Kind::kArange:
        detail::ArangeIndexed(out, node.start, node.step, index, n);
        break;
      case Kind::kLinspace:
        // Element by element as NumPy (a rare creation op: no vectorised kernel needed).
        for (int64_t k = 0; k < n; ++k) out[k] = graph::LinspaceValue(node, index[k]);
        break;
      case Kind::kRandom:
        if (affine_random) {
          detail::RandomBlockAffine(out, node.dist, node.dtype, node.seed, node.param_a,
                                    node.param_b, st[0], stride, n, index);
          index_leaf = -1;  // `index` may have been overwritten
        } else {
          detail::RandomBlock(out, node.dist, node.dtype, node.seed, node.param_a, node.param_b,
                              index, n);
        }
        break;
      case Kind::kInput: {
        const double* src = plan.windows[lp.window].values;
        if (rows == 1) {
          detail::GatherBlock(out, src, st[0], stride, n);
        } else {
          detail::GatherIndexed(out, src, index, n);
        }
        break;
      }
      case Kind::kUnary: {
        const double* arg = scratch + plan.buffer[node.arg0] * kBlockSize;
        // Float64 arcsin / arccos have vectorised kernels (within 1 ulp of libm); other dtypes
        // keep libm's, so float32 results are libm's rounded to float as before.
        if (node.dtype == DType::kFloat64 && node.unary == graph::UnaryOp::kArcsin) {
          detail::ArcsinBlock(out, arg, n);
        } else if (node.dtype == DType::kFloat64 && node.unary == graph::UnaryOp::kArccos) {
          detail::ArccosBlock(out, arg, n);
        } else {
          detail::UnaryBlock(node.unary, out, arg, n);
        }
        break;
      }
      case Kind::kBinary: {
        const int b0 = plan.buffer[node.arg0], b1 = plan.buffer[node.arg1];
        detail::BinaryBlock(node.binary, IsInteger(node.dtype), out,
                            b0 >= 0 ? scratch + b0 * kBlockSize : nullptr, plan.scalar[node.arg0],
                            b1 >= 0 ? scratch + b1 * kBlockSize : nullptr, plan.scalar[node.arg1],
                            n);
        break;
      }
      case Kind::kWhere: {
        const int b0 = plan.buffer[node.arg0], b1 = plan.buffer[node.arg1],
                  b2 = plan.buffer[node.arg2];
        const double* c = b0 >= 0 ? scratch + b0 * kBlockSize : nullptr;
        const double* x = b1 >= 0 ? scratch + b1 * kBlockSize : nullptr;
        const double* y = b2 >= 0 ? scratch + b2 * kBlockSize : nullptr;
        const double cs = plan.scalar[node.arg0], xs = plan.scalar[node.arg1],
                     ys = plan.scalar[node.arg2];
        for (int64_t k = 0; k < n; ++k) {
          const bool take = (c != nullptr ? c[k] : cs) != 0;  // NaN is true, as NumPy
          out[k] = take ? (x != nullptr ? x[k] : xs) : (y != nullptr ? y[k] : ys);
        }
        break;
      }
    }
    detail::RoundBlock(node.dtype, out, n);
  }
  if (skip_root) return nullptr;
  return scratch + plan.buffer[count - 1] * kBlockSize;
}

// Folds root blocks into a partial result (keepdims layout of the region).
class Reducer {
 public:
  Reducer(ReduceOp op, DType root_dtype, int64_t size)
      : op_(op), partial_dtype_(graph::PartialDType(op, root_dtype)) {
    int_sum_ = (op == ReduceOp::kSum || op == ReduceOp::kProd) && IsInteger(root_dtype);
    if (int_sum_) {
      iacc_.assign(size, op == ReduceOp::kProd ? 1 : 0);
    } else {
      double init = 0;
      if (op == ReduceOp::kProd) init = 1;
      if (op == ReduceOp::kMin) init = std::numeric_limits<double>::infinity();
      if (op == ReduceOp::kMax) init = -std::numeric_limits<double>::infinity();
      if (op == ReduceOp::kAll) init = 1;  // any: 0
      acc_.assign(size, init);
      if (op == ReduceOp::kSum || op == ReduceOp::kMean) comp_.assign(size, 0.0);
    }
  }

  // All n values go into partial element p.
  void AddToOne(int64_t p, const double* x, int64_t n) {
    if (int_sum_) {
      if (op_ == ReduceOp::kSum) {
        iacc_[p] = static_cast<int64_t>(static_cast<uint64_t>(iacc_[p]) +
                                        static_cast<uint64_t>(detail::IntSum(x, n)));
      } else {
        for (int64_t i = 0; i < n; ++i) {
          iacc_[p] = static_cast<int64_t>(static_cast<uint64_t>(iacc_[p]) *
                                          static_cast<uint64_t>(detail::ToInt64(x[i])));
        }
      }
      return;
    }
    switch (op_) {
      case ReduceOp::kSum:
      case ReduceOp::kMean:
        detail::NeumaierAdd(acc_[p], comp_[p], detail::PairwiseSum(x, n));
        break;
      case ReduceOp::kProd:
        acc_[p] *= detail::BlockProd(x, n);
        break;
      case ReduceOp::kMin: {
        const double m = detail::BlockMin(x, n);
        detail::MinAccumulate(&acc_[p], &m, 1);
        break;
      }
      case ReduceOp::kMax: {
        const double m = detail::BlockMax(x, n);
        detail::MaxAccumulate(&acc_[p], &m, 1);
        break;
      }
      case ReduceOp::kAny:  // NaN != 0 is true, as NumPy's truth value of NaN
        for (int64_t i = 0; i < n && acc_[p] == 0; ++i) acc_[p] = x[i] != 0 ? 1 : 0;
        break;
      case ReduceOp::kAll:
        for (int64_t i = 0; i < n && acc_[p] != 0; ++i) acc_[p] = x[i] != 0 ? 1 : 0;
        break;
      case ReduceOp::kArgmin:
      case ReduceOp::kArgmax:
        break;  // detail::ArgReducer
    }
  }

  // A PairwiseSum of values, for sum / mean of floats: as AddToOne of those values.
  void AddSum(int64_t p, double sum) { detail::NeumaierAdd(acc_[p], comp_[p], sum); }

  // Value i goes into partial element p + i.
  void AddElementwise(int64_t p, const double* x, int64_t n) {
    if (int_sum_) {
      if (op_ == ReduceOp::kSum) {
        detail::IntAccumulate(&iacc_[p], x, n);
      } else {
        detail::IntProdAccumulate(&iacc_[p], x, n);
      }
      return;
    }
    switch (op_) {
      case ReduceOp::kSum:
      case ReduceOp::kMean:
        detail::NeumaierAccumulate(&acc_[p], &comp_[p], x, n);
        break;
      case ReduceOp::kProd:
        detail::ProdAccumulate(&acc_[p], x, n);
        break;
      case ReduceOp::kMin:
        detail::MinAccumulate(&acc_[p], x, n);
        break;
      case ReduceOp::kMax:
        detail::MaxAccumulate(&acc_[p], x, n);
        break;
      case ReduceOp::kAny:
        for (int64_t i = 0; i < n; ++i) acc_[p + i] = (acc_[p + i] != 0 || x[i] != 0) ? 1 : 0;
        break;
      case ReduceOp::kAll:
        for (int64_t i = 0; i < n; ++i) acc_[p + i] = (acc_[p + i] != 0 && x[i] != 0) ? 1 : 0;
        break;
      case ReduceOp::kArgmin:
      case ReduceOp::kArgmax:
        break;  // detail::ArgReducer
    }
  }

  ChunkBuffer Finish(Shape shape) {
    ChunkBuffer out = ChunkBuffer::Zeros(partial_dtype_, std::move(shape));
    if (int_sum_) {
      if (partial_dtype_ == DType::kInt64) {
        std::memcpy(out.bytes.data(), iacc_.data(), iacc_.size() * sizeof(int64_t));
      }
      return out;
    }
    if (!comp_.empty()) {
      for (size_t i = 0; i < acc_.size(); ++i) acc_[i] = detail::NeumaierResult(acc_[i], comp_[i]);
    }
    StoreAs(partial_dtype_, acc_.data(), static_cast<int64_t>(acc_.size()), out.bytes.data(), 0);
    return out;
  }

 private:
  ReduceOp op_;
  DType partial_dtype_;
  bool int_sum_ = false;
  std::vector<double> acc_, comp_;
  std::vector<int64_t> iacc_;
};

// Checks a chunk task's program and region (shared by RunChunk and PrepareChunk); returns the
// region's shape.
absl::StatusOr<Shape> CheckChunkTask(const TaskSpec& task, const ChunkProgram* program) {
  if (program == nullptr) return Invalid(task, "chunk task without a program");
  const ChunkProgram& p = *program;
  TESSERA_RETURN_IF_ERROR(ValidateProgram(task, p));
  const int ndim = p.ndim;
  if (static_cast<int>(task.lo.size()) != ndim || static_cast<int>(task.hi.size()) != ndim) {
    return Invalid(task, "region lo ", VecToString(task.lo), " hi ", VecToString(task.hi),
                   " does not have the program's ", ndim, " axes");
  }
  Shape region(ndim);
  for (int k = 0; k < ndim; ++k) {
    if (task.lo[k] < 0 || task.hi[k] < task.lo[k]) {
      return Invalid(task, "bad region lo ", VecToString(task.lo), " hi ", VecToString(task.hi));
    }
    region[k] = task.hi[k] - task.lo[k];
  }
  const int64_t total = SafeCount(region);
  if (total < 0 || total > std::numeric_limits<int64_t>::max() / 8) {
    return Invalid(task, "region ", VecToString(region), " is too large");
  }
  if (p.has_reduce) {
    // As NumPy: min / max of no elements has no identity (unless the result itself is empty).
    Shape out_shape = region;
    int empty_axis = -1;
    for (int a : p.reduce.axes) {
      if (region[a] == 0) empty_axis = a;
      out_shape[a] = 1;
    }
    if (empty_axis >= 0 && SafeCount(out_shape) > 0 &&
        (p.reduce.op == ReduceOp::kMin || p.reduce.op == ReduceOp::kMax)) {
      return Invalid(task, "zero-size reduction ", (p.reduce.op == ReduceOp::kMin ? "min" : "max"),
                     " has no identity (axis ", empty_axis, " of the region is empty)");
    }
  }
  return region;
}

absl::StatusOr<ChunkBuffer> RunChunk(const TaskSpec& task, const ChunkProgram* program,
                                     const std::vector<ChunkPtr>& deps) {
  TESSERA_ASSIGN_OR_RETURN(const Shape region, CheckChunkTask(task, program));
  const ChunkProgram& p = *program;
  const int ndim = p.ndim;
  const int64_t total = SafeCount(region);
  const bool empty_region = total == 0;
  TESSERA_ASSIGN_OR_RETURN(Plan plan, MakePlan(task, p, deps, empty_region));

  const DType root_dtype = p.nodes.back().dtype;
  const int last = ndim - 1;
  const int64_t row_len = ndim > 0 ? region[last] : 1;
  const int64_t rows = row_len > 0 ? total / row_len : 0;
  const int nn = static_cast<int>(p.nodes.size());

  // Output: the region itself, or a partial with the reduced axes set to 1.
  std::vector<bool> reduced(ndim, false);
  Shape out_shape = region;
  std::vector<int64_t> pstride(ndim, 0);  // partial stride per axis, 0 on reduced axes
  std::unique_ptr<Reducer> reducer;
  std::unique_ptr<detail::ArgReducer> arg;
  std::vector<int64_t> istride(ndim, 0);  // argmin / argmax: weight of each global coordinate
  ChunkBuffer result;
  if (p.has_reduce) {
    for (int a : p.reduce.axes) {
      reduced[a] = true;
      out_shape[a] = 1;
    }
    const std::vector<int64_t> s = Strides(out_shape);
    for (int k = 0; k < ndim; ++k) pstride[k] = reduced[k] ? 0 : s[k];
    if (graph::IsArgReduce(p.reduce.op)) {
      arg = std::make_unique<detail::ArgReducer>(p.reduce.op == ReduceOp::kArgmax,
                                                 SafeCount(out_shape));
      istride = p.reduce.index_strides;
    } else {
      reducer = std::make_unique<Reducer>(p.reduce.op, root_dtype, SafeCount(out_shape));
    }
  } else {
    result = ChunkBuffer::Zeros(root_dtype, region);
  }

  // Per-thread scratch, kept between tasks: small tasks (1e3-element chunks) should not pay for
  // allocating and zeroing it each time.
  thread_local std::vector<double> scratch;
  thread_local std::vector<int64_t> index;
  const size_t scratch_size = static_cast<size_t>(std::max(plan.num_buffers, 1)) * kBlockSize;
  if (scratch.size() < scratch_size) scratch.resize(scratch_size);
  if (index.size() < static_cast<size_t>(kBlockSize + 8)) index.resize(kBlockSize + 8);
  // Rows shorter than half a block are packed several to a block.
  const int64_t rows_per_block =
      (row_len > 0 && row_len <= kBlockSize / 2) ? kBlockSize / row_len : 1;
  std::vector<int64_t> row_start(nn * rows_per_block, 0), start(nn * rows_per_block, 0);
  std::vector<int64_t> prow(rows_per_block, 0), irow(rows_per_block, 0);
  std::vector<int64_t> idx(ndim > 0 ? ndim - 1 : 0, 0);  // position of the next row in the region
  const bool last_reduced = ndim == 0 || reduced[last];
  // A float64 add / subtract / multiply / divide root under a float sum or mean over the last
  // axis is summed as it is computed (PairwiseSumBinary: the same values in the same order), not
  // stored and reloaded. Not when both operands are scalars: then the root is materialised.
  const ProgramNode& root = p.nodes.back();
  const bool fused_root =
      reducer != nullptr && last_reduced && root.kind == Kind::kBinary &&
      root_dtype == DType::kFloat64 &&
      (p.reduce.op == ReduceOp::kSum || p.reduce.op == ReduceOp::kMean) &&
      (root.binary == graph::BinaryOp::kAdd || root.binary == graph::BinaryOp::kSubtract ||
       root.binary == graph::BinaryOp::kMultiply || root.binary == graph::BinaryOp::kDivide) &&
      (plan.buffer[root.arg0] >= 0 || plan.buffer[root.arg1] >= 0);
  // Row starts are updated incrementally (short rows make this per-row work count): moving to the
  // next row increments axis k and resets the axes after it to 0, which adds step[k] to a leaf's
  // flat index (and pstep to the partial's), precomputed per axis.
  std::vector<int> active;
  for (int i = 0; i < nn; ++i) {
    if (plan.leaf[i].active) active.push_back(i);
  }
  const int na = static_cast<int>(active.size());
  std::vector<int64_t> cur(na, 0), step(std::max(last, 0) * na, 0), pstep(std::max(last, 0), 0);
  for (int a = 0; a < na; ++a) {
    const LeafPlan& lp = plan.leaf[active[a]];
    cur[a] = lp.base;
    for (int k = 0; k < ndim; ++k) cur[a] += lp.coef[k] * task.lo[k];
  }
  for (int k = 0; k < last; ++k) {
    pstep[k] = pstride[k];
    for (int m = k + 1; m < last; ++m) pstep[k] -= pstride[m] * (region[m] - 1);
    for (int a = 0; a < na; ++a) {
      const LeafPlan& lp = plan.leaf[active[a]];
      int64_t d = lp.coef[k];
      for (int m = k + 1; m < last; ++m) d -= lp.coef[m] * (region[m] - 1);
      step[k * na + a] = d;
    }
  }
  // argmin / argmax: the global index contribution of the axes before the last, for the row at
  // idx (the last axis is added per element).
  auto row_index = [&] {
    int64_t ir = 0;
    for (int k = 0; k < last; ++k) ir += (task.lo[k] + idx[k]) * istride[k];
    return ir;
  };
  int64_t cur_prow = 0;
  // The block's rows where the partial element changes (the first row always): the rows between
  // two of them fold into one partial element and are summed as one span. Noted as the rows are
  // laid out, a run at a time where the run stays on one partial, rather than found by comparing
  // row after row (B3's blocks: 409 rows of 5, all on one partial).
  std::vector<int64_t> group_start;
  group_start.reserve(static_cast<size_t>(rows_per_block));
  int64_t prev_prow = 0;
  auto note_prow = [&](int64_t r, int64_t p) {
    if (r == 0 || p != prev_prow) group_start.push_back(r);
    prev_prow = p;
  };
  for (int64_t row = 0; row < rows;) {
    const int64_t nr = std::min(rows_per_block, rows - row);
    group_start.clear();
    for (int64_t r = 0; r < nr; ++r) {
      if (last >= 1 && r + 1 < nr) {
        // The rows up to the next wrap of axis last - 1 step by that axis's stride alone.
        const int k = last - 1;
        const int64_t run = std::min(nr - r, region[k] - idx[k]) - 1;
        const int64_t ps = pstep[k];
        // Written as inductions (an add per element, no multiply), which GCC vectorises for
        // baseline x86-64 (SSE2 has no 64-bit multiply): B3's blocks hold 409 rows of 5.
        for (int64_t q = 0, v = cur_prow; q < run; ++q, v += ps) prow[r + q] = v;
        if (ps == 0) {
          if (run > 0) note_prow(r, cur_prow);
        } else {
          for (int64_t q = 0; q < run; ++q) note_prow(r + q, prow[r + q]);
        }
        if (arg != nullptr) {
          const int64_t ir0 = row_index();
          for (int64_t q = 0; q < run; ++q) irow[r + q] = ir0 + q * istride[k];
        }
        for (int a = 0; a < na; ++a) {
          int64_t* rs = &row_start[active[a] * rows_per_block + r];
          const int64_t c = cur[a], st = step[k * na + a];
          for (int64_t q = 0, v = c; q < run; ++q, v += st) rs[q] = v;
          cur[a] = c + run * st;
        }
        cur_prow += run * ps;
        idx[k] += run;
        r += run;
      }
      prow[r] = cur_prow;
      note_prow(r, cur_prow);
      if (arg != nullptr) irow[r] = row_index();
      for (int a = 0; a < na; ++a) row_start[active[a] * rows_per_block + r] = cur[a];
      for (int k = last - 1; k >= 0; --k) {
        if (++idx[k] < region[k]) {
          cur_prow += pstep[k];
          for (int a = 0; a < na; ++a) cur[a] += step[k * na + a];
          break;
        }
        idx[k] = 0;
      }
    }
    // With several rows per block, row_len <= kBlockSize / 2 and this loop runs once.
    for (int64_t j0 = 0; j0 < row_len; j0 += kBlockSize) {
      const int64_t seg = std::min(kBlockSize, row_len - j0);
      if (j0 > 0) {  // the first segment of a row starts at the row start
        for (int a = 0; a < na; ++a) {
          const int i = active[a];
          const int64_t shift = plan.leaf[i].coef[last] * j0;
          for (int64_t r = 0; r < nr; ++r) {
            start[i * rows_per_block + r] = row_start[i * rows_per_block + r] + shift;
          }
        }
      }
      const double* values = EvalBlock(plan, (j0 > 0 ? start : row_start).data(), rows_per_block,
                                       nr, seg, scratch.data(), index.data(), fused_root);
      if (arg != nullptr) {
        const int64_t is_last = ndim > 0 ? istride[last] : 0;
        const int64_t first = ndim > 0 ? task.lo[last] + j0 : 0;
        for (int64_t r = 0; r < nr; ++r) {
          const double* v = values + r * seg;
          const int64_t base = irow[r] + first * is_last;
          if (last_reduced) {
            for (int64_t i = 0; i < seg; ++i) arg->Add(prow[r], v[i], base + i * is_last);
          } else {
            for (int64_t i = 0; i < seg; ++i) arg->Add(prow[r] + j0 + i, v[i], base);
          }
        }
      } else if (fused_root) {
        // The root's values are computed span by span inside the pairwise sum.
        const int b0 = plan.buffer[root.arg0], b1 = plan.buffer[root.arg1];
        const double* a = b0 >= 0 ? scratch.data() + b0 * kBlockSize : nullptr;
        const double* b = b1 >= 0 ? scratch.data() + b1 * kBlockSize : nullptr;
        double* root_values = nullptr;  // set once the root is stored after all
        for (size_t g = 0; g < group_start.size(); ++g) {
          const int64_t r = group_start[g];
          const int64_t r1 = g + 1 < group_start.size() ? group_start[g + 1] : nr;
          double sum = 0;
          if (root_values == nullptr &&
              detail::PairwiseSumBinary(root.binary, a != nullptr ? a + r * seg : nullptr,
                                        plan.scalar[root.arg0],
                                        b != nullptr ? b + r * seg : nullptr,
                                        plan.scalar[root.arg1], (r1 - r) * seg, &sum) &&
              sum == sum) {
            reducer->AddSum(prow[r], sum);
          } else {
            // A NaN sum: which payload survives NaN + NaN depends on the order of the operands
            // in the generated code, so the values are stored and summed as without fusion.
            if (root_values == nullptr) {
              root_values = scratch.data() + plan.buffer[nn - 1] * kBlockSize;
              detail::BinaryBlock(root.binary, false, root_values, a, plan.scalar[root.arg0], b,
                                  plan.scalar[root.arg1], nr * seg);
            }
            reducer->AddToOne(prow[r], root_values + r * seg, (r1 - r) * seg);
          }
        }
      } else if (reducer == nullptr) {
        // Full rows when nr > 1, so the block is contiguous in the output.
        StoreAs(root_dtype, values, nr * seg, result.bytes.data(), row * row_len + j0);
      } else if (last_reduced) {
        // Consecutive rows that fold into the same partial element are summed as one span.
        for (size_t g = 0; g < group_start.size(); ++g) {
          const int64_t r = group_start[g];
          const int64_t r1 = g + 1 < group_start.size() ? group_start[g + 1] : nr;
          reducer->AddToOne(prow[r], values + r * seg, (r1 - r) * seg);
        }
      } else {
        for (int64_t r = 0; r < nr; ++r)
          reducer->AddElementwise(prow[r] + j0, values + r * seg, seg);
      }
    }
    row += nr;
  }
  if (reducer != nullptr) return reducer->Finish(out_shape);
  if (arg != nullptr) return arg->Finish(out_shape);
  return result;
}

absl::StatusOr<ChunkBuffer> RunCombine(const TaskSpec& task, const std::vector<ChunkPtr>& deps) {
  if (deps.empty()) return Invalid(task, "combine task without partials");
  const int op = static_cast<int>(task.combine_op);
  if (op < 0 || op > static_cast<int>(ReduceOp::kAll)) {
    return Invalid(task, "bad combine op ", op);
  }
  for (size_t d = 0; d < deps.size(); ++d) {
    const std::string name = d < task.deps.size() ? task.deps[d] : absl::StrCat("#", d);
    if (deps[d] == nullptr) return Invalid(task, "partial '", name, "' is null");
    const ChunkBuffer& c = *deps[d];
    if (!ValidDType(c.dtype) || SafeCount(c.shape) < 0 ||
        c.nbytes() != SafeCount(c.shape) * ItemSize(c.dtype)) {
      return Invalid(task, "partial '", name, "' is malformed (", c.nbytes(), " bytes for shape ",
                     VecToString(c.shape), ")");
    }
    if (c.dtype != deps[0]->dtype || c.shape != deps[0]->shape) {
      return Invalid(task, "partial '", name, "' has dtype ", DName(c.dtype), " shape ",
                     VecToString(c.shape), ", expected ", DName(deps[0]->dtype), " shape ",
                     VecToString(deps[0]->shape));
    }
  }
  const DType dtype = deps[0]->dtype;
  const int64_t count = SafeCount(deps[0]->shape);
  ChunkBuffer out = ChunkBuffer::Zeros(dtype, deps[0]->shape);
  const ReduceOp rop = task.combine_op;
  if (IsInteger(dtype) &&
      (rop == ReduceOp::kSum || rop == ReduceOp::kProd || rop == ReduceOp::kMean)) {
    // Exact (wrapping) int64 arithmetic, whatever the integer width of the partials.
    std::vector<int64_t> acc(count, rop == ReduceOp::kProd ? 1 : 0);
    for (const ChunkPtr& c : deps) {
      for (int64_t i = 0; i < count; ++i) {
        int64_t v = 0;
        switch (dtype) {
          case DType::kInt64:
            v = c->data<int64_t>()[i];
            break;
          case DType::kInt32:
            v = c->data<int32_t>()[i];
            break;
          default:
            v = c->data<uint8_t>()[i] != 0;
            break;
        }
        const uint64_t a = static_cast<uint64_t>(acc[i]), b = static_cast<uint64_t>(v);
        acc[i] = static_cast<int64_t>(rop == ReduceOp::kProd ? a * b : a + b);
      }
    }
    for (int64_t i = 0; i < count; ++i) {
      switch (dtype) {
        case DType::kInt64:
          out.mutable_data<int64_t>()[i] = acc[i];
          break;
        case DType::kInt32:
          out.mutable_data<int32_t>()[i] = static_cast<int32_t>(static_cast<uint32_t>(acc[i]));
          break;
        default:
          out.mutable_data<uint8_t>()[i] = acc[i] != 0;
          break;
      }
    }
    return out;
  }
  std::vector<double> acc(count), comp(count, 0.0), vals(count);
  LoadAsDouble(dtype, deps[0]->bytes.data(), 0, count, acc.data());
  for (size_t d = 1; d < deps.size(); ++d) {
    LoadAsDouble(dtype, deps[d]->bytes.data(), 0, count, vals.data());
    switch (rop) {
      case ReduceOp::kSum:
      case ReduceOp::kMean:
        detail::NeumaierAccumulate(acc.data(), comp.data(), vals.data(), count);
        break;
      case ReduceOp::kProd:
        detail::ProdAccumulate(acc.data(), vals.data(), count);
        break;
      case ReduceOp::kMin:
        detail::MinAccumulate(acc.data(), vals.data(), count);
        break;
      case ReduceOp::kMax:
        detail::MaxAccumulate(acc.data(), vals.data(), count);
        break;
      case ReduceOp::kAny:
        for (int64_t i = 0; i < count; ++i) acc[i] = (acc[i] != 0 || vals[i] != 0) ? 1 : 0;
        break;
      case ReduceOp::kAll:
        for (int64_t i = 0; i < count; ++i) acc[i] = (acc[i] != 0 && vals[i] != 0) ? 1 : 0;
        break;
      case ReduceOp::kArgmin:
      case ReduceOp::kArgmax:
        break;  // detail::RunArgCombine
    }
  }
  if (rop == ReduceOp::kSum || rop == ReduceOp::kMean) {
    for (int64_t i = 0; i < count; ++i) acc[i] = detail::NeumaierResult(acc[i], comp[i]);
  }
  StoreAs(dtype, acc.data(), count, out.bytes.data(), 0);
  return out;
}

absl::StatusOr<ChunkBuffer> ApplyFinalize(const TaskSpec& task, ChunkBuffer in) {
  const graph::Finalize& f = task.finalize;
  if (!ValidDType(f.out_dtype)) {
    return Invalid(task, "bad finalize dtype ", static_cast<int>(f.out_dtype));
  }
  const int64_t count = SafeCount(f.out_shape);
  if (f.out_shape.size() > static_cast<size_t>(kMaxDims) || count != in.num_elements()) {
    return Invalid(task, "finalize shape ", VecToString(f.out_shape), " does not hold the ",
                   in.num_elements(), " elements of the result of shape ", VecToString(in.shape));
  }
  if (f.divide_by == 1 && in.dtype == f.out_dtype) {
    in.shape = f.out_shape;
    return in;
  }
  ChunkBuffer out = ChunkBuffer::Zeros(f.out_dtype, f.out_shape);
  if (f.divide_by == 1 && in.dtype == DType::kInt64 && IsInteger(f.out_dtype)) {
    // Integer to integer without passing through double (exact above 2^53).
    for (int64_t i = 0; i < count; ++i) {
      const int64_t v = in.data<int64_t>()[i];
      if (f.out_dtype == DType::kInt32) {
        out.mutable_data<int32_t>()[i] = static_cast<int32_t>(static_cast<uint32_t>(v));
      } else {
        out.mutable_data<uint8_t>()[i] = v != 0;
      }
    }
    return out;
  }
  std::vector<double> vals(std::min<int64_t>(count, kBlockSize));
  for (int64_t at = 0; at < count; at += kBlockSize) {
    const int64_t n = std::min(kBlockSize, count - at);
    LoadAsDouble(in.dtype, in.bytes.data(), at, n, vals.data());
    if (f.divide_by != 1) {
      for (int64_t i = 0; i < n; ++i) vals[i] /= f.divide_by;
    }
    StoreAs(f.out_dtype, vals.data(), n, out.bytes.data(), at);
  }
  return out;
}

absl::StatusOr<ChunkBuffer> FinishTaskImpl(const TaskSpec& task, const ChunkProgram* program,
                                           absl::StatusOr<ChunkBuffer> result) {
  if (!result.ok() || !task.finalize.enabled) return result;
  const bool arg_partial =
      (task.kind == TaskKind::kCombine && graph::IsArgReduce(task.combine_op)) ||
      (task.kind == TaskKind::kChunk && program != nullptr && program->has_reduce &&
       graph::IsArgReduce(program->reduce.op));
  if (arg_partial) result = detail::ArgPartialToIndex(task, *result);
  if (!result.ok()) return result;
  return ApplyFinalize(task, std::move(result).value());
}

absl::StatusOr<ChunkBuffer> ExecuteTaskImpl(const TaskSpec& task, const ChunkProgram* program,
                                            const std::vector<ChunkPtr>& deps) {
  absl::StatusOr<ChunkBuffer> result;
  switch (task.kind) {
    case TaskKind::kChunk:
      result = RunChunk(task, program, deps);
      break;
    case TaskKind::kCombine:
      result = graph::IsArgReduce(task.combine_op) ? detail::RunArgCombine(task, deps)
                                                    : RunCombine(task, deps);
      break;
    case TaskKind::kContract:
      result = detail::RunContract(task, deps);
      break;
    case TaskKind::kLiteral:
      result = detail::RunLiteral(task);
      break;
    default:
      return Invalid(task, "bad task kind ", static_cast<int>(task.kind));
  }
  return FinishTaskImpl(task, program, std::move(result));
}

absl::StatusOr<PreparedChunk> PrepareChunkImpl(const TaskSpec& task, const ChunkProgram* program,
                                               const std::vector<ChunkPtr>& deps) {
  TESSERA_ASSIGN_OR_RETURN(Shape region, CheckChunkTask(task, program));
  const ChunkProgram& p = *program;
  TESSERA_ASSIGN_OR_RETURN(Plan plan, MakePlan(task, p, deps, SafeCount(region) == 0));
  PreparedChunk out;
  out.out_shape = region;
  out.reduced.assign(p.ndim, false);
  if (p.has_reduce) {
    for (int a : p.reduce.axes) {
      out.reduced[a] = true;
      out.out_shape[a] = 1;
    }
  }
  out.region = std::move(region);
  out.scalar = std::move(plan.scalar);
  out.leaf.resize(plan.leaf.size());
  for (size_t i = 0; i < plan.leaf.size(); ++i) {
    out.leaf[i].base = plan.leaf[i].base;
    out.leaf[i].coef = std::move(plan.leaf[i].coef);
    out.leaf[i].window = plan.leaf[i].window;
  }
  // Moving a window's vector keeps its buffer, so the pointers stay valid.
  for (Window& w : plan.windows) {
    const int64_t size = SafeCount(w.shape);
    if (w.values == w.data.data()) {
      out.window_storage.push_back(std::move(w.data));
      out.window_values.push_back(out.window_storage.back().data());
    } else {
      out.window_values.push_back(w.values);
    }
    out.window_sizes.push_back(size);
  }
  return out;
}

}  // namespace

absl::StatusOr<PreparedChunk> PrepareChunk(const graph::TaskSpec& task,
                                           const graph::ChunkProgram* program,
                                           const std::vector<ChunkPtr>& deps) {
  try {
    return PrepareChunkImpl(task, program, deps);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("task '", task.key, "': out of host memory gathering the task's inputs"));
  }
}

absl::StatusOr<ChunkBuffer> FinishTask(const graph::TaskSpec& task,
                                       const graph::ChunkProgram* program, ChunkBuffer raw) {
  try {
    return FinishTaskImpl(task, program, std::move(raw));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("task '", task.key, "': out of memory finishing the task"));
  }
}

absl::StatusOr<ChunkBuffer> ExecuteTask(const graph::TaskSpec& task,
                                        const graph::ChunkProgram* program,
                                        const std::vector<ChunkPtr>& deps) {
  // A region or window too large for this machine's memory must not take the worker down.
  try {
    return ExecuteTaskImpl(task, program, deps);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("task '", task.key, "': out of memory evaluating the task"));
  } catch (const std::length_error&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("task '", task.key, "': result too large to allocate"));
  }
}

}  // namespace tessera::cpu
