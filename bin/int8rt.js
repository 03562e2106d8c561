#!/usr/bin/env node
// The `int8rt` command (package.json "bin"). The command line lives in lib/cli/ and runs from the compiled dist/.
'use strict';

let cli;
try {
  cli = require('../dist/cjs/cli/main.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/cjs/cli/main.js')) {
    process.stderr.write('int8rt: error: the package is not built: run `npm run build:ts` in its folder\n');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`int8rt: error: ${e && e.message ? e.message : e}\n`);
    process.exitCode = 1;
  },
);
