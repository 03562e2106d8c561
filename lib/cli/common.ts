// What the commands share: option parsers, loading a model and its calibration, output to stdout/stderr.

import * as fs from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { bundleBytesOf, bundleInfo } from '../bundle';
import { Calibration } from '../calibrate';
import { Engine, type Device, type Precision } from '../engine';
import { CliError, UsageError } from './errors';

export const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'int8', 'int8-dynamic'];

/** A commander argument parser for an integer in [min, max]. */
export function intOption(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`,
      );
    return n;
  };
}

/** A commander parser for a number in an open-closed interval. */
export function numberOption(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !(n > min && n <= max)) throw new InvalidArgumentError(`must be a number in (${min}, ${max}]`);
    return n;
  };
}

/** For repeatable options: --input a --input b. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function parsePrecision(value: string): Precision {
  if (!(PRECISIONS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be one of ${PRECISIONS.join(', ')}`);
  return value as Precision;
}

const DEVICES: readonly Device[] = ['cpu', 'cuda', 'auto'];

export function parseDevice(value: string): Device {
  if (!(DEVICES as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${DEVICES.join(', ')}`);
  return value as Device;
}

/** The --device option of the commands that build an engine. */
export const DEVICE_OPTION = [
  '--device <device>',
  "cpu (default), cuda (fails without a usable GPU) or auto (CUDA when it loads, else the CPU)",
] as const;

export function parsePrecisionList(value: string): Precision[] {
  const list = value.split(',').map((s) => s.trim());
  for (const p of list) parsePrecision(p);
  if (list.length < 1 || list.length > 2 || new Set(list).size !== list.length)
    throw new InvalidArgumentError('must be one precision or two different ones, e.g. fp32,int8');
  return list as Precision[];
}

export function checkFile(file: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new CliError(`${what} '${file}' does not exist`);
  }
  if (!st.isFile()) throw new CliError(`${what} '${file}' is not a file`);
}

/** A calibration file: int8rt JSON (starts with '{') or a TensorRT calibration cache, checked against the model. */
export async function loadCalibration(file: string, model: string): Promise<Calibration> {
  checkFile(file, 'calibration file');
  const text = fs.readFileSync(file, 'utf8');
  return text.trimStart().startsWith('{') ? Calibration.fromJSON(text, model) : Calibration.fromTensorRTCache(text, model);
}

export interface EngineArgs {
  precision: Precision;
  calib?: string;
  threads?: number;
  device?: Device;
}

/** Checks that int8 has its calibration before anything is loaded. */
export function checkPrecisionArgs(precisions: readonly Precision[], calib: string | undefined, command: string): void {
  if (precisions.includes('int8') && calib === undefined)
    throw new UsageError(
      `${command} with precision int8 needs --calib <file> (make one with: int8rt calibrate <model> --data <dir> --out <file>)`,
    );
}

export async function createEngine(model: string, args: EngineArgs, calibration?: Calibration): Promise<Engine> {
  checkFile(model, 'model file');
  // A bundle (lib/bundle.ts) carries its precision and calibration: -p may only restate it (fp32 is the default).
  const bundle = await bundleBytesOf(model);
  if (bundle) {
    const own = bundleInfo(bundle).precision;
    if (args.calib !== undefined || calibration)
      throw new UsageError(`'${model}' is a bundle, which carries its own calibration: drop --calib`);
    if (args.precision !== 'fp32' && args.precision !== own)
      throw new UsageError(`'${model}' is a ${own} bundle; for ${args.precision}, make another with int8rt bundle -p`);
    return Engine.create(bundle, { intraOpThreads: args.threads, device: args.device });
  }
  if (args.precision === 'int8' && !calibration && args.calib) calibration = await loadCalibration(args.calib, model);
  return Engine.create(model, {
    precision: args.precision,
    calibration: args.precision === 'int8' ? calibration : undefined,
    intraOpThreads: args.threads,
    device: args.device,
  });
}

/** stdout for results, stderr for notes; --json keeps stdout to one JSON document. */
export class Output {
  readonly json: boolean;
  constructor(json: boolean | undefined) {
    this.json = json === true;
  }
  /** A result: printed as text, or as JSON under --json. */
  result(text: string | (() => string), json: unknown): void {
    if (this.json) process.stdout.write(JSON.stringify(json, null, 2) + '\n');
    else process.stdout.write((typeof text === 'function' ? text() : text) + '\n');
  }
  /** A note for people (never on stdout). */
  note(text: string): void {
    process.stderr.write(`int8rt: ${text}\n`);
  }
  /** Progress chatter, only where someone is watching a terminal. */
  status(text: string): void {
    if (process.stderr.isTTY && !this.json) process.stderr.write(`${text}\n`);
  }
}

export function fmtLatency(ms: number): string {
  if (ms >= 100) return ms.toFixed(1);
  if (ms >= 10) return ms.toFixed(2);
  return ms.toFixed(3);
}
