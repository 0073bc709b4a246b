// Expression constructors beyond creation, elementwise, slicing and plain reductions: where,
// var/std, argmin/argmax, rechunk, concatenate/stack, reshape, tensordot/matmul/dot and
// from_buffer (SEMANTICS.md's op table). Each validates its operands and names the bad value.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "graph/broadcast.h"
#include "graph/expr.h"
#include "graph/task_graph.h"

namespace tessera::graph {
namespace {

std::string Name(std::string_view s) { return std::string(s); }

std::string AxesString(const std::vector<int>& axes) {
  return absl::StrCat("(", absl::StrJoin(axes, ", "), axes.size() == 1 ? ",)" : ")");
}

int64_t Gcd(int64_t a, int64_t b) { return std::gcd(a, b); }

// Normalises one axis against ndim, naming the operation on error.
absl::StatusOr<int> NormalizeAxis(std::string_view op, int axis, int ndim) {
  if (axis < -ndim || axis >= ndim) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(op), ": axis ", axis,
                                                   " is out of bounds for array of dimension ",
                                                   ndim));
  }
  return axis < 0 ? axis + ndim : axis;
}

absl::StatusOr<NodePtr> AsType(NodePtr x, DType dtype) {
  if (x->dtype == dtype) return x;
  return Unary(UnaryOp::kAstype, std::move(x), dtype);
}

}  // namespace

absl::StatusOr<Shape> BroadcastShapes(std::string_view op, const std::vector<const Shape*>& shapes) {
  size_t n = 0;
  for (const Shape* s : shapes) n = std::max(n, s->size());
  Shape out(n, 1);
  for (size_t i = 0; i < n; ++i) {
    for (const Shape* s : shapes) {
      const size_t pad = n - s->size();
      if (i < pad) continue;
      const int64_t e = (*s)[i - pad];
      if (e == 1) continue;
      if (out[i] != 1 && out[i] != e) {
        std::vector<std::string> names;
        for (const Shape* t : shapes) names.push_back(ShapeToString(*t));
        return absl::InvalidArgumentError(absl::StrCat(
            std::string(op), ": operands could not be broadcast together with shapes ",
            absl::StrJoin(names, " ")));
      }
      out[i] = e;
    }
  }
  return out;
}

Chunks BroadcastChunks(const Shape& shape, const std::vector<const Node*>& operands) {
  const size_t n = shape.size();
  Chunks chunks(n);
  for (size_t i = 0; i < n; ++i) {
    for (const Node* x : operands) {
      const size_t pad = n - x->shape.size();
      if (i >= pad && x->shape[i - pad] == shape[i]) {
        chunks[i] = x->chunks[i - pad];
        break;
      }
    }
    if (chunks[i].empty()) chunks[i] = {shape[i]};
  }
  return chunks;
}


absl::StatusOr<NodePtr> Where(NodePtr c, NodePtr a, NodePtr b) {
  if (c == nullptr || a == nullptr || b == nullptr) {
    return absl::InvalidArgumentError("where: an operand is null");
  }
  const bool a_scalar = a->kind == OpKind::kScalar, b_scalar = b->kind == OpKind::kScalar;
  DType dtype;
  if (a_scalar && b_scalar) {
    dtype = (a->scalar_is_float || b->scalar_is_float) ? DType::kFloat64 : DType::kInt64;
  } else if (a_scalar) {
    dtype = PromoteWithScalar(b->dtype, a->scalar_is_float);
  } else if (b_scalar) {
    dtype = PromoteWithScalar(a->dtype, b->scalar_is_float);
  } else {
    dtype = PromoteTypes(a->dtype, b->dtype);
  }
  TESSERA_ASSIGN_OR_RETURN(Shape shape,
                           BroadcastShapes("where", {&c->shape, &a->shape, &b->shape}));
  Chunks chunks = BroadcastChunks(shape, {c.get(), a.get(), b.get()});
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kWhere;
  node->dtype = dtype;
  node->shape = std::move(shape);
  node->chunks = std::move(chunks);
  node->inputs = {std::move(c), std::move(a), std::move(b)};
  return NodePtr(std::move(node));
}

