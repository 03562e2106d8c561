// The kernel registry: each operator family registers its kernels here, in preference order; the CUDA operators
// (ops/cuda/) last.
#include "ops/registry.h"

#include "ops/cuda/cuda_ops.h"

namespace int8rt {

const KernelRegistry& kernel_registry() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    register_conv_ops(*r);
    register_gemm_ops(*r);
    register_elementwise_ops(*r);
    register_reduce_ops(*r);
    register_normalization_ops(*r);
    register_pool_ops(*r);
    register_shape_ops(*r);
    register_resize_ops(*r);
    register_quantize_ops(*r);
    register_int8_ops(*r);
    register_qlinear_ops(*r);
    cudaops::register_cuda_ops(*r);
    return r;
  }();
  return *registry;
}

}  // namespace int8rt
