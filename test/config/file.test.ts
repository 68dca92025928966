import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parseEoipArgs } from '../../src/config/eoip-args.ts';
import { ConfigError, formatOf, loadConfigFile, parseConfigFile } from '../../src/config/file.ts';
import { applyDefaults } from '../../src/config/index.ts';
import { DEFAULTS, type TunnelConfig } from '../../src/eoip/config.ts';

const YAML = `
# two sites
tunnels:
  - name: eoip-hq
    tunnel-id: 100        # also accept tunnelId / tid
    local: 192.0.2.1
    remote: 198.51.100.2
    keepalive: 10,10
    mtu: 1500
    ttl: 255
    tos: 0
    link: eth0
    backend: userland
  - name: eoip-v6
    tid: 4095
    remote: 2001:DB8::2
    keepalive: none
    backend: kernel
  - name: eoip-branch
    tunnelId: 7
    remote: 203.0.113.9
    keepalive: {interval: 5, retries: 3}
    mtu: 1400
`;

const TOML = `
# two sites
[[tunnels]]
name = "eoip-hq"
tunnel-id = 100
local = "192.0.2.1"
remote = "198.51.100.2"
keepalive = "10,10"
mtu = 1500
ttl = 255
tos = 0
link = "eth0"
backend = "userland"

[[tunnels]]
name = "eoip-v6"
tid = 4095
remote = "2001:DB8::2"
keepalive = "none"
backend = "kernel"

[[tunnels]]
name = "eoip-branch"
tunnel_id = 7
remote = "203.0.113.9"
keepalive = { interval = 5, retries = 3 }
mtu = 1400
`;

const EXPECTED: TunnelConfig[] = [
  {
    name: 'eoip-hq',
    tunnelId: 100,
    family: 4,
    local: '192.0.2.1',
    remote: '198.51.100.2',
    ttl: 255,
    tos: 0,
    link: 'eth0',
    keepalive: { interval: 10, retries: 10 },
    mtu: 1500,
    backend: 'userland',
  },
  {
    name: 'eoip-v6',
    tunnelId: 4095,
    family: 6,
    local: null,
    remote: '2001:db8::2',
    ttl: DEFAULTS.ttl,
    tos: DEFAULTS.tos,
    link: null,
    keepalive: null,
    mtu: DEFAULTS.mtu,
    backend: 'kernel',
  },
  {
    name: 'eoip-branch',
    tunnelId: 7,
    family: 4,
    local: null,
    remote: '203.0.113.9',
    ttl: DEFAULTS.ttl,
    tos: DEFAULTS.tos,
    link: null,
    keepalive: { interval: 5, retries: 3 },
    mtu: 1400,
    backend: 'userland',
  },
];