namespace {

absl::StatusOr<NodePtr> VarOf(const char* name, NodePtr x, std::vector<int> axes, bool keepdims,
                              double ddof, int split_every) {
  if (x == nullptr) return absl::InvalidArgumentError(absl::StrCat(name, ": the array is null"));
  if (!(ddof >= 0) || !std::isfinite(ddof)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ddof ", ddof, " must be >= 0"));
  }
  // Validate the axes once (and get them normalised) through the sum itself, reporting errors
  // under this operation's name.
  absl::StatusOr<NodePtr> checked = Reduce(ReduceOp::kSum, x, axes, keepdims, split_every);
  if (!checked.ok()) {
    std::string message(checked.status().message());
    if (message.rfind("sum: ", 0) == 0) message = absl::StrCat(name, message.substr(3));
    return absl::Status(checked.status().code(), message);
  }
  const NodePtr& probe = *checked;
  double n = 1;
  for (int a : probe->axes) n *= static_cast<double>(x->shape[a]);
  // NumPy's _var: arrmean = mean(x, keepdims=True); d = x - arrmean; sum(d * d) / max(n - ddof, 0)
  TESSERA_ASSIGN_OR_RETURN(NodePtr mean, Reduce(ReduceOp::kMean, x, axes, true, split_every));
  NodePtr xf = x;
  if (!IsFloating(x->dtype)) {
    TESSERA_ASSIGN_OR_RETURN(xf, AsType(x, DType::kFloat64));
  }
  TESSERA_ASSIGN_OR_RETURN(NodePtr d, Binary(BinaryOp::kSubtract, xf, mean));
  TESSERA_ASSIGN_OR_RETURN(NodePtr d2, Binary(BinaryOp::kMultiply, d, d));
  TESSERA_ASSIGN_OR_RETURN(NodePtr s, Reduce(ReduceOp::kSum, d2, axes, keepdims, split_every));
  return Binary(BinaryOp::kDivide, s, Scalar(std::max(n - ddof, 0.0), true));
}

}  // namespace

absl::StatusOr<NodePtr> Var(NodePtr x, std::vector<int> axes, bool keepdims, double ddof,
                            int split_every) {
  return VarOf("var", std::move(x), std::move(axes), keepdims, ddof, split_every);
}

absl::StatusOr<NodePtr> Std(NodePtr x, std::vector<int> axes, bool keepdims, double ddof,
                            int split_every) {
  TESSERA_ASSIGN_OR_RETURN(NodePtr v, VarOf("std", std::move(x), std::move(axes), keepdims, ddof,
                                            split_every));
  return Unary(UnaryOp::kSqrt, std::move(v));
}

