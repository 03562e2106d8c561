#include "core/status.h"

namespace int8rt {

const char* error_code_string(ErrorCode c) {
  switch (c) {
#define INT8RT_X(e, s) \
  case ErrorCode::e:   \
    return s;
    INT8RT_ERROR_CODES(INT8RT_X)
#undef INT8RT_X
  }
  return "ERR_INT8RT_INTERNAL";
}

}  // namespace int8rt
