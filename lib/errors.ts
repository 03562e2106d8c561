/**
 * Errors int8rt throws carry a stable `code`. The list mirrors native/core/status.h (a test checks they agree).
 */
export const ERROR_CODES = [
  'ERR_INT8RT_INVALID_ARGUMENT',
  'ERR_INT8RT_INPUT_NAME',
  'ERR_INT8RT_MISSING_INPUT',
  'ERR_INT8RT_DTYPE',
  'ERR_INT8RT_SHAPE',
  'ERR_INT8RT_MODEL',
  'ERR_INT8RT_GRAPH_CYCLE',
  'ERR_INT8RT_UNSUPPORTED_OP',
  'ERR_INT8RT_UNSUPPORTED',
  'ERR_INT8RT_OPSET',
  'ERR_INT8RT_TOO_LARGE',
  'ERR_INT8RT_OUT_OF_MEMORY',
  'ERR_INT8RT_RELEASED',
  'ERR_INT8RT_CALIBRATION',
  'ERR_INT8RT_CUDA_UNAVAILABLE',
  'ERR_INT8RT_CUDA',
  'ERR_INT8RT_INTERNAL',
  'ERR_INT8RT_NATIVE_LOAD',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class Int8rtError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'Int8rtError';
    this.code = code;
  }
}

/** Re-throws errors that come from the native addon as Int8rtError, keeping their code and message. */
export function asInt8rtError(e: unknown): unknown {
  if (e instanceof Int8rtError) return e;
  if (e instanceof Error && typeof (e as { code?: unknown }).code === 'string') {
    const code = (e as unknown as { code: string }).code;
    if ((ERROR_CODES as readonly string[]).includes(code)) return new Int8rtError(code as ErrorCode, e.message);
  }
  return e;
}