/** A one-tunnel document in each format, with `extra` keys added (or replaced) and `drop` keys left out. */
function one(format: 'yaml' | 'toml', extra: Record<string, string>, drop: string[] = []): string {
  const entries = Object.entries({ name: '"a"', tid: '1', remote: '"10.0.0.2"', ...extra }).filter(
    ([k]) => !drop.includes(k),
  );
  if (format === 'yaml') {
    const lines = entries.map(([k, v]) => `    ${k}: ${v}`);
    return `tunnels:\n  - ${lines.join('\n').trimStart()}\n`;
  }
  return `[[tunnels]]\n${entries.map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
}

function configError(
  t: import('ava').ExecutionContext,
  run: () => unknown,
  ...parts: string[]
): ConfigError | undefined {
  const err = t.throws(run, { instanceOf: ConfigError });
  if (err === undefined) return undefined;
  for (const part of parts) t.true(err.message.includes(part), `${JSON.stringify(part)} in ${err.message}`);
  return err;
}

test('YAML parses into complete tunnels', (t) => {
  t.deepEqual(parseConfigFile(YAML, 'yaml'), EXPECTED);
});

test('TOML parses into the same tunnels', (t) => {
  t.deepEqual(parseConfigFile(TOML, 'toml'), EXPECTED);
  t.deepEqual(parseConfigFile(TOML, 'toml'), parseConfigFile(YAML, 'yaml'));
});

test('a file tunnel equals the same tunnel from the command line', (t) => {
  const cmd = parseEoipArgs(
    'add name eoip-hq tid 100 local 192.0.2.1 remote 198.51.100.2 keepalive 10,10 mtu 1500 ttl 255 tos 0 link eth0 backend userland'.split(
      ' ',
    ),
  );
  if (cmd.command !== 'add') return t.fail();
  t.deepEqual(applyDefaults(cmd.config), EXPECTED[0]);
});

test('empty files and empty lists have no tunnels', (t) => {
  t.deepEqual(parseConfigFile('', 'yaml'), []);
  t.deepEqual(parseConfigFile('# nothing\n', 'yaml'), []);
  t.deepEqual(parseConfigFile('', 'toml'), []);
  t.deepEqual(parseConfigFile('tunnels: []\n', 'yaml'), []);
  t.deepEqual(parseConfigFile('tunnels:\n', 'yaml'), []);
  t.deepEqual(parseConfigFile('tunnels = []\n', 'toml'), []);
});

test('a byte-order mark is ignored', (t) => {
  t.deepEqual(parseConfigFile(`\uFEFF${TOML}`, 'toml'), EXPECTED);
  t.deepEqual(parseConfigFile(`\uFEFF${YAML}`, 'yaml'), EXPECTED);
});

for (const format of ['yaml', 'toml'] as const) {
  test(`${format}: keepalive forms`, (t) => {
    const ka = (v: string) => parseConfigFile(one(format, { keepalive: v }), format)[0]?.keepalive;
    t.deepEqual(ka('10'), { interval: 10, retries: 10 });
    t.deepEqual(ka('false'), null);
    t.deepEqual(ka('"none"'), null);
    t.deepEqual(ka('"30,2"'), { interval: 30, retries: 2 });
    t.deepEqual(ka(format === 'yaml' ? '{interval: 30}' : '{ interval = 30 }'), {
      interval: 30,
      retries: 10,
    });
    configError(t, () => ka('0'), 'tunnels[0].keepalive: interval 0 is out of range 1-3600');
    configError(t, () => ka('"10,0"'), 'tunnels[0].keepalive: retries 0 is out of range 1-255');
    configError(
      t,
      () => ka('"sometimes"'),
      'tunnels[0].keepalive: "sometimes" is not none, SECS or SECS,RETRIES',
    );
    configError(t, () => ka('true'), 'tunnels[0].keepalive: true is not none');
    configError(t, () => ka('[1, 2]'), 'tunnels[0].keepalive: a list is not none');
    configError(
      t,
      () => ka(format === 'yaml' ? '{interval: 5, retry: 3}' : '{ interval = 5, retry = 3 }'),
      'tunnels[0].keepalive: unknown key "retry"',
    );
    configError(
      t,
      () => ka(format === 'yaml' ? '{retries: 3}' : '{ retries = 3 }'),
      'tunnels[0].keepalive: interval is required',
    );
  });

  test(`${format}: every value error names the field path`, (t) => {
    const bad = (extra: Record<string, string>, ...parts: string[]) => {
      const err = configError(t, () => parseConfigFile(one(format, extra), format), ...parts);
      t.truthy(err?.path, 'path set');
    };
    bad({ tid: '70000' }, 'tunnels[0].tid: 70000 is out of range 0-65535');
    bad({ tid: '5000', remote: '"2001:db8::1"' }, 'tunnels[0].tid: 5000 is out of range 0-4095', 'EoIPv6');
    bad({ tid: '"x"' }, 'tunnels[0].tid: "x" is not an integer');
    bad({ tid: '1.5' }, 'tunnels[0].tid: 1.5 is not an integer');
    bad({ tid: '99999999999999999999999' }, 'tunnels[0].tid:', 'out of range 0-65535');
    bad({ remote: '"10.0.0.300"' }, 'tunnels[0].remote: "10.0.0.300" is not an IPv4 or IPv6 address');
    bad({ remote: '10' }, 'tunnels[0].remote: 10 is not an IPv4 or IPv6 address');
    bad({ remote: '"0.0.0.0"' }, 'tunnels[0].remote:', 'unspecified');
    bad({ local: '"2001:db8::1"' }, 'tunnels[0].local: 2001:db8::1 is IPv6 but remote 10.0.0.2 is IPv4');
    bad({ local: '"1.2.3"' }, 'tunnels[0].local: "1.2.3" is not an IPv4 or IPv6 address');
    bad({ ttl: '0' }, 'tunnels[0].ttl: 0 is out of range 1-255');
    bad({ ttl: '"high"' }, 'tunnels[0].ttl: "high" is not an integer');
    bad({ tos: '256' }, 'tunnels[0].tos: 256 is out of range 0-255');
    bad({ mtu: '67' }, 'tunnels[0].mtu: 67 is out of range 68-65493');
    bad({ mtu: '[1500]' }, 'tunnels[0].mtu: a list is not an integer');
    bad({ link: '"eth/0"' }, `tunnels[0].link: "eth/0" must not contain '/'`);
    bad({ backend: '"xdp"' }, 'tunnels[0].backend: "xdp" is not one of userland, kernel, ebpf');
    bad({ name: '"a-very-long-interface"' }, 'tunnels[0].name: "a-very-long-interface" is 21 bytes long');
    bad({ name: '".."' }, 'tunnels[0].name: ".." is not allowed');
    bad({ name: '"a b"' }, 'tunnels[0].name: "a b" must not contain whitespace');
    bad({ name: '5' }, 'tunnels[0].name: 5 is not an interface name');
  });

  test(`${format}: the path uses the key as written`, (t) => {
    for (const key of ['tunnel-id', 'tunnelId', 'tid', 'tunnel_id']) {
      const text = one(format, {})
        .replace(/\btid\b/, key)
        .replace(/(tunnel-id|tunnelId|tid|tunnel_id)( = |: )1/, '$1$270000');
      const err = configError(
        t,
        () => parseConfigFile(text, format),
        `tunnels[0].${key}: 70000 is out of range`,
      );
      t.is(err?.path, `tunnels[0].${key}`);
    }
  });

  test(`${format}: unknown keys are errors`, (t) => {
    const err = configError(
      t,
      () => parseConfigFile(one(format, { remtoe: '"10.0.0.3"' }), format),
      'tunnels[0].remtoe: unknown key',
      'did you mean "remote"?',
    );
    t.is(err?.path, 'tunnels[0].remtoe');
    configError(
      t,
      () => parseConfigFile(one(format, { family: '4' }), format),
      'tunnels[0].family: unknown key',
    );
    configError(
      t,
      () => parseConfigFile(one(format, { Name: '"b"' }), format),
      'tunnels[0].Name: unknown key',
    );
    configError(
      t,
      () => parseConfigFile(one(format, { constructor: '1' }), format),
      'tunnels[0].constructor',
    );
    const top = format === 'yaml' ? 'tunnel:\n  - name: a\n' : '[[tunnel]]\nname = "a"\n';
    configError(t, () => parseConfigFile(top, format), 'tunnel: unknown key', 'did you mean "tunnels"?');
  });

  test(`${format}: required fields`, (t) => {
    const without = (key: string) => one(format, {}, [key]);
    configError(t, () => parseConfigFile(without('name'), format), 'tunnels[0].name: required');
    configError(t, () => parseConfigFile(without('tid'), format), 'tunnels[0].tunnel-id: required');
    configError(t, () => parseConfigFile(without('remote'), format), 'tunnels[0].remote: required');
  });

  test(`${format}: two spellings of the tunnel id in one tunnel`, (t) => {
    configError(
      t,
      () => parseConfigFile(one(format, { 'tunnel-id': '2' }), format),
      'tunnels[0].tunnel-id: duplicates tid',
    );
  });
}

test('duplicate names are errors', (t) => {
  const text = `tunnels:
  - {name: a, tid: 1, remote: 10.0.0.1}
  - {name: b, tid: 2, remote: 10.0.0.1}
  - {name: a, tid: 3, remote: 10.0.0.1}
`;
  const err = configError(
    t,
    () => parseConfigFile(text, 'yaml'),
    'tunnels[2].name: "a" is already used by tunnels[0]',
  );
  t.is(err?.path, 'tunnels[2].name');
});

test('duplicate (remote, tunnel id) pairs are errors, comparing canonical addresses', (t) => {
  const text = `
[[tunnels]]
name = "a"
tid = 7
remote = "2001:db8::1"

[[tunnels]]
name = "b"
tid = 8
remote = "2001:db8::1"

[[tunnels]]
name = "c"
tunnel-id = 7
remote = "2001:DB8:0:0:0:0:0:1"
`;
  const err = configError(
    t,
    () => parseConfigFile(text, 'toml'),
    'tunnels[2].tunnel-id: 7 with remote 2001:db8::1 is already used by tunnels[0] ("a")',
  );
  t.is(err?.path, 'tunnels[2].tunnel-id');
});

test('the same tunnel id towards different remotes is fine', (t) => {
  const text = `tunnels:
  - {name: a, tid: 1, remote: 10.0.0.1}
  - {name: b, tid: 1, remote: 10.0.0.2}
  - {name: c, tid: 1, remote: "::2"}
`;
  t.is(parseConfigFile(text, 'yaml').length, 3);
});

test('YAML syntax errors carry the line number', (t) => {
  const text = 'tunnels:\n  - name: a\n    tid: 1\n   remote: [10.0.0.1\n';
  const err = configError(t, () => parseConfigFile(text, 'yaml'), 'YAML syntax error');
  t.regex(err?.message ?? '', /^line \d+, column \d+: /);
  t.true((err?.line ?? 0) >= 3, `line ${err?.line}`);
  t.is(err?.path, null);
});

test('YAML duplicate keys are syntax errors with a line', (t) => {
  const err = configError(t, () => parseConfigFile('tunnels:\n  - name: a\n    name: b\n', 'yaml'), 'line 3');
  t.is(err?.line, 3);
});

test('YAML tabs in indentation, a line', (t) => {
  const err = configError(t, () => parseConfigFile('tunnels:\n\t- name: a\n', 'yaml'), 'line 2');
  t.is(err?.line, 2);
});

test('TOML syntax errors carry line and column', (t) => {
  const err = configError(
    t,
    () => parseConfigFile('[[tunnels]]\nname = "a"\ntid = \n', 'toml'),
    'line 3, column',
    'TOML syntax error',
  );
  t.is(err?.line, 3);
  t.is(typeof err?.column, 'number');
  configError(t, () => parseConfigFile('[[tunnels]]\nname = "a"\nname = "b"\n', 'toml'), 'line 3');
});

test('wrong shapes', (t) => {
  configError(t, () => parseConfigFile('- a\n', 'yaml'), 'top level: expected a table', 'got a list');
  configError(t, () => parseConfigFile('just text\n', 'yaml'), 'top level', 'got "just text"');
  configError(t, () => parseConfigFile('tunnels: 5\n', 'yaml'), 'tunnels: expected a list of tunnels, got 5');
  configError(
    t,
    () => parseConfigFile('[tunnels]\nname = "a"\n', 'toml'),
    'tunnels: expected a list',
    'got a table',
  );
  configError(
    t,
    () => parseConfigFile('tunnels:\n  - eoip0\n', 'yaml'),
    'tunnels[0]: expected a table',
    '"eoip0"',
  );
  configError(t, () => parseConfigFile('tunnels = [1]\n', 'toml'), 'tunnels[0]: expected a table', 'got 1');
  configError(t, () => parseConfigFile('when = 2024-01-01\n', 'toml'), 'when: unknown key');
  configError(t, () => parseConfigFile('', 'json' as 'yaml'), 'unknown config format "json"');
});

test('YAML alias bombs are refused', (t) => {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 0; i < 12; i++) {
    const name = String.fromCharCode(98 + i);
    const prev = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
  }
  t.throws(() => parseConfigFile(lines.join('\n'), 'yaml'), { instanceOf: ConfigError });
});

test('formatOf picks the format by extension', (t) => {
  t.is(formatOf('/etc/greoip.yaml'), 'yaml');
  t.is(formatOf('/etc/greoip.YML'), 'yaml');
  t.is(formatOf('greoip.toml'), 'toml');
  t.is(formatOf('greoip.json'), null);
  t.is(formatOf('greoip'), null);
});

test('loadConfigFile reads YAML and TOML files and names the file in errors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'greoip-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'a.yaml'), YAML);
  await writeFile(join(dir, 'a.yml'), YAML);
  await writeFile(join(dir, 'a.toml'), TOML);
  t.deepEqual(await loadConfigFile(join(dir, 'a.yaml')), EXPECTED);
  t.deepEqual(await loadConfigFile(join(dir, 'a.yml')), EXPECTED);
  t.deepEqual(await loadConfigFile(join(dir, 'a.toml')), EXPECTED);

  await writeFile(join(dir, 'bad.yaml'), 'tunnels:\n  - {name: a, tid: 70000, remote: 10.0.0.1}\n');
  const bad = await t.throwsAsync(loadConfigFile(join(dir, 'bad.yaml')), { instanceOf: ConfigError });
  t.is(bad?.message, `${join(dir, 'bad.yaml')}: tunnels[0].tid: 70000 is out of range 0-65535`);
  t.is(bad?.file, join(dir, 'bad.yaml'));
  t.is(bad?.path, 'tunnels[0].tid');

  await writeFile(join(dir, 'syntax.toml'), '[[tunnels]\n');
  const syntax = await t.throwsAsync(loadConfigFile(join(dir, 'syntax.toml')), { instanceOf: ConfigError });
  t.true(syntax?.message.startsWith(`${join(dir, 'syntax.toml')}: line 1`), syntax?.message);
  t.is(syntax?.line, 1);

  const missing = await t.throwsAsync(loadConfigFile(join(dir, 'missing.yaml')), { instanceOf: ConfigError });
  t.true(missing?.message.includes('missing.yaml: cannot read'), missing?.message);
  await t.throwsAsync(loadConfigFile(join(dir, 'a.json')), {
    instanceOf: ConfigError,
    message: /unknown config format/,
  });
});
