/**
 * Changes apply whole or not at all, with the state file written (issue 12,
 * defects 4, 5): a real Daemon over the in-memory backend, whose create fails
 * on demand, and a state file whose write fails on demand (a directory sits
 * where its temporary file goes, as on a full or read-only disk).
 */
import { mkdir, readFile, rmdir } from 'node:fs/promises';
import test from 'ava';
import { resolveTunnel } from '../../src/config/tunnel.ts';
import { parseState } from '../../src/daemon/state.ts';
import type { TunnelConfig } from '../../src/eoip/config.ts';
import { ask, IDENTITY, startInProcess } from './in-process.ts';
import { MemoryBackend } from './memory-backend.ts';

function tunnel(name: string, tid: number, extra: Partial<TunnelConfig> = {}): TunnelConfig {
  return resolveTunnel({ kind: 'entry', config: { name, tunnelId: tid, remote: '192.0.2.2', ...extra } }, []);
}

async function stateNames(path: string): Promise<string[]> {
  const read = parseState(await readFile(path, 'utf8'), IDENTITY);
  return read.kind === 'ours' ? read.tunnels.map((e) => e.config.name) : [read.kind];
}

test('a reload that fails half-way undoes what it did and never touches what it would remove', async (t) => {
  let file = [tunnel('e7', 7), tunnel('e8', 8)];
  const { daemon, backend, paths, logs } = await startInProcess(t, { config: () => file });
  backend.calls.length = 0;
  file = [tunnel('e8', 8, { ttl: 64 }), tunnel('e9', 9), tunnel('bad', 10)];
  backend.failOn.add('bad');
  await daemon.reload();
  t.like(logs.at(-1), { level: 'error', msg: 'config reload refused, running tunnels untouched' });
  t.regex(String(logs.at(-1)!.error), /refused bad/);
  // e7 (to be removed) was never deleted: removals come after what can fail.
  t.deepEqual(backend.calls, ['change e8', 'create e9', 'create bad', 'delete e9', 'change e8']);
  t.deepEqual([...backend.tunnels.keys()], ['e7', 'e8']);
  t.is(backend.tunnels.get('e8')!.ttl, 255);
  t.deepEqual(await stateNames(paths.state), ['e7', 'e8']);
});

test('a state file that cannot be written: add and del fail naming it, and change nothing', async (t) => {
  const { backend, paths } = await startInProcess(t);
  t.true(
    (await ask(paths.socket, '{"op":"add","config":{"name":"e1","tunnelId":1,"remote":"192.0.2.2"}}')).ok,
  );
  const blocker = `${paths.state}.${process.pid}.tmp`;
  await mkdir(blocker);
  const add = await ask(
    paths.socket,
    '{"op":"add","config":{"name":"e2","tunnelId":2,"remote":"192.0.2.2"}}',
  );
  t.is(add.ok, false);
  t.is(
    add.error,
    `cannot write the state file ${paths.state} (EISDIR: illegal operation on a directory, open '${blocker}')`,
  );
  t.deepEqual([...backend.tunnels.keys()], ['e1'], 'the added tunnel was removed again');
  const del = await ask(paths.socket, '{"op":"del","name":"e1"}');
  t.is(del.ok, false);
  t.regex(String(del.error), /^cannot write the state file /);
  t.deepEqual([...backend.tunnels.keys()], ['e1'], 'the tunnel to delete is still there');
  t.is(backend.calls.filter((c) => c === 'delete e1').length, 0, 'never deleted, so nothing to re-create');
  t.deepEqual(await stateNames(paths.state), ['e1']);
  await rmdir(blocker);
  t.true((await ask(paths.socket, '{"op":"del","name":"e1"}')).ok);
  t.deepEqual(await stateNames(paths.state), []);
});

test('a stored tunnel that cannot be restored is kept, listed down, and restored when it can be', async (t) => {
  const first = await startInProcess(t);
  t.true(
    (await ask(first.paths.socket, '{"op":"add","config":{"name":"e1","tunnelId":1,"remote":"192.0.2.2"}}'))
      .ok,
  );
  t.true(
    (await ask(first.paths.socket, '{"op":"add","config":{"name":"e2","tunnelId":2,"remote":"192.0.2.2"}}'))
      .ok,
  );
  await first.daemon.stop('restart');
  const backend = new MemoryBackend();
  backend.failOn.add('e1');
  const second = await startInProcess(t, { dir: first.paths.dir, backend, retryMs: 50 });
  const notRestored = second.logs.find((l) => l.msg === 'tunnel not restored, kept and retried');
  t.like(notRestored, { level: 'warn', tunnel: 'e1', retry_seconds: 0.05 });
  t.regex(String(notRestored?.error), /refused e1/);
  const listed = (await ask(second.paths.socket, '{"op":"list"}')).tunnels as {
    config: { name: string };
    state: string;
  }[];
  t.deepEqual(
    listed.map((s) => [s.config.name, s.state]),
    [
      ['e1', 'down'],
      ['e2', 'waiting'],
    ],
  );
  t.deepEqual(await stateNames(second.paths.state), ['e2', 'e1'], 'kept in the state file');
  // Nothing else may take its name or its tunnel id meanwhile.
  const clash = await ask(
    second.paths.socket,
    '{"op":"add","config":{"name":"x","tunnelId":1,"remote":"192.0.2.2"}}',
  );
  t.regex(String(clash.error), /already used by e1/);
  backend.failOn.delete('e1');
  const restored = () => second.logs.some((l) => l.msg === 'tunnel restored' && l.tunnel === 'e1');
  for (let i = 0; i < 200 && !restored(); i++) await new Promise((r) => setTimeout(r, 20));
  t.true(restored());
  t.true(backend.tunnels.has('e1'));
  t.like(second.logs.at(-1), { level: 'info', msg: 'tunnel restored', tunnel: 'e1' });
  t.deepEqual(await stateNames(second.paths.state), ['e2', 'e1']);
});
