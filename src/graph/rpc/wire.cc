#include "graph/rpc/wire.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::wire {
namespace {

template <typename Repeated>
std::vector<int64_t> ToVector(const Repeated& r) {
  return std::vector<int64_t>(r.begin(), r.end());
}

absl::Status CheckEnum(int value, int max, const char* what, int node) {
  if (value < 0 || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph node ", node, ": invalid ", what, " ", value));
  }
  return absl::OkStatus();
}

// Number of chunks of a grid, saturating at INT64_MAX (eight axes of many blocks overflow).
int64_t SaturatingBlocks(const Chunks& chunks) {
  int64_t n = 1;
  for (const auto& axis : chunks) {
    const auto k = static_cast<int64_t>(axis.size());
    if (k != 0 && n > std::numeric_limits<int64_t>::max() / k) {
      return std::numeric_limits<int64_t>::max();
    }
    n *= k;
  }
  return n;
}

// The sizes of a node's repeated fields, before any of them is used.
absl::Status CheckNodeSizes(const v1::Node& p, int i, const RequestLimits& limits) {
  auto check = [&](const char* what, int n, int max) -> absl::Status {
    if (n > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph node ", i, ": ", what, " has ", n, " entries; at most ", max));
    }
    return absl::OkStatus();
  };
  TESSERA_RETURN_IF_ERROR(check("shape", p.shape_size(), kMaxNdim));
  TESSERA_RETURN_IF_ERROR(check("chunk grid", p.chunks().axes_size(), kMaxNdim));
  TESSERA_RETURN_IF_ERROR(check("axes", p.axes_size(), kMaxNdim));
  TESSERA_RETURN_IF_ERROR(check("axes_b", p.axes_b_size(), kMaxNdim));
  // Each axis is indexed once, plus new axes, and the result has at most kMaxNdim axes.
  TESSERA_RETURN_IF_ERROR(check("index", p.index_size(), 2 * kMaxNdim));
  for (const auto& axis : p.chunks().axes()) {
    if (axis.sizes_size() > limits.max_chunks_per_array) {
      return absl::InvalidArgumentError(absl::StrCat("graph node ", i, ": a chunk grid axis has ",
                                                     axis.sizes_size(), " blocks; at most ",
                                                     limits.max_chunks_per_array));
    }
  }
  return ValidateStringNamed(p.source_name(), limits,
                             [&] { return absl::StrCat("graph node ", i, ": source_name"); });
}

}  // namespace

size_t FirstInvalidUtf8(std::string_view value) {
  const auto* s = reinterpret_cast<const unsigned char*>(value.data());
  const size_t n = value.size();
  size_t i = 0;
  while (i < n) {
    uint64_t word;
    if (i + 8 <= n && (std::memcpy(&word, s + i, 8), (word & 0x8080808080808080ull) == 0)) {
      i += 8;
      continue;
    }
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07u;
    } else {
      return i;  // a continuation byte without a lead, or 0xf8-0xff
    }
    if (len > n - i) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3fu);
    }
    static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string EscapeInvalidUtf8(std::string_view value) {
  std::string out;
  for (size_t bad; (bad = FirstInvalidUtf8(value)) != std::string_view::npos;) {
    absl::StrAppend(&out, absl::string_view(value.data(), bad), "\\x",
                    absl::Hex(static_cast<unsigned char>(value[bad]), absl::kZeroPad2));
    value.remove_prefix(bad + 1);
  }
  out.append(value);
  return out;
}

std::string QuotedForMessage(std::string_view value) {
  constexpr size_t kShown = 64;
  return absl::StrCat("'", EscapeInvalidUtf8(value.substr(0, kShown)),
                      value.size() > kShown ? "...'" : "'");
}

