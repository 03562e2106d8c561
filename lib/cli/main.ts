// The int8rt command line (bin/int8rt.js): run, calibrate, profile, report, export-qdq, bundle, doctor.
//
// Every command has --help and --json. A user mistake (a missing file, a bad flag or value, an unreadable tensor
// file, a model int8rt refuses) ends with one line on stderr, `int8rt: error: <message>`, and a nonzero exit code:
// 2 for command-line usage, 1 for everything else. Under --json the error is also printed on stdout as
// {"error": {"code", "message"}}. A stack trace appears only for a bug in int8rt itself, and only with INT8RT_DEBUG=1.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { Int8rtError } from '../errors';
import { packageRoot } from '../native';
import { bundleCommand } from './commands/bundle';
import { calibrateCommand } from './commands/calibrate';
import { doctorCommand } from './commands/doctor';
import { exportQdqCommand } from './commands/export-qdq';
import { profileCommand } from './commands/profile';
import { reportCommand } from './commands/report';
import { runCommand } from './commands/run';
import { CliError, oneLine } from './errors';

function packageVersion(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
}

export function program(): Command {
  const root = new Command('int8rt')
    .description('int8 inference for ONNX models: run, calibrate, profile int8 against float, report precisions')
    .version(packageVersion(), '-V, --version')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      // commander's messages already start with 'error: '; keep them on one line, named after the program.
      outputError: (s, write) => write(`int8rt: ${oneLine(s)}\n`),
    })
    .addHelpText('after', '\nRun `int8rt <command> --help` for a command\'s options.');
  // Subcommands made with `new Command` do not inherit these settings from addCommand; copy them.
  for (const make of [
    runCommand,
    calibrateCommand,
    profileCommand,
    reportCommand,
    exportQdqCommand,
    bundleCommand,
    doctorCommand,
  ]) {
    const cmd = make();
    cmd.copyInheritedSettings(root);
    root.addCommand(cmd);
  }
  return root;
}

function printError(code: string, message: string, json: boolean): void {
  process.stderr.write(`int8rt: error: ${oneLine(message)}\n`);
  if (json) process.stdout.write(JSON.stringify({ error: { code, message: oneLine(message) } }) + '\n');
}

/** Runs the command line; resolves to the exit code. */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const json = argv.includes('--json');
  try {
    await program().parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not errors; commander has printed its own one-line message for the rest.
      // (`int8rt` alone prints the help on stderr and exits 1.)
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version')
        return e.exitCode;
      if (json) process.stdout.write(JSON.stringify({ error: { code: e.code, message: oneLine(e.message) } }) + '\n');
      return 2;
    }
    if (e instanceof CliError) {
      printError(e.code, e.message, json);
      return e.exitCode;
    }
    if (e instanceof Int8rtError) {
      printError(e.code, e.message, json);
      return 1;
    }
    // Not a user mistake: a bug, or something the CLI did not anticipate.
    const message = e instanceof Error ? e.message : String(e);
    printError('ERR_INT8RT_UNEXPECTED', message, json);
    if (process.env.INT8RT_DEBUG) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
    else process.stderr.write('int8rt: this looks like a bug in int8rt; run with INT8RT_DEBUG=1 for the stack trace\n');
    return 1;
  }
}
