import test from 'ava';
import { diffConfigs } from '../../src/config/diff.ts';
import { parseConfigFile } from '../../src/config/file.ts';
import type { TunnelConfig } from '../../src/eoip/config.ts';

function tunnel(name: string, over: Partial<TunnelConfig> = {}): TunnelConfig {
  return {
    name,
    tunnelId: 1,
    family: 4,
    local: null,
    remote: '10.0.0.1',
    ttl: 255,
    tos: 0,
    link: null,
    keepalive: { interval: 10, retries: 10 },
    mtu: 1500,
    backend: 'userland',
    ...over,
  };
}

test('identical lists differ in nothing', (t) => {
  const list = [tunnel('a'), tunnel('b', { tunnelId: 2 })];
  t.deepEqual(diffConfigs(list, structuredClone(list)), { add: [], remove: [], change: [] });
  t.deepEqual(diffConfigs([], []), { add: [], remove: [], change: [] });
});

test('order does not matter', (t) => {
  const a = tunnel('a');
  const b = tunnel('b', { tunnelId: 2 });
  t.deepEqual(diffConfigs([a, b], [b, a]), { add: [], remove: [], change: [] });
});

test('added and removed tunnels', (t) => {
  const a = tunnel('a');
  const b = tunnel('b', { tunnelId: 2 });
  const c = tunnel('c', { tunnelId: 3 });
  t.deepEqual(diffConfigs([a, b], [b, c]), { add: [c], remove: ['a'], change: [] });
  t.deepEqual(diffConfigs([], [a, b]), { add: [a, b], remove: [], change: [] });
  t.deepEqual(diffConfigs([a, b], []), { add: [], remove: ['a', 'b'], change: [] });
});

test('a rename is a removal and an addition', (t) => {
  const renamed = tunnel('z');
  t.deepEqual(diffConfigs([tunnel('a')], [renamed]), { add: [renamed], remove: ['a'], change: [] });
});

test('changed fields only, with the new values', (t) => {
  const before = tunnel('a', { local: '10.0.0.9' });
  t.deepEqual(diffConfigs([before], [tunnel('a', { mtu: 1400, ttl: 64 })]), {
    add: [],
    remove: [],
    change: [{ name: 'a', changes: { local: null, mtu: 1400, ttl: 64 } }],
  });
  for (const over of [
    { tunnelId: 9 },
    { tos: 8 },
    { link: 'eth1' },
    { backend: 'kernel' as const },
    { keepalive: null },
    { keepalive: { interval: 10, retries: 3 } },
    { keepalive: { interval: 3, retries: 10 } },
  ]) {
    t.deepEqual(diffConfigs([tunnel('a')], [tunnel('a', over)]).change, [{ name: 'a', changes: over }]);
  }
});

test('keepalive compares by value, both ways to and from none', (t) => {
  const on = tunnel('a');
  const off = tunnel('a', { keepalive: null });
  t.deepEqual(diffConfigs([on], [tunnel('a', { keepalive: { interval: 10, retries: 10 } })]).change, []);
  t.deepEqual(diffConfigs([off], [off]).change, []);
  t.deepEqual(diffConfigs([off], [on]).change, [
    { name: 'a', changes: { keepalive: { interval: 10, retries: 10 } } },
  ]);
  t.deepEqual(diffConfigs([on], [off]).change, [{ name: 'a', changes: { keepalive: null } }]);
});

test('a remote of the other family changes the family too', (t) => {
  const v6 = tunnel('a', { remote: '2001:db8::1', family: 6 });
  t.deepEqual(diffConfigs([tunnel('a')], [v6]).change, [
    { name: 'a', changes: { family: 6, remote: '2001:db8::1' } },
  ]);
});

test('changes never alias the new list', (t) => {
  const next = tunnel('a', { keepalive: { interval: 5, retries: 5 } });
  const { change } = diffConfigs([tunnel('a')], [next]);
  t.not(change[0]?.changes.keepalive, next.keepalive);
});

test('a reload between two config files', (t) => {
  const old = parseConfigFile(
    `tunnels:
  - {name: hq, tid: 100, remote: 198.51.100.2}
  - {name: lab, tid: 200, remote: 198.51.100.3}
  - {name: old, tid: 300, remote: 198.51.100.4}
`,
    'yaml',
  );
  const next = parseConfigFile(
    `
[[tunnels]]
name = "hq"
tid = 100
remote = "198.51.100.2"

[[tunnels]]
name = "lab"
tid = 200
remote = "198.51.100.3"
keepalive = "none"
mtu = 1400

[[tunnels]]
name = "new"
tid = 400
remote = "2001:db8::4"
`,
    'toml',
  );
  const diff = diffConfigs(old, next);
  t.deepEqual(diff.remove, ['old']);
  t.deepEqual(
    diff.add.map((x) => [x.name, x.family]),
    [['new', 6]],
  );
  t.deepEqual(diff.change, [{ name: 'lab', changes: { keepalive: null, mtu: 1400 } }]);
});
