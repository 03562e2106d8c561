// Errors the command line reports as one line (`int8rt: error: ...`) with an exit code, never as a stack trace.

/** A user mistake found by the CLI itself: a missing file, a bad value, an unreadable tensor file. Exit code 1. */
export class CliError extends Error {
  readonly exitCode: number;
  readonly code: string;
  constructor(message: string, code = 'ERR_INT8RT_CLI', exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad command-line usage (a missing or contradictory option). Exit code 2, as for commander's own usage errors. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 'ERR_INT8RT_USAGE', 2);
    this.name = 'UsageError';
  }
}

/** The first line of an error's message (addon and library messages are one line; this guards the rest). */
export function oneLine(message: string): string {
  return message.split('\n')[0].trim();
}
