#!/usr/bin/env node
// The one source of truth for the native source list: the folder layout itself. binding.gyp calls this script
// and CMakeLists.txt globs the same folders with the same rule. A kernel file's ISA suffix alone decides its
// compile flags: `...-avx2.cc`, `...-avxvnni.cc` (VEX VNNI), `...-avx512vnni.cc` (EVEX VNNI on 256-bit
// registers), `...-neondot.cc` (Armv8.2 dot product), `...-i8mm.cc` (Armv8.6 int8 matrix multiply); everything else
// is portable (the baseline NEON kernels in kernels/arm are portable files guarded by __aarch64__).
//   node scripts/native-sources.js <group> [arch]
//     group: core | addon | avx2 | avxvnni | avx512vnni | neondot | i8mm | cuda (the .cu inputs of the fatbin)
//     arch (node-gyp's target_arch: x64 | arm64 | ...): an ISA group of another architecture lists no sources.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const ISAS = ['avx2', 'avxvnni', 'avx512vnni', 'neondot', 'i8mm'];
const ISA_ARCH = { avx2: 'x64', avxvnni: 'x64', avx512vnni: 'x64', neondot: 'arm64', i8mm: 'arm64' };

function walk(dir, out) {
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) walk(rel, out);
    else if (/\.(cc|cpp|S)$/.test(e.name)) out.push(rel);
  }
  return out;
}

function isaOf(file) {
  const m = /-([a-z0-9]+)\.(cc|cpp)$/.exec(file);
  return m && ISAS.includes(m[1]) ? m[1] : null;
}

function sources(group, arch) {
  // The CUDA kernels are not C++ sources: scripts/build-cuda.js compiles them into the fatbin that the core's
  // native/cuda/fatbin_data.S (an assembler file, part of the core group) embeds. Group `cuda` lists them, as the
  // inputs of that build step.
  if (group === 'cuda') {
    const dir = path.join(root, 'native', 'kernels', 'cuda');
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir).filter((f) => /\.(cu|cuh|h)$/.test(f)).sort().map((f) => `native/kernels/cuda/${f}`);
  }
  const all = walk('native', []).filter((f) => !f.startsWith('native/kernels/cuda/')).sort();
  if (group === 'addon') return all.filter((f) => f.startsWith('native/addon/'));
  if (group === 'core') return all.filter((f) => !f.startsWith('native/addon/') && !isaOf(f));
  if (ISAS.includes(group)) {
    if (arch && ISA_ARCH[group] !== arch) return [];
    return all.filter((f) => isaOf(f) === group);
  }
  throw new Error(`unknown source group '${group}'`);
}

module.exports = { sources, ISAS, ISA_ARCH };

if (require.main === module) {
  const group = process.argv[2] || 'core';
  const list = sources(group, process.argv[3]);
  // gyp needs at least one source per target; an empty ISA group gets a stub (the CUDA inputs may be none).
  if (group === 'cuda') process.stdout.write(list.map((f) => f + '\n').join(''));
  else process.stdout.write((list.length ? list : ['native/core/empty.cc']).join('\n') + '\n');
}
