/**
 * How src/module-manager runs make, depmod, modprobe, dkms and mokutil: behind an interface, so that the install
 * steps and their undo can be tested on fixture trees without touching a kernel.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface RunOutput {
  /** Exit status; null when the program could not be started or was killed. */
  status: number | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started (ENOENT...). */
  error?: string;
}

export interface Runner {
  run(command: string, args: string[], options?: { cwd?: string }): RunOutput;
  /** Whether `command` is an executable on PATH (or an absolute path that is one). */
  has(command: string): boolean;
}

export const systemRunner: Runner = {
  run(command, args, options = {}) {
    const r = spawnSync(command, args, {
      encoding: 'utf8',
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
    const out: RunOutput = { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    if (r.error) out.error = r.error.message;
    return out;
  },
  has(command) {
    const dirs = command.includes('/') ? [''] : (process.env.PATH ?? '').split(delimiter);
    return dirs.some((d) => {
      try {
        accessSync(d === '' ? command : join(d, command), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  },
};

/** One line saying how a command failed: its status and the end of what it printed. */
export function describeFailure(command: string, args: string[], r: RunOutput): string {
  const how = r.error ?? (r.status === null ? 'killed' : `exit status ${r.status}`);
  const said = `${r.stderr}${r.stdout}`.trim().split('\n').slice(-12).join('\n');
  return `${[command, ...args].join(' ')}: ${how}${said ? `\n${said}` : ''}`;
}
