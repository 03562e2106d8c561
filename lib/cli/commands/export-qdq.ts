// int8rt export-qdq <model> --calib <file> --out <file>: the calibrated model as QDQ ONNX (QuantizeLinear/
// DequantizeLinear pairs around the int8 operators), for onnxruntime or TensorRT (lib/qdq: exportQDQ).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { exportQDQ } from '../../qdq/export';
import { checkFile, loadCalibration, Output } from '../common';
import { CliError } from '../errors';

interface ExportOptions {
  calib: string;
  out: string;
  activationType: 'int8' | 'uint8';
  layout: 'int8rt' | 'exact' | 'onnxruntime';
  json?: boolean;
}

const LAYOUTS = ['int8rt', 'exact', 'onnxruntime'];

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
    .option(
      '--layout <layout>',
      "int8rt (Q/DQ exactly where int8rt quantizes; what TensorRT fuses), exact (Conv + residual Add groups as " +
        "int8rt's arithmetic in standard ops, so onnxruntime computes int8rt's results to the bit) or onnxruntime " +
        '(also quantize Conv outputs before residual Adds, for onnxruntime\'s int8 kernels; needs a calibration made ' +
        'with --tensors all)',
      (v: string) => {
        if (!LAYOUTS.includes(v)) throw new InvalidArgumentError(`must be one of ${LAYOUTS.join(', ')}`);
        return v;
      },
      'int8rt',
    )
    .option('--json', 'print the result as JSON')
    .action(async (model: string, o: ExportOptions) => {
      const out = new Output(o.json);
      checkFile(model, 'model file');
      if (!fs.existsSync(path.dirname(path.resolve(o.out))))
        throw new CliError(`cannot write '${o.out}': folder '${path.dirname(o.out)}' does not exist`);
      const calibration = await loadCalibration(o.calib, model);
      const bytes = await exportQDQ(model, calibration, { activationType: o.activationType, layout: o.layout });
      fs.writeFileSync(o.out, bytes);
      out.result(`wrote ${o.out} (${bytes.length} bytes)`, { model, out: o.out, bytes: bytes.length });
    });
}
