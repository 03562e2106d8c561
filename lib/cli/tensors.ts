// Tensor files for the command line: NumPy .npy (npyjs) and ONNX TensorProto .pb (the input_N.pb files of ONNX test
// data sets), --input name=file and --shape name=dims arguments, and the seeded random feeds used when an input is
// not given.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseNpy } from 'npyjs';
import type { ValueInfo } from '../engine';
import { decodeTensorProto, tensorDescToTyped } from '../onnx/tensor-proto';
import { Tensor, type DataType } from '../tensor';
import { CliError, UsageError } from './errors';

export const TENSOR_EXTENSIONS = ['.npy', '.pb'];

/** A tensor read from a file, with the name a .pb file carries (TensorProto.name), if any. */
export interface TensorFile {
  tensor: Tensor;
  name?: string;
  file: string;
}

function readBytes(file: string, what = 'file'): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new CliError(`${what} '${file}' does not exist`);
    if (err.code === 'EISDIR') throw new CliError(`${what} '${file}' is a folder, not a file`);
    throw new CliError(`cannot read ${what} '${file}': ${err.message}`);
  }
}

const NPY_DTYPES: Record<string, DataType> = {
  f4: 'float32',
  f8: 'float64',
  f2: 'float16',
  i1: 'int8',
  u1: 'uint8',
  i2: 'int16',
  u2: 'uint16',
  i4: 'int32',
  u4: 'uint32',
  i8: 'int64',
  u8: 'uint64',
  b1: 'bool',
};

/** Parses a .npy file (format 1.0 to 3.0, C order, little-endian or byte-sized elements). */
export function readNpy(file: string, bytes: Uint8Array = readBytes(file, 'tensor file')): Tensor {
  // An ArrayBuffer of its own: npyjs views it, and Node's pooled Buffers may start at unaligned offsets.
  const buf = new Uint8Array(bytes).buffer;
  const bad = (why: string) => new CliError(`'${file}' is not a tensor int8rt can read as .npy: ${why}`, 'ERR_INT8RT_TENSOR_FILE');
  if (bytes.length < 10 || String.fromCharCode(...bytes.subarray(1, 6)) !== 'NUMPY' || bytes[0] !== 0x93)
    throw bad('it does not start with the .npy magic bytes');
  // npyjs reads every dtype as little-endian: refuse big-endian data rather than read it wrong.
  const major = bytes[6];
  const headerStart = major >= 2 ? 12 : 10;
  const header = Buffer.from(bytes.subarray(headerStart, Math.min(bytes.length, headerStart + 4096))).toString('latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  if (!descr) throw bad('its header has no descr');
  if (descr.startsWith('>')) throw bad(`its data is big-endian (${descr}); save it little-endian (x.astype('<${descr.slice(2)}'))`);
  let npy;
  try {
    npy = parseNpy(buf, { convertFloat16: false });
  } catch (e) {
    throw bad((e as Error).message);
  }
  const dtype = NPY_DTYPES[npy.dtype];
  if (!dtype) throw bad(`element type '${descr}' is not supported`);
  if (npy.fortranOrder) throw bad('it is in Fortran order; save np.ascontiguousarray(x) instead');
  const dims = npy.shape;
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`its shape (${dims.join(', ')}) is not valid`);
  let data = npy.data as unknown;
  if (Array.isArray(data)) data = Uint8Array.from(data as boolean[], (b) => (b ? 1 : 0)); // npyjs gives bools as an Array
  const count = dims.reduce((a, b) => a * b, 1);
  const length = (data as ArrayLike<unknown>).length;
  if (length !== count)
    throw bad(`shape (${dims.join(', ')}) needs ${count} elements, the file holds ${length}`);
  return new Tensor(dtype, data as never, dims);
}

/** Parses a serialized onnx.TensorProto. */
export function readPb(file: string, bytes: Uint8Array = readBytes(file, 'tensor file')): TensorFile {
  try {
    const desc = decodeTensorProto(bytes, { what: `tensor file '${file}'`, baseDir: path.dirname(file) });
    const { dtype, data, dims } = tensorDescToTyped(desc);
    return { tensor: new Tensor(dtype as DataType, data as never, dims), name: desc.name || undefined, file };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new CliError(`'${file}' is not a tensor int8rt can read as .pb: ${message}`, 'ERR_INT8RT_TENSOR_FILE');
  }
}

/** Reads a .npy or .pb file. */
export function readTensorFile(file: string): TensorFile {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.npy') return { tensor: readNpy(file), file };
  if (ext === '.pb') return readPb(file);
  if (!fs.existsSync(file)) throw new CliError(`tensor file '${file}' does not exist`);
  throw new CliError(`'${file}': tensor files must be .npy (NumPy) or .pb (ONNX TensorProto)`, 'ERR_INT8RT_TENSOR_FILE');
}

/**
 * The tensor as the model's input wants it: float64 data for a float32 input is narrowed (NumPy's default dtype),
 * with a note; any other dtype mismatch is left for the engine to refuse with its own message.
 */
export function adaptToInput(t: Tensor, info: ValueInfo, note: (s: string) => void): Tensor {
  if (info.dtype === 'float32' && t.dtype === 'float64') {
    note(`input '${info.name}': float64 data converted to float32`);
    return new Tensor('float32', Float32Array.from(t.data as Float64Array), t.dims);
  }
  return t;
}

