export {
  Engine,
  type EngineOptions,
  type EngineMemory,
  type ValueInfo,
  type ReportRow,
  type Precision,
  type Device,
  type CalibrationRanges,
} from './engine';
export { Tensor, DATA_TYPES, type DataType, type DataTypeMap, type TypedArray } from './tensor';
export { Int8rtError, ERROR_CODES, type ErrorCode } from './errors';
export { buildInfo, cudaInfo, type BuildInfo, type CudaInfo } from './native';
export {
  calibrate,
  Calibration,
  CALIBRATION_METHODS,
  type CalibrateOptions,
  type CalibrationJSON,
  type CalibrationMethod,
  type Feeds,
} from './calibrate';
export {
  Profile,
  type ProfileOptions,
  type ProfileRow,
  type ProfileTotals,
  type ProfileMeta,
  type ProfileTimeline,
  type FoldedNode,
  type TimeStats,
} from './profile';
export {
  compareProfiles,
  profileCompare,
  ProfileComparison,
  type ComparisonRow,
  type ComparisonSide,
  type ComparisonTotals,
  type ProfileCompareOptions,
} from './profile/compare';
export { chromeTrace, type ChromeTrace, type TraceEvent } from './profile/trace';
export { htmlReport, type HtmlReportOptions } from './profile/html';
export { exportQDQ, type ExportQDQOptions, type ExportQDQModelOptions } from './qdq/export';
export { saveBundle, bundleInfo, isBundle, BUNDLE_MAGIC, type SaveBundleOptions, type BundleInfo } from './bundle';
