#include "quant/qnode.h"

namespace int8rt {

static Status scale_at(const NodeDef& node, const char* attr, size_t i, float* scale) {
  std::vector<float> s = node.attr_floats(attr);
  if (i >= s.size() || !(s[i] > 0.f) || !std::isfinite(s[i]))
    return Status(ErrorCode::kInternal, node.describe() + ": int8 node has no valid " + attr + "[" +
                                            std::to_string(i) + "]");
  *scale = s[i];
  return Status::OK();
}

Status node_in_scale(const NodeDef& node, size_t input, float* scale) {
  return scale_at(node, "__in_scales", input, scale);
}

Status node_out_scale(const NodeDef& node, size_t output, float* scale) {
  return scale_at(node, "__out_scales", output, scale);
}

void quantize_weights_per_channel(const float* W, int64_t C, int64_t per, std::vector<int8_t>* q,
                                  std::vector<float>* scales) {
  q->resize(size_t(C * per));
  scales->resize(size_t(C));
  for (int64_t c = 0; c < C; c++) {
    float amax = 0.f;
    for (int64_t j = 0; j < per; j++) amax = std::max(amax, std::fabs(W[c * per + j]));
    float s = amax > 0.f ? amax / 127.f : 1.f;
    (*scales)[c] = s;
    for (int64_t j = 0; j < per; j++) {
      float v = std::min(std::max(W[c * per + j] / s, -127.f), 127.f);
      (*q)[c * per + j] = int8_t(std::nearbyint(v));
    }
  }
}

}  // namespace int8rt
