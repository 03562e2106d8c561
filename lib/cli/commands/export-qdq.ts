// int8rt export-qdq <model> --calib <file> --out <file>: the calibrated model as QDQ ONNX (QuantizeLinear/
// DequantizeLinear pairs around the int8 operators), for onnxruntime or TensorRT. It calls the library's exportQDQ
// when this build has it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { Calibration } from '../../calibrate';
import { checkFile, loadCalibration, Output } from '../common';
import { CliError } from '../errors';

interface ExportOptions {
  calib: string;
  out: string;
  activationType: 'int8' | 'uint8';
  json?: boolean;
}

type ExportQDQ = (model: string, calibration: Calibration, options?: Record<string, unknown>) => Promise<unknown>;

/** The library's exportQDQ, looked up at run time (the QDQ writer is a separate part of int8rt). */
function findExportQDQ(): ExportQDQ | undefined {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lib = require('../../index') as Record<string, unknown>;
  return typeof lib.exportQDQ === 'function' ? (lib.exportQDQ as ExportQDQ) : undefined;
}

export function exportQdqCommand(): Command {
  return new Command('export-qdq')
    .description('write the calibrated model as a QDQ ONNX model')
    .argument('<model>', 'ONNX model file')
    .requiredOption('-c, --calib <file>', 'calibration (TensorRT cache or int8rt JSON)')
    .requiredOption('-o, --out <file>', 'QDQ ONNX model to write')
    .option(
      '--activation-type <type>',
      'int8 (zero point 0, as TensorRT needs) or uint8 (zero point 128, for onnxruntime on CPUs without VNNI)',
      (v: string) => {
        if (v !== 'int8' && v !== 'uint8') throw new InvalidArgumentError('must be int8 or uint8');
        return v;
      },
      'int8',
    )
    .option('--json', 'print the result as JSON')
    .action(async (model: string, o: ExportOptions) => {
      const out = new Output(o.json);
      checkFile(model, 'model file');
      const exportQDQ = findExportQDQ();
      if (!exportQDQ)
        throw new CliError(
          'export-qdq needs the QDQ ONNX exporter (exportQDQ), which this build of int8rt does not include yet',
          'ERR_INT8RT_UNSUPPORTED',
        );
      if (!fs.existsSync(path.dirname(path.resolve(o.out))))
        throw new CliError(`cannot write '${o.out}': folder '${path.dirname(o.out)}' does not exist`);
      const calibration = await loadCalibration(o.calib, model);
      const result = await exportQDQ(model, calibration, { activationType: o.activationType });
      const bytes = result instanceof Uint8Array ? result : (result as { bytes?: Uint8Array })?.bytes;
      if (!(bytes instanceof Uint8Array)) throw new CliError('exportQDQ returned no model bytes', 'ERR_INT8RT_INTERNAL');
      fs.writeFileSync(o.out, bytes);
      out.result(`wrote ${o.out} (${bytes.length} bytes)`, { model, out: o.out, bytes: bytes.length });
    });
}
