// Runs one kernel at build time on tensors the caller holds (constant folding, int8 lookup tables): a node's
// outputs are allocated as owning tensors, scratch is heap memory freed with the context. Not for run time (the
// engine's RunContext plans memory in the run's arena).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/op_kernel.h"
#include "core/tensor.h"

namespace int8rt {

class FoldContext final : public OpContext {
 public:
  FoldContext(const NodeDef& node, std::vector<const Tensor*> inputs, ThreadPool* pool)
      : node_(node), inputs_(std::move(inputs)), outputs_(node.outputs.size()), pool_(pool) {}
  const NodeDef& node() const override { return node_; }
  size_t num_inputs() const override { return inputs_.size(); }
  const Tensor* input(size_t i) const override { return i < inputs_.size() ? inputs_[i] : nullptr; }
  size_t num_outputs() const override { return outputs_.size(); }
  bool output_used(size_t i) const override { return i < node_.outputs.size() && !node_.outputs[i].empty(); }
  Status allocate_output(size_t i, DType dtype, const Dims& dims, Tensor** out) override {
    if (i >= outputs_.size()) return Status(ErrorCode::kInternal, node_.describe() + ": no output " + std::to_string(i));
    INT8RT_RETURN_IF_ERROR(Tensor::create(dtype, dims, &outputs_[i]));
    *out = &outputs_[i];
    return Status::OK();
  }
  void set_output(size_t i, const Tensor& t) override {
    if (i < outputs_.size()) outputs_[i] = t;
  }
  Status scratch(size_t bytes, void** out) override {
    auto b = Buffer::allocate(bytes);
    if (!b) return Status(ErrorCode::kOutOfMemory, node_.describe() + ": cannot allocate scratch memory");
    *out = b->data();
    scratch_.push_back(std::move(b));
    return Status::OK();
  }
  ThreadPool* pool() const override { return pool_; }
  std::vector<Tensor>& outputs() { return outputs_; }
  const Tensor& output(size_t i) const { return outputs_[i]; }

 private:
  const NodeDef& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
  std::vector<std::shared_ptr<Buffer>> scratch_;
  ThreadPool* pool_;
};

}  // namespace int8rt
