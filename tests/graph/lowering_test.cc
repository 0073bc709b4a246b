#include "graph/lowering.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "graph/expr.h"
#include "graph/task_graph.h"
#include "reference_eval.h"

namespace tessera::graph {
namespace {

using PK = ProgramNode::Kind;

NodePtr Ok(absl::StatusOr<NodePtr> n) {
  EXPECT_TRUE(n.ok()) << n.status();
  return *n;
}

NodePtr Ones(const Shape& shape, const ChunkSpec& chunks, DType dtype = DType::kFloat64) {
  return Ok(Full(shape, 1.0, dtype, chunks));
}

NodePtr Rand(const Shape& shape, const ChunkSpec& chunks, uint64_t seed = 42,
             DType dtype = DType::kFloat64) {
  return Ok(Random(shape, RandomDist::kUniform, 0, 1, seed, dtype, chunks));
}

NodePtr Add(NodePtr a, NodePtr b) { return Ok(Binary(BinaryOp::kAdd, a, b)); }
NodePtr Mul(NodePtr a, NodePtr b) { return Ok(Binary(BinaryOp::kMultiply, a, b)); }
NodePtr Sub(NodePtr a, NodePtr b) { return Ok(Binary(BinaryOp::kSubtract, a, b)); }
NodePtr Sum(NodePtr x, std::vector<int> axes = {}, bool keepdims = false, int split = 8) {
  return Ok(Reduce(ReduceOp::kSum, x, axes, keepdims, split));
}
NodePtr Rev2(NodePtr x) {
  const IndexItem r = IndexItem::Slice(std::nullopt, std::nullopt, -1);
  return Ok(Slice(x, {r, r}));
}

TaskGraph LowerOk(const NodePtr& root, const LowerOptions& options = {}) {
  auto g = Lower(root, options);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : TaskGraph{};
}

const TaskSpec* FindTask(const TaskGraph& g, const std::string& key) {
  for (const auto& t : g.tasks) {
    if (t.key == key) return &t;
  }
  return nullptr;
}

// Structural invariants every lowering must satisfy: unique keys, dependencies before
// dependents (or external), programs in range, output keys produced.
void CheckWellFormed(const TaskGraph& g) {
  std::set<std::string> seen;
  const std::set<std::string> external(g.external_deps.begin(), g.external_deps.end());
  for (const auto& t : g.tasks) {
    EXPECT_TRUE(seen.insert(t.key).second) << "duplicate key " << t.key;
    EXPECT_TRUE(absl::StartsWith(t.key, t.group + "/")) << t.key << " vs group " << t.group;
    for (const auto& d : t.deps) {
      EXPECT_TRUE(seen.count(d) != 0 || external.count(d) != 0)
          << t.key << " depends on " << d << " which is neither earlier nor external";
    }
    if (t.kind == TaskKind::kChunk) {
      ASSERT_GE(t.program, 0);
      ASSERT_LT(t.program, static_cast<int>(g.programs.size()));
      EXPECT_EQ(t.deps.size(), t.input_chunks.size());
      EXPECT_EQ(static_cast<int>(t.lo.size()), g.programs[t.program].ndim);
    } else {
      EXPECT_GE(t.deps.size(), 2u);
    }
  }
  EXPECT_EQ(static_cast<int64_t>(g.output_keys.size()), TotalBlocks(g.chunks));
  for (const auto& k : g.output_keys) {
    EXPECT_TRUE(seen.count(k) != 0 || external.count(k) != 0) << "output " << k << " not made";
  }
}

// ---- A tiny interpreter of lowered task graphs, to check lowering against the reference. ----

struct Buf {
  Shape shape;
  std::vector<double> v;
};


std::vector<int64_t> LeafCoord(const IndexMap& m, const std::vector<int64_t>& out) {
  std::vector<int64_t> c(m.offset.size());
  for (size_t a = 0; a < c.size(); ++a) {
    c[a] = m.offset[a] + (m.out_axis[a] < 0 ? 0 : m.step[a] * out[m.out_axis[a]]);
  }
  return c;
}

double Combine(ReduceOp op, double acc, double v) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kMean:
      return acc + v;
    case ReduceOp::kProd:
      return acc * v;
    case ReduceOp::kMin:
      return !std::isnan(acc) && (std::isnan(v) || v < acc) ? v : acc;
    case ReduceOp::kMax:
      return !std::isnan(acc) && (std::isnan(v) || v > acc) ? v : acc;
    case ReduceOp::kAny:
      return acc != 0 || v != 0 ? 1 : 0;
    case ReduceOp::kAll:
      return acc != 0 && v != 0 ? 1 : 0;
    case ReduceOp::kArgmin:
    case ReduceOp::kArgmax:
      break;  // not interpreted here: tests/worker_cpu/differential_test.cc covers them
  }
  return acc;
}

double Identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::kProd:
    case ReduceOp::kAll:
      return 1;
    case ReduceOp::kMin:
      return INFINITY;
    case ReduceOp::kMax:
      return -INFINITY;
    default:
      return 0;
  }
}