absl::StatusOr<NodePtr> ArgReduce(ReduceOp op, NodePtr x, std::optional<int> axis, bool keepdims,
                                  int split_every) {
  if (!IsArgReduce(op)) return absl::InvalidArgumentError("ArgReduce: not argmin / argmax");
  const std::string name = Name(ReduceOpName(op));
  if (x == nullptr) return absl::InvalidArgumentError(absl::StrCat(name, ": the array is null"));
  if (split_every < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("split_every ", split_every, " must be at least 2"));
  }
  const int ndim = static_cast<int>(x->shape.size());
  std::vector<int> axes;
  if (axis) {
    TESSERA_ASSIGN_OR_RETURN(int a, NormalizeAxis(name, *axis, ndim));
    axes.push_back(a);
  } else {
    for (int i = 0; i < ndim; ++i) axes.push_back(i);
  }
  int64_t reduced = 1;
  for (int a : axes) reduced *= x->shape[a];
  if (reduced == 0) {
    return absl::InvalidArgumentError(absl::StrCat("attempt to get ", name,
                                                   " of an empty sequence (shape ",
                                                   ShapeToString(x->shape), ")"));
  }
  Shape shape;
  Chunks chunks;
  for (int i = 0; i < ndim; ++i) {
    const bool r = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!r) {
      shape.push_back(x->shape[i]);
      chunks.push_back(x->chunks[i]);
    } else if (keepdims) {
      shape.push_back(1);
      chunks.push_back({1});
    }
  }
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kReduce;
  node->dtype = DType::kInt64;
  node->shape = std::move(shape);
  node->chunks = std::move(chunks);
  node->reduce = op;
  node->axes = std::move(axes);
  node->keepdims = keepdims;
  node->split_every = split_every;
  node->inputs = {std::move(x)};
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Rechunk(NodePtr x, const ChunkSpec& chunks, int64_t chunk_target_bytes) {
  if (x == nullptr) return absl::InvalidArgumentError("rechunk: the array is null");
  if (x->kind == OpKind::kScalar) {
    return absl::InvalidArgumentError("rechunk: a Python scalar has no chunks");
  }
  absl::StatusOr<Chunks> normalized =
      NormalizeChunks(chunks, x->shape, x->dtype, chunk_target_bytes);
  if (!normalized.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("rechunk of an array of shape ",
                                                   ShapeToString(x->shape), ": ",
                                                   normalized.status().message()));
  }
  if (*normalized == x->chunks) return x;
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kRechunk;
  node->dtype = x->dtype;
  node->shape = x->shape;
  node->chunks = std::move(normalized).value();
  node->inputs = {std::move(x)};
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Concatenate(const std::vector<NodePtr>& arrays, int axis) {
  if (arrays.empty()) return absl::InvalidArgumentError("need at least one array to concatenate");
  for (const NodePtr& x : arrays) {
    if (x == nullptr) return absl::InvalidArgumentError("concatenate: an array is null");
    if (x->shape.empty()) {
      return absl::InvalidArgumentError("zero-dimensional arrays cannot be concatenated");
    }
  }
  const Shape& first = arrays[0]->shape;
  const int ndim = static_cast<int>(first.size());
  TESSERA_ASSIGN_OR_RETURN(const int ax, NormalizeAxis("concatenate", axis, ndim));
  DType dtype = arrays[0]->dtype;
  int64_t total = 0;
  std::vector<int64_t> axis_chunks;
  for (size_t k = 0; k < arrays.size(); ++k) {
    const Shape& s = arrays[k]->shape;
    if (static_cast<int>(s.size()) != ndim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "all the input array dimensions except for the concatenation axis must match exactly, "
          "but array 0 has ", ndim, " dimension(s) and array ", k, " has ", s.size()));
    }
    for (int a = 0; a < ndim; ++a) {
      if (a != ax && s[a] != first[a]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "concatenate: along dimension ", a, ", array 0 has size ", first[a], " and array ", k,
            " has size ", s[a], " (shapes ", ShapeToString(first), " and ", ShapeToString(s),
            ")"));
      }
    }
    if (s[ax] > std::numeric_limits<int64_t>::max() - total) {
      return absl::InvalidArgumentError("concatenate: the result's extent overflows int64");
    }
    total += s[ax];
    if (k > 0) dtype = PromoteTypes(dtype, arrays[k]->dtype);
    for (int64_t c : arrays[k]->chunks[ax]) {
      if (c > 0 || arrays[k]->chunks[ax].size() == 1) axis_chunks.push_back(c);
    }
  }
  // Zero-extent inputs contribute no blocks unless everything is empty.
  axis_chunks.erase(std::remove(axis_chunks.begin(), axis_chunks.end(), 0), axis_chunks.end());
  if (axis_chunks.empty()) axis_chunks.push_back(0);
  Shape shape = first;
  shape[ax] = total;
  TESSERA_RETURN_IF_ERROR(ValidateShape(shape, dtype));
  if (arrays.size() == 1) return AsType(arrays[0], dtype);
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kConcatenate;
  node->dtype = dtype;
  node->shape = shape;
  node->chunks = arrays[0]->chunks;
  node->chunks[ax] = std::move(axis_chunks);
  node->axes = {ax};
  for (const NodePtr& x : arrays) {
    TESSERA_ASSIGN_OR_RETURN(NodePtr cast, AsType(x, dtype));
    node->inputs.push_back(std::move(cast));
  }
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Stack(const std::vector<NodePtr>& arrays, int axis) {
  if (arrays.empty()) return absl::InvalidArgumentError("need at least one array to stack");
  for (const NodePtr& x : arrays) {
    if (x == nullptr) return absl::InvalidArgumentError("stack: an array is null");
  }
  for (size_t k = 1; k < arrays.size(); ++k) {
    if (arrays[k]->shape != arrays[0]->shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stack: all input arrays must have the same shape: array 0 has shape ",
          ShapeToString(arrays[0]->shape), ", array ", k, " has shape ",
          ShapeToString(arrays[k]->shape)));
    }
  }
  const int ndim = static_cast<int>(arrays[0]->shape.size()) + 1;
  TESSERA_ASSIGN_OR_RETURN(const int ax, NormalizeAxis("stack", axis, ndim));
  std::vector<IndexItem> items;
  for (int a = 0; a < ax; ++a) items.push_back(IndexItem::Slice());
  items.push_back(IndexItem::NewAxis());
  std::vector<NodePtr> expanded;
  for (const NodePtr& x : arrays) {
    TESSERA_ASSIGN_OR_RETURN(NodePtr e, Slice(x, items));
    expanded.push_back(std::move(e));
  }
  return Concatenate(expanded, ax);
}

