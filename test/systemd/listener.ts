/** A NOTIFY_SOCKET stand-in for the tests (listener.py): what a service sent systemd, and when. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

export const LISTENER = fileURLToPath(new URL('./listener.py', import.meta.url));

export interface Notification {
  t: number;
  text: string;
  links: string[] | null;
}

/** A listener process on `path` (tests' NOTIFY_SOCKET); resolves once it is bound. */
export async function listen(
  t: ExecutionContext,
  path: string,
  netns?: string,
): Promise<{ messages: Notification[]; child: ChildProcess; next: () => Promise<Notification> }> {
  const child = spawn('/usr/bin/python3', [LISTENER, path, ...(netns ? [netns] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const messages: Notification[] = [];
  const waiters: ((n: Notification) => void)[] = [];
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`notify listener exited (${code})`)));
    lines.on('line', (line) => {
      if (line === 'listening') return resolve();
      const n = JSON.parse(line) as Notification;
      messages.push(n);
      waiters.shift()?.(n);
    });
  });
  let read = 0;
  const next = () =>
    new Promise<Notification>((resolve) => {
      if (read < messages.length) resolve(messages[read++]!);
      else
        waiters.push((n) => {
          read++;
          resolve(n);
        });
    });
  return { messages, child, next };
}
