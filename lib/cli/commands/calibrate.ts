// int8rt calibrate <model> --data <dir> --out <file>: ranges from a folder of samples, with a progress bar.
//
// The folder holds one sample per file for a one-input model (.npy, .pb, or images), or one sample per subfolder
// with a file per input (named after the input, or an ONNX test-data set's input_<k>.pb).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { calibrate, CALIBRATION_METHODS, type CalibrationMethod, type Feeds } from '../../calibrate';
import { Engine, type ValueInfo } from '../../engine';
import type { Tensor } from '../../tensor';
import { checkFile, intOption, numberOption, Output } from '../common';
import { CliError, UsageError } from '../errors';
import { IMAGE_EXTENSIONS, imageSpec, loadImage, type ImageOptions, type ImageSpec } from '../images';
import { adaptToInput, inputNames, readTensorFile, TENSOR_EXTENSIONS } from '../tensors';

interface CalibrateOptions extends ImageOptions {
  data: string;
  out: string;
  method: CalibrationMethod;
  percentile?: number;
  format?: string;
  maxSamples?: number;
  threads?: number;
  json?: boolean;
}

type Sample = { kind: 'file'; file: string } | { kind: 'folder'; dir: string; files: string[] };

const byName = new Intl.Collator('en', { numeric: true }).compare;

function usable(file: string): boolean {
  const ext = path.extname(file).toLowerCase();
  return TENSOR_EXTENSIONS.includes(ext) || IMAGE_EXTENSIONS.includes(ext);
}

function listSamples(dir: string, inputs: readonly ValueInfo[], max: number | undefined): { samples: Sample[]; ignored: number } {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`data folder '${dir}' does not exist`);
    if (code === 'ENOTDIR') throw new CliError(`--data '${dir}' is a file; it must be a folder of samples`);
    throw new CliError(`cannot read data folder '${dir}': ${(e as Error).message}`);
  }
  entries.sort((a, b) => byName(a.name, b.name));
  const samples: Sample[] = [];
  let ignored = 0;
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      const files = fs.readdirSync(full).filter(usable).sort(byName).map((f) => path.join(full, f));
      if (files.length) samples.push({ kind: 'folder', dir: full, files });
      else ignored++;
    } else if (usable(e.name)) samples.push({ kind: 'file', file: full });
    else if (!e.name.startsWith('.')) ignored++;
  }
  if (samples.length === 0)
    throw new CliError(
      `data folder '${dir}' holds no samples: expected ${[...TENSOR_EXTENSIONS, ...IMAGE_EXTENSIONS].join(', ')} files, ` +
        'or one subfolder per sample',
    );
  if (inputs.length > 1 && samples.some((s) => s.kind === 'file'))
    throw new CliError(
      `the model has ${inputs.length} inputs (${inputNames(inputs)}): put each sample in a subfolder of '${dir}' ` +
        'with one file per input, named after it (x.npy) or input_<k>.pb',
    );
  return { samples: max ? samples.slice(0, max) : samples, ignored };
}

async function readOne(file: string, input: ValueInfo, spec: () => ImageSpec): Promise<{ tensor: Tensor; name?: string }> {
  if (IMAGE_EXTENSIONS.includes(path.extname(file).toLowerCase())) return { tensor: await loadImage(file, spec()) };
  return readTensorFile(file);
}

/** Which input a file of a sample folder is: by its file name, its TensorProto name, or input_<k>.pb's k. */
function inputOf(file: string, name: string | undefined, inputs: readonly ValueInfo[]): ValueInfo {
  const base = path.basename(file, path.extname(file));
  const found =
    inputs.find((i) => i.name === base) ??
    inputs.find((i) => name !== undefined && i.name === name) ??
    (/^input_(\d+)$/.test(base) ? inputs[Number(base.slice(6))] : undefined);
  if (!found) throw new CliError(`'${file}' names no model input; the inputs are ${inputNames(inputs)}`);
  return found;
}

async function* feedsOf(
  samples: Sample[],
  inputs: readonly ValueInfo[],
  image: ImageOptions,
  note: (s: string) => void,
): AsyncGenerator<Feeds> {
  const specs = new Map<string, ImageSpec>();
  const specFor = (input: ValueInfo) => () => {
    let s = specs.get(input.name);
    if (!s) specs.set(input.name, (s = imageSpec(input, image)));
    return s;
  };
  let noted = false;
  const adapt = (t: Tensor, info: ValueInfo) =>
    adaptToInput(t, info, (s) => {
      if (!noted) note(`${s} (and in every sample like it)`);
      noted = true;
    });
  for (const s of samples) {
    const feeds: Feeds = {};
    if (s.kind === 'file') {
      const { tensor } = await readOne(s.file, inputs[0], specFor(inputs[0]));
      feeds[inputs[0].name] = adapt(tensor, inputs[0]);
    } else {
      for (const file of s.files) {
        // The input is known from the file name first; a .pb's own name is read with it.
        const base = path.basename(file, path.extname(file));
        const guess = inputs.find((i) => i.name === base) ?? inputs[0];
        const { tensor, name } = await readOne(file, guess, specFor(guess));
        const info = inputOf(file, name, inputs);
        if (feeds[info.name]) throw new CliError(`sample folder '${s.dir}' has two files for input '${info.name}'`);
        feeds[info.name] = adapt(tensor, info);
      }
      const missing = inputs.filter((i) => !feeds[i.name]);
      if (missing.length) throw new CliError(`sample folder '${s.dir}' has no file for input(s) ${inputNames(missing)}`);
    }
    yield feeds;
  }
}

