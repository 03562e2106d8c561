// The HTML report opened in headless Chromium (Debian's `chromium`, driven by playwright-core): the chart and the
// tables are there, nothing is fetched from the network, and a screenshot is written to test/.cache/ for people to
// look at. Skips with a printed reason only when /usr/bin/chromium is absent outside CI; in CI it must run.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { expect, test } from 'vitest';
import { calibrate, compareProfiles, Engine, Tensor } from '../dist/cjs/index.js';
import { ocrPage } from './helpers/data';
import { OCR_MODELS, REPO_ROOT } from './helpers/shared';

const CHROMIUM = '/usr/bin/chromium';
const present = fs.existsSync(CHROMIUM);
if (!present && !process.env.CI)
  console.warn(`[int8rt] skipping the HTML report test: ${CHROMIUM} is absent (apt-get install chromium; CI installs it)`);

test.skipIf(!present && !process.env.CI)('HTML report: chart, tables and precision report render offline', async () => {
  // PP-OCRv4 det on a small page, fp32 against int8: many rows, fused groups and quantize/dequantize boundaries.
  const feeds = { x: new Tensor('float32', ocrPage(96, 96, 5), [1, 3, 96, 96]) };
  const calibration = await calibrate(OCR_MODELS.det, [feeds], { method: 'minmax' });
  const fp32 = await Engine.create(OCR_MODELS.det, { intraOpThreads: 2 });
  const int8 = await Engine.create(OCR_MODELS.det, { intraOpThreads: 2, precision: 'int8', calibration });
  const comparison = compareProfiles(
    await fp32.profile(feeds, { iterations: 2, warmup: 1 }),
    await int8.profile(feeds, { iterations: 2, warmup: 1 }),
  );
  const reportRows = int8.report().length;
  fp32.release();
  int8.release();

  const dir = path.join(REPO_ROOT, 'test', '.cache');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'profile-report.html');
  fs.writeFileSync(file, comparison.toHTML({ chartRows: 25 }));
  const screenshot = path.join(dir, 'profile-report.png');

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-chromium-'));
  // A fresh profile folder (playwright passes it as --user-data-dir).
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await context.newPage();
    const requests: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(`file://${file}`);
    expect(await page.title()).toMatch(/int8rt profile: ch_PP-OCRv4_det_infer\.onnx, fp32 against int8/);

    // The chart: one row per operator (25 here), two bars where both precisions run the group.
    const chart = page.locator('svg#chart');
    await expect.poll(() => chart.count()).toBe(1);
    const box = await chart.boundingBox();
    expect(box!.width).toBeGreaterThan(600);
    expect(box!.height).toBeGreaterThan(300);
    expect(await page.locator('svg#chart g.bar-row').count()).toBe(25);
    expect(await page.locator('svg#chart rect.bar.s0').count()).toBeGreaterThan(15);
    expect(await page.locator('svg#chart rect.bar.s1').count()).toBeGreaterThan(15);

    // The tables: every comparison row, and the precision report with every report row.
    expect(await page.locator('table#operators tbody tr').count()).toBe(comparison.rows.length);
    expect(await page.locator('table#precision-report tbody tr').count()).toBe(reportRows);
    expect(await page.locator('table#precision-report tr.boundary').count()).toBeGreaterThan(0);
    expect(await page.locator('table#by-op tbody tr').count()).toBeGreaterThan(5);
    const firstRow = await page.locator('table#operators tbody tr').first().innerText();
    expect(firstRow).toMatch(/p2o\./);

    await page.screenshot({ path: screenshot, fullPage: false });
    expect(requests).toEqual([]);
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  expect(fs.statSync(screenshot).size).toBeGreaterThan(10_000);
  console.log(`HTML report screenshot: ${screenshot}`);
});