std::pair<Chunks, Chunks> ReshapeChunks(const Shape& in_shape, const Chunks& in_chunks,
                                        const Shape& out_shape) {
  const int ni = static_cast<int>(in_shape.size()), no = static_cast<int>(out_shape.size());
  Chunks ic(ni), oc(no);
  const bool empty = std::find(in_shape.begin(), in_shape.end(), 0) != in_shape.end() ||
                     std::find(out_shape.begin(), out_shape.end(), 0) != out_shape.end();
  if (empty) {
    for (int a = 0; a < ni; ++a) ic[a] = {in_shape[a]};
    for (int a = 0; a < no; ++a) oc[a] = {out_shape[a]};
    return {ic, oc};
  }
  // Groups of trailing axes with equal products, from the right. Inside a group, every axis but
  // the leftmost is one whole chunk, and the leftmost axes' chunks hold the same flat ranges.
  int ii = ni - 1, oi = no - 1;
  while (ii >= 0 || oi >= 0) {
    if (ii < 0) {  // leftover output axes are extents of 1
      oc[oi] = {out_shape[oi]};
      --oi;
      continue;
    }
    if (oi < 0) {
      ic[ii] = {in_shape[ii]};
      --ii;
      continue;
    }
    if (in_shape[ii] == out_shape[oi]) {
      ic[ii] = in_chunks[ii];
      oc[oi] = in_chunks[ii];
      --ii;
      --oi;
      continue;
    }
    int il = ii, ol = oi;
    int64_t pin = in_shape[ii], pout = out_shape[oi];
    while (pin != pout) {
      if (pin < pout) {
        pin *= in_shape[--il];
      } else {
        pout *= out_shape[--ol];
      }
    }
    int64_t in_inner = 1, out_inner = 1, target = 1;
    for (int a = il + 1; a <= ii; ++a) {
      in_inner *= in_shape[a];
      ic[a] = {in_shape[a]};
    }
    for (int a = ol + 1; a <= oi; ++a) {
      out_inner *= out_shape[a];
      oc[a] = {out_shape[a]};
    }
    for (int a = il; a <= ii; ++a) target *= MaxChunkShape({in_chunks[a]})[0];
    // Chunk boundaries fall on multiples of lcm(in_inner, out_inner) elements of the group.
    const int64_t lcm = in_inner / Gcd(in_inner, out_inner) * out_inner;
    const int64_t units = std::max<int64_t>(1, target / lcm);
    ic[il] = RegularBlocks(in_shape[il], units * (lcm / in_inner));
    oc[ol] = RegularBlocks(out_shape[ol], units * (lcm / out_inner));
    ii = il - 1;
    oi = ol - 1;
  }
  return {ic, oc};
}

