/** An error meant for the user: printed as one line, no stack, exit status 1 (or `exitCode`). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Runs a CLI entry point: user errors become "prog: message" and an exit status. */
export async function runCli(prog: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`${prog}: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}