export function calibrateCommand(): Command {
  return new Command('calibrate')
    .description('compute int8 ranges from a folder of samples and write a calibration file')
    .argument('<model>', 'ONNX model file')
    .requiredOption('-d, --data <dir>', 'folder of samples: .npy/.pb tensors or PNG/JPEG images, or one subfolder per sample')
    .requiredOption('-o, --out <file>', 'calibration file to write: a TensorRT cache, or int8rt JSON when it ends in .json')
    .option('-m, --method <method>', `${CALIBRATION_METHODS.join(', ')}`, (v: string) => {
      if (!(CALIBRATION_METHODS as readonly string[]).includes(v))
        throw new InvalidArgumentError(`must be one of ${CALIBRATION_METHODS.join(', ')}`);
      return v;
    }, 'entropy')
    .option('--percentile <p>', 'for --method percentile (default 99.99)', numberOption(0, 100))
    .option('--format <format>', 'trt (TensorRT cache) or json; default: from the --out extension')
    .option('--max-samples <n>', 'use at most the first n samples', intOption(1))
    .option('--size <WIDTHxHEIGHT>', 'images: resize to this size (default: the input\'s fixed dims)')
    .option('--mean <values>', 'images: mean per channel on the [0, 1] scale, one value or r,g,b (default 0)')
    .option('--std <values>', 'images: std per channel on the [0, 1] scale, one value or r,g,b (default 1)')
    .option('--layout <layout>', 'images: NCHW or NHWC (default: from the input\'s dims)')
    .option('--bgr', 'images: channel order BGR instead of RGB')
    .option('-t, --threads <n>', 'intra-op threads (default: one per CPU)', intOption(1, 1024))
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nImages are scaled to [0, 1] and normalised as (x - mean) / std; mean/std values above 1 are read on the\n' +
        '0..255 scale. Example (PP-OCR): int8rt calibrate det.onnx --data pages/ --size 640x640 --mean 0.5 --std 0.5 --bgr --out det.calib',
    )
    .action(async (model: string, o: CalibrateOptions) => {
      const out = new Output(o.json);
      checkFile(model, 'model file');
      const format = o.format ?? (o.out.toLowerCase().endsWith('.json') ? 'json' : 'trt');
      if (format !== 'json' && format !== 'trt') throw new UsageError(`--format must be trt or json, got '${o.format}'`);
      if (o.percentile !== undefined && o.method !== 'percentile')
        throw new UsageError('--percentile applies to --method percentile only');
      if (!fs.existsSync(path.dirname(path.resolve(o.out))))
        throw new CliError(`cannot write '${o.out}': folder '${path.dirname(o.out)}' does not exist`);
      // The float engine tells the inputs (names, dims for images) before any sample is read.
      const probe = await Engine.create(model, { intraOpThreads: 1 });
      const inputs = probe.inputs;
      probe.release();
      const { samples, ignored } = listSamples(o.data, inputs, o.maxSamples);
      if (ignored) out.note(`ignored ${ignored} entr${ignored === 1 ? 'y' : 'ies'} of '${o.data}' that are not samples`);

      const bar =
        process.stderr.isTTY && !out.json
          ? new SingleBar(
              { format: 'calibrating [{bar}] {value}/{total} samples, {duration_formatted}', hideCursor: true, stream: process.stderr },
              Presets.shades_classic,
            )
          : undefined;
      bar?.start(samples.length, 0);
      const started = performance.now();
      let calibration;
      try {
        calibration = await calibrate(model, feedsOf(samples, inputs, o, (s) => out.note(s)), {
          method: o.method,
          percentile: o.percentile,
          intraOpThreads: o.threads,
          onProgress: (done) => bar?.update(done),
        });
      } finally {
        bar?.stop();
      }
      const seconds = (performance.now() - started) / 1e3;
      fs.writeFileSync(o.out, format === 'json' ? JSON.stringify(calibration.toJSON(), null, 2) + '\n' : calibration.toTensorRTCache());
      out.result(
        `calibrated ${calibration.ranges.size} tensors of ${path.basename(model)} on ${samples.length} sample(s) ` +
          `with ${o.method} in ${seconds.toFixed(2)} s; wrote ${o.out} (${format === 'json' ? 'int8rt JSON' : 'TensorRT cache'})`,
        {
          model,
          out: o.out,
          format,
          method: o.method,
          ...(calibration.percentile !== undefined ? { percentile: calibration.percentile } : {}),
          samples: samples.length,
          tensors: calibration.ranges.size,
          seconds,
          modelSha256: calibration.modelSha256,
        },
      );
    });
}