absl::StatusOr<NodePtr> Reshape(NodePtr x, Shape shape) {
  if (x == nullptr) return absl::InvalidArgumentError("reshape: the array is null");
  const int64_t size = NumElements(x->shape);
  int infer = -1;
  int64_t known = 1;
  for (size_t a = 0; a < shape.size(); ++a) {
    if (shape[a] == -1) {
      if (infer >= 0) {
        return absl::InvalidArgumentError("reshape: can only specify one unknown dimension");
      }
      infer = static_cast<int>(a);
    } else if (shape[a] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("reshape: negative dimension ", shape[a],
                                                     " in new shape ", ShapeToString(shape)));
    } else {
      if (shape[a] != 0 && known > std::numeric_limits<int64_t>::max() / shape[a]) {
        return absl::InvalidArgumentError(
            absl::StrCat("reshape: new shape ", ShapeToString(shape), " overflows int64"));
      }
      known *= shape[a];
    }
  }
  if (infer >= 0) {
    if (known == 0 || size % known != 0) {
      return absl::InvalidArgumentError(absl::StrCat("cannot reshape array of shape ", ShapeToString(x->shape), " (size ", size, ")",
                                                     " into shape ", ShapeToString(shape)));
    }
    shape[infer] = size / known;
    known = size;
  }
  if (known != size) {
    return absl::InvalidArgumentError(absl::StrCat("cannot reshape array of shape ", ShapeToString(x->shape), " (size ", size, ")",
                                                   " into shape ", ShapeToString(shape)));
  }
  TESSERA_RETURN_IF_ERROR(ValidateShape(shape, x->dtype));
  if (shape == x->shape) return x;
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kReshape;
  node->dtype = x->dtype;
  node->chunks = ReshapeChunks(x->shape, x->chunks, shape).second;
  node->shape = std::move(shape);
  node->inputs = {std::move(x)};
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Tensordot(NodePtr a, NodePtr b, std::vector<int> a_axes,
                                  std::vector<int> b_axes) {
  if (a == nullptr || b == nullptr) return absl::InvalidArgumentError("tensordot: null operand");
  if (a->kind == OpKind::kScalar || b->kind == OpKind::kScalar) {
    return absl::InvalidArgumentError("tensordot: operands must be arrays, not Python scalars");
  }
  if (a_axes.size() != b_axes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("tensordot: shape-mismatch for sum: ",
                                                   a_axes.size(), " axes of a ",
                                                   AxesString(a_axes), " against ", b_axes.size(),
                                                   " axes of b ", AxesString(b_axes)));
  }
  const int na = static_cast<int>(a->shape.size()), nb = static_cast<int>(b->shape.size());
  std::vector<bool> used_a(na, false), used_b(nb, false);
  for (size_t k = 0; k < a_axes.size(); ++k) {
    TESSERA_ASSIGN_OR_RETURN(a_axes[k], NormalizeAxis("tensordot", a_axes[k], na));
    TESSERA_ASSIGN_OR_RETURN(b_axes[k], NormalizeAxis("tensordot", b_axes[k], nb));
    if (used_a[a_axes[k]] || used_b[b_axes[k]]) {
      return absl::InvalidArgumentError(absl::StrCat("tensordot: repeated axis in ",
                                                     AxesString(a_axes), " / ",
                                                     AxesString(b_axes)));
    }
    used_a[a_axes[k]] = used_b[b_axes[k]] = true;
    if (a->shape[a_axes[k]] != b->shape[b_axes[k]]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensordot: shape-mismatch for sum: a", ShapeToString(a->shape), " axis ", a_axes[k],
          " has extent ", a->shape[a_axes[k]], ", b", ShapeToString(b->shape), " axis ",
          b_axes[k], " has extent ", b->shape[b_axes[k]]));
    }
  }
  Shape shape;
  Chunks chunks;
  for (int i = 0; i < na; ++i) {
    if (!used_a[i]) {
      shape.push_back(a->shape[i]);
      chunks.push_back(a->chunks[i]);
    }
  }
  for (int i = 0; i < nb; ++i) {
    if (!used_b[i]) {
      shape.push_back(b->shape[i]);
      chunks.push_back(b->chunks[i]);
    }
  }
  if (shape.size() > static_cast<size_t>(kMaxDims)) {
    return absl::InvalidArgumentError(absl::StrCat("tensordot: the result would have ",
                                                   shape.size(), " dimensions, more than ",
                                                   kMaxDims));
  }
  const DType dtype = PromoteTypes(a->dtype, b->dtype);
  TESSERA_RETURN_IF_ERROR(ValidateShape(shape, dtype));
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kTensordot;
  node->dtype = dtype;
  node->shape = std::move(shape);
  node->chunks = std::move(chunks);
  node->axes = std::move(a_axes);
  node->axes_b = std::move(b_axes);
  node->inputs = {std::move(a), std::move(b)};
  return NodePtr(std::move(node));
}

