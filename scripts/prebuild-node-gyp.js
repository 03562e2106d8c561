#!/usr/bin/env node
// node-gyp as scripts/prebuild.js hands it to prebuildify: `rebuild` becomes `configure` + `build`, so that a staging
// folder that was built before recompiles only the sources that changed (make's dependency files track the headers).
// Anything else is passed through unchanged. The number of compile jobs comes from $JOBS.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const fs = require('fs');

/** node-gyp's entry script: the one npm runs scripts with, a local install, or the one bundled with npm. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(path.join(path.dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js'));
  } catch {
    // not installed locally
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found) {
    console.error('prebuild: node-gyp not found (it ships with npm; or npm install -g node-gyp)');
    process.exit(1);
  }
  return found;
}

const gyp = findNodeGyp();
const [cmd, ...rest] = process.argv.slice(2);

function run(args) {
  const r = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (cmd === 'rebuild') {
  run(['configure', ...rest]);
  run(['build', ...rest, `--jobs=${process.env.JOBS || '2'}`]);
} else {
  run([cmd, ...rest]);
}
