#include "worker_cpu/block_ops.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "worker_cpu/task_util.h"

namespace tessera::cpu::detail {
namespace {

using graph::ReduceOp;
using graph::TaskSpec;

int64_t GetInt(const ChunkBuffer& c, int64_t i) {
  switch (c.dtype) {
    case DType::kInt64:
      return c.data<int64_t>()[i];
    case DType::kInt32:
      return c.data<int32_t>()[i];
    case DType::kBool:
      return c.data<uint8_t>()[i] != 0;
    default:
      return static_cast<int64_t>(c.GetAsDouble(i));
  }
}

// Flat offsets (in elements) of every multi-index over `axes` of an array with `strides`, in
// C order of those axes.
std::vector<int64_t> Offsets(const Shape& shape, const std::vector<int64_t>& strides,
                             const std::vector<int>& axes) {
  int64_t count = 1;
  for (int a : axes) count *= shape[a];
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(count));
  if (count == 0) return out;
  std::vector<int64_t> idx(axes.size(), 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t off = 0;
    for (size_t k = 0; k < axes.size(); ++k) off += idx[k] * strides[axes[k]];
    out.push_back(off);
    for (int k = static_cast<int>(axes.size()) - 1; k >= 0; --k) {
      if (++idx[k] < shape[axes[k]]) break;
      idx[k] = 0;
    }
  }
  return out;
}

// C (m x n) += A (m x k) * B (k x n), all row-major doubles. Cache-blocked over j and k, four
// rows of C at a time so each B row loaded feeds four rows; every C element still sums its k
// products in ascending k order, so every SIMD clone (no FMA: -ffp-contract=off) gives the same
// bits.
__attribute__((target_clones("avx512f", "avx2", "default"))) void Gemm(
    const double* a, const double* b, double* c, int64_t m, int64_t k, int64_t n) {
  constexpr int64_t kJBlock = 512, kKBlock = 128;
  for (int64_t j0 = 0; j0 < n; j0 += kJBlock) {
    const int64_t j1 = std::min(n, j0 + kJBlock);
    for (int64_t k0 = 0; k0 < k; k0 += kKBlock) {
      const int64_t k1 = std::min(k, k0 + kKBlock);
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) {
        double* c0 = c + i * n;
        double* c1 = c0 + n;
        double* c2 = c1 + n;
        double* c3 = c2 + n;
        for (int64_t kk = k0; kk < k1; ++kk) {
          const double a0 = a[i * k + kk], a1 = a[(i + 1) * k + kk], a2 = a[(i + 2) * k + kk],
                       a3 = a[(i + 3) * k + kk];
          const double* br = b + kk * n;
          for (int64_t j = j0; j < j1; ++j) {
            const double bv = br[j];
            c0[j] += a0 * bv;
            c1[j] += a1 * bv;
            c2[j] += a2 * bv;
            c3[j] += a3 * bv;
          }
        }
      }
      for (; i < m; ++i) {
        double* ci = c + i * n;
        for (int64_t kk = k0; kk < k1; ++kk) {
          const double av = a[i * k + kk];
          const double* br = b + kk * n;
          for (int64_t j = j0; j < j1; ++j) ci[j] += av * br[j];
        }
      }
    }
  }
}

}  // namespace

absl::StatusOr<ChunkBuffer> RunContract(const TaskSpec& task, const std::vector<ChunkPtr>& deps) {
  if (deps.size() != 2 || deps[0] == nullptr || deps[1] == nullptr) {
    return Invalid(task, "a contraction needs two blocks, got ", deps.size());
  }
  const ChunkBuffer& a = *deps[0];
  const ChunkBuffer& b = *deps[1];
  if (!WellFormed(a) || !WellFormed(b)) return Invalid(task, "malformed input block");
  const auto& ca = task.contract_a;
  const auto& cb = task.contract_b;
  if (ca.size() != cb.size()) {
    return Invalid(task, "contract axes differ in number: ", ca.size(), " and ", cb.size());
  }
  const int na = static_cast<int>(a.shape.size()), nb = static_cast<int>(b.shape.size());
  std::vector<bool> used_a(na, false), used_b(nb, false);
  for (size_t k = 0; k < ca.size(); ++k) {
    if (ca[k] < 0 || ca[k] >= na || cb[k] < 0 || cb[k] >= nb || used_a[ca[k]] || used_b[cb[k]]) {
      return Invalid(task, "bad contract axes for blocks of shape ", VecToString(a.shape), " and ",
                     VecToString(b.shape));
    }
    used_a[ca[k]] = used_b[cb[k]] = true;
    if (a.shape[ca[k]] != b.shape[cb[k]]) {
      return Invalid(task, "block extents differ on contracted axes: ", VecToString(a.shape),
                     " axis ", ca[k], " against ", VecToString(b.shape), " axis ", cb[k]);
    }
  }
  std::vector<int> fa, fb;
  Shape out_shape;
  for (int i = 0; i < na; ++i) {
    if (!used_a[i]) {
      fa.push_back(i);
      out_shape.push_back(a.shape[i]);
    }
  }
  for (int i = 0; i < nb; ++i) {
    if (!used_b[i]) {
      fb.push_back(i);
      out_shape.push_back(b.shape[i]);
    }
  }
  const auto sa = Strides(a.shape), sb = Strides(b.shape);
  const std::vector<int64_t> a_free = Offsets(a.shape, sa, fa), a_k = Offsets(a.shape, sa, ca);
  const std::vector<int64_t> b_k = Offsets(b.shape, sb, cb), b_free = Offsets(b.shape, sb, fb);
  const int64_t m = static_cast<int64_t>(a_free.size()), kk = static_cast<int64_t>(a_k.size()),
                n = static_cast<int64_t>(b_free.size());
  const bool integral = IsInteger(a.dtype) && IsInteger(b.dtype);
  ChunkBuffer out = ChunkBuffer::Zeros(integral ? DType::kInt64 : DType::kFloat64, out_shape);
  if (m == 0 || n == 0) return out;
  if (integral) {
    // Exact wrapping int64 arithmetic, as NumPy's integer matmul.
    std::vector<int64_t> bm(static_cast<size_t>(kk * n));
    for (int64_t k = 0; k < kk; ++k)
      for (int64_t j = 0; j < n; ++j) bm[k * n + j] = GetInt(b, b_k[k] + b_free[j]);
    int64_t* c = out.mutable_data<int64_t>();
    for (int64_t i = 0; i < m; ++i) {
      uint64_t* row = reinterpret_cast<uint64_t*>(c + i * n);
      for (int64_t k = 0; k < kk; ++k) {
        const uint64_t av = static_cast<uint64_t>(GetInt(a, a_free[i] + a_k[k]));
        const int64_t* brow = bm.data() + k * n;
        for (int64_t j = 0; j < n; ++j) row[j] += av * static_cast<uint64_t>(brow[j]);
      }
    }
    return out;
  }
  // Double precision: A packed as M x K and B as K x N, then a blocked product.
  std::vector<double> bm(static_cast<size_t>(kk * n)), am(static_cast<size_t>(m * kk));
  for (int64_t k = 0; k < kk; ++k)
    for (int64_t j = 0; j < n; ++j) bm[k * n + j] = b.GetAsDouble(b_k[k] + b_free[j]);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t k = 0; k < kk; ++k) am[i * kk + k] = a.GetAsDouble(a_free[i] + a_k[k]);
  Gemm(am.data(), bm.data(), out.mutable_data<double>(), m, kk, n);
  return out;
}

