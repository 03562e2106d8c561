// Errors raised while reading or writing ONNX files: Int8rtError with the same stable codes as the native side
// (native/core/status.h), so callers handle a bad model the same way whichever layer noticed it.

import { Int8rtError, type ErrorCode } from '../errors';

export function onnxError(code: ErrorCode, message: string, cause?: unknown): Int8rtError {
  const err = new Int8rtError(code, message);
  if (cause !== undefined) Object.defineProperty(err, 'cause', { value: cause, configurable: true, writable: true });
  return err;
}

/** A model (or tensor file) that is malformed or inconsistent. */
export function modelError(message: string, cause?: unknown): Int8rtError {
  return onnxError('ERR_INT8RT_MODEL', message, cause);
}

/** A caller passed something that is not what the API takes. */
export function argumentError(message: string): Int8rtError {
  return onnxError('ERR_INT8RT_INVALID_ARGUMENT', message);
}