absl::Status ValidateString(absl::string_view what, std::string_view value,
                            const RequestLimits& limits) {
  if (value.size() > limits.max_string_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", value.size(), " bytes; at most ", limits.max_string_bytes));
  }
  if (const size_t bad = FirstInvalidUtf8(value); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is not UTF-8 (byte ", bad, " is 0x",
        absl::Hex(static_cast<unsigned char>(value[bad]), absl::kZeroPad2), ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateKeys(absl::string_view what,
                          const google::protobuf::RepeatedPtrField<std::string>& keys,
                          const RequestLimits& limits) {
  if (keys.size() > limits.max_keys) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", keys.size(), " keys; at most ", limits.max_keys, " per request"));
  }
  for (int i = 0; i < keys.size(); ++i) {
    if (keys[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": key ", i, " is empty"));
    }
    TESSERA_RETURN_IF_ERROR(
        ValidateStringNamed(keys[i], limits, [&] { return absl::StrCat(what, ": key ", i); }));
  }
  return absl::OkStatus();
}

v1::DType DTypeToProto(DType dtype) { return static_cast<v1::DType>(static_cast<int>(dtype)); }

absl::StatusOr<DType> DTypeFromProto(int value) {
  if (value < 0 || value > static_cast<int>(DType::kBool)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid dtype ", value));
  }
  return static_cast<DType>(value);
}

void ChunksToProto(const Chunks& chunks, v1::ChunkGrid* out) {
  for (const auto& axis : chunks) {
    auto* a = out->add_axes();
    for (int64_t b : axis) a->add_sizes(b);
  }
}

Chunks ChunksFromProto(const v1::ChunkGrid& proto) {
  Chunks chunks;
  for (const auto& axis : proto.axes()) chunks.push_back(ToVector(axis.sizes()));
  return chunks;
}

v1::Graph GraphToProto(const graph::NodePtr& root) {
  v1::Graph out;
  std::unordered_map<const graph::Node*, int> ids;
  // Iterative post-order so deep expression chains do not overflow the stack.
  std::vector<std::pair<const graph::Node*, size_t>> stack{{root.get(), 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (ids.count(node) != 0) {
      stack.pop_back();
      continue;
    }
    if (next < node->inputs.size()) {
      const graph::Node* child = node->inputs[next++].get();
      if (ids.count(child) == 0) stack.push_back({child, 0});
      continue;
    }
    v1::Node* p = out.add_nodes();
    p->set_kind(static_cast<v1::NodeKind>(static_cast<int>(node->kind)));
    p->set_dtype(DTypeToProto(node->dtype));
    for (int64_t e : node->shape) p->add_shape(e);
    ChunksToProto(node->chunks, p->mutable_chunks());
    for (const auto& in : node->inputs) p->add_inputs(ids.at(in.get()));
    p->set_value(node->value);
    p->set_scalar_is_float(node->scalar_is_float);
    p->set_start(node->start);
    p->set_step(node->step);
    if (node->kind == graph::OpKind::kArange) {
      // Half a step before the end, so that ceil((stop - start) / step) gives back the length
      // exactly whatever the rounding of the floating-point values.
      const double length = node->shape.empty() ? 0 : static_cast<double>(node->shape[0]);
      p->set_stop(node->start + node->step * (length - 0.5));
    }
    if (node->kind == graph::OpKind::kLinspace) {
      p->set_stop(node->stop);
      p->set_endpoint(node->endpoint);
    }
    p->set_dist(static_cast<int>(node->dist));
    p->set_seed(node->seed);
    p->set_param_a(node->param_a);
    p->set_param_b(node->param_b);
    p->set_unary_op(static_cast<int>(node->unary));
    p->set_binary_op(static_cast<int>(node->binary));
    for (const auto& ix : node->index) {
      auto* a = p->add_index();
      a->set_kind(static_cast<v1::AxisIndex::Kind>(static_cast<int>(ix.kind)));
      a->set_start(ix.start);
      a->set_step(ix.step);
      a->set_length(ix.length);
    }
    p->set_reduce_op(static_cast<int>(node->reduce));
    for (int a : node->axes) p->add_axes(a);
    p->set_keepdims(node->keepdims);
    p->set_split_every(node->split_every);
    p->set_source_name(node->source_name);
    for (int a : node->axes_b) p->add_axes_b(a);
    if (node->kind == graph::OpKind::kFromBuffer && node->data) p->set_data(*node->data);
    ids[node] = out.nodes_size() - 1;
    stack.pop_back();
  }
  return out;
}

absl::StatusOr<graph::NodePtr> GraphFromProto(const v1::Graph& proto, const RequestLimits& limits) {
  if (proto.nodes_size() == 0) return absl::InvalidArgumentError("graph has no nodes");
  if (proto.nodes_size() > limits.max_graph_nodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph has ", proto.nodes_size(), " nodes; at most ", limits.max_graph_nodes));
  }
  std::vector<graph::NodePtr> nodes;
  nodes.reserve(proto.nodes_size());
  std::vector<int> depth;  // of each node: 1 + the largest depth of its inputs
  depth.reserve(proto.nodes_size());
  for (int i = 0; i < proto.nodes_size(); ++i) {
    const v1::Node& p = proto.nodes(i);
    TESSERA_RETURN_IF_ERROR(CheckNodeSizes(p, i, limits));
    std::vector<graph::NodePtr> inputs;
    int d = 1;
    for (int in : p.inputs()) {
      if (in < 0 || in >= i) {
        return absl::InvalidArgumentError(absl::StrCat(
            "graph node ", i, ": input ", in, " does not refer to an earlier node"));
      }
      inputs.push_back(nodes[in]);
      d = std::max(d, depth[in] + 1);
    }
    if (d > limits.max_graph_depth) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph node ", i, " is at depth ", d, "; at most ", limits.max_graph_depth));
    }
    depth.push_back(d);
    auto need_inputs = [&](size_t n) -> absl::Status {
      if (inputs.size() != n) {
        return absl::InvalidArgumentError(absl::StrCat("graph node ", i, " (kind ", p.kind(),
                                                       ") has ", inputs.size(),
                                                       " inputs; expected ", n));
      }
      return absl::OkStatus();
    };
    TESSERA_ASSIGN_OR_RETURN(DType dtype, DTypeFromProto(p.dtype()));
    const Shape shape = ToVector(p.shape());
    const ChunkSpec chunks = ChunkSpec::Explicit(ChunksFromProto(p.chunks()));
    absl::StatusOr<graph::NodePtr> node;
    switch (p.kind()) {
      case v1::FULL:
        TESSERA_RETURN_IF_ERROR(need_inputs(0));
        node = graph::Full(shape, p.value(), dtype, chunks);
        break;
      case v1::ARANGE:
        TESSERA_RETURN_IF_ERROR(need_inputs(0));
        node = graph::Arange(p.start(), p.stop(), p.step(), dtype, chunks);
        break;
      case v1::RANDOM:
        TESSERA_RETURN_IF_ERROR(need_inputs(0));
        TESSERA_RETURN_IF_ERROR(CheckEnum(p.dist(), 1, "distribution", i));
        node = graph::Random(shape, static_cast<graph::RandomDist>(p.dist()), p.param_a(),
                             p.param_b(), p.seed(), dtype, chunks);
        break;
      case v1::SOURCE:
        TESSERA_RETURN_IF_ERROR(need_inputs(0));
        node = graph::Source(p.source_name(), shape, dtype, ChunksFromProto(p.chunks()));
        break;
      case v1::SCALAR:
        TESSERA_RETURN_IF_ERROR(need_inputs(0));
        node = graph::Scalar(p.value(), p.scalar_is_float());
        break;
      case v1::UNARY: {
        TESSERA_RETURN_IF_ERROR(need_inputs(1));
        TESSERA_RETURN_IF_ERROR(
            CheckEnum(p.unary_op(), static_cast<int>(graph::UnaryOp::kAstype), "unary op", i));
        const auto op = static_cast<graph::UnaryOp>(p.unary_op());
        node = graph::Unary(op, inputs[0],
                            op == graph::UnaryOp::kAstype ? std::optional<DType>(dtype)
                                                          : std::nullopt);
        break;
      }
      case v1::BINARY:
        TESSERA_RETURN_IF_ERROR(need_inputs(2));
        TESSERA_RETURN_IF_ERROR(CheckEnum(
            p.binary_op(), static_cast<int>(graph::BinaryOp::kNotEqual), "binary op", i));
        node = graph::Binary(static_cast<graph::BinaryOp>(p.binary_op()), inputs[0], inputs[1]);
        break;
      case v1::SLICE: {
        TESSERA_RETURN_IF_ERROR(need_inputs(1));
        std::vector<graph::IndexItem> items;
        for (const auto& a : p.index()) {
          switch (a.kind()) {
            case v1::AxisIndex::SLICE: {
              if (a.step() == 0) {
                return absl::InvalidArgumentError(
                    absl::StrCat("graph node ", i, ": slice step cannot be zero"));
              }
              if (a.length() < 0) {
                return absl::InvalidArgumentError(
                    absl::StrCat("graph node ", i, ": negative slice length ", a.length()));
              }
              // Rebuild start:stop:step from the normalised (start, step, length).
              const int64_t stop = a.start() + a.step() * a.length();
              items.push_back(graph::IndexItem::Slice(
                  a.start(), stop < 0 ? std::nullopt : std::optional<int64_t>(stop), a.step()));
              break;
            }
            case v1::AxisIndex::INTEGER:
              if (a.start() < 0) {
                return absl::InvalidArgumentError(
                    absl::StrCat("graph node ", i, ": negative normalised index ", a.start()));
              }
              items.push_back(graph::IndexItem::Integer(a.start()));
              break;
            case v1::AxisIndex::NEW_AXIS:
              items.push_back(graph::IndexItem::NewAxis());
              break;
            default:
              return absl::InvalidArgumentError(
                  absl::StrCat("graph node ", i, ": invalid index kind ", a.kind()));
          }
        }
        node = graph::Slice(inputs[0], items);
        break;
      }
      case v1::REDUCE:
        TESSERA_RETURN_IF_ERROR(need_inputs(1));
        TESSERA_RETURN_IF_ERROR(
            CheckEnum(p.reduce_op(), static_cast<int>(graph::ReduceOp::kArgmax), "reduce op", i));
        if (p.split_every() < 2) {
          return absl::InvalidArgumentError(
              absl::StrCat("graph node ", i, ": split_every ", p.split_every(), " must be >= 2"));
        }
        if (graph::IsArgReduce(static_cast<graph::ReduceOp>(p.reduce_op()))) {
          // One axis, or all of them (the flattened array).
          const int ndim = static_cast<int>(inputs[0]->shape.size());
          std::optional<int> axis;
          if (p.axes_size() == 1 && ndim != 1) axis = p.axes(0);
          if (p.axes_size() != 1 && p.axes_size() != ndim) {
            return absl::InvalidArgumentError(absl::StrCat(
                "graph node ", i, ": argmin / argmax over ", p.axes_size(), " axes"));
          }
          node = graph::ArgReduce(static_cast<graph::ReduceOp>(p.reduce_op()), inputs[0], axis,
                                  p.keepdims(), p.split_every());
          break;
        }
        node = graph::Reduce(static_cast<graph::ReduceOp>(p.reduce_op()), inputs[0],
                             std::vector<int>(p.axes().begin(), p.axes().end()), p.keepdims(),
                             p.split_every());
        break;
      case v1::LINSPACE:
        TESSERA_RETURN_IF_ERROR(need_inputs(0));
        if (shape.size() != 1) {
          return absl::InvalidArgumentError(absl::StrCat("graph node ", i, ": linspace shape has ",
                                                         shape.size(), " dimensions; expected 1"));
        }
        node = graph::Linspace(p.start(), p.stop(), shape[0], p.endpoint(), dtype, chunks);
        break;
      case v1::TRANSPOSE:
        TESSERA_RETURN_IF_ERROR(need_inputs(1));
        node = graph::Transpose(inputs[0], std::vector<int>(p.axes().begin(), p.axes().end()));
        break;
      case v1::WHERE:
        TESSERA_RETURN_IF_ERROR(need_inputs(3));
        node = graph::Where(inputs[0], inputs[1], inputs[2]);
        break;
      case v1::RECHUNK:
        TESSERA_RETURN_IF_ERROR(need_inputs(1));
        node = graph::Rechunk(inputs[0], chunks);
        break;
      case v1::CONCATENATE:
        if (inputs.size() < 2 || p.axes_size() != 1) {
          return absl::InvalidArgumentError(absl::StrCat(
              "graph node ", i, ": concatenate needs two or more inputs and one axis"));
        }
        node = graph::Concatenate(inputs, p.axes(0));
        break;
      case v1::RESHAPE:
        TESSERA_RETURN_IF_ERROR(need_inputs(1));
        node = graph::Reshape(inputs[0], shape);
        break;
      case v1::TENSORDOT:
        TESSERA_RETURN_IF_ERROR(need_inputs(2));
        node = graph::Tensordot(inputs[0], inputs[1],
                                std::vector<int>(p.axes().begin(), p.axes().end()),
                                std::vector<int>(p.axes_b().begin(), p.axes_b().end()));
        break;
      case v1::FROM_BUFFER:
        TESSERA_RETURN_IF_ERROR(need_inputs(0));
        node = graph::FromBuffer(p.data(), shape, dtype, chunks);
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("graph node ", i, ": unknown node kind ", p.kind()));
    }
    // The rebuilt node must be the one the client described (a rechunk or concatenation that
    // normalised to something else would silently change keys and results).
    if (node.ok() && ((*node)->shape != shape || (*node)->dtype != dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "graph node ", i, ": rebuilt as shape ", ShapeToString((*node)->shape), " ",
          std::string(DTypeName((*node)->dtype)), " but sent as shape ", ShapeToString(shape), " ",
          std::string(DTypeName(dtype))));
    }
    if (!node.ok()) {
      return absl::Status(node.status().code(),
                          absl::StrCat("graph node ", i, ": ", node.status().message()));
    }
    // Broadcasting and contraction multiply chunk counts; a few small nodes can describe an
    // array of more chunks than memory holds tasks for.
    if (const int64_t n = SaturatingBlocks((*node)->chunks); n > limits.max_chunks_per_array) {
      const bool saturated = n == std::numeric_limits<int64_t>::max();
      return absl::InvalidArgumentError(
          absl::StrCat("graph node ", i, ": ", saturated ? "over " : "", n, " chunks; at most ",
                       limits.max_chunks_per_array, " per array: use larger chunks"));
    }
    nodes.push_back(*std::move(node));
  }
  return nodes.back();
}