absl::StatusOr<ChunkBuffer> RunLiteral(const TaskSpec& task) {
  if (task.lo.size() != task.hi.size() || task.lo.size() > 8) {
    return Invalid(task, "bad literal region");
  }
  ChunkBuffer out;
  out.dtype = task.finalize.out_dtype;
  for (size_t a = 0; a < task.lo.size(); ++a) {
    if (task.hi[a] < task.lo[a]) return Invalid(task, "bad literal region");
    out.shape.push_back(task.hi[a] - task.lo[a]);
  }
  out.bytes.assign(task.literal.begin(), task.literal.end());
  if (!WellFormed(out)) {
    return Invalid(task, "literal of ", task.literal.size(), " bytes does not hold shape ",
                   VecToString(out.shape));
  }
  return out;
}

ChunkBuffer ArgReducer::Finish(Shape shape) const {
  shape.push_back(2);
  ChunkBuffer out = ChunkBuffer::Zeros(DType::kFloat64, std::move(shape));
  double* d = out.mutable_data<double>();
  for (size_t i = 0; i < val_.size(); ++i) {
    d[2 * i] = val_[i];
    d[2 * i + 1] = static_cast<double>(idx_[i]);
  }
  return out;
}

absl::StatusOr<ChunkBuffer> RunArgCombine(const TaskSpec& task,
                                          const std::vector<ChunkPtr>& deps) {
  if (deps.empty()) return Invalid(task, "combine task without partials");
  for (const ChunkPtr& c : deps) {
    if (c == nullptr || !WellFormed(*c) || c->dtype != DType::kFloat64 || c->shape.empty() ||
        c->shape.back() != 2 || c->shape != deps[0]->shape) {
      return Invalid(task, "malformed argmin / argmax partial");
    }
  }
  const bool is_max = task.combine_op == ReduceOp::kArgmax;
  const int64_t count = deps[0]->num_elements() / 2;
  ChunkBuffer out = ChunkBuffer::Zeros(DType::kFloat64, deps[0]->shape);
  double* o = out.mutable_data<double>();
  for (int64_t i = 0; i < count; ++i) {
    double v = 0;
    int64_t idx = -1;
    for (const ChunkPtr& c : deps) {
      const double cv = c->data<double>()[2 * i];
      const int64_t ci = static_cast<int64_t>(c->data<double>()[2 * i + 1]);
      if (ci >= 0 && ArgReducer::Better(is_max, cv, ci, v, idx)) {
        v = cv;
        idx = ci;
      }
    }
    o[2 * i] = v;
    o[2 * i + 1] = static_cast<double>(idx);
  }
  return out;
}

absl::StatusOr<ChunkBuffer> ArgPartialToIndex(const TaskSpec& task, const ChunkBuffer& in) {
  if (!WellFormed(in) || in.dtype != DType::kFloat64 || in.shape.empty() ||
      in.shape.back() != 2) {
    return Invalid(task, "malformed argmin / argmax partial of shape ", VecToString(in.shape));
  }
  Shape shape(in.shape.begin(), in.shape.end() - 1);
  ChunkBuffer out = ChunkBuffer::Zeros(DType::kInt64, shape);
  const int64_t count = out.num_elements();
  for (int64_t i = 0; i < count; ++i) {
    out.mutable_data<int64_t>()[i] = static_cast<int64_t>(in.data<double>()[2 * i + 1]);
  }
  return out;
}

}  // namespace tessera::cpu::detail
