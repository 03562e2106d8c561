// The arm64 build, checked on x86-64 without Arm hardware (scripts/ci-arm64.js does the work and prints what ran):
// - the C++ kernel tests cross-compiled and run under qemu on a CPU with the dot product and i8mm (`max`) and on a
//   Cortex-A53 (neither), each run naming the int8 and float kernels it used;
// - the built objects: no dot-product or i8mm instruction outside the files compiled for them, and the instructions
//   per MAC of each microkernel loop (printed, not asserted: qemu says nothing about speed);
// - the arm64 prebuild loaded by the official arm64 Node under qemu, running MNIST-8 in fp32 and int8 on the i8mm,
//   sdot and plain NEON paths: int8 outputs equal to x64's bit for bit, fp32 within 1e-4.
// Needs g++-aarch64-linux-gnu, qemu-user-static and cmake (.ci/run installs them). Without them the suite skips with
// a message, except under CI=true or INT8RT_REQUIRE_ARM64=1, where their absence fails it.

import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { describeShared, MNIST8_PATH, REPO_ROOT } from './helpers/shared';

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'ci-arm64.js');
const REQUIRED = process.env.CI === 'true' || process.env.INT8RT_REQUIRE_ARM64 === '1';

function step(name: string): { status: number; out: string } {
  const r = spawnSync(process.execPath, [SCRIPT, name], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  console.log(out.trimEnd());
  return { status: r.status ?? 1, out };
}

const tools = spawnSync(process.execPath, [SCRIPT, 'tools'], { encoding: 'utf8' });
const toolsPresent = tools.status === 0;
if (!toolsPresent && !REQUIRED) console.warn(`[int8rt] skipping the arm64 suite: ${tools.stderr.trim()}`);
const describeArm = toolsPresent || REQUIRED ? describe : describe.skip;

describeArm('arm64 (cross build, qemu)', () => {
  test('the cross toolchain and qemu are installed', () => {
    expect(tools.status, tools.stderr).toBe(0);
  });

  test('C++ kernel tests pass under qemu -cpu max and -cpu cortex-a53, each on its own kernels', { timeout: 1_200_000 }, () => {
    const r = step('native');
    expect(r.status).toBe(0);
    // The logs name the kernels each CPU model ran: i8mm (and every family below it) on max, plain NEON on the A53.
    expect(r.out).toMatch(/isa: i8mm +int8 gemm: qgemm_s8_i8mm_6x16 +float gemm: neon_6x16/);
    expect(r.out).toMatch(/families tested here: .*qgemm_s8_neon_6x16, qgemm_s8_neondot_6x16, qgemm_s8_i8mm_6x16/);
    expect(r.out).toMatch(/cpu: Cortex-A53 .*dotprod=0 i8mm=0/);
    expect(r.out).toMatch(/isa: neon +int8 gemm: qgemm_s8_neon_6x16 +float gemm: neon_6x16/);
    expect(r.out).toMatch(/100% tests passed, 0 tests failed out of 2/);
  });

  test('dot-product and i8mm instructions only in their own files; microkernel loops found', { timeout: 300_000 }, () => {
    const r = step('isa');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/dot-product or i8mm instructions outside their files: 0/);
    for (const k of ['int8 sdot', 'int8 smmla', 'int8 smlal', 'fp32 fmla']) expect(r.out).toContain(`isa: ${k}`);
  });
});

describeShared('arm64 prebuild in the arm64 Node', [MNIST8_PATH], () => {
  (toolsPresent || REQUIRED ? test : test.skip)(
    'MNIST-8 from prebuilds/linux-arm64: int8 equal to x64 bit for bit, fp32 within 1e-4, on i8mm, sdot and NEON',
    { timeout: 1_200_000 },
    () => {
      const r = step('node');
      expect(r.status).toBe(0);
      for (const tag of ['max-i8mm', 'max-neondot', 'cortex-a53']) {
        const line = r.out.split('\n').find((l) => l.startsWith(`arm64 ${tag}:`)) ?? '';
        expect(line, r.out).toMatch(/: ok /);
        expect(line).toContain('loaded from prebuild (prebuilds/linux-arm64/int8rt.node)');
        expect(line).toContain('int8 outputs differing from x64: 0 of');
      }
      expect(r.out).toMatch(/arm64 max-i8mm: ok .*isa i8mm,/);
      expect(r.out).toMatch(/arm64 max-neondot: ok .*isa neondot,/);
      expect(r.out).toMatch(/arm64 cortex-a53: ok .*isa neon,/);
    },
  );
});