void ProgramToProto(const graph::ChunkProgram& program, int64_t id, v1::ChunkProgram* out) {
  out->set_id(id);
  out->set_ndim(program.ndim);
  for (const auto& n : program.nodes) {
    auto* p = out->add_nodes();
    p->set_kind(static_cast<int>(n.kind));
    p->set_dtype(DTypeToProto(n.dtype));
    p->set_value(n.value);
    p->set_start(n.start);
    p->set_step(n.step);
    p->set_dist(static_cast<int>(n.dist));
    p->set_seed(n.seed);
    p->set_param_a(n.param_a);
    p->set_param_b(n.param_b);
    for (int64_t e : n.leaf_shape) p->add_leaf_shape(e);
    p->set_input(n.input);
    p->set_unary_op(static_cast<int>(n.unary));
    p->set_binary_op(static_cast<int>(n.binary));
    p->set_arg0(n.arg0);
    p->set_arg1(n.arg1);
    p->set_arg2(n.arg2);
    for (int64_t v : n.map.offset) p->mutable_map()->add_offset(v);
    for (int64_t v : n.map.step) p->mutable_map()->add_step(v);
    for (int v : n.map.out_axis) p->mutable_map()->add_out_axis(v);
  }
  for (const auto& in : program.inputs) {
    auto* p = out->add_inputs();
    p->set_name(in.name);
    for (int64_t e : in.shape) p->add_shape(e);
    p->set_dtype(DTypeToProto(in.dtype));
    ChunksToProto(in.chunks, p->mutable_chunks());
  }
  out->set_has_reduce(program.has_reduce);
  out->set_reduce_op(static_cast<int>(program.reduce.op));
  for (int a : program.reduce.axes) out->add_reduce_axes(a);
  for (int64_t v : program.reduce.index_strides) out->add_reduce_index_strides(v);
}