// Runs every task in order; `sources` are whole arrays, split into chunks under their keys.
std::map<std::string, Buf> RunGraph(const TaskGraph& g, const std::map<std::string, Buf>& sources,
                                    const std::map<std::string, Chunks>& source_chunks) {
  std::map<std::string, Buf> store;
  for (const auto& [name, full] : sources) {
    const Chunks& chunks = source_chunks.at(name);
    const auto starts = BlockOffsets(chunks);
    const auto strides = testing::Strides(full.shape);
    testing::ForEachCoord(NumBlocks(chunks), [&](const std::vector<int64_t>& b) {
      Buf c;
      for (size_t a = 0; a < b.size(); ++a) c.shape.push_back(chunks[a][b[a]]);
      testing::ForEachCoord(c.shape, [&](const std::vector<int64_t>& x) {
        int64_t flat = 0;
        for (size_t a = 0; a < x.size(); ++a) flat += (starts[a][b[a]] + x[a]) * strides[a];
        c.v.push_back(full.v[flat]);
      });
      store[KeyFor(name, b)] = c;
    });
  }
  for (const TaskSpec& t : g.tasks) {
    Buf result;
    if (t.kind == TaskKind::kChunk) {
      const ChunkProgram& p = g.programs[t.program];
      Shape region;
      for (size_t a = 0; a < t.lo.size(); ++a) region.push_back(t.hi[a] - t.lo[a]);
      Shape partial_shape = region;
      if (p.has_reduce) {
        for (int a : p.reduce.axes) partial_shape[a] = 1;
      }
      result.shape = partial_shape;
      result.v.assign(static_cast<size_t>(NumElements(partial_shape)),
                      p.has_reduce ? Identity(p.reduce.op) : 0.0);
      const auto pstrides = testing::Strides(partial_shape);
      std::vector<double> vals(p.nodes.size());
      testing::ForEachCoord(region, [&](const std::vector<int64_t>& rc) {
        std::vector<int64_t> out(rc.size());
        for (size_t a = 0; a < rc.size(); ++a) out[a] = t.lo[a] + rc[a];
        for (size_t i = 0; i < p.nodes.size(); ++i) {
          const ProgramNode& n = p.nodes[i];
          double v = 0;
          switch (n.kind) {
            case PK::kFull:
            case PK::kScalar:
              v = n.value;
              break;
            case PK::kArange:
              v = n.start + static_cast<double>(LeafCoord(n.map, out)[0]) * n.step;
              break;
            case PK::kLinspace: {
              const int64_t c = LeafCoord(n.map, out)[0];
              EXPECT_TRUE(c >= 0 && c < n.leaf_shape[0]) << "linspace coord out of range";
              v = LinspaceValue(n, c);
              break;
            }
            case PK::kRandom: {
              const auto c = LeafCoord(n.map, out);
              int64_t flat = 0;
              for (size_t a = 0; a < c.size(); ++a) {
                EXPECT_TRUE(c[a] >= 0 && c[a] < n.leaf_shape[a]) << "random coord out of range";
                flat = flat * n.leaf_shape[a] + c[a];
              }
              v = testing::ReferenceRandom(n.dist, n.seed, n.param_a, n.param_b, n.dtype,
                                           static_cast<uint64_t>(flat));
              break;
            }
            case PK::kInput: {
              const auto c = LeafCoord(n.map, out);
              bool found = false;
              for (size_t k = 0; k < t.input_chunks.size() && !found; ++k) {
                const InputChunk& ic = t.input_chunks[k];
                if (ic.input != n.input) continue;
                bool inside = true;
                int64_t flat = 0;
                for (size_t a = 0; a < c.size(); ++a) {
                  if (c[a] < ic.lo[a] || c[a] >= ic.lo[a] + ic.shape[a]) inside = false;
                  flat = flat * ic.shape[a] + (c[a] - ic.lo[a]);
                }
                if (!inside) continue;
                v = store.at(t.deps[k]).v.at(static_cast<size_t>(flat));
                found = true;
              }
              EXPECT_TRUE(found) << t.key << " lacks the input chunk for an element";
              break;
            }
            case PK::kUnary:
              v = testing::ReferenceUnary(n.unary, vals[n.arg0]);
              break;
            case PK::kBinary:
              v = testing::ReferenceBinary(n.binary, vals[n.arg0], vals[n.arg1], n.dtype);
              break;
            case PK::kWhere:
              v = vals[n.arg0] != 0 ? vals[n.arg1] : vals[n.arg2];
              break;
          }
          vals[i] = testing::RoundToDType(v, n.dtype);
        }
        const double root = vals.back();
        if (!p.has_reduce) {
          int64_t flat = 0;
          for (size_t a = 0; a < rc.size(); ++a) flat += rc[a] * pstrides[a];
          result.v[flat] = root;
        } else {
          int64_t flat = 0;
          for (size_t a = 0; a < rc.size(); ++a) {
            if (partial_shape[a] != 1) flat += rc[a] * pstrides[a];
          }
          result.v[flat] = Combine(p.reduce.op, result.v[flat], root);
        }
      });
    } else {
      result = store.at(t.deps[0]);
      for (size_t d = 1; d < t.deps.size(); ++d) {
        const Buf& other = store.at(t.deps[d]);
        EXPECT_EQ(other.shape, result.shape) << t.key;
        for (size_t i = 0; i < result.v.size(); ++i) {
          result.v[i] = Combine(t.combine_op, result.v[i], other.v[i]);
        }
      }
    }
    if (t.finalize.enabled) {
      for (double& v : result.v)
        v = testing::RoundToDType(v / t.finalize.divide_by, t.finalize.out_dtype);
      EXPECT_EQ(NumElements(result.shape), NumElements(t.finalize.out_shape));
      result.shape = t.finalize.out_shape;
    }
    EXPECT_EQ(store.count(t.key), 0u) << t.key;
    store[t.key] = std::move(result);
  }
  return store;
}

// Lowers `root`, runs it with the interpreter and compares with the reference evaluator.
void ExpectMatchesReference(const NodePtr& root,
                            const std::map<std::string, ChunkBuffer>& sources = {}) {
  const TaskGraph g = LowerOk(root);
  CheckWellFormed(g);
  std::map<std::string, Buf> full;
  std::map<std::string, Chunks> chunks;
  std::vector<NodePtr> stack = {root};
  while (!stack.empty()) {  // find the source nodes' chunking
    NodePtr n = stack.back();
    stack.pop_back();
    if (n->kind == OpKind::kSource) chunks[n->source_name] = n->chunks;
    for (const auto& in : n->inputs) stack.push_back(in);
  }
  for (const auto& [name, buf] : sources) {
    Buf b;
    b.shape = buf.shape;
    for (int64_t i = 0; i < buf.num_elements(); ++i) b.v.push_back(buf.GetAsDouble(i));
    full[name] = b;
  }
  const auto store = RunGraph(g, full, chunks);
  auto ref = testing::EvaluateReference(root, sources);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ(ref->shape, g.shape);
  // Assemble the output blocks.
  const auto starts = BlockOffsets(g.chunks);
  const auto strides = testing::Strides(g.shape);
  size_t k = 0;
  int64_t checked = 0;
  testing::ForEachCoord(NumBlocks(g.chunks), [&](const std::vector<int64_t>& b) {
    const Buf& blk = store.at(g.output_keys[k++]);
    Shape bshape;
    for (size_t a = 0; a < b.size(); ++a) bshape.push_back(g.chunks[a][b[a]]);
    ASSERT_EQ(blk.shape, bshape);
    size_t i = 0;
    testing::ForEachCoord(bshape, [&](const std::vector<int64_t>& x) {
      int64_t flat = 0;
      for (size_t a = 0; a < x.size(); ++a) flat += (starts[a][b[a]] + x[a]) * strides[a];
      const double want = ref->GetAsDouble(flat);
      const double got = blk.v[i++];
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got));
      } else {
        EXPECT_NEAR(got, want, 1e-9 * std::max(1.0, std::fabs(want))) << "element " << flat;
      }
      ++checked;
    });
  });
  EXPECT_EQ(checked, NumElements(g.shape));
}

// ---------------------------------------------------------------- structure

TEST(Lowering, FusesExpOfRandomPlusOne) {
  NodePtr x = Rand({100, 60}, ChunkSpec({30, 20}));
  NodePtr y = Add(Ok(Unary(UnaryOp::kExp, x)), Scalar(1, true));
  const TaskGraph g = LowerOk(y);
  CheckWellFormed(g);
  ASSERT_EQ(g.programs.size(), 1u);
  const ChunkProgram& p = g.programs[0];
  EXPECT_EQ(p.ndim, 2);
  EXPECT_FALSE(p.has_reduce);
  EXPECT_TRUE(p.inputs.empty());
  ASSERT_EQ(p.nodes.size(), 4u);
  EXPECT_EQ(p.nodes[0].kind, PK::kRandom);
  EXPECT_EQ(p.nodes[0].leaf_shape, (Shape{100, 60}));
  EXPECT_EQ(p.nodes[0].map, (IndexMap{{0, 0}, {1, 1}, {0, 1}}));
  EXPECT_EQ(p.nodes[1].kind, PK::kUnary);
  EXPECT_EQ(p.nodes[2].kind, PK::kScalar);
  EXPECT_EQ(p.nodes[3].kind, PK::kBinary);
  EXPECT_EQ(p.nodes[3].arg0, 1);
  EXPECT_EQ(p.nodes[3].arg1, 2);
  EXPECT_EQ(g.tasks.size(), 4u * 3u);
  for (const auto& t : g.tasks) {
    EXPECT_EQ(t.kind, TaskKind::kChunk);
    EXPECT_TRUE(t.deps.empty());
    EXPECT_FALSE(t.finalize.enabled);
    EXPECT_EQ(t.program, 0);
  }
  EXPECT_EQ(g.output_keys, [&] {
    std::vector<std::string> keys;
    for (const auto& t : g.tasks) keys.push_back(t.key);
    return keys;
  }());
  EXPECT_TRUE(absl::StartsWith(g.output_name, "add-"));
  EXPECT_EQ(g.output_name.size(), 4u + 12u);
  EXPECT_EQ(g.output_keys[0], g.output_name + "/0,0");
  EXPECT_EQ(g.output_keys[5], g.output_name + "/1,2");
  const TaskSpec& t5 = g.tasks[5];
  EXPECT_EQ(t5.lo, (std::vector<int64_t>{30, 40}));
  EXPECT_EQ(t5.hi, (std::vector<int64_t>{60, 60}));
  EXPECT_EQ(t5.est_bytes, 30 * 20 * 8);
  EXPECT_EQ(g.tasks.back().hi, (std::vector<int64_t>{100, 60}));
  EXPECT_EQ(g.shape, (Shape{100, 60}));
  EXPECT_EQ(g.chunks, y->chunks);
}

