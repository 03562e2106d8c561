// Precision 'fp16': Conv/Gemm/MatMul weights stored as float16 and computed in float32. MNIST-8 must classify the
// 10,000 digits within 0.1 points of float32, and the report must say which nodes hold half weights.

import { describe, expect, test } from 'vitest';
import { Engine, Tensor } from '../dist/cjs/index.js';
import { argmax } from './helpers/data';
import { loadDigits } from './helpers/mnist';
import { describeShared, MNIST8_PATH } from './helpers/shared';

const CHUNK = 100;

async function classify(engine: Engine, images: Float32Array[]): Promise<number[]> {
  const out: number[] = [];
  for (let start = 0; start < images.length; start += CHUNK) {
    const chunk = images.slice(start, start + CHUNK);
    const results = await Promise.all(
      chunk.map((img) => engine.run({ Input3: new Tensor('float32', img, [1, 1, 28, 28]) })),
    );
    for (const r of results) out.push(argmax(r.Plus214_Output_0.data as Float32Array));
  }
  return out;
}

describeShared('fp16 weights, MNIST-8', [MNIST8_PATH], () => {
  test('accuracy within 0.1 points of fp32; Conv and MatMul report fp16', async () => {
    const { images, labels } = loadDigits();
    const fp32 = await Engine.create(MNIST8_PATH, { intraOpThreads: 2 });
    const fp16 = await Engine.create(MNIST8_PATH, { intraOpThreads: 2, precision: 'fp16' });
    const report = fp16.report();
    const weighted = report.filter((r) => r.op === 'Conv' || r.op === 'MatMul');
    expect(weighted.length).toBeGreaterThan(0);
    for (const r of weighted) {
      expect(r.precision, JSON.stringify(r)).toBe('fp16');
      expect(r.kernel, JSON.stringify(r)).toContain('fp16w');
    }
    for (const r of fp32.report()) expect(r.precision).toBe('fp32');

    const pf = await classify(fp32, images);
    const ph = await classify(fp16, images);
    let correctF = 0;
    let correctH = 0;
    let agree = 0;
    for (let i = 0; i < labels.length; i++) {
      correctF += Number(pf[i] === labels[i]);
      correctH += Number(ph[i] === labels[i]);
      agree += Number(pf[i] === ph[i]);
    }
    const n = labels.length;
    console.log(
      `MNIST-8 on ${n} digits: fp32 ${((100 * correctF) / n).toFixed(2)}%, fp16 weights ` +
        `${((100 * correctH) / n).toFixed(2)}%, same prediction ${((100 * agree) / n).toFixed(2)}%`,
    );
    expect(Math.abs(correctH - correctF) / n).toBeLessThanOrEqual(0.001);

    // Outputs stay close to float: half weights carry ~11 significant bits.
    const x = new Tensor('float32', images[0], [1, 1, 28, 28]);
    const a = (await fp32.run({ Input3: x })).Plus214_Output_0.data as Float32Array;
    const b = (await fp16.run({ Input3: x })).Plus214_Output_0.data as Float32Array;
    const scale = Math.max(...Array.from(a, Math.abs));
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-2 * scale);
    fp32.release();
    fp16.release();
  });
});

describe('fp16 option checks', () => {
  test('an unknown precision names the accepted ones', async () => {
    await expect(
      Engine.create(new Uint8Array(0), { precision: 'bf16' as unknown as 'fp16' }),
    ).rejects.toThrow(/precision must be 'fp32', 'fp16'/);
  });
});
