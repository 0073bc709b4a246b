// TESSERA_HD marks a function compiled for both the host and, under nvcc, the device: the one
// definition that the CPU executor and the CUDA kernels share (common/philox.h,
// common/element_ops.h). Under a host compiler it is plain `inline`.
#pragma once

#if defined(__CUDACC__)
#define TESSERA_HD __host__ __device__ __forceinline__
#else
#define TESSERA_HD inline
#endif
