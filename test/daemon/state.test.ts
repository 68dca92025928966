/**
 * The state file: bound to the network namespace that wrote it, read
 * defensively (truncated, not JSON, wrong types: never an exception, always a
 * verdict naming what is wrong), and written so that a failure leaves the old
 * record and no temporary file behind (issue 12, defects 1, 4, 8).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { zeroCounters } from '../../src/backend/types.ts';
import { resolveTunnel } from '../../src/config/tunnel.ts';
import { parseState, StateError, type StateRecord, StateWriter } from '../../src/daemon/state.ts';

const HERE = { cookie: '4130', bootId: '10d1fbe0-e2ee-4fd5-a7f6-0e0d987642bd' };
const config = resolveTunnel({ kind: 'entry', config: { name: 'e1', tunnelId: 1, remote: '192.0.2.2' } }, []);
const record: StateRecord = {
  netns: HERE,
  tunnels: [{ config, ifindex: 12, counters: { ...zeroCounters(), rxPackets: 5 } }],
};

function text(r: unknown): string {
  return JSON.stringify({ version: 2, ...(r as object) });
}

test('a record of this namespace reads back as written', (t) => {
  t.deepEqual(parseState(text(record), HERE), { kind: 'ours', tunnels: record.tunnels, problems: [] });
});

test('a record of another namespace (same inode, other cookie or boot) is foreign, never ours', (t) => {
  t.deepEqual(parseState(text(record), { ...HERE, cookie: '4131' }), { kind: 'foreign', netns: HERE });
  t.is(parseState(text(record), { ...HERE, bootId: 'another-boot' }).kind, 'foreign');
  // No identity at all (a file from before it was recorded): nothing proves it is ours.
  t.is(parseState(JSON.stringify({ version: 2, tunnels: [] }), HERE).kind, 'corrupt');
});

test('truncated, not JSON, or not a state file: corrupt, with the reason', (t) => {
  const whole = text(record);
  for (let cut = 0; cut < whole.length; cut += 7) {
    const read = parseState(whole.slice(0, cut), HERE);
    t.is(read.kind, 'corrupt', `cut at ${cut}`);
  }
  const notJson = parseState('{"version": 2, tunnels: [', HERE);
  t.is(notJson.kind, 'corrupt');
  if (notJson.kind === 'corrupt') t.regex(notJson.reason, /^not JSON/);
  for (const [body, reason] of [
    ['null', /expected a JSON object/],
    ['[1,2]', /expected a JSON object/],
    ['{"version":1,"tunnels":[]}', /version 1 is not 2/],
    [JSON.stringify({ version: 2, netns: HERE, tunnels: {} }), /tunnels: not a list/],
    [JSON.stringify({ version: 2, netns: { cookie: 5, bootId: 'x' }, tunnels: [] }), /netns/],
  ] as const) {
    const read = parseState(body, HERE);
    t.is(read.kind, 'corrupt', body);
    if (read.kind === 'corrupt') t.regex(read.reason, reason);
  }
});

test('entries of the wrong types are left out one by one, each problem named', (t) => {
  const read = parseState(
    text({
      netns: HERE,
      tunnels: [
        null,
        { config: null },
        { config: { name: 'e2', tunnelId: 'seven', remote: '192.0.2.2' } },
        { config: { name: 5, tunnelId: 2, remote: '192.0.2.2' } },
        {
          config: { name: 'ok', tunnelId: 3, remote: '192.0.2.3' },
          ifindex: 'x',
          counters: { rxPackets: -1 },
        },
      ],
    }),
    HERE,
  );
  if (read.kind !== 'ours') return t.fail(read.kind);
  t.deepEqual(
    read.tunnels.map((e) => [e.config.name, e.ifindex, e.counters]),
    [['ok', null, null]],
  );
  t.deepEqual(read.problems, [
    'tunnels[0]: not a table',
    'tunnels[1].config: name: expected a table of tunnel settings, got null',
    'tunnels[2].config: tunnel-id: "seven" is not an integer',
    'tunnels[3].config: name: 5 is not an interface name',
    'tunnels[4].ifindex: not an interface index',
    'tunnels[4].counters: not a set of counters',
  ]);
});

test('a failed write names the file, keeps the old record and leaves no temporary file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'greoip-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.json');
  const writer = new StateWriter(path);
  await writer.write(record);
  t.deepEqual(parseState(await readFile(path, 'utf8'), HERE), {
    kind: 'ours',
    tunnels: record.tunnels,
    problems: [],
  });
  // A directory where the temporary file should go: every write fails, as on a full or read-only disk.
  const blocked = new StateWriter(join(dir, 'gone', 'state.json'));
  const err = await t.throwsAsync(blocked.write({ netns: HERE, tunnels: [] }), { instanceOf: StateError });
  t.regex(err!.message, /^cannot write the state file .*gone\/state\.json \(ENOENT/);
  t.is(err!.file, join(dir, 'gone', 'state.json'));
  // A staged record is padded but still a valid record; discard removes it.
  await writer.stage({ netns: HERE, tunnels: [] }, 1000);
  const staged = (await readdir(dir)).filter((f) => f.endsWith('.tmp'));
  t.is(staged.length, 1);
  t.is(parseState(await readFile(join(dir, staged[0]!), 'utf8'), HERE).kind, 'ours');
  await writer.discard();
  t.deepEqual(await readdir(dir), ['state.json']);
  await writeFile(path, '{"version": 2, "netns":', 'utf8');
  t.is(parseState(await readFile(path, 'utf8'), HERE).kind, 'corrupt');
});
