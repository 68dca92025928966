/** sd_notify: the messages greoip sends, and the addon's unix datagram send to a real socket. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import { unixDatagramSend } from '../../src/native/index.ts';
import { createNotifier } from '../../src/systemd/notify.ts';
import { tempDir } from '../helpers.ts';
import { listen } from './listener.ts';

test('the notifier sends READY=1 with MAINPID, RELOADING=1 with MONOTONIC_USEC, STOPPING=1, STATUS', (t) => {
  const sent: [string, string][] = [];
  const n = createNotifier('/run/test.sock', (path, message) => sent.push([path, message.toString()]));
  t.true(n.active);
  n.ready('2 tunnel(s)');
  n.reloading();
  n.stopping('stopping (SIGTERM)');
  n.status('multi\nline');
  t.deepEqual(
    sent.map(([p]) => p),
    ['/run/test.sock', '/run/test.sock', '/run/test.sock', '/run/test.sock'],
  );
  t.is(sent[0]![1], `READY=1\nMAINPID=${process.pid}\nSTATUS=2 tunnel(s)\n`);
  t.regex(sent[1]![1], /^RELOADING=1\nMONOTONIC_USEC=\d+\n$/);
  t.is(sent[2]![1], 'STOPPING=1\nSTATUS=stopping (SIGTERM)\n');
  t.is(sent[3]![1], 'STATUS=multi line\n', 'one value stays one line');
});

test('without NOTIFY_SOCKET nothing is sent', (t) => {
  let calls = 0;
  const n = createNotifier(undefined, () => calls++);
  t.false(n.active);
  n.ready();
  n.stopping();
  t.is(calls, 0);
  t.false(createNotifier('', () => calls++).active);
});

test('the addon delivers a datagram to a path socket and to an abstract one; a missing socket is ENOENT', async (t) => {
  const path = join(tempDir(t, 'greoip-notify-'), 'notify.sock');
  const abstract = `@greoip-test-${randomBytes(6).toString('hex')}`;
  for (const where of [path, abstract]) {
    const l = await listen(t, where);
    unixDatagramSend(where, Buffer.from('READY=1\n'));
    t.is((await l.next()).text, 'READY=1\n', where);
  }
  const err = t.throws(() => unixDatagramSend(`${path}.missing`, Buffer.from('x')));
  t.is((err as NodeJS.ErrnoException).code, 'ENOENT');
  t.throws(() => unixDatagramSend('relative', Buffer.from('x')), { message: /absolute path/ });
});
