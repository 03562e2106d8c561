#include "ops/cuda/cuda_common.h"
#include "ops/cuda/cuda_ops.h"

namespace int8rt {
namespace cudaops {

void register_cuda_ops(KernelRegistry& r) {
  register_cuda_conv_ops(r);
  register_cuda_linear_ops(r);
  register_cuda_eltwise_ops(r);
  register_cuda_pool_ops(r);
  register_cuda_view_ops(r);
  register_cuda_movement_ops(r);
  register_cuda_eltwise_f32_ops(r);
  register_cuda_reduce_f32_ops(r);
  register_cuda_softmax_f32_ops(r);
  register_cuda_matmul_f32_ops(r);
}

}  // namespace cudaops
}  // namespace int8rt
