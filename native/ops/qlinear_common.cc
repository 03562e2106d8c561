#include "ops/qlinear_common.h"

#include "ops/registry.h"

namespace int8rt {
namespace qlinear {

void to_signed(const void* src, DType t, int8_t* dst, int64_t n) {
  if (t == DType::kUint8) {
    const uint8_t* s = static_cast<const uint8_t*>(src);
    for (int64_t i = 0; i < n; i++) dst[i] = u8_to_s8(s[i]);
  } else if (dst != src) {
    std::memcpy(dst, src, size_t(n));
  }
}

void flip_sign_bits(int8_t* p, int64_t n) {
  uint8_t* b = reinterpret_cast<uint8_t*>(p);
  for (int64_t i = 0; i < n; i++) b[i] ^= 0x80u;
}

Status read_qparam(const NodeDef& node, const std::string& what, DType data_type, const Tensor* scale,
                   const Tensor* zero_point, int64_t channels, QParam* out) {
  if (!is_q8(data_type))
    return dtype_error(node, what + " has type " + dtype_name(data_type) + "; int8 and uint8 are supported");
  if (!scale) return shape_error(node, "the scale of " + what + " is required");
  const int64_t n = scale->numel();
  const bool tensor_shape = scale->rank() == 0 || (scale->rank() == 1 && n == 1);
  const bool channel_shape = channels > 0 && scale->rank() == 1 && n == channels;
  if (!tensor_shape && !channel_shape)
    return unsupported(node, "the scale of " + what + " has shape " + dims_str(scale->dims()) + "; " +
                                 (channels > 0 ? "one value or " + std::to_string(channels) + " (one per channel)"
                                               : std::string("one value (per tensor)")) +
                                 " is supported");
  out->type = data_type;
  out->scale.resize(size_t(n));
  for (int64_t i = 0; i < n; i++) {
    float s;
    if (scale->dtype() == DType::kFloat32)
      s = scale->data<float>()[i];
    else if (scale->dtype() == DType::kFloat16)
      s = half_to_float(scale->data<uint16_t>()[i]);
    else
      return dtype_error(node, "the scale of " + what + " has type " + dtype_name(scale->dtype()) +
                                   "; float32 and float16 are supported");
    if (!(s > 0.f) || !std::isfinite(s))
      return unsupported(node, "the scale of " + what + " is " + std::to_string(s) + "; it must be positive and finite");
    out->scale[size_t(i)] = s;
  }
  out->zero.assign(size_t(n), data_type == DType::kUint8 ? -128 : 0);
  if (zero_point) {
    if (zero_point->dtype() != data_type)
      return dtype_error(node, "the zero point of " + what + " has type " + dtype_name(zero_point->dtype()) +
                                   ", not " + what + "'s type " + dtype_name(data_type));
    if (zero_point->numel() != n)
      return shape_error(node, "the zero point of " + what + " has shape " + dims_str(zero_point->dims()) +
                                   ", not the scale's " + dims_str(scale->dims()));
    for (int64_t i = 0; i < n; i++) out->zero[size_t(i)] = q8_at(zero_point->raw(), data_type, i);
  }
  return Status::OK();
}

Status activation_bounds(const NodeDef& node, float s_y, int32_t z_y, int32_t* lo, int32_t* hi) {
  const std::string act = node.attr_string("__activation", "");
  float flo = -INFINITY, fhi = INFINITY;
  if (act == "Relu") {
    flo = 0.f;
  } else if (act == "Clip") {
    flo = node.attr_float("__clip_min", -INFINITY);
    fhi = node.attr_float("__clip_max", INFINITY);
    if (std::isnan(flo) || std::isnan(fhi)) return unsupported(node, "the fused Clip has a NaN bound");
  } else if (!act.empty()) {
    return unsupported(node, "a quantized " + node.op_type + " fuses only Relu and Clip, not " + act);
  }
  // Q(clip(v, flo, fhi)) = clamp(Q(v), Q(flo), Q(fhi)): each bound quantized as QuantizeLinear would.
  auto bound = [&](float b, int32_t dflt) {
    if (std::isinf(b)) return dflt;
    float q = b / s_y;
    q = std::min(std::max(q, float(-128 - z_y)), float(127 - z_y));
    return int32_t(std::nearbyint(q)) + z_y;
  };
  *lo = bound(flo, -128);
  *hi = bound(fhi, 127);
  if (*lo > *hi) *lo = *hi;  // an empty Clip range clamps everything to the upper bound, as min(max(v, lo), hi)
  return Status::OK();
}

}  // namespace qlinear

void register_qlinear_ops(KernelRegistry& r) {
  qlinear::register_qlinear_conv_ops(r);
  qlinear::register_qlinear_matmul_ops(r);
  qlinear::register_qlinear_eltwise_ops(r);
  qlinear::register_qlinear_pool_ops(r);
}

}  // namespace int8rt
