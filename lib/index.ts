export { Engine, type EngineOptions, type ValueInfo, type ReportRow, type Precision, type CalibrationRanges } from './engine';
export { Tensor, DATA_TYPES, type DataType, type DataTypeMap, type TypedArray } from './tensor';
export { Int8rtError, ERROR_CODES, type ErrorCode } from './errors';
export { buildInfo, type BuildInfo } from './native';
