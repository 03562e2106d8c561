export { Engine, type EngineOptions, type ValueInfo, type ReportRow, type Precision, type CalibrationRanges } from './engine';
export { Tensor, DATA_TYPES, type DataType, type DataTypeMap, type TypedArray } from './tensor';
export { Int8rtError, ERROR_CODES, type ErrorCode } from './errors';
export { buildInfo, type BuildInfo } from './native';
export {
  calibrate,
  Calibration,
  CALIBRATION_METHODS,
  type CalibrateOptions,
  type CalibrationJSON,
  type CalibrationMethod,
  type Feeds,
} from './calibrate';