TEST(Lowering, MirroredProductSumOnHugeOnes) {
  NodePtr x = Ones({200000, 200000}, ChunkSpec(10000));
  NodePtr s = Sum(Mul(x, Rev2(x)));
  const TaskGraph g = LowerOk(s);
  CheckWellFormed(g);
  ASSERT_EQ(g.programs.size(), 1u);
  const ChunkProgram& p = g.programs[0];
  EXPECT_TRUE(p.has_reduce);
  EXPECT_EQ(p.reduce.op, ReduceOp::kSum);
  EXPECT_EQ(p.reduce.axes, (std::vector<int>{0, 1}));
  // The mirrored leaf reads backwards from the far corner.
  ASSERT_EQ(p.nodes.size(), 3u);
  EXPECT_EQ(p.nodes[0].map, (IndexMap{{0, 0}, {1, 1}, {0, 1}}));
  EXPECT_EQ(p.nodes[1].kind, PK::kFull);
  EXPECT_EQ(p.nodes[1].map, (IndexMap{{199999, 199999}, {-1, -1}, {0, 1}}));

  int chunk_tasks = 0, combine_tasks = 0, finalized = 0;
  std::map<std::string, int> per_level;
  for (const auto& t : g.tasks) {
    if (t.kind == TaskKind::kChunk) {
      ++chunk_tasks;
      EXPECT_TRUE(t.deps.empty());
      EXPECT_FALSE(t.finalize.enabled);
      EXPECT_EQ(t.est_bytes, 8);
    } else {
      ++combine_tasks;
      EXPECT_LE(t.deps.size(), 8u);
      EXPECT_EQ(t.combine_op, ReduceOp::kSum);
    }
    if (t.finalize.enabled) ++finalized;
  }
  EXPECT_EQ(chunk_tasks, 400);
  EXPECT_EQ(combine_tasks, 50 + 7 + 1);  // 400 -> 50 -> 7 -> 1
  EXPECT_EQ(finalized, 1);
  const TaskSpec& last = g.tasks.back();
  EXPECT_EQ(last.kind, TaskKind::kCombine);
  EXPECT_TRUE(last.finalize.enabled);
  EXPECT_EQ(last.finalize.out_shape, Shape{});
  EXPECT_EQ(last.finalize.divide_by, 1);
  EXPECT_EQ(last.deps.size(), 7u);
  EXPECT_EQ(g.output_keys, std::vector<std::string>{last.key});
  EXPECT_TRUE(absl::StartsWith(last.key, "sum-"));
  EXPECT_TRUE(absl::EndsWith(last.key, "/"));
  EXPECT_TRUE(g.shape.empty());
  EXPECT_TRUE(g.chunks.empty());
  // The first combine reads the first 8 partials in C order of block index.
  const TaskSpec* first = nullptr;
  for (const auto& t : g.tasks) {
    if (t.kind == TaskKind::kCombine) {
      first = &t;
      break;
    }
  }
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->deps.size(), 8u);
  EXPECT_EQ(first->deps[0], g.tasks[0].key);
  EXPECT_EQ(first->deps[7], g.tasks[7].key);
  EXPECT_TRUE(absl::EndsWith(g.tasks[7].key, "/0,7"));
}

TEST(Lowering, ReversedSliceMapsAndChunks) {
  NodePtr x = Rand({10}, ChunkSpec(4));
  NodePtr r = Ok(Slice(x, {IndexItem::Slice(std::nullopt, std::nullopt, -1)}));
  const TaskGraph g = LowerOk(r);
  ASSERT_EQ(g.programs.size(), 1u);
  const ProgramNode& leaf = g.programs[0].nodes[0];
  EXPECT_EQ(leaf.kind, PK::kRandom);
  EXPECT_EQ(leaf.map.offset, (std::vector<int64_t>{9}));
  EXPECT_EQ(leaf.map.step, (std::vector<int64_t>{-1}));
  EXPECT_EQ(leaf.map.out_axis, (std::vector<int>{0}));
  EXPECT_EQ(leaf.leaf_shape, (Shape{10}));
  EXPECT_EQ(g.chunks, (Chunks{{2, 4, 4}}));
  ExpectMatchesReference(r);
}

TEST(Lowering, SlicesComposeIntoOneMap) {
  NodePtr x = Rand({20, 30}, ChunkSpec({7, 8}));
  // x[2:18:3, ::-2][::-1, 1:]: rows 17, 14, ..., 2 and columns 27, 25, ..., 1.
  NodePtr a =
      Ok(Slice(x, {IndexItem::Slice(2, 18, 3), IndexItem::Slice(std::nullopt, std::nullopt, -2)}));
  NodePtr b = Ok(Slice(a, {IndexItem::Slice(std::nullopt, std::nullopt, -1), IndexItem::Slice(1)}));
  const TaskGraph g = LowerOk(b);
  ASSERT_EQ(g.programs.size(), 1u);
  ASSERT_EQ(g.programs[0].nodes.size(), 1u);
  const IndexMap& m = g.programs[0].nodes[0].map;
  EXPECT_EQ(m.offset, (std::vector<int64_t>{17, 27}));
  EXPECT_EQ(m.step, (std::vector<int64_t>{-3, -2}));
  EXPECT_EQ(m.out_axis, (std::vector<int>{0, 1}));
  ExpectMatchesReference(b);
}