/** '1x3x224x224' or '1,3,224,224' -> [1, 3, 224, 224]. */
export function parseDims(text: string, what: string): number[] {
  const parts = text.split(/[x,×]/).map((s) => s.trim());
  const dims = parts.map(Number);
  if (parts.some((p) => p === '') || dims.some((d) => !Number.isInteger(d) || d < 0))
    throw new UsageError(`${what}: '${text}' is not a shape like 1x3x224x224`);
  return dims;
}

function splitAssignment(spec: string, inputs: readonly ValueInfo[], option: string): { name: string; value: string } {
  const eq = spec.indexOf('=');
  if (eq > 0) {
    const name = spec.slice(0, eq);
    if (inputs.some((i) => i.name === name)) return { name, value: spec.slice(eq + 1) };
    if (inputs.length !== 1 || !fs.existsSync(spec))
      throw new UsageError(`${option} ${spec}: the model has no input '${name}'; its inputs are ${inputNames(inputs)}`);
  }
  if (inputs.length === 1) return { name: inputs[0].name, value: spec };
  throw new UsageError(`${option} ${spec}: the model has ${inputs.length} inputs, so name one: ${option} <input>=<value> (inputs: ${inputNames(inputs)})`);
}

export function inputNames(inputs: readonly ValueInfo[]): string {
  return inputs.map((i) => `'${i.name}'`).join(', ');
}

/** --shape name=dims, for inputs with symbolic dims. */
export function parseShapes(specs: readonly string[], inputs: readonly ValueInfo[]): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const spec of specs) {
    const { name, value } = splitAssignment(spec, inputs, '--shape');
    shapes.set(name, parseDims(value, `--shape ${name}`));
  }
  return shapes;
}

/** mulberry32: seeded, the same on every platform. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The dims of an input for generated data: the model's fixed dims, --shape for symbolic ones. */
export function concreteDims(info: ValueInfo, shapes: Map<string, number[]>): number[] {
  const given = shapes.get(info.name);
  const dims = info.dims ?? [];
  if (given) {
    if (info.dims && given.length !== dims.length)
      throw new UsageError(`--shape ${info.name}: the input has rank ${dims.length} ([${dims.join(', ')}]), got ${given.length} dims`);
    dims.forEach((d, k) => {
      if (typeof d === 'number' && d !== given[k])
        throw new UsageError(`--shape ${info.name}: dim ${k} of the input is fixed at ${d}, got ${given[k]}`);
    });
    return given;
  }
  if (info.dims === null) throw new UsageError(`input '${info.name}' has no declared shape: pass --shape ${info.name}=<dims>`);
  if (dims.every((d) => typeof d === 'number')) return dims as number[];
  const shown = dims.map((d) => (typeof d === 'number' ? String(d) : d || '?')).join('x');
  throw new UsageError(`input '${info.name}' has symbolic dims ${shown}: pass --shape ${info.name}=<dims>, e.g. ${dims.map((d) => (typeof d === 'number' ? d : 1)).join('x')}`);
}

/** Seeded data: uniform [0, 1) for float inputs, zeros for integer and bool inputs. */
export function randomTensor(info: ValueInfo, dims: number[], seed: number): Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const dtype = info.dtype === 'unknown' ? 'float32' : info.dtype;
  if (dtype === 'float32' || dtype === 'float64') {
    const r = rng(seed);
    const data = dtype === 'float32' ? new Float32Array(count) : new Float64Array(count);
    for (let i = 0; i < count; i++) data[i] = r();
    return new Tensor(dtype, data as never, dims);
  }
  return Tensor.zeros(dtype, dims);
}

export interface FeedSource {
  name: string;
  dtype: string;
  dims: number[];
  /** The file it came from, or 'random' / 'zeros'. */
  source: string;
}

/**
 * Feeds for every model input: --input files where given, seeded data (see randomTensor) for the rest. Returns the
 * feeds and where each came from.
 */
export function buildFeeds(
  inputs: readonly ValueInfo[],
  inputSpecs: readonly string[],
  shapeSpecs: readonly string[],
  seed: number,
  note: (s: string) => void,
): { feeds: Record<string, Tensor>; sources: FeedSource[] } {
  const shapes = parseShapes(shapeSpecs, inputs);
  const feeds: Record<string, Tensor> = {};
  const sources: FeedSource[] = [];
  for (const spec of inputSpecs) {
    const { name, value } = splitAssignment(spec, inputs, '--input');
    if (feeds[name]) throw new UsageError(`--input ${name} is given twice`);
    const info = inputs.find((i) => i.name === name)!;
    const { tensor } = readTensorFile(value);
    feeds[name] = adaptToInput(tensor, info, note);
    sources.push({ name, dtype: feeds[name].dtype, dims: [...feeds[name].dims], source: value });
  }
  inputs.forEach((info, k) => {
    if (feeds[info.name]) return;
    const t = randomTensor(info, concreteDims(info, shapes), seed + k);
    feeds[info.name] = t;
    sources.push({
      name: info.name,
      dtype: t.dtype,
      dims: [...t.dims],
      source: t.dtype === 'float32' || t.dtype === 'float64' ? `random uniform [0, 1), seed ${seed + k}` : 'zeros',
    });
  });
  return { feeds, sources };
}

