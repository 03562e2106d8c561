// Status and error codes of the native core. The core never throws across layers: functions return a
// Status, and native/addon turns a non-ok Status into a JS Error whose `code` is the stable string below.
#pragma once
#include <string>
#include <utility>

namespace int8rt {

// X(enum name, stable JS code). The TypeScript list in lib/errors.ts is checked against this table by a test.
#define INT8RT_ERROR_CODES(X)                                   \
  X(kOk, "OK")                                                  \
  X(kInvalidArgument, "ERR_INT8RT_INVALID_ARGUMENT")            \
  X(kInputName, "ERR_INT8RT_INPUT_NAME")                        \
  X(kMissingInput, "ERR_INT8RT_MISSING_INPUT")                  \
  X(kDtype, "ERR_INT8RT_DTYPE")                                 \
  X(kShape, "ERR_INT8RT_SHAPE")                                 \
  X(kModel, "ERR_INT8RT_MODEL")                                 \
  X(kCycle, "ERR_INT8RT_GRAPH_CYCLE")                           \
  X(kUnsupportedOp, "ERR_INT8RT_UNSUPPORTED_OP")                \
  X(kUnsupported, "ERR_INT8RT_UNSUPPORTED")                     \
  X(kOpset, "ERR_INT8RT_OPSET")                                 \
  X(kTooLarge, "ERR_INT8RT_TOO_LARGE")                          \
  X(kOutOfMemory, "ERR_INT8RT_OUT_OF_MEMORY")                   \
  X(kReleased, "ERR_INT8RT_RELEASED")                           \
  X(kCalibration, "ERR_INT8RT_CALIBRATION")                     \
  X(kCudaUnavailable, "ERR_INT8RT_CUDA_UNAVAILABLE")             \
  X(kCuda, "ERR_INT8RT_CUDA")                                   \
  X(kInternal, "ERR_INT8RT_INTERNAL")

enum class ErrorCode : int {
#define INT8RT_X(e, s) e,
  INT8RT_ERROR_CODES(INT8RT_X)
#undef INT8RT_X
};

const char* error_code_string(ErrorCode c);

class Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status OK() { return Status(); }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

#define INT8RT_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::int8rt::Status _st = (expr);            \
    if (!_st.ok()) return _st;                \
  } while (0)

}  // namespace int8rt