TEST(Lowering, IntegerIndexAndNewAxisMaps) {
  NodePtr x = Rand({6, 7, 8}, ChunkSpec({2, 3, 4}));
  NodePtr y = Ok(Slice(x, {IndexItem::NewAxis(), IndexItem::Integer(4), IndexItem::Slice(),
                           IndexItem::NewAxis(), IndexItem::Slice(1, 7, 2)}));
  EXPECT_EQ(y->shape, (Shape{1, 7, 1, 3}));
  const TaskGraph g = LowerOk(y);
  const IndexMap& m = g.programs[0].nodes[0].map;
  EXPECT_EQ(m.offset, (std::vector<int64_t>{4, 0, 1}));
  EXPECT_EQ(m.step, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(m.out_axis, (std::vector<int>{-1, 1, 3}));
  ExpectMatchesReference(y);
}

TEST(Lowering, TransposePermutesLeafMaps) {
  NodePtr x = Rand({6, 7, 8}, ChunkSpec({2, 3, 4}));
  NodePtr t = Ok(Transpose(x, {2, 0, 1}));
  const TaskGraph g = LowerOk(t);
  ASSERT_EQ(g.programs.size(), 1u);
  ASSERT_EQ(g.programs[0].nodes.size(), 1u);  // generated in place: no copy, no input
  const ProgramNode& leaf = g.programs[0].nodes[0];
  EXPECT_EQ(leaf.kind, PK::kRandom);
  EXPECT_EQ(leaf.leaf_shape, (Shape{6, 7, 8}));
  // Leaf axis 0 is output axis 1, leaf axis 1 output axis 2, leaf axis 2 output axis 0.
  EXPECT_EQ(leaf.map.out_axis, (std::vector<int>{1, 2, 0}));
  EXPECT_EQ(leaf.map.offset, (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(leaf.map.step, (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(g.chunks, (Chunks{{4, 4}, {2, 2, 2}, {3, 3, 1}}));
  EXPECT_EQ(g.tasks.size(), 18u);
  EXPECT_TRUE(absl::StartsWith(g.output_name, "transpose-"));
  ExpectMatchesReference(t);
}

TEST(Lowering, TransposeComposesWithSlicesAndBroadcasts) {
  NodePtr x = Rand({9, 5}, ChunkSpec({4, 2}));
  // x[::-1, 1:4].T[::2] : leaf rows read backwards on output axis 1, columns 1, 3 on axis 0.
  NodePtr s =
      Ok(Slice(x, {IndexItem::Slice(std::nullopt, std::nullopt, -1), IndexItem::Slice(1, 4)}));
  NodePtr t = Ok(Slice(Ok(Transpose(s)), {IndexItem::Slice(std::nullopt, std::nullopt, 2)}));
  EXPECT_EQ(t->shape, (Shape{2, 9}));
  const TaskGraph g = LowerOk(t);
  ASSERT_EQ(g.programs[0].nodes.size(), 1u);
  const IndexMap& m = g.programs[0].nodes[0].map;
  EXPECT_EQ(m.offset, (std::vector<int64_t>{8, 1}));
  EXPECT_EQ(m.step, (std::vector<int64_t>{-1, 2}));
  EXPECT_EQ(m.out_axis, (std::vector<int>{1, 0}));
  ExpectMatchesReference(t);
  // x.T + x[0] broadcasts a row of x against the columns of x.T; x + x.T.T is x + x.
  NodePtr sq = Rand({6, 6}, ChunkSpec({4, 3}), 9);
  ExpectMatchesReference(Add(Ok(Transpose(sq)), Ok(Slice(sq, {IndexItem::Integer(2)}))));
  ExpectMatchesReference(Mul(sq, Ok(Transpose(Ok(Transpose(sq))))));
  ExpectMatchesReference(Sub(sq, Ok(Transpose(sq))));
  // A transposed reduction over the transposed axes.
  NodePtr x3 = Rand({5, 6, 7}, ChunkSpec({2, 4, 3}), 4);
  ExpectMatchesReference(Sum(Ok(Transpose(x3, {1, 2, 0})), {0, 2}, true, 2));
  ExpectMatchesReference(Ok(Transpose(Sum(x3, {1}), {1, 0})));
}

TEST(Lowering, TransposeOfSourceReadsThePermutedChunks) {
  NodePtr src = Ok(Source("p", {6, 5}, DType::kFloat32, {{2, 4}, {3, 2}}));
  NodePtr t = Ok(Transpose(src));
  EXPECT_EQ(t->chunks, (Chunks{{3, 2}, {2, 4}}));
  const TaskGraph g = LowerOk(t);
  ASSERT_EQ(g.tasks.size(), 4u);
  // Output block (0, 1) covers columns 0..2 and rows 2..5 of the source: its block (1, 0).
  EXPECT_EQ(g.tasks[1].deps, (std::vector<std::string>{"p/1,0"}));
  ChunkBuffer buf = ChunkBuffer::Zeros(DType::kFloat32, {6, 5});
  for (int i = 0; i < 30; ++i) buf.mutable_data<float>()[i] = static_cast<float>(i * 0.25 - 2);
  const std::map<std::string, ChunkBuffer> sources = {{"p", buf}};
  ExpectMatchesReference(t, sources);
  ExpectMatchesReference(Mul(Rev2(t), Ok(Unary(UnaryOp::kAbs, t))), sources);
  ExpectMatchesReference(Ok(Reduce(ReduceOp::kMax, t, {0}, false)), sources);
}

NodePtr Lin(double start, double stop, int64_t num, bool endpoint, const ChunkSpec& chunks,
            DType dtype = DType::kFloat64) {
  return Ok(Linspace(start, stop, num, endpoint, dtype, chunks));
}

TEST(Lowering, RandintIsAnIntegerRandomLeaf) {
  for (ChunkSpec chunks : {ChunkSpec({9, 8}), ChunkSpec({4, 3}), ChunkSpec({2, 8})}) {
    NodePtr x = Ok(Random({9, 8}, RandomDist::kUniform, -3, 4, 5, DType::kInt64, chunks));
    const TaskGraph g = LowerOk(x);
    const ProgramNode& leaf = g.programs[0].nodes[0];
    EXPECT_EQ(leaf.kind, PK::kRandom);
    EXPECT_EQ(leaf.dtype, DType::kInt64);
    EXPECT_EQ(leaf.param_a, -3);
    EXPECT_EQ(leaf.param_b, 4);
    ExpectMatchesReference(x);
    ExpectMatchesReference(Ok(Transpose(Rev2(x))));
    ExpectMatchesReference(Sum(x, {1}));
  }
}

TEST(Lowering, LinspaceIsAFusedLeaf) {
  NodePtr x = Lin(-1, 2, 13, true, ChunkSpec(5));
  const TaskGraph g = LowerOk(Ok(Slice(x, {IndexItem::Slice(std::nullopt, std::nullopt, -2)})));
  ASSERT_EQ(g.programs.size(), 1u);
  ASSERT_EQ(g.programs[0].nodes.size(), 1u);
  const ProgramNode& leaf = g.programs[0].nodes[0];
  EXPECT_EQ(leaf.kind, PK::kLinspace);
  EXPECT_EQ(leaf.leaf_shape, Shape{13});
  EXPECT_EQ(leaf.start, -1.0);
  EXPECT_EQ(leaf.step, 0.25);
  EXPECT_EQ(leaf.value, 2.0);
  EXPECT_EQ(leaf.param_a, 12.0);
  EXPECT_EQ(leaf.param_b, 3.0);
  EXPECT_EQ(leaf.map.offset, (std::vector<int64_t>{12}));
  EXPECT_EQ(leaf.map.step, (std::vector<int64_t>{-2}));
  EXPECT_TRUE(absl::StartsWith(g.output_name, "getitem-"));
  // NumPy's values, including its rounding: 0.1 * 3 is 0.30000000000000004.
  ProgramNode p = leaf;
  p.start = 0;
  p.step = 0.1;
  p.value = 1;
  p.param_a = 10;
  p.param_b = 1;
  p.leaf_shape = {11};
  EXPECT_EQ(LinspaceValue(p, 3), 0.30000000000000004);
  EXPECT_EQ(LinspaceValue(p, 7), 0.7000000000000001);
  EXPECT_EQ(LinspaceValue(p, 10), 1.0);
}

TEST(Lowering, LinspaceMatchesReference) {
  for (ChunkSpec chunks :
       {ChunkSpec(int64_t{1000}), ChunkSpec(int64_t{7}), ChunkSpec(int64_t{3})}) {
    ExpectMatchesReference(Lin(0, 1, 50, true, chunks));
    ExpectMatchesReference(Lin(0.1, 0.7, 23, false, chunks));
    ExpectMatchesReference(Lin(5, -3, 17, true, chunks, DType::kInt64));  // floor, not trunc
    ExpectMatchesReference(Lin(-2.5, 2.5, 11, true, chunks, DType::kFloat32));
    ExpectMatchesReference(Lin(3, 3, 9, true, chunks));       // step 0
    ExpectMatchesReference(Lin(0, 1e-320, 9, true, chunks));  // step underflows
    ExpectMatchesReference(Lin(4, 9, 1, true, chunks));       // div 0: [start]
    ExpectMatchesReference(Lin(4, 9, 1, false, chunks));
    ExpectMatchesReference(Lin(4, 9, 0, true, chunks));
    NodePtr x = Lin(0, 2, 20, true, chunks);
    ExpectMatchesReference(Ok(Reduce(
        ReduceOp::kSum, Mul(x, Ok(Slice(x, {IndexItem::Slice(std::nullopt, std::nullopt, -1)}))),
        {}, false, 2)));
    // Broadcast against a 2-D array: linspace along the last axis.
    ExpectMatchesReference(Add(Rand({3, 20}, ChunkSpec({2, 6})), x));
  }
}

TEST(Lowering, AnyAllPartialsAreBoolAndCombineExactly) {
  for (ChunkSpec chunks : {ChunkSpec({20, 30}), ChunkSpec({7, 8}), ChunkSpec({3, 4})}) {
    NodePtr x = Rand({20, 30}, chunks, 5);
    // Rare trues (any must find them wherever they are) and rare falses (likewise for all).
    NodePtr rare = Ok(Binary(BinaryOp::kLess, x, Scalar(0.01, true)));
    NodePtr common = Ok(Binary(BinaryOp::kLess, x, Scalar(0.99, true)));
    for (ReduceOp op : {ReduceOp::kAny, ReduceOp::kAll}) {
      for (NodePtr in : {rare, common}) {
        NodePtr all_axes = Ok(Reduce(op, in, {}, false, 2));
        const TaskGraph g = LowerOk(all_axes);
        EXPECT_EQ(g.dtype, DType::kBool);
        for (const TaskSpec& t : g.tasks) {
          if (t.kind == TaskKind::kCombine) {
            EXPECT_EQ(t.combine_op, op);
          }
          if (t.finalize.enabled) {
            EXPECT_EQ(t.finalize.out_dtype, DType::kBool);
          }
        }
        ExpectMatchesReference(all_axes);
        ExpectMatchesReference(Ok(Reduce(op, in, {0}, true, 3)));
        ExpectMatchesReference(Ok(Reduce(op, in, {-1}, false)));
      }
      // Numbers rather than bools: non-zero is true, and NaN (log of a negative) is true.
      ExpectMatchesReference(
          Ok(Reduce(op, Ok(Unary(UnaryOp::kFloor, Mul(x, Scalar(1.5, true)))), {1}, false)));
      ExpectMatchesReference(
          Ok(Reduce(op, Ok(Unary(UnaryOp::kLog, Sub(x, Scalar(0.5, true)))), {}, false)));
    }
  }
  EXPECT_EQ(PartialDType(ReduceOp::kAny, DType::kFloat64), DType::kBool);
  EXPECT_EQ(PartialDType(ReduceOp::kAll, DType::kInt64), DType::kBool);
  // Empty: any is false, all is true.
  NodePtr e = Ones({0, 3}, ChunkSpec(2));
  ExpectMatchesReference(Ok(Reduce(ReduceOp::kAny, e, {}, false)));
  ExpectMatchesReference(Ok(Reduce(ReduceOp::kAll, e, {0}, false)));
}

TEST(Lowering, BroadcastMapsUseConstantCoordinates) {
  NodePtr a = Rand({5, 1}, ChunkSpec(2), 1);
  NodePtr b = Rand({4}, ChunkSpec(3), 2);
  NodePtr c = Add(a, b);
  const TaskGraph g = LowerOk(c);
  const ChunkProgram& p = g.programs[0];
  ASSERT_EQ(p.nodes.size(), 3u);
  EXPECT_EQ(p.nodes[0].map, (IndexMap{{0, 0}, {1, 0}, {0, -1}}));
  EXPECT_EQ(p.nodes[1].map, (IndexMap{{0}, {1}, {1}}));
  EXPECT_EQ(g.chunks, (Chunks{{2, 2, 1}, {3, 1}}));
  ExpectMatchesReference(c);
}

TEST(Lowering, ReductionOverTwoAxesGivesTenOutputs) {
  NodePtr x = Ones({10000, 20000, 10}, ChunkSpec({1000, 1000, 5}));
  NodePtr s = Sum(x, {1, 2});
  const TaskGraph g = LowerOk(s);
  CheckWellFormed(g);
  ASSERT_EQ(g.output_keys.size(), 10u);
  EXPECT_EQ(g.shape, (Shape{10000}));
  int chunk_tasks = 0, finals = 0;
  for (const auto& t : g.tasks) {
    if (t.kind == TaskKind::kChunk) {
      ++chunk_tasks;
      EXPECT_EQ(t.est_bytes, 1000 * 8);  // partial of shape (1000, 1, 1)
    }
    if (t.finalize.enabled) {
      ++finals;
      EXPECT_EQ(t.finalize.out_shape, (Shape{1000}));
      EXPECT_EQ(t.finalize.out_dtype, DType::kFloat64);
    }
  }
  EXPECT_EQ(chunk_tasks, 10 * 20 * 2);
  EXPECT_EQ(finals, 10);
  // 40 partials per output block -> 5 -> 1.
  EXPECT_EQ(g.tasks.size(), 400u + 10u * 6u);
  const TaskSpec* out3 = FindTask(g, g.output_keys[3]);
  ASSERT_NE(out3, nullptr);
  EXPECT_EQ(out3->kind, TaskKind::kCombine);
  EXPECT_EQ(out3->deps.size(), 5u);
  EXPECT_TRUE(absl::EndsWith(g.output_keys[3], "/3"));
  EXPECT_EQ(g.programs[0].reduce.axes, (std::vector<int>{1, 2}));
}

TEST(Lowering, PartialsTileTheInputAndEachOutputBlock) {
  // Structure only: every element of the input lies in exactly one chunk task's region, and
  // the combine tree of each output block reaches every partial of that block exactly once.
  NodePtr x = Ones({90, 70, 12}, ChunkSpec({20, 30, 5}));
  NodePtr s = Ok(Reduce(ReduceOp::kSum, x, {0, 2}, true, 3));
  const TaskGraph g = LowerOk(s);
  CheckWellFormed(g);
  int64_t covered = 0;
  std::map<std::string, const TaskSpec*> by_key;
  for (const auto& t : g.tasks) {
    by_key[t.key] = &t;
    if (t.kind != TaskKind::kChunk) continue;
    int64_t vol = 1;
    for (size_t a = 0; a < t.lo.size(); ++a) vol *= t.hi[a] - t.lo[a];
    covered += vol;
  }
  EXPECT_EQ(covered, 90 * 70 * 12);
  ASSERT_EQ(g.output_keys.size(), 3u);  // (1, 70, 1) in blocks (1,), (30, 30, 10), (1,)
  std::set<std::string> reached_all;
  for (size_t o = 0; o < g.output_keys.size(); ++o) {
    std::vector<const TaskSpec*> leaves;
    std::vector<std::string> todo = {g.output_keys[o]};
    while (!todo.empty()) {
      const TaskSpec* t = by_key.at(todo.back());
      todo.pop_back();
      EXPECT_TRUE(reached_all.insert(t->key).second) << t->key << " reached twice";
      if (t->kind == TaskKind::kChunk) {
        leaves.push_back(t);
      } else {
        EXPECT_LE(t->deps.size(), 3u);
        for (const auto& d : t->deps) todo.push_back(d);
      }
    }
    EXPECT_EQ(leaves.size(), 5u * 3u);  // blocks along axes 0 and 2
    int64_t vol = 0;
    for (const TaskSpec* t : leaves) {
      EXPECT_EQ(t->lo[1], static_cast<int64_t>(o) * 30);
      vol += (t->hi[0] - t->lo[0]) * (t->hi[2] - t->lo[2]);
    }
    EXPECT_EQ(vol, 90 * 12);
  }
  EXPECT_EQ(reached_all.size(), g.tasks.size());
  ExpectMatchesReference(
      Ok(Reduce(ReduceOp::kSum, Rand({9, 7, 12}, ChunkSpec({2, 3, 5})), {0, 2}, true, 3)));
}

TEST(Lowering, MeanFinalizeDividesByCount) {
  NodePtr x = Rand({100, 40}, ChunkSpec({10, 40}));
  NodePtr m = Ok(Reduce(ReduceOp::kMean, x, {0}, false));
  const TaskGraph g = LowerOk(m);
  CheckWellFormed(g);
  int finals = 0;
  for (const auto& t : g.tasks) {
    if (!t.finalize.enabled) continue;
    ++finals;
    EXPECT_EQ(t.finalize.divide_by, 100);
    EXPECT_EQ(t.finalize.out_shape, (Shape{40}));
    EXPECT_EQ(t.finalize.out_dtype, DType::kFloat64);
    EXPECT_EQ(t.combine_op, ReduceOp::kMean);
  }
  EXPECT_EQ(finals, 1);
  EXPECT_TRUE(absl::StartsWith(g.output_name, "mean-"));
  ExpectMatchesReference(m);
  // A single partial per output block: the chunk task itself finalises.
  NodePtr m2 = Ok(Reduce(ReduceOp::kMean, x, {1}, true));
  const TaskGraph g2 = LowerOk(m2);
  ASSERT_EQ(g2.tasks.size(), 10u);
  for (const auto& t : g2.tasks) {
    EXPECT_EQ(t.kind, TaskKind::kChunk);
    EXPECT_TRUE(t.finalize.enabled);
    EXPECT_EQ(t.finalize.divide_by, 40);
    EXPECT_EQ(t.finalize.out_shape, (Shape{10, 1}));
  }
  EXPECT_EQ(g2.output_keys[0], g2.tasks[0].key);
  ExpectMatchesReference(m2);
}

TEST(Lowering, ElementwiseOverReductionReadsItAsInput) {
  NodePtr x = Rand({50, 30}, ChunkSpec(10));
  NodePtr mean = Ok(Reduce(ReduceOp::kMean, x, {}, false));
  NodePtr y = Sub(x, mean);
  const TaskGraph g = LowerOk(y);
  CheckWellFormed(g);
  ASSERT_EQ(g.programs.size(), 2u);
  const ChunkProgram& p = g.programs[g.tasks.back().program];
  ASSERT_EQ(p.inputs.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(p.inputs[0].name, "mean-"));
  EXPECT_TRUE(p.inputs[0].shape.empty());
  bool has_input_leaf = false;
  for (const auto& n : p.nodes) {
    if (n.kind == PK::kInput) {
      has_input_leaf = true;
      EXPECT_TRUE(n.map.offset.empty());
    }
  }
  EXPECT_TRUE(has_input_leaf);
  const std::string mean_key = p.inputs[0].name + "/";
  int readers = 0;
  for (const auto& t : g.tasks) {
    if (t.program == g.tasks.back().program) {
      ++readers;
      EXPECT_EQ(t.deps, std::vector<std::string>{mean_key});
      ASSERT_EQ(t.input_chunks.size(), 1u);
      EXPECT_TRUE(t.input_chunks[0].lo.empty());
    }
  }
  EXPECT_EQ(readers, 15);
  EXPECT_TRUE(g.external_deps.empty());
  ExpectMatchesReference(y);
}

TEST(Lowering, SharedReductionIsLoweredOnce) {
  NodePtr x = Rand({40}, ChunkSpec(10));
  // Two separately built but identical means share keys.
  NodePtr m1 = Ok(Reduce(ReduceOp::kMean, x, {}, false));
  NodePtr m2 = Ok(Reduce(ReduceOp::kMean, x, {}, false));
  NodePtr y = Ok(Binary(BinaryOp::kDivide, Sub(x, m1), m2));
  const TaskGraph g = LowerOk(y);
  CheckWellFormed(g);  // catches duplicate keys
  ExpectMatchesReference(y);
}

TEST(Lowering, ReductionOfReduction) {
  NodePtr x = Rand({30, 20}, ChunkSpec({7, 6}));
  NodePtr inner = Ok(Reduce(ReduceOp::kMax, x, {1}, false));
  NodePtr outer = Ok(Reduce(ReduceOp::kSum, inner, {}, false, 2));
  const TaskGraph g = LowerOk(outer);
  CheckWellFormed(g);
  ExpectMatchesReference(outer);
  NodePtr z = Sum(Sub(x, Ok(Reduce(ReduceOp::kMean, x, {0}, true))), {0});
  ExpectMatchesReference(z);
  // A slice of a reduction reads its chunks through a composed map.
  NodePtr rows = Ok(Reduce(ReduceOp::kMin, x, {1}, false));
  NodePtr rev = Ok(Slice(rows, {IndexItem::Slice(25, 3, -2)}));
  const TaskGraph gr = LowerOk(rev);
  CheckWellFormed(gr);
  const ChunkProgram& p = gr.programs[gr.tasks.back().program];
  ASSERT_EQ(p.nodes.size(), 1u);
  EXPECT_EQ(p.nodes[0].kind, PK::kInput);
  EXPECT_EQ(p.nodes[0].map, (IndexMap{{25}, {-2}, {0}}));
  ExpectMatchesReference(rev);
  ExpectMatchesReference(Add(Ok(Slice(rows, {IndexItem::NewAxis(), IndexItem::Slice()})),
                             Ok(Slice(rows, {IndexItem::Slice(), IndexItem::NewAxis()}))));
}

TEST(Lowering, SourceInputListsOnlyIntersectingChunks) {
  NodePtr src = Ok(Source("persisted-abc", {100}, DType::kFloat64, {std::vector<int64_t>(10, 10)}));
  NodePtr sl = Ok(Slice(src, {IndexItem::Slice(15, 35)}));
  EXPECT_EQ(sl->chunks, (Chunks{{5, 10, 5}}));
  const TaskGraph g = LowerOk(Add(sl, Scalar(1, true)));
  CheckWellFormed(g);
  ASSERT_EQ(g.tasks.size(), 3u);
  EXPECT_EQ(g.tasks[0].deps, std::vector<std::string>{"persisted-abc/1"});
  EXPECT_EQ(g.tasks[1].deps, std::vector<std::string>{"persisted-abc/2"});
  EXPECT_EQ(g.tasks[2].deps, std::vector<std::string>{"persisted-abc/3"});
  EXPECT_EQ(g.tasks[0].input_chunks[0].lo, (std::vector<int64_t>{10}));
  EXPECT_EQ(g.tasks[0].input_chunks[0].shape, (Shape{10}));
  EXPECT_EQ(g.external_deps,
            (std::vector<std::string>{"persisted-abc/1", "persisted-abc/2", "persisted-abc/3"}));

  // Differently chunked operands: the output follows the first, and reads the overlap.
  NodePtr ones = Ones({100}, ChunkSpec(25));
  const TaskGraph g2 = LowerOk(Add(ones, src));
  ASSERT_EQ(g2.tasks.size(), 4u);
  EXPECT_EQ(g2.tasks[0].deps,
            (std::vector<std::string>{"persisted-abc/0", "persisted-abc/1", "persisted-abc/2"}));
  EXPECT_EQ(g2.tasks[1].deps,
            (std::vector<std::string>{"persisted-abc/2", "persisted-abc/3", "persisted-abc/4"}));
  EXPECT_EQ(g2.external_deps.size(), 10u);

  // A reversed, strided read touches only the blocks holding its elements.
  NodePtr strided = Ok(Slice(src, {IndexItem::Slice(95, std::nullopt, -30)}));  // 95, 65, 35, 5
  const TaskGraph g3 = LowerOk(strided);
  ASSERT_EQ(g3.tasks.size(), 4u);
  EXPECT_EQ(g3.tasks[0].deps, std::vector<std::string>{"persisted-abc/9"});
  EXPECT_EQ(g3.tasks[3].deps, std::vector<std::string>{"persisted-abc/0"});
}

TEST(Lowering, StridedReadSkipsUntouchedBlocks) {
  NodePtr src = Ok(Source("s", {100}, DType::kFloat64, {std::vector<int64_t>(20, 5)}));
  NodePtr big = Ones({34}, ChunkSpec(34));
  // One output chunk reads elements 0, 3, ..., 99: every block of 5 holds one of them.
  NodePtr y = Add(big, Ok(Slice(src, {IndexItem::Slice(0, 100, 3)})));
  const TaskGraph g = LowerOk(y);
  ASSERT_EQ(g.tasks.size(), 1u);
  EXPECT_EQ(g.tasks[0].deps.size(), 20u);
  // Step 10 over blocks of 5 skips every other block.
  NodePtr z = Ok(Slice(src, {IndexItem::Slice(2, 100, 10)}));
  const TaskGraph gz = LowerOk(Add(Ones({10}, ChunkSpec(10)), z));
  ASSERT_EQ(gz.tasks.size(), 1u);
  EXPECT_EQ(gz.tasks[0].deps.size(), 10u);
  EXPECT_EQ(gz.tasks[0].deps[1], "s/2");
}

TEST(Lowering, SourceRootAndSourceDifferential) {
  NodePtr src = Ok(Source("p", {6, 5}, DType::kFloat32, {{2, 4}, {3, 2}}));
  const TaskGraph g = LowerOk(src);
  EXPECT_TRUE(g.tasks.empty());
  EXPECT_EQ(g.output_keys, (std::vector<std::string>{"p/0,0", "p/0,1", "p/1,0", "p/1,1"}));
  EXPECT_EQ(g.output_name, "p");
  ChunkBuffer buf = ChunkBuffer::Zeros(DType::kFloat32, {6, 5});
  for (int i = 0; i < 30; ++i) buf.mutable_data<float>()[i] = static_cast<float>(i * 0.5 - 3);
  const std::map<std::string, ChunkBuffer> sources = {{"p", buf}};
  ExpectMatchesReference(Mul(Rev2(src), Ok(Unary(UnaryOp::kAbs, src))), sources);
  ExpectMatchesReference(Ok(Reduce(ReduceOp::kMin, Rev2(src), {1}, false)), sources);
  ExpectMatchesReference(Ok(Slice(src, {IndexItem::Integer(-1), IndexItem::Slice(4, 0, -3)})),
                         sources);
}

TEST(Lowering, ZeroDimAndEmptyArrays) {
  NodePtr s = Add(Scalar(2, true), Scalar(3, false));
  const TaskGraph g = LowerOk(s);
  ASSERT_EQ(g.tasks.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(g.tasks[0].key, "/"));
  ExpectMatchesReference(s);
  NodePtr e = Ones({0, 4}, ChunkSpec(2));
  const TaskGraph ge = LowerOk(Sum(e, {0}));
  CheckWellFormed(ge);
  ExpectMatchesReference(Sum(e, {0}));
  ExpectMatchesReference(Sum(e));
  // Reducing a 0-d array reduces nothing: one chunk task, finalised.
  NodePtr r0 = Ok(Reduce(ReduceOp::kMean, s, {}, false));
  const TaskGraph g0 = LowerOk(r0);
  ASSERT_EQ(g0.tasks.size(), 1u);
  EXPECT_TRUE(g0.tasks[0].finalize.enabled);
  EXPECT_EQ(g0.tasks[0].finalize.divide_by, 1);
  ExpectMatchesReference(r0);
}

TEST(Lowering, Determinism) {
  NodePtr a = Sum(Mul(Rand({40, 40}, ChunkSpec(7)), Rev2(Rand({40, 40}, ChunkSpec(7)))), {1});
  NodePtr b = Sum(Mul(Rand({40, 40}, ChunkSpec(7)), Rev2(Rand({40, 40}, ChunkSpec(7)))), {1});
  const TaskGraph ga = LowerOk(a), gb = LowerOk(b);
  EXPECT_EQ(ga.tasks, gb.tasks);
  EXPECT_EQ(ga.programs, gb.programs);
  EXPECT_EQ(ga.output_keys, gb.output_keys);
  ExpectMatchesReference(a);
}

TEST(Lowering, IdenticalProgramsStoredOnce) {
  // Reductions over different axes need two programs; with and without keepdims the chunk
  // programs are the same (only finalisation differs), so they are stored once.
  NodePtr x = Rand({20, 20}, ChunkSpec(10));
  NodePtr y = Add(Sum(x, {0}), Sum(x, {1}));
  const TaskGraph g = LowerOk(y);
  EXPECT_EQ(g.programs.size(), 3u);
  NodePtr z = Add(Sum(x, {0}), Sum(x, {0}, true));
  const TaskGraph gz = LowerOk(z);
  EXPECT_EQ(gz.programs.size(), 2u);
  // Two reductions of 4 chunk tasks and 2 combines each, then the (1, 20) sum in 2 chunks.
  EXPECT_EQ(gz.tasks.size(), 2u * (4u + 2u) + 2u);
  ExpectMatchesReference(y);
  ExpectMatchesReference(z);
}

TEST(Lowering, DTypesFlowThroughPrograms) {
  NodePtr i = Ok(Arange(0, 24, 1, DType::kInt32, ChunkSpec(5)));
  NodePtr f = Ok(Binary(BinaryOp::kDivide, i, Scalar(4, false)));
  const TaskGraph g = LowerOk(f);
  EXPECT_EQ(g.dtype, DType::kFloat64);
  EXPECT_EQ(g.programs[0].nodes[0].kind, PK::kArange);
  EXPECT_EQ(g.programs[0].nodes[0].dtype, DType::kInt32);
  EXPECT_EQ(g.programs[0].nodes[0].leaf_shape, (Shape{24}));
  ExpectMatchesReference(f);
  ExpectMatchesReference(Ok(Binary(BinaryOp::kFloorDivide, i, Scalar(-5, false))));
  ExpectMatchesReference(
      Ok(Binary(BinaryOp::kMod, Ok(Unary(UnaryOp::kNegative, i)), Scalar(7, false))));
  ExpectMatchesReference(Ok(
      Reduce(ReduceOp::kProd,
             Ok(Slice(Ok(Unary(UnaryOp::kAstype, i, DType::kFloat32)), {IndexItem::Slice(1, 8)})),
             {}, false)));
  NodePtr mean_i = Ok(Reduce(ReduceOp::kMean, i, {}, false));
  const TaskGraph gm = LowerOk(mean_i);
  EXPECT_EQ(gm.tasks.back().finalize.out_dtype, DType::kFloat64);
  ExpectMatchesReference(mean_i);
  ExpectMatchesReference(
      Sum(Ok(Binary(BinaryOp::kLess, Rand({30}, ChunkSpec(7)), Scalar(0.5, true)))));
}

// A unary op of a Python scalar is of np.asarray(scalar), a strongly typed 0-d array: the
// lowering once read a bare scalar leaf as 0 (isclose(x, 3) compared x with 0).
TEST(Lowering, UnaryOfAScalarIsOfAZeroDimArray) {
  NodePtr three = Ok(Unary(UnaryOp::kAstype, Scalar(3, false), DType::kFloat64));
  EXPECT_EQ(three->inputs[0]->kind, OpKind::kFull);
  EXPECT_EQ(three->inputs[0]->dtype, DType::kInt64);
  NodePtr x = Ok(Arange(0, 8, 1, DType::kInt64, ChunkSpec(3)));
  NodePtr eq = Ok(Binary(BinaryOp::kEqual, x, three));
  ExpectMatchesReference(eq);
  auto ref = testing::EvaluateReference(eq);
  ASSERT_TRUE(ref.ok());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(ref->data<bool>()[i], i == 3) << i;
  auto neg = testing::EvaluateReference(Ok(Unary(UnaryOp::kNegative, Scalar(2.5, true))));
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ(neg->dtype, DType::kFloat64);
  EXPECT_EQ(neg->data<double>()[0], -2.5);
}

TEST(Lowering, WeakScalarsTakeTheArrayDType) {
  // float32 * 0.1 multiplies by float32(0.1), as NumPy does, and rounds once.
  NodePtr u = Rand({50}, ChunkSpec(20), 9, DType::kFloat32);
  NodePtr y = Ok(Binary(BinaryOp::kMultiply, u, Scalar(0.1, true)));
  const TaskGraph g = LowerOk(y);
  const ChunkProgram& p = g.programs[0];
  ASSERT_EQ(p.nodes.size(), 3u);
  EXPECT_EQ(p.nodes[1].kind, PK::kScalar);
  EXPECT_EQ(p.nodes[1].dtype, DType::kFloat32);
  EXPECT_EQ(p.nodes[1].value, static_cast<double>(0.1f));
  ExpectMatchesReference(y);
  auto ref = testing::EvaluateReference(y);
  ASSERT_TRUE(ref.ok());
  auto base = testing::EvaluateReference(u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(ref->data<float>()[i], base->data<float>()[i] * 0.1f) << i;
  }
  // An int literal with an int32 array stays int32; the same scalar node may appear with
  // different dtypes in one program.
  NodePtr i32 = Ok(Arange(0, 10, 1, DType::kInt32, ChunkSpec(4)));
  NodePtr two = Scalar(2, false);
  NodePtr z = Add(Ok(Binary(BinaryOp::kMultiply, i32, two)),
                  Ok(Binary(BinaryOp::kMultiply, Ok(Unary(UnaryOp::kSqrt, i32)), two)));
  const TaskGraph gz = LowerOk(z);
  int scalars = 0;
  for (const auto& n : gz.programs[0].nodes) {
    if (n.kind == PK::kScalar) ++scalars;
  }
  EXPECT_EQ(scalars, 2);  // 2 as int32 and 2 as float64
  ExpectMatchesReference(z);
  // NaN and -0.0 literals are distinct program scalars.
  NodePtr x = Rand({8}, ChunkSpec(8));
  NodePtr w = Add(Add(Ok(Binary(BinaryOp::kMaximum, x, Scalar(NAN, true))),
                      Ok(Binary(BinaryOp::kDivide, x, Scalar(-0.0, true)))),
                  Ok(Binary(BinaryOp::kDivide, x, Scalar(0.0, true))));
  const TaskGraph gw = LowerOk(w);
  scalars = 0;
  for (const auto& n : gw.programs[0].nodes) {
    if (n.kind == PK::kScalar) ++scalars;
  }
  EXPECT_EQ(scalars, 3);
  ExpectMatchesReference(w);
}

TEST(Lowering, NormalAndFloat32Random) {
  NodePtr n =
      Ok(Random({25, 4}, RandomDist::kNormal, 3, 2, 11, DType::kFloat64, ChunkSpec({6, 3})));
  ExpectMatchesReference(Rev2(n));
  NodePtr ri = Ok(Random({12, 9}, RandomDist::kUniform, -10, 10, 3, DType::kInt64, ChunkSpec(4)));
  ExpectMatchesReference(Sum(Rev2(ri), {1}));
  NodePtr u = Rand({33}, ChunkSpec(8), 5, DType::kFloat32);
  ExpectMatchesReference(Ok(Slice(u, {IndexItem::Slice(30, 2, -4)})));
}

TEST(Lowering, MaxChunkBytesRefusesLargeTasks) {
  LowerOptions options;
  options.max_chunk_bytes = 1000;
  auto too_big = Lower(Ones({1000}, ChunkSpec(500)), options);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Lower(Sum(Ones({1000}, ChunkSpec(500))), options).ok());
}

// The structure of 100 000-chunk lowerings. (Their speed is a benchmark's business, not a timed
// unit test's: a loaded CI machine must not fail it.)

TEST(Lowering, HundredThousandChunks) {
  NodePtr x = Rand({1000, 1000}, ChunkSpec({10, 1}));
  ASSERT_EQ(TotalBlocks(x->chunks), 100000);
  NodePtr y = Add(Ok(Unary(UnaryOp::kExp, x)), Scalar(1, true));
  const TaskGraph g = LowerOk(y);
  EXPECT_EQ(g.tasks.size(), 100000u);
  const TaskGraph gs = LowerOk(Sum(Mul(x, Rev2(x))));
  EXPECT_GT(gs.tasks.size(), 100000u);
  // A source with 100 000 chunks read through a mirror.
  NodePtr src = Ok(Source("big", {1000, 1000}, DType::kFloat64, x->chunks));
  const TaskGraph gr = LowerOk(Sub(src, Rev2(src)));
  EXPECT_EQ(gr.tasks.size(), 100000u);
  // Block (0, 0) and its mirror (99, 999).
  EXPECT_EQ(gr.tasks[0].deps, (std::vector<std::string>{"big/0,0", "big/99,999"}));
  EXPECT_EQ(gr.external_deps.size(), 100000u);
}

}  // namespace
}  // namespace tessera::graph
