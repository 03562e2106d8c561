// The int8 kernels of quantized graphs (Precision::kInt8). Each is registered under its ONNX op type; the quantization
// planner (quant/quantize_pass.cc) asks for them by precision and calls their factories, which refuse, with a reason
// the precision report shows, whatever they cannot run in int8. Conventions: quant/qnode.h.
#include "ops/int8_common.h"
#include "ops/registry.h"

namespace int8rt {

void register_int8_ops(KernelRegistry& r) {
  int8ops::register_int8_conv_ops(r);
  int8ops::register_int8_gemm_ops(r);
  int8ops::register_int8_eltwise_ops(r);
  int8ops::register_int8_pool_ops(r);
}

}  // namespace int8rt
