// int8rt run <model>: run once (plus timed repeats) and print each output's summary and the latency.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { dump as dumpNpy } from 'npyjs';
import type { Device, Precision } from '../../engine';
import { timeStats } from '../../profile';
import { fmtShape, renderTable } from '../../profile/text';
import type { Tensor } from '../../tensor';
import {
  checkPrecisionArgs,
  collect,
  createEngine,
  DEVICE_OPTION,
  fmtLatency,
  intOption,
  Output,
  parseDevice,
  parsePrecision,
} from '../common';
import { buildFeeds } from '../tensors';

interface RunOptions {
  input: string[];
  shape: string[];
  precision: Precision;
  calib?: string;
  threads?: number;
  device?: Device;
  iterations: number;
  warmup: number;
  seed: number;
  save?: string;
  json?: boolean;
}

interface OutputSummary {
  name: string;
  dtype: string;
  dims: number[];
  min?: number;
  max?: number;
  mean?: number;
  nonFinite?: number;
  first: (number | string)[];
}

function summarize(name: string, t: Tensor): OutputSummary {
  const data = t.data as ArrayLike<number | bigint>;
  const s: OutputSummary = { name, dtype: t.dtype, dims: [...t.dims], first: [] };
  const numeric = t.dtype !== 'float16'; // raw bits: not meaningful as numbers
  for (let i = 0; i < Math.min(8, data.length); i++)
    s.first.push(typeof data[i] === 'bigint' ? String(data[i]) : (data[i] as number));
  if (!numeric || data.length === 0) return s;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let bad = 0;
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    if (!Number.isFinite(v)) {
      bad++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  if (data.length > bad) Object.assign(s, { min, max, mean: sum / (data.length - bad) });
  if (bad) s.nonFinite = bad;
  return s;
}

const g = (x: number | undefined) => (x === undefined ? '-' : Number.isInteger(x) ? String(x) : x.toPrecision(5));

export function runCommand(): Command {
  return new Command('run')
    .description('run a model and print a summary of each output and the latency')
    .argument('<model>', 'ONNX model file')
    .option('-i, --input <name=file>', 'input tensor from a .npy or .pb file (repeatable; the name may be left out for a one-input model)', collect, [])
    .option('--shape <name=dims>', 'dims for generated data of an input with symbolic dims, e.g. x=1x3x640x640 (repeatable)', collect, [])
    .option('-p, --precision <precision>', 'fp32, fp16, int8 (needs --calib) or int8-dynamic', parsePrecision, 'fp32')
    .option('-c, --calib <file>', 'calibration for int8: a TensorRT cache or int8rt JSON (int8rt calibrate)')
    .option('-t, --threads <n>', 'intra-op threads (default: one per CPU)', intOption(1, 1024))
    .option('-n, --iterations <n>', 'timed runs after the first one', intOption(0, 1_000_000), 10)
    .option('--warmup <n>', 'untimed runs between the first run and the timed ones', intOption(0, 1_000_000), 1)
    .option('--seed <n>', 'seed of the generated inputs', intOption(0), 0)
    .option(...DEVICE_OPTION, parseDevice)
    .option('--save <dir>', 'write each output to <dir>/<output>.npy')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nInputs not given with --input get seeded random data: uniform [0, 1) for float inputs, zeros otherwise.\n' +
        'Example: int8rt run model.onnx --input images=batch.npy --precision int8 --calib model.calib',
    )
    .action(async (model: string, o: RunOptions) => {
      const out = new Output(o.json);
      checkPrecisionArgs([o.precision], o.calib, 'run');
      const engine = await createEngine(model, o);
      try {
        const { feeds, sources } = buildFeeds(engine.inputs, o.input, o.shape, o.seed, (s) => out.note(s));
        let t = performance.now();
        const results = await engine.run(feeds);
        const firstMs = performance.now() - t;
        for (let i = 0; i < o.warmup && o.iterations > 0; i++) await engine.run(feeds);
        const times: number[] = [];
        for (let i = 0; i < o.iterations; i++) {
          t = performance.now();
          await engine.run(feeds);
          times.push(performance.now() - t);
        }
        const outputs = Object.entries(results).map(([name, tensor]) => summarize(name, tensor));
        const saved: string[] = [];
        if (o.save) {
          fs.mkdirSync(o.save, { recursive: true });
          for (const [name, tensor] of Object.entries(results)) {
            if (tensor.dtype === 'float16' || tensor.dtype === 'bool') {
              out.note(`output '${name}' (${tensor.dtype}) is not saved: .npy writing covers numeric types only`);
              continue;
            }
            const file = path.join(o.save, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.npy`);
            fs.writeFileSync(file, Buffer.from(dumpNpy(tensor.data as never, [...tensor.dims])));
            saved.push(file);
          }
        }
        const stats = times.length ? timeStats(times) : undefined;
        const threads = engine.intraOpThreads;
        out.result(
          () => {
            const where = engine.device === 'cuda' ? ', CUDA' : o.device && o.device !== 'cpu' ? `, CPU (${engine.deviceReason})` : '';
            const lines = [`${path.basename(model)}: ${o.precision}, ${threads} thread(s)${where}`, ''];
            lines.push(
              renderTable(
                ['input', 'dtype', 'shape', 'data'],
                sources.map((s) => [s.name, s.dtype, fmtShape(s.dims), s.source]),
                [false, false, false, false],
              ),
              '',
              renderTable(
                ['output', 'dtype', 'shape', 'min', 'max', 'mean', 'first values'],
                outputs.map((s) => [
                  s.name,
                  s.dtype,
                  fmtShape(s.dims),
                  g(s.min),
                  g(s.max),
                  g(s.mean),
                  s.first.map((v) => (typeof v === 'number' ? g(v) : v)).join(' ') + (s.nonFinite ? ` (${s.nonFinite} NaN/Inf)` : ''),
                ]),
                [false, false, false, true, true, true, false],
              ),
              '',
              `latency: first run ${fmtLatency(firstMs)} ms` +
                (stats
                  ? `; ${times.length} run(s): mean ${fmtLatency(stats.meanMs)} ms, median ${fmtLatency(stats.medianMs)} ms, ` +
                    `p90 ${fmtLatency(stats.p90Ms)} ms, min ${fmtLatency(stats.minMs)} ms`
                  : ''),
            );
            if (saved.length) lines.push(`saved ${saved.join(', ')}`);
            return lines.join('\n');
          },
          {
            model,
            precision: o.precision,
            intraOpThreads: threads,
            device: engine.device,
            inputs: sources,
            outputs,
            latencyMs: { first: firstMs, ...(stats ? { runs: times.length, ...stats } : {}) },
            ...(saved.length ? { saved } : {}),
          },
        );
      } finally {
        engine.release();
      }
    });
}
