// int8rt bundle <model> [-c calib] [-p precision] -o out.i8rt: the model decoded (and calibrated) once, in int8rt's
// bundle format (lib/bundle.ts), for Engine.create and for tools/int8rt_run on machines without Node.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { saveBundle } from '../../bundle';
import type { Precision } from '../../engine';
import { checkFile, checkPrecisionArgs, loadCalibration, Output, parsePrecision } from '../common';
import { CliError } from '../errors';

interface BundleArgs {
  calib?: string;
  precision?: Precision;
  out: string;
  nodePrecision: Record<string, 'fp32' | 'int8'>;
  json?: boolean;
}

function collectNodePrecision(value: string, previous: Record<string, 'fp32' | 'int8'>): Record<string, 'fp32' | 'int8'> {
  const eq = value.lastIndexOf('=');
  const node = value.slice(0, eq);
  const p = value.slice(eq + 1);
  if (eq <= 0 || (p !== 'fp32' && p !== 'int8')) throw new InvalidArgumentError('must be <node>=fp32 or <node>=int8');
  return { ...previous, [node]: p };
}

export function bundleCommand(): Command {
  return new Command('bundle')
    .description('save the model, decoded and with its build options, as an int8rt bundle (.i8rt)')
    .argument('<model>', 'ONNX model file')
    .option('-c, --calib <file>', 'calibration (TensorRT cache or int8rt JSON); implies -p int8 unless -p is given')
    .option('-p, --precision <precision>', 'fp32 (default), fp16, int8 or int8-dynamic', parsePrecision)
    .option('--node-precision <node=precision>', 'per-node override, fp32 or int8 (repeatable)', collectNodePrecision, {})
    .requiredOption('-o, --out <file>', 'bundle to write (.i8rt)')
    .option('--json', 'print the result as JSON')
    .action(async (model: string, o: BundleArgs) => {
      const out = new Output(o.json);
      checkFile(model, 'model file');
      const precision: Precision = o.precision ?? (o.calib !== undefined ? 'int8' : 'fp32');
      checkPrecisionArgs([precision], o.calib, 'bundle');
      if (!fs.existsSync(path.dirname(path.resolve(o.out))))
        throw new CliError(`cannot write '${o.out}': folder '${path.dirname(o.out)}' does not exist`);
      const calibration = precision === 'int8' && o.calib ? await loadCalibration(o.calib, model) : undefined;
      if (o.calib !== undefined && precision !== 'int8')
        out.note(`--calib is not used with precision ${precision}`);
      const nodePrecision = Object.keys(o.nodePrecision).length ? o.nodePrecision : undefined;
      const bytes = await saveBundle(model, { precision, calibration, nodePrecision });
      fs.writeFileSync(o.out, bytes);
      out.result(`wrote ${o.out} (${bytes.length} bytes, precision ${precision})`, {
        model,
        out: o.out,
        precision,
        bytes: bytes.length,
      });
    });
}
