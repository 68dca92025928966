/** An error meant for the user: printed as one line, no stack, exit status 1 (or `exitCode`). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
    /** Already written by the command's own logger (src/log): only set the exit status. */
    readonly reported = false,
  ) {
    super(message);
  }
}

/** Runs a CLI entry point: user errors become "prog: message" and an exit status. */
export async function runCli(prog: string, main: () => Promise<void>): Promise<void> {
  // A reader that went away (`| head`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  try {
    await main();
  } catch (err) {
    if (err instanceof CliError) {
      if (!err.reported) process.stderr.write(`${prog}: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}
