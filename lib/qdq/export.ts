// exportQDQ(model, calibration, options): the QDQ model of int8rt's int8 plan for `model`, without keeping an engine.
// It builds the int8 engine the plan comes from, writes the model (lib/qdq/write.ts) and releases the engine.

import { Engine, type CalibrationRanges } from '../engine';
import type { ExportQDQOptions } from './write';

export type { ExportQDQOptions } from './write';

export interface ExportQDQModelOptions extends ExportQDQOptions {
  /** Per ONNX node name: 'fp32' or 'int8', as Engine.create takes it. */
  nodePrecision?: Record<string, 'fp32' | 'int8'>;
}

/** The QDQ ONNX bytes of `model` quantized with `calibration` as int8rt's int8 engine runs it. */
export async function exportQDQ(
  model: string | Uint8Array,
  calibration: CalibrationRanges,
  options: ExportQDQModelOptions = {},
): Promise<Uint8Array> {
  const { nodePrecision, ...writeOptions } = options;
  const engine = await Engine.create(model, { precision: 'int8', calibration, nodePrecision, intraOpThreads: 1 });
  try {
    return await engine.exportQDQ(writeOptions);
  } finally {
    engine.release();
  }
}
