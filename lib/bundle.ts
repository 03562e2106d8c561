// Model bundles: an ONNX model decoded (and calibrated) once, saved in int8rt's own binary format (.i8rt), which the
// C++ core reads by itself (native/core/model_bundle.h specifies the format; tools/int8rt_run.cc runs one without
// Node). `saveBundle` writes one; `Engine.create` recognises one by its magic bytes, from a path or from bytes.
//
// A bundle carries its build options (precision, calibrated ranges, nodePrecision): they are fixed when the bundle is
// made, so Engine.create refuses those options for a bundle (ERR_INT8RT_INVALID_ARGUMENT) rather than silently
// preferring one of the two. Threads and the device are chosen at create time as for an ONNX model.

import * as fs from 'node:fs';
import type { CalibrationRanges, Precision } from './engine';
import { asInt8rtError, Int8rtError } from './errors';
import { native } from './native';
import { loadModel } from './onnx/load';

/** The first 8 bytes of every bundle. */
export const BUNDLE_MAGIC = 'I8RTBNDL';

export interface SaveBundleOptions {
  /** 'fp32' (default), 'fp16', 'int8' (needs `calibration`) or 'int8-dynamic', as for Engine.create. */
  precision?: Precision;
  /** The ranges of `calibrate()` (or Calibration.fromJSON); required for precision 'int8'. */
  calibration?: CalibrationRanges;
  /** Per ONNX node name: 'fp32' or 'int8', as for Engine.create. */
  nodePrecision?: Record<string, 'fp32' | 'int8'>;
}

/** What a bundle was made with (its OPTS section; read without decoding the model). */
export interface BundleInfo {
  precision: Precision;
  /** SHA-256 of the .onnx file the bundle was made from. */
  modelSha256: string;
  ranges: Record<string, number>;
  nodePrecision: Record<string, 'fp32' | 'int8'>;
}

/** True when the bytes start with the bundle magic. */
export function isBundle(bytes: Uint8Array): boolean {
  if (!(bytes instanceof Uint8Array) || bytes.length < BUNDLE_MAGIC.length) return false;
  for (let i = 0; i < BUNDLE_MAGIC.length; i++) if (bytes[i] !== BUNDLE_MAGIC.charCodeAt(i)) return false;
  return true;
}

/**
 * Decodes an ONNX model (path or bytes) and returns it, with the build options, as a bundle's bytes. Building an
 * engine from the bundle gives the same engine as `Engine.create(model, options)`, outputs equal bit for bit.
 */
export async function saveBundle(model: string | Uint8Array, options: SaveBundleOptions = {}): Promise<Uint8Array> {
  if (typeof model !== 'string' && !(model instanceof Uint8Array))
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', 'model must be a file path or the bytes of an ONNX model');
  if (options === null || typeof options !== 'object')
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', 'options must be an object');
  const p = options.precision ?? 'fp32';
  if (p !== 'fp32' && p !== 'fp16' && p !== 'int8' && p !== 'int8-dynamic')
    throw new Int8rtError(
      'ERR_INT8RT_INVALID_ARGUMENT',
      `precision must be 'fp32', 'fp16', 'int8' or 'int8-dynamic', got '${String(p)}'`,
    );
  const cal = options.calibration;
  if (p === 'int8' && !(cal?.ranges instanceof Map))
    throw new Int8rtError(
      'ERR_INT8RT_CALIBRATION',
      "precision 'int8' needs a calibration: pass { calibration: await calibrate(model, samples) }",
    );
  try {
    if (typeof model !== 'string' && isBundle(model))
      throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', 'model is already a bundle; saveBundle takes an ONNX model');
    const desc = await loadModel(model);
    if (cal?.modelSha256 && cal.modelSha256 !== desc.sha256)
      throw new Int8rtError(
        'ERR_INT8RT_CALIBRATION',
        `the calibration was made for model sha256 ${cal.modelSha256}, this model is ${desc.sha256}`,
      );
    const bytes = native().saveBundle(desc, {
      precision: p,
      // Ranges only where the precision reads them: a bundle states what its engine uses.
      ranges: p === 'int8' && cal ? Object.fromEntries(cal.ranges) : undefined,
      nodePrecision: options.nodePrecision,
      modelSha256: desc.sha256,
    });
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (e) {
    throw asInt8rtError(e);
  }
}

/** The options a bundle was made with. Throws ERR_INT8RT_MODEL for bytes that are not a valid bundle header. */
export function bundleInfo(bytes: Uint8Array): BundleInfo {
  try {
    return native().bundleInfo(bytes) as BundleInfo;
  } catch (e) {
    throw asInt8rtError(e);
  }
}

/** The bytes of `model` when it is a bundle (bytes, or a file that starts with the magic); undefined otherwise. */
export async function bundleBytesOf(model: string | Uint8Array): Promise<Uint8Array | undefined> {
  if (typeof model !== 'string') return isBundle(model) ? model : undefined;
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(model, 'r');
  } catch {
    return undefined; // loadModel reports the missing file as it does for an ONNX path
  }
  let magic = false;
  try {
    const head = new Uint8Array(BUNDLE_MAGIC.length);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    magic = bytesRead === head.length && isBundle(head);
  } catch {
    // a folder or an unreadable file: loadModel reports it
  } finally {
    await fh.close();
  }
  return magic ? new Uint8Array(await fs.promises.readFile(model)) : undefined;
}
