// int8rt profile <model>: the per-operator table (slowest first, with totals) of one precision, or of two side by
// side; optionally a self-contained HTML report and a Chrome trace.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import type { Calibration } from '../../calibrate';
import type { Device, Precision } from '../../engine';
import type { Profile } from '../../profile';
import { compareProfiles } from '../../profile/compare';
import {
  checkFile,
  checkPrecisionArgs,
  collect,
  createEngine,
  DEVICE_OPTION,
  parseDevice,
  intOption,
  loadCalibration,
  Output,
  parsePrecisionList,
} from '../common';
import { CliError } from '../errors';
import { buildFeeds, type FeedSource } from '../tensors';

interface ProfileCliOptions {
  calib?: string;
  precision?: Precision[];
  threads?: number;
  device?: Device;
  iterations: number;
  warmup: number;
  input: string[];
  shape: string[];
  seed: number;
  html?: string;
  trace?: string;
  top: number;
  json?: boolean;
}

function checkWritable(file: string | undefined, option: string): void {
  if (file === undefined) return;
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new CliError(`${option} ${file}: folder '${path.dirname(file)}' does not exist`);
}

export function profileCommand(): Command {
  return new Command('profile')
    .description('time every operator and print the table, slowest first, with totals')
    .argument('<model>', 'ONNX model file')
    .option('-c, --calib <file>', 'calibration for int8 (int8rt calibrate); with it the default is --precision fp32,int8')
    .option('-p, --precision <list>', 'one precision, or two to compare: fp32, fp16, int8, int8-dynamic (default fp32)', parsePrecisionList)
    .option('-t, --threads <n>', 'intra-op threads (default: one per CPU)', intOption(1, 1024))
    .option('-n, --iterations <n>', 'timed runs', intOption(1, 1_000_000), 50)
    .option('--warmup <n>', 'untimed runs first', intOption(0, 1_000_000), 5)
    .option('-i, --input <name=file>', 'input tensor from a .npy or .pb file (repeatable)', collect, [])
    .option('--shape <name=dims>', 'dims for generated data of an input with symbolic dims, e.g. x=1x3x640x640 (repeatable)', collect, [])
    .option('--seed <n>', 'seed of the generated inputs', intOption(0), 0)
    .option(...DEVICE_OPTION, parseDevice)
    .option('--html <file>', 'write a self-contained HTML report (chart, tables, precision report)')
    .option('--trace <file>', 'write a Chrome trace (open in https://ui.perfetto.dev or chrome://tracing)')
    .option('--top <n>', 'print only the n slowest rows (0: all)', intOption(0), 0)
    .option('--json', 'print the profile (or comparison) as JSON')
    .addHelpText(
      'after',
      '\nRows are keyed by ONNX node name; a fused group (Conv+Add+Relu) is one row listing its nodes, and int8\n' +
        'quantize/dequantize boundaries are rows of their own. Example:\n' +
        '  int8rt profile model.onnx --calib model.calib --html report.html --trace trace.json',
    )
    .action(async (model: string, o: ProfileCliOptions) => {
      const out = new Output(o.json);
      const precisions = o.precision ?? (o.calib ? (['fp32', 'int8'] as Precision[]) : (['fp32'] as Precision[]));
      checkPrecisionArgs(precisions, o.calib, 'profile');
      checkFile(model, 'model file');
      checkWritable(o.html, '--html');
      checkWritable(o.trace, '--trace');
      let calibration: Calibration | undefined;
      if (precisions.includes('int8') && o.calib) calibration = await loadCalibration(o.calib, model);
      const profiles: Profile[] = [];
      let sources: FeedSource[] = [];
      for (const precision of precisions) {
        const engine = await createEngine(model, { precision, threads: o.threads, device: o.device }, calibration);
        try {
          const built = buildFeeds(engine.inputs, o.input, o.shape, o.seed, (s) => {
            if (profiles.length === 0) out.note(s);
          });
          sources = built.sources;
          out.status(`profiling ${precision}: ${o.warmup} warm-up and ${o.iterations} timed run(s)...`);
          profiles.push(await engine.profile(built.feeds, { iterations: o.iterations, warmup: o.warmup }));
        } finally {
          engine.release();
        }
      }
      const result = profiles.length === 2 ? compareProfiles(profiles[0], profiles[1]) : profiles[0];
      const written: string[] = [];
      if (o.html) {
        fs.writeFileSync(o.html, result.toHTML());
        written.push(`HTML report: ${o.html}`);
      }
      if (o.trace) {
        fs.writeFileSync(o.trace, JSON.stringify(result.toChromeTrace()));
        written.push(`Chrome trace: ${o.trace}`);
      }
      const generated = sources.filter((s) => !s.source.startsWith('random') && s.source !== 'zeros').length < sources.length;
      out.result(
        () =>
          result.format({ top: o.top }) +
          (generated ? `\ninputs: ${sources.map((s) => `${s.name} from ${s.source}`).join('; ')}` : '') +
          (written.length ? `\n${written.join('\n')}` : ''),
        { ...result.toJSON(), inputs: sources, ...(o.html ? { html: o.html } : {}), ...(o.trace ? { trace: o.trace } : {}) },
      );
    });
}