absl::StatusOr<NodePtr> Matmul(NodePtr a, NodePtr b) {
  if (a == nullptr || b == nullptr) return absl::InvalidArgumentError("matmul: null operand");
  if (a->shape.empty() || b->shape.empty() || a->kind == OpKind::kScalar ||
      b->kind == OpKind::kScalar) {
    return absl::InvalidArgumentError(
        "matmul: Input operand does not have enough dimensions (0-d operands are not allowed; "
        "use * to multiply by a scalar)");
  }
  const int na = static_cast<int>(a->shape.size()), nb = static_cast<int>(b->shape.size());
  const int64_t ka = a->shape[na - 1], kb = nb == 1 ? b->shape[0] : b->shape[nb - 2];
  if (ka != kb) {
    return absl::InvalidArgumentError(absl::StrCat(
        "matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc signature "
        "(n?,k),(k,m?)->(n?,m?) (size ", kb, " is different from ", ka, "): shapes ",
        ShapeToString(a->shape), " and ", ShapeToString(b->shape)));
  }
  if (na <= 2 && nb <= 2) return Tensordot(a, b, {na - 1}, {nb == 1 ? 0 : nb - 2});
  // Batched: one 2-D (or vector) product per broadcast batch index, stacked.
  const Shape batch_a(a->shape.begin(), a->shape.end() - std::min(na, 2));
  const Shape batch_b(b->shape.begin(), b->shape.end() - std::min(nb, 2));
  if (na == 1 || nb == 1) {
    // A vector operand has no batch axes: contract it against every batch of the other.
    return na == 1 ? Tensordot(a, b, {0}, {nb - 2}) : Tensordot(a, b, {na - 1}, {0});
  }
  TESSERA_ASSIGN_OR_RETURN(Shape batch, BroadcastShapes("matmul", {&batch_a, &batch_b}));
  const int64_t count = NumElements(batch);
  constexpr int64_t kMaxBatches = 4096;
  if (count > kMaxBatches) {
    return absl::InvalidArgumentError(absl::StrCat("matmul: ", count,
                                                   " batched products are more than the ",
                                                   kMaxBatches, " supported; use tensordot"));
  }
  if (count == 0) {
    return absl::InvalidArgumentError("matmul: an empty batch is not supported");
  }
  auto batch_item = [&](const NodePtr& x, const Shape& xb, const std::vector<int64_t>& idx) {
    std::vector<IndexItem> items;
    const size_t pad = batch.size() - xb.size();
    for (size_t i = 0; i < xb.size(); ++i) {
      items.push_back(IndexItem::Integer(xb[i] == 1 ? 0 : idx[i + pad]));
    }
    return Slice(x, items);
  };
  std::vector<NodePtr> products;
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t n = 0; n < count; ++n) {
    TESSERA_ASSIGN_OR_RETURN(NodePtr sa, batch_item(a, batch_a, idx));
    TESSERA_ASSIGN_OR_RETURN(NodePtr sb, batch_item(b, batch_b, idx));
    TESSERA_ASSIGN_OR_RETURN(NodePtr p, Tensordot(sa, sb, {1}, {0}));
    products.push_back(std::move(p));
    for (int i = static_cast<int>(batch.size()) - 1; i >= 0; --i) {
      if (++idx[i] < batch[i]) break;
      idx[i] = 0;
    }
  }
  TESSERA_ASSIGN_OR_RETURN(NodePtr stacked, Stack(products, 0));
  Shape out = batch;
  out.push_back(a->shape[na - 2]);
  out.push_back(b->shape[nb - 1]);
  return Reshape(stacked, out);
}

