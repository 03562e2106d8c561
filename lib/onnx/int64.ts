// Exact 64-bit integers across protobufjs 6.
//
// protobufjs hands int64/uint64 fields out as long.js `Long` objects ({ low, high, unsigned }) when long.js is
// installed (it is, as a dependency of onnx-proto's protobufjs), and as plain JS numbers otherwise. The values are
// rebuilt from the two 32-bit halves, never through a double, so every int64 survives exactly. A plain number is
// accepted only when it is a safe integer: a larger one has already been rounded by protobufjs and cannot be trusted.

import { modelError } from './errors';

/** What protobufjs may give for an int64 field. */
export type Int64Like = number | string | bigint | { low: number; high: number; unsigned?: boolean };

const U32 = 0x1_0000_0000n;

export function int64ToBigInt(v: Int64Like | null | undefined, unsigned = false): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'bigint') return unsigned ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) {
      throw modelError(`64-bit integer ${v} lost precision while decoding (protobufjs is running without long.js)`);
    }
    return unsigned ? BigInt.asUintN(64, BigInt(v)) : BigInt(v);
  }
  if (typeof v === 'string') return unsigned ? BigInt.asUintN(64, BigInt(v)) : BigInt.asIntN(64, BigInt(v));
  const bits = BigInt(v.high >>> 0) * U32 + BigInt(v.low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}

/**
 * An int64 field that must hold a count or a size (a dim, a version): a non-negative safe integer.
 * `what` names the field in the error message.
 */
export function int64ToIndex(v: Int64Like | null | undefined, what: string): number {
  const b = int64ToBigInt(v);
  if (b < 0n || b > BigInt(Number.MAX_SAFE_INTEGER)) throw modelError(`${what} is ${b}, not a valid size`);
  return Number(b);
}

/** An int64 field read as a JS number when it is small enough, for fields where a huge value is simply invalid. */
export function int64ToSafeNumber(v: Int64Like | null | undefined, what: string): number {
  const b = int64ToBigInt(v);
  if (b < BigInt(Number.MIN_SAFE_INTEGER) || b > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw modelError(`${what} is ${b}, out of range`);
  }
  return Number(b);
}

/** The { low, high } pair protobufjs' Writer accepts for int64/uint64 fields, built from an exact bigint. */
export function bigintToLongBits(v: bigint | number): { low: number; high: number; unsigned: boolean } {
  const b = BigInt.asUintN(64, BigInt(v));
  return { low: Number(b & 0xffff_ffffn) | 0, high: Number(b >> 32n) | 0, unsigned: false };
}