absl::StatusOr<graph::ChunkProgram> ProgramFromProto(const v1::ChunkProgram& proto) {
  graph::ChunkProgram program;
  if (proto.ndim() < 0 || proto.ndim() > kMaxDims) {
    return absl::InvalidArgumentError(absl::StrCat("program ndim ", proto.ndim(), " out of range"));
  }
  program.ndim = proto.ndim();
  const int num_nodes = proto.nodes_size();
  for (int i = 0; i < num_nodes; ++i) {
    const auto& p = proto.nodes(i);
    graph::ProgramNode n;
    TESSERA_RETURN_IF_ERROR(CheckEnum(
        p.kind(), static_cast<int>(graph::ProgramNode::Kind::kWhere), "program node kind", i));
    n.kind = static_cast<graph::ProgramNode::Kind>(p.kind());
    TESSERA_ASSIGN_OR_RETURN(n.dtype, DTypeFromProto(p.dtype()));
    n.value = p.value();
    n.start = p.start();
    n.step = p.step();
    TESSERA_RETURN_IF_ERROR(CheckEnum(p.dist(), 1, "distribution", i));
    n.dist = static_cast<graph::RandomDist>(p.dist());
    n.seed = p.seed();
    n.param_a = p.param_a();
    n.param_b = p.param_b();
    n.leaf_shape = ToVector(p.leaf_shape());
    n.input = p.input();
    TESSERA_RETURN_IF_ERROR(
        CheckEnum(p.unary_op(), static_cast<int>(graph::UnaryOp::kAstype), "unary op", i));
    n.unary = static_cast<graph::UnaryOp>(p.unary_op());
    TESSERA_RETURN_IF_ERROR(
        CheckEnum(p.binary_op(), static_cast<int>(graph::BinaryOp::kNotEqual), "binary op", i));
    n.binary = static_cast<graph::BinaryOp>(p.binary_op());
    n.arg0 = p.arg0();
    n.arg1 = p.arg1();
    n.arg2 = p.arg2();
    if (n.kind == graph::ProgramNode::Kind::kUnary || n.kind == graph::ProgramNode::Kind::kBinary ||
        n.kind == graph::ProgramNode::Kind::kWhere) {
      const bool binary = n.kind != graph::ProgramNode::Kind::kUnary;
      const bool ternary = n.kind == graph::ProgramNode::Kind::kWhere;
      if (n.arg0 < 0 || n.arg0 >= i || (binary && (n.arg1 < 0 || n.arg1 >= i)) ||
          (ternary && (n.arg2 < 0 || n.arg2 >= i))) {
        return absl::InvalidArgumentError(
            absl::StrCat("program node ", i, ": arguments must refer to earlier nodes"));
      }
    }
    n.map.offset = ToVector(p.map().offset());
    n.map.step = ToVector(p.map().step());
    n.map.out_axis.assign(p.map().out_axis().begin(), p.map().out_axis().end());
    if (n.map.offset.size() != n.map.step.size() || n.map.offset.size() != n.map.out_axis.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("program node ", i, ": index map fields differ in length"));
    }
    for (int a : n.map.out_axis) {
      if (a < -1 || a >= program.ndim) {
        return absl::InvalidArgumentError(
            absl::StrCat("program node ", i, ": index map axis ", a, " out of range"));
      }
    }
    program.nodes.push_back(std::move(n));
  }
  if (program.nodes.empty()) return absl::InvalidArgumentError("program has no nodes");
  for (const auto& p : proto.inputs()) {
    graph::ProgramInput in;
    in.name = p.name();
    in.shape = ToVector(p.shape());
    TESSERA_ASSIGN_OR_RETURN(in.dtype, DTypeFromProto(p.dtype()));
    in.chunks = ChunksFromProto(p.chunks());
    program.inputs.push_back(std::move(in));
  }
  for (const auto& n : program.nodes) {
    if (n.kind == graph::ProgramNode::Kind::kInput &&
        (n.input < 0 || n.input >= static_cast<int>(program.inputs.size()))) {
      return absl::InvalidArgumentError(absl::StrCat("program input ", n.input, " out of range"));
    }
  }
  program.has_reduce = proto.has_reduce();
  TESSERA_RETURN_IF_ERROR(
      CheckEnum(proto.reduce_op(), static_cast<int>(graph::ReduceOp::kArgmax), "reduce op", -1));
  program.reduce.op = static_cast<graph::ReduceOp>(proto.reduce_op());
  program.reduce.index_strides = ToVector(proto.reduce_index_strides());
  if (graph::IsArgReduce(program.reduce.op) && program.has_reduce &&
      static_cast<int>(program.reduce.index_strides.size()) != program.ndim) {
    return absl::InvalidArgumentError(absl::StrCat("argmin / argmax program has ",
                                                   program.reduce.index_strides.size(),
                                                   " index strides for ", program.ndim, " axes"));
  }
  for (int a : proto.reduce_axes()) {
    if (a < 0 || a >= program.ndim) {
      return absl::InvalidArgumentError(absl::StrCat("reduce axis ", a, " out of range"));
    }
    program.reduce.axes.push_back(a);
  }
  return program;
}

