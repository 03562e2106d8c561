// The published package: `npm pack` holds the prebuilt addons (prebuilds/linux-x64, and linux-arm64 where the cross
// toolchain is installed), and `npm install <tarball>` in a clean project whose PATH holds nothing but `node` (no
// compiler, no make, no python; a shell) gives a working int8rt: MNIST-8 runs from it and buildInfo() says the prebuild loaded.
// The prebuilds are made by scripts/prebuild.js (`npm run prebuild`) when missing or older than the native sources.

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { describeShared, MNIST8_PATH, REPO_ROOT } from './helpers/shared';

const REQUIRED_ARM64 = process.env.CI === 'true' || process.env.INT8RT_REQUIRE_ARM64 === '1';
const crossPresent = spawnSync('sh', ['-c', 'command -v aarch64-linux-gnu-g++'], { stdio: 'ignore' }).status === 0;
const withArm64 = crossPresent || REQUIRED_ARM64;

// The newest input of a prebuild (native/ and the build scripts): scripts/prebuild.js says what counts.
const { newestSource } = createRequire(import.meta.url)('../scripts/prebuild.js') as { newestSource(): number };

function ensurePrebuild(arch: 'x64' | 'arm64'): string {
  const file = path.join(REPO_ROOT, 'prebuilds', `linux-${arch}`, 'int8rt.node');
  if (fs.existsSync(file) && fs.statSync(file).mtimeMs >= newestSource()) return file;
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'prebuild.js'), '--arch', arch], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`prebuild ${arch} failed:\n${(r.stdout + r.stderr).slice(-4000)}`);
  console.log((r.stdout + r.stderr).split('\n').filter((l) => l.startsWith('prebuild:')).join('\n'));
  return file;
}

/** npm's own script, so that npm runs with a PATH that holds no npm. */
function npmCli(): string {
  const candidates = [
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ];
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`npm-cli.js not found beside ${process.execPath}`);
  return found;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'int8rt-pack-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describeShared('packed package', [MNIST8_PATH], () => {
  test('npm pack holds the prebuilds; installed with no compiler on PATH, MNIST-8 runs on the prebuild', { timeout: 1_200_000 }, () => {
    ensurePrebuild('x64');
    if (withArm64) ensurePrebuild('arm64');

    // Pack what is built (npm test compiled the TypeScript first; --ignore-scripts: no second tsc run here).
    const pack = spawnSync(process.execPath, [npmCli(), 'pack', '--json', '--ignore-scripts', '--pack-destination', tmp], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    expect(pack.status, pack.stderr).toBe(0);
    const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
      filename: string;
      size: number;
      unpackedSize: number;
      files: { path: string; size: number }[];
    }[];
    const { filename, size, unpackedSize, files } = info[0];
    const names = files.map((f) => f.path);
    const prebuilds = files.filter((f) => f.path.startsWith('prebuilds/'));
    console.log(
      `npm pack: ${filename} ${(size / 1e6).toFixed(2)} MB packed, ${(unpackedSize / 1e6).toFixed(2)} MB unpacked, ` +
        `${files.length} files; ${prebuilds.map((f) => `${f.path} ${(f.size / 1e6).toFixed(2)} MB`).join(', ')}`,
    );
    expect(names).toContain('prebuilds/linux-x64/int8rt.node');
    if (withArm64) expect(names).toContain('prebuilds/linux-arm64/int8rt.node');
    // Sources for a build where no prebuild matches, and nothing of the local build or the tests.
    for (const f of ['binding.gyp', 'scripts/native-sources.js', 'dist/cjs/index.js', 'native/core/engine.cc'])
      expect(names).toContain(f);
    expect(names.filter((n) => /^(build|build-[^/]*|test|node_modules)\//.test(n))).toEqual([]);

    // A clean project; PATH holds only links to node and to sh (npm runs int8rt's install script, node-gyp-build,
    // through sh: it finds the prebuild and compiles nothing; without one it would call node-gyp and fail here).
    const project = path.join(tmp, 'consumer');
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(project);
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin };
    for (const k of Object.keys(env)) if (/^npm_/i.test(k)) delete env[k]; // not the outer npm's configuration
    const probe = 'command -v cc || command -v gcc || command -v g++ || command -v c++ || command -v make';
    const compilers = spawnSync('/bin/sh', ['-c', probe], { env });
    expect(compilers.status, 'a compiler or make is reachable on the restricted PATH').not.toBe(0);
    const install = spawnSync(
      process.execPath,
      [npmCli(), 'install', path.join(tmp, filename), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: project, env, encoding: 'utf8', maxBuffer: 1 << 26 },
    );
    expect(install.status, install.stdout + install.stderr).toBe(0);
    expect(fs.existsSync(path.join(project, 'node_modules', 'int8rt', 'build'))).toBe(false);

    // MNIST-8 from the installed package, fp32 and int8, on a digit-like image.
    const script = `
      const { Engine, Tensor, buildInfo, calibrate } = require('int8rt');
      const img = new Float32Array(784);
      for (let y = 6; y < 22; y++) for (let x = 12; x < 16; x++) img[y * 28 + x] = 1; // a '1'
      (async () => {
        const feeds = () => ({ Input3: new Tensor('float32', img, [1, 1, 28, 28]) });
        const fp32 = await Engine.create(process.argv[1]);
        const y = (await fp32.run(feeds())).Plus214_Output_0;
        const cal = await calibrate(process.argv[1], [feeds()]);
        const int8 = await Engine.create(process.argv[1], { precision: 'int8', calibration: cal });
        const q = (await int8.run(feeds())).Plus214_Output_0;
        const info = buildInfo();
        console.log(JSON.stringify({ loadedFrom: info.loadedFrom, isa: info.isa, fp32: [...y.data], int8: [...q.data] }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script, MNIST8_PATH], { cwd: project, env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
      loadedFrom: string;
      isa: string;
      fp32: number[];
      int8: number[];
    };
    console.log(`installed int8rt: ${out.loadedFrom}, isa ${out.isa}`);
    expect(out.loadedFrom).toBe('prebuild (prebuilds/linux-x64/int8rt.node)');
    expect(out.fp32).toHaveLength(10);
    expect(out.int8).toHaveLength(10);
    const argmax = (v: number[]) => v.indexOf(Math.max(...v));
    expect(out.fp32.every(Number.isFinite)).toBe(true);
    expect(argmax(out.int8)).toBe(argmax(out.fp32));
  });
});