absl::StatusOr<NodePtr> Dot(NodePtr a, NodePtr b) {
  if (a == nullptr || b == nullptr) return absl::InvalidArgumentError("dot: null operand");
  if (a->shape.empty() || b->shape.empty()) return Binary(BinaryOp::kMultiply, a, b);
  const int na = static_cast<int>(a->shape.size()), nb = static_cast<int>(b->shape.size());
  const int bk = nb == 1 ? 0 : nb - 2;
  if (a->shape[na - 1] != b->shape[bk]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dot: shapes ", ShapeToString(a->shape), " and ", ShapeToString(b->shape),
        " not aligned: ", a->shape[na - 1], " (dim ", na - 1, ") != ", b->shape[bk], " (dim ", bk,
        ")"));
  }
  return Tensordot(std::move(a), std::move(b), {na - 1}, {bk});
}

absl::StatusOr<NodePtr> FromBuffer(std::string bytes, const Shape& shape, DType dtype,
                                   const ChunkSpec& chunks, int64_t chunk_target_bytes) {
  TESSERA_RETURN_IF_ERROR(ValidateShape(shape, dtype));
  const int64_t expected = NumElements(shape) * ItemSize(dtype);
  if (static_cast<int64_t>(bytes.size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "from_buffer: ", bytes.size(), " bytes do not hold an array of shape ",
        ShapeToString(shape), " and dtype ", Name(DTypeName(dtype)), " (", expected,
        " bytes)"));
  }
  if (static_cast<int64_t>(bytes.size()) > kMaxFromBufferBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "from_buffer: ", bytes.size(), " bytes of host data are more than the ",
        kMaxFromBufferBytes, " bytes (", FormatBytes(kMaxFromBufferBytes),
        ") one graph may carry; split it into several arrays and persist each, or generate "
        "the array with the creation functions"));
  }
  if (dtype == DType::kBool) {
    for (char& c : bytes) c = c != 0 ? 1 : 0;  // one canonical byte per bool
  }
  TESSERA_ASSIGN_OR_RETURN(Chunks normalized,
                           NormalizeChunks(chunks, shape, dtype, chunk_target_bytes));
  auto node = std::make_shared<Node>();
  node->kind = OpKind::kFromBuffer;
  node->dtype = dtype;
  node->shape = shape;
  node->chunks = std::move(normalized);
  node->data = std::make_shared<const std::string>(std::move(bytes));
  return NodePtr(std::move(node));
}

}  // namespace tessera::graph