namespace {

void CallArgToProto(const graph::CallArg& arg, v1::CallArg* out) {
  switch (arg.kind) {
    case graph::CallArg::Kind::kLiteral:
      out->set_literal(call::Encode(arg.literal));
      break;
    case graph::CallArg::Kind::kRef:
      out->set_dep(arg.dep);
      break;
    case graph::CallArg::Kind::kList: {
      auto* list = out->mutable_list();
      for (const auto& item : arg.items) CallArgToProto(item, list->add_items());
      break;
    }
  }
}

// Into a default-constructed `arg`, in its place in the caller's vector (a CallArg holds a Value:
// returned through StatusOr and pushed, it was moved twice per argument).
absl::Status CallArgFromProto(const v1::CallArg& proto, int num_deps, int depth,
                              graph::CallArg& arg) {
  if (depth > 64) return absl::InvalidArgumentError("call arguments nested deeper than 64");
  switch (proto.arg_case()) {
    case v1::CallArg::kLiteral: {
      auto v = call::Decode(proto.literal());
      if (!v.ok()) return absl::InvalidArgumentError(v.status().message());
      arg.literal = *std::move(v);
      break;
    }
    case v1::CallArg::kDep:
      if (proto.dep() < 0 || proto.dep() >= num_deps) {
        return absl::InvalidArgumentError(
            absl::StrCat("call argument refers to input ", proto.dep(), " of ", num_deps));
      }
      arg.kind = graph::CallArg::Kind::kRef;
      arg.dep = proto.dep();
      break;
    case v1::CallArg::kList:
      arg.kind = graph::CallArg::Kind::kList;
      arg.items.reserve(static_cast<size_t>(proto.list().items_size()));
      for (const auto& item : proto.list().items()) {
        TESSERA_RETURN_IF_ERROR(
            CallArgFromProto(item, num_deps, depth + 1, arg.items.emplace_back()));
      }
      break;
    default:
      return absl::InvalidArgumentError("call argument is empty");
  }
  return absl::OkStatus();
}

}  // namespace

