// The ONNX backend conformance suite (scripts/conformance.js) as a vitest test: every operator test the engine
// accepts must pass; tests it refuses as unsupported are counted, not failed. Needs the built package
// (npm run build:native && npm run build:ts) and ../shared/onnx-backend/node; without the data it skips, unless
// INT8RT_REQUIRE_SHARED=1.

import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { describeShared, ONNX_BACKEND_NODE_DIR } from './helpers/shared';

const require = createRequire(import.meta.url);

interface ConformanceResult {
  name: string;
  group: string;
  status: 'passed' | 'failed' | 'unsupported';
  reason?: string;
  ms: number;
}
interface Comparable {
  dtype: string;
  data: ArrayLike<number | bigint>;
  dims: readonly number[];
}
const { runConformance, compareTensor } = require('../scripts/conformance.js') as {
  runConformance(opts: { dir?: string; filter?: string }): Promise<{
    results: ConformanceResult[];
    counts: { passed: number; failed: number; unsupported: number };
  }>;
  compareTensor(name: string, got: Comparable, expected: Comparable): string | null;
};

describe('conformance runner: output comparison', () => {
  const f32 = (v: number[], dims = [v.length]): Comparable => ({ dtype: 'float32', data: Float32Array.from(v), dims });

  test('floats: atol 1e-7 + rtol 1e-3, NaN equals NaN, infinities exactly', () => {
    expect(compareTensor('y', f32([1.0009, 0, NaN, Infinity]), f32([1, 5e-8, NaN, Infinity]))).toBeNull();
    expect(compareTensor('y', f32([1.0011]), f32([1]))).toMatch(/1 of 1 values differ, first at \[0\]: got 1\.001/);
    expect(compareTensor('y', f32([NaN]), f32([0]))).toMatch(/differ/);
    expect(compareTensor('y', f32([-Infinity]), f32([Infinity]))).toMatch(/differ/);
    expect(compareTensor('y', f32([3e38]), f32([Infinity]))).toMatch(/differ/);
    expect(compareTensor('y', f32([Infinity]), f32([3e38]))).toMatch(/differ/);
    expect(compareTensor('y', f32([0, 0, 0, 9], [2, 2]), f32([0, 0, 0, 1], [2, 2]))).toMatch(/first at \[1,1\]/);
  });

  test('integers exactly; dtype and shape must agree', () => {
    const i64 = (v: bigint[]): Comparable => ({ dtype: 'int64', data: BigInt64Array.from(v), dims: [v.length] });
    expect(compareTensor('y', i64([2n ** 62n + 1n]), i64([2n ** 62n + 1n]))).toBeNull();
    expect(compareTensor('y', i64([2n ** 62n]), i64([2n ** 62n + 1n]))).toMatch(/differ/);
    expect(compareTensor('y', f32([1]), i64([1n]))).toMatch(/dtype float32, expected int64/);
    expect(compareTensor('y', f32([1, 2], [1, 2]), f32([1, 2], [2, 1]))).toMatch(/shape \[1,2\], expected \[2,1\]/);
  });

  test('float16 compares values, not bit patterns', () => {
    const f16 = (bits: number[]): Comparable => ({ dtype: 'float16', data: Uint16Array.from(bits), dims: [bits.length] });
    expect(compareTensor('y', f16([0x3c00, 0x7e00]), f16([0x3c00, 0x7e01]))).toBeNull(); // 1.0, NaN payloads
    expect(compareTensor('y', f16([0x3c01]), f16([0x3c00]))).toBeNull(); // 1 + 2^-10 is within rtol 1e-3
    expect(compareTensor('y', f16([0x3c02]), f16([0x3c00]))).toMatch(/differ/);
  });
});

const DIR = process.env.INT8RT_ONNX_BACKEND_DIR ?? ONNX_BACKEND_NODE_DIR;

describeShared('ONNX backend conformance', [DIR], () => {
  test(
    'every test of a supported operator passes',
    async () => {
      const { results, counts } = await runConformance({ dir: DIR });
      console.log(`conformance: ${counts.passed} passed, ${counts.failed} failed, ${counts.unsupported} unsupported`);
      expect(results.length).toBeGreaterThan(0);
      const failed = results.filter((r) => r.status === 'failed').map((r) => `${r.name}: ${r.reason}`);
      expect(failed, `${counts.failed} conformance tests failed`).toEqual([]);
    },
    30 * 60_000,
  );
});
