#!/usr/bin/env node
// `npm run prebuild`: the N-API binaries shipped in the package, prebuilds/linux-x64/int8rt.node and
// prebuilds/linux-arm64/int8rt.node (node-gyp-build picks the one matching the machine at load time).
//
//   node scripts/prebuild.js [--arch x64,arm64] [--clean]
//
// Each architecture is built by prebuildify (node-gyp, binding.gyp; --napi --strip) in a staging folder of its own,
// build-prebuild/linux-<arch>/, never in the package's build/: prebuildify moves the built addon out of build/Release,
// which would take the developer's local build away. The staging folder is kept, so a second run recompiles only what
// changed (node-gyp configure + build instead of rebuild); --clean starts from scratch, as a release build should.
//
// arm64 is cross-compiled on x86-64 with Debian's toolchain (apt-get install g++-aarch64-linux-gnu), the x64 build on
// an arm64 machine would need the converse; building for the host's own architecture needs nothing but g++.
// Node's headers come from the running Node's installation (<prefix>/include/node), so nothing is downloaded.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const CROSS = {
  arm64: { prefix: 'aarch64-linux-gnu-', apt: 'g++-aarch64-linux-gnu' },
  x64: { prefix: 'x86_64-linux-gnu-', apt: 'g++-x86-64-linux-gnu' },
};

function parseArgs(argv) {
  const opts = { archs: ['x64', 'arm64'], clean: false, jobs: String(os.availableParallelism?.() ?? 2) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--clean') opts.clean = true;
    else if (a === '--arch') opts.archs = argv[++i].split(',');
    else if (a.startsWith('--arch=')) opts.archs = a.slice(7).split(',');
    else if (a === '--jobs') opts.jobs = argv[++i];
    else throw new Error(`prebuild: unknown argument '${a}' (use --arch x64,arm64 and --clean)`);
  }
  for (const a of opts.archs) if (!CROSS[a]) throw new Error(`prebuild: unsupported architecture '${a}'`);
  return opts;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Node's header folder of the running Node (nodesource, official tarballs and nvm all install <prefix>/include). */
function nodedir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  throw new Error(`prebuild: Node's headers are not in ${prefix}/include/node; install them (they ship with Node)`);
}

/** A folder prebuildify can build in: the package's build inputs, with native/ linked rather than copied. */
function stage(dir) {
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  for (const f of ['package.json', 'binding.gyp', 'scripts/native-sources.js', 'scripts/build-cuda.js'])
    fs.copyFileSync(path.join(root, f), path.join(dir, f));
  const link = path.join(dir, 'native');
  if (!fs.existsSync(link)) fs.symlinkSync(path.relative(dir, path.join(root, 'native')), link);
}

function build(arch, opts) {
  const dir = path.join(root, 'build-prebuild', `linux-${arch}`);
  if (opts.clean) fs.rmSync(dir, { recursive: true, force: true });
  stage(dir);
  // Prebuilds always carry the CUDA kernels (one fatbin for every GPU target, the same bytes in both architectures'
  // addons): scripts/build-cuda.js fails rather than embed none when nvcc is missing.
  const env = { ...process.env, npm_config_nodedir: nodedir(), JOBS: opts.jobs, INT8RT_REQUIRE_CUDA: '1' };
  const args = ['--napi', '--strip', '--target', process.version.slice(1), '--arch', arch, '--cwd', dir, '--out', dir];
  if (arch !== os.arch()) {
    const { prefix, apt } = CROSS[arch];
    if (!have(`${prefix}g++`))
      throw new Error(`prebuild: no ${prefix}g++ for the ${arch} cross build (apt-get install ${apt})`);
    Object.assign(env, { CC: `${prefix}gcc`, CXX: `${prefix}g++`, LINK: `${prefix}g++`, AR: `${prefix}ar` });
    args.push('--strip-bin', `${prefix}strip`);
  }
  // prebuildify runs `node-gyp rebuild`; through this shim it is configure + build, so the staging folder's objects
  // are reused (see the header). The shell joins the command and its arguments.
  const shim = path.join(__dirname, 'prebuild-node-gyp.js');
  args.push('--node-gyp', `"${process.execPath}" "${shim}"`, '--shell', '/bin/sh');
  const bin = path.join(path.dirname(require.resolve('prebuildify/package.json')), 'bin.js');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`prebuild: prebuildify for linux-${arch} failed (exit ${r.status})`);
  const built = path.join(dir, 'prebuilds', `linux-${arch}`);
  const out = path.join(root, 'prebuilds', `linux-${arch}`);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  for (const f of fs.readdirSync(built)) fs.copyFileSync(path.join(built, f), path.join(out, f));
  for (const f of fs.readdirSync(out)) {
    const size = fs.statSync(path.join(out, f)).size;
    console.log(`prebuild: prebuilds/linux-${arch}/${f} ${(size / 1024).toFixed(0)} KiB (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
}

/**
 * npm runs a script named `prebuild` before `npm run build` too (pre-hooks go by name), with the same environment as
 * `npm run prebuild`. Only the npm process's own arguments tell them apart: read them from /proc (Linux, where the
 * prebuilds are made); true when this run is the hook of `npm run build`.
 */
/**
 * The newest modification time (ms) of anything a prebuild is made from: native/ and the build scripts. A prebuild
 * older than this is stale (test/prebuild.test.ts and scripts/ci-arm64.js rebuild it then).
 */
function newestSource() {
  let t = 0;
  (function walk(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else t = Math.max(t, fs.statSync(p).mtimeMs);
    }
  })(path.join(root, 'native'));
  for (const f of ['binding.gyp', 'scripts/native-sources.js', 'scripts/build-cuda.js'])
    t = Math.max(t, fs.statSync(path.join(root, f)).mtimeMs);
  return t;
}

function isBuildHook() {
  if (process.env.npm_lifecycle_event !== 'prebuild') return false;
  try {
    let pid = process.ppid;
    for (let depth = 0; depth < 6 && pid > 1; depth++) {
      // npm sets its process title to "npm run <script>", which replaces the NUL-separated argv.
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]+/).filter(Boolean);
      const i = argv.findIndex((a) => a === 'run' || a === 'run-script' || a === 'rum' || a === 'urn');
      if (i >= 0 && argv.some((a) => /npm(-cli\.js)?$/.test(a))) return argv[i + 1] === 'build';
      pid = Number(/^\d+ \(.*\) \S (\d+)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))[1]);
    }
  } catch {
    // no /proc: build, as asked
  }
  return false;
}

if (require.main === module) {
  if (isBuildHook()) {
    console.log('prebuild: not run as the pre-hook of `npm run build` (run `npm run prebuild` for the prebuilds)');
    process.exit(0);
  }
  try {
    const opts = parseArgs(process.argv.slice(2));
    for (const arch of opts.archs) build(arch, opts);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}

module.exports = { build, parseArgs, newestSource };