void SignatureToProto(const call::Signature& signature, v1::FunctionSignature* out) {
  out->set_name(signature.name);
  for (call::Type t : signature.params) out->add_params(static_cast<int>(t));
  out->set_variadic(signature.variadic);
  out->set_returns(static_cast<int>(signature.returns));
}

absl::StatusOr<call::Signature> SignatureFromProto(const v1::FunctionSignature& proto) {
  call::Signature s;
  s.name = proto.name();
  if (s.name.empty()) return absl::InvalidArgumentError("function signature without a name");
  auto type = [&](int v) -> absl::StatusOr<call::Type> {
    if (v < 0 || v > static_cast<int>(call::Type::kAny)) {
      return absl::InvalidArgumentError(
          absl::StrCat("function ", s.name, ": invalid type number ", v));
    }
    return static_cast<call::Type>(v);
  };
  for (int p : proto.params()) {
    TESSERA_ASSIGN_OR_RETURN(call::Type t, type(p));
    s.params.push_back(t);
  }
  s.variadic = proto.variadic() && !s.params.empty();
  TESSERA_ASSIGN_OR_RETURN(s.returns, type(proto.returns()));
  return s;
}

void TaskToProto(const graph::TaskSpec& task, int64_t program_id, v1::Task* out) {
  out->set_key(task.key);
  out->set_kind(static_cast<v1::Task::Kind>(static_cast<int>(task.kind)));
  out->set_program_id(program_id);
  for (int64_t v : task.lo) out->add_lo(v);
  for (int64_t v : task.hi) out->add_hi(v);
  for (size_t i = 0; i < task.deps.size(); ++i) {
    auto* in = out->add_inputs();
    in->set_key(task.deps[i]);
    if (i < task.input_chunks.size()) {
      in->set_input(task.input_chunks[i].input);
      for (int64_t v : task.input_chunks[i].lo) in->add_lo(v);
      for (int64_t v : task.input_chunks[i].shape) in->add_shape(v);
    }
  }
  out->set_combine_op(static_cast<int>(task.combine_op));
  if (task.finalize != graph::Finalize{}) {  // the default (every call) reads back as absent
    auto* f = out->mutable_finalize();
    f->set_enabled(task.finalize.enabled);
    f->set_divide_by(task.finalize.divide_by);
    for (int64_t v : task.finalize.out_shape) f->add_out_shape(v);
    f->set_out_dtype(DTypeToProto(task.finalize.out_dtype));
  }
  for (int a : task.contract_a) out->add_contract_a(a);
  for (int a : task.contract_b) out->add_contract_b(a);
  if (!task.literal.empty()) out->set_literal(task.literal);
  if (task.kind == graph::TaskKind::kCall) {
    out->set_function(task.function);
    if (task.retries != 0) out->set_retries(task.retries);
    if (task.priority != 0) out->set_priority(task.priority);
    for (const auto& a : task.call_args) CallArgToProto(a, out->add_args());
  }
}

namespace {

// A string field of a const message, copied; of a mutable one, moved out of it. An empty field is
// not asked for its mutable string: on an arena that would allocate one for an unset field (a
// call's group and literal: ~2 % of the scheduler's instructions in B5's tree).
template <typename Message, typename Get, typename Mutable>
std::string TakeString(Message& m, Get get, Mutable mut) {
  if constexpr (std::is_const_v<Message>) {
    return (m.*get)();
  } else {
    if ((m.*get)().empty()) return {};
    return std::move(*(m.*mut)());
  }
}

// A task's inputs, mutable when the task is.
template <typename Message>
auto& Inputs(Message& m) {
  if constexpr (std::is_const_v<Message>) {
    return m.inputs();
  } else {
    return *m.mutable_inputs();
  }
}

// TaskFromProto for a const proto (copies its strings) or a mutable one (moves them out), into a
// default-constructed `task` (CallGraphFromProto builds each in its graph's vector: a TaskSpec
// has a dozen strings and vectors, and returning it through StatusOr moved it several times).
template <typename TaskProto>
absl::Status TaskFromProtoInto(TaskProto& proto, graph::TaskSpec& task) {
  task.key = TakeString(proto, &v1::Task::key, &v1::Task::mutable_key);
  task.group = TakeString(proto, &v1::Task::group, &v1::Task::mutable_group);
  if (proto.kind() < v1::Task::CHUNK || proto.kind() > v1::Task::CALL) {
    return absl::InvalidArgumentError(
        absl::StrCat("task ", task.key, ": invalid task kind ", static_cast<int>(proto.kind())));
  }
  task.kind = static_cast<graph::TaskKind>(static_cast<int>(proto.kind()));
  task.lo = ToVector(proto.lo());
  task.hi = ToVector(proto.hi());
  if (task.lo.size() != task.hi.size()) {
    return absl::InvalidArgumentError(absl::StrCat("task ", task.key, ": lo and hi differ in length"));
  }
  for (auto& in : Inputs(proto)) {
    task.deps.push_back(TakeString(in, &v1::TaskInput::key, &v1::TaskInput::mutable_key));
    if (task.kind == graph::TaskKind::kChunk) {
      task.input_chunks.push_back(graph::InputChunk{in.input(), ToVector(in.lo()), ToVector(in.shape())});
    }
  }
  TESSERA_RETURN_IF_ERROR(
      CheckEnum(proto.combine_op(), static_cast<int>(graph::ReduceOp::kArgmax), "combine op", -1));
  task.combine_op = static_cast<graph::ReduceOp>(proto.combine_op());
  if (proto.has_finalize()) {  // absent: the default (TaskToProto leaves it out)
    task.finalize.enabled = proto.finalize().enabled();
    task.finalize.divide_by = proto.finalize().divide_by();
    task.finalize.out_shape = ToVector(proto.finalize().out_shape());
    TESSERA_ASSIGN_OR_RETURN(task.finalize.out_dtype,
                             DTypeFromProto(proto.finalize().out_dtype()));
  }
  task.est_bytes = proto.est_bytes();
  task.contract_a.assign(proto.contract_a().begin(), proto.contract_a().end());
  task.contract_b.assign(proto.contract_b().begin(), proto.contract_b().end());
  task.literal = TakeString(proto, &v1::Task::literal, &v1::Task::mutable_literal);
  if (task.kind == graph::TaskKind::kCall) {
    // Before the function is moved out: CallArgsFromProto checks that there is one.
    TESSERA_ASSIGN_OR_RETURN(task.call_args, CallArgsFromProto(proto, task.key));
    task.function = TakeString(proto, &v1::Task::function, &v1::Task::mutable_function);
    task.retries = proto.retries();
    task.priority = proto.priority();
  }
  return absl::OkStatus();
}

template <typename TaskProto>
absl::StatusOr<graph::TaskSpec> TaskFromProtoImpl(TaskProto& proto) {
  graph::TaskSpec task;
  TESSERA_RETURN_IF_ERROR(TaskFromProtoInto(proto, task));
  return task;
}

}  // namespace

absl::StatusOr<graph::TaskSpec> TaskFromProto(const v1::Task& proto) {
  return TaskFromProtoImpl(proto);
}

absl::StatusOr<graph::TaskSpec> TaskFromProto(v1::Task&& proto) { return TaskFromProtoImpl(proto); }

absl::StatusOr<std::vector<graph::CallArg>> CallArgsFromProto(const v1::Task& proto,
                                                              absl::string_view key) {
  if (proto.function().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("task ", key, ": call without a function"));
  }
  std::vector<graph::CallArg> args;
  args.reserve(static_cast<size_t>(proto.args_size()));
  for (const auto& a : proto.args()) {
    TESSERA_RETURN_IF_ERROR(CallArgFromProto(a, proto.inputs_size(), 0, args.emplace_back()));
  }
  return args;
}

namespace {

// CallGraphFromProto over const calls (copied) or mutable ones (their strings moved out).
template <typename Calls>
absl::StatusOr<graph::TaskGraph> CallGraphFromProtoImpl(
    Calls& calls, const google::protobuf::RepeatedPtrField<std::string>& outputs,
    const RequestLimits& limits) {
  if (calls.size() > limits.max_tasks) {
    return absl::InvalidArgumentError(
        absl::StrCat("calls: ", calls.size(), " tasks; at most ", limits.max_tasks, " per submit"));
  }
  TESSERA_RETURN_IF_ERROR(ValidateKeys("calls: call_outputs", outputs, limits));
  graph::TaskGraph g;
  // Reserved, so that the tasks never move: the maps below hold views of their keys.
  g.tasks.reserve(static_cast<size_t>(calls.size()));
  absl::flat_hash_map<std::string_view, int> index;
  index.reserve(static_cast<size_t>(calls.size()));
  absl::flat_hash_set<std::string_view> external;
  for (auto& proto : calls) {
    if (proto.kind() != v1::Task::CALL) {
      return absl::InvalidArgumentError(
          absl::StrCat("calls: task '", proto.key(), "' is not a CALL (kind ",
                       static_cast<int>(proto.kind()), ")"));
    }
    if (proto.key().empty()) return absl::InvalidArgumentError("calls: a task has an empty key");
    TESSERA_RETURN_IF_ERROR(ValidateString("calls: a task's key", proto.key(), limits));
    TESSERA_RETURN_IF_ERROR(ValidateStringNamed(proto.group(), limits, [&] {
      return absl::StrCat("calls: task '", proto.key(), "': group");
    }));
    TESSERA_RETURN_IF_ERROR(ValidateStringNamed(proto.function(), limits, [&] {
      return absl::StrCat("calls: task '", proto.key(), "': function");
    }));
    for (const auto& in : proto.inputs()) {
      if (in.key().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("calls: task '", proto.key(), "' has an input with an empty key"));
      }
      TESSERA_RETURN_IF_ERROR(ValidateStringNamed(in.key(), limits, [&] {
        return absl::StrCat("calls: task '", proto.key(), "': input key");
      }));
    }
    graph::TaskSpec& spec = g.tasks.emplace_back();
    TESSERA_RETURN_IF_ERROR(TaskFromProtoInto(proto, spec));
    if (spec.group.empty()) spec.group = spec.function;
    for (const std::string& dep : spec.deps) {
      if (auto it = index.find(dep); it != index.end()) {
        g.dep_positions.push_back(it->second);
      } else {
        g.dep_positions.push_back(-1);
        if (external.insert(dep).second) g.external_deps.push_back(dep);
      }
    }
    if (!index.emplace(spec.key, static_cast<int>(g.tasks.size() - 1)).second) {
      return absl::InvalidArgumentError(absl::StrCat("calls: key '", spec.key, "' appears twice"));
    }
  }
  if (outputs.empty()) {
    for (const auto& t : g.tasks) g.output_keys.push_back(t.key);
  } else {
    for (const std::string& key : outputs) {
      if (!index.contains(key)) {
        return absl::InvalidArgumentError(
            absl::StrCat("calls: output key '", key, "' is not one of the submitted tasks"));
      }
      g.output_keys.push_back(key);
    }
  }
  return g;
}

}  // namespace

absl::StatusOr<graph::TaskGraph> CallGraphFromProto(
    const google::protobuf::RepeatedPtrField<v1::Task>& calls,
    const google::protobuf::RepeatedPtrField<std::string>& outputs, const RequestLimits& limits) {
  return CallGraphFromProtoImpl(calls, outputs, limits);
}

absl::StatusOr<graph::TaskGraph> CallGraphFromProto(
    google::protobuf::RepeatedPtrField<v1::Task>* calls,
    const google::protobuf::RepeatedPtrField<std::string>& outputs, const RequestLimits& limits) {
  return CallGraphFromProtoImpl(*calls, outputs, limits);
}

void ChunkToProto(const ChunkBuffer& chunk, v1::ArrayData* out) {
  out->set_dtype(DTypeToProto(chunk.dtype));
  for (int64_t e : chunk.shape) out->add_shape(e);
  out->set_data(chunk.bytes.data(), chunk.bytes.size());
  if (chunk.encoded_value) out->set_encoded_value(true);
}

absl::StatusOr<ChunkBuffer> ChunkFromProto(const v1::ArrayData& proto) {
  ChunkBuffer chunk;
  TESSERA_ASSIGN_OR_RETURN(chunk.dtype, DTypeFromProto(proto.dtype()));
  chunk.shape = ToVector(proto.shape());
  TESSERA_RETURN_IF_ERROR(ValidateShape(chunk.shape, chunk.dtype));
  const int64_t expected = NumElements(chunk.shape) * ItemSize(chunk.dtype);
  if (static_cast<int64_t>(proto.data().size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat("array data has ", proto.data().size(),
                                                   " bytes; shape ", ShapeToString(chunk.shape),
                                                   " of ", std::string(DTypeName(chunk.dtype)), " needs ",
                                                   expected));
  }
  chunk.bytes.assign(proto.data().begin(), proto.data().end());
  chunk.encoded_value = proto.encoded_value();
  if (chunk.encoded_value && (chunk.dtype != DType::kBool || chunk.shape.size() != 1)) {
    return absl::InvalidArgumentError("an encoded value must be a 1-d bool (byte) array");
  }
  return chunk;
}

}  // namespace tessera::wire
