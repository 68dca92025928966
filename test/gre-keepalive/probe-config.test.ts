/** The `gre-keepalive:` list of the daemon's config file: parsed into probe targets, every mistake named by its path. */
import test from 'ava';
import { parseConfigDocument } from '../../src/config/file.ts';
import { ConfigError } from '../../src/config/index.ts';
import { ProbeConfigError, parseProbeEntries } from '../../src/gre-keepalive/probe-config.ts';

test('devices and underlay pairs, with defaults as Cisco (10 s, 3 retries)', (t) => {
  const targets = parseProbeEntries([
    { device: 'gre1' },
    { device: 'tun6', layout: 'gre6', interval: 2.5, retries: 5, 'on-down': 'logger down', carrier: false },
    { local: '192.0.2.1', remote: '198.51.100.2', key: 77, ttl: 64 },
  ]);
  t.deepEqual(targets, [
    { device: 'gre1', intervalMs: 10_000, retries: 3 },
    { device: 'tun6', layout: 'gre6', intervalMs: 2500, retries: 5, onDown: 'logger down', carrier: false },
    {
      spec: { local: '192.0.2.1', remote: '198.51.100.2', okey: 77, ikey: 77, ttl: 64 },
      intervalMs: 10_000,
      retries: 3,
    },
  ]);
  t.deepEqual(parseProbeEntries(undefined), []);
});

test('every mistake names its path', (t) => {
  const cases: [unknown, string][] = [
    [{ device: 'gre1' }, 'gre-keepalive: expected a list of probes, got [object Object]'],
    [[{ device: 'gre1', retries: 0 }], 'gre-keepalive[0].retries: 0 is not a whole number from 1 to 255'],
    [
      [{ device: 'gre1', interval: '10' }],
      'gre-keepalive[0].interval: "10" is not a number from 0.1 to 32767',
    ],
    [
      [{ device: 'gre1', remote: '192.0.2.2' }],
      'gre-keepalive[0].remote: read from the device; only without one',
    ],
    [[{ device: 'gre1', intervall: 5 }], 'gre-keepalive[0].intervall: unknown key'],
    [[{ device: 'gre 1' }], 'gre-keepalive[0].device: "gre 1" is not an interface name'],
    [[{ local: '192.0.2.1' }], 'gre-keepalive[0]: give device, or local and remote'],
    [
      [{ local: '192.0.2.1', remote: '224.0.0.1' }],
      'gre-keepalive[0].remote: 224.0.0.1 is not a unicast peer',
    ],
    [
      [{ local: '192.0.2.1', remote: '192.0.2.2', layout: 'gre6' }],
      'gre-keepalive[0].layout: gre6 does not carry IPv4',
    ],
    [[{ device: 'gre1', layout: 'gre' }], 'gre-keepalive[0].layout: "gre" is not gre6-mikrotik or gre6'],
    [[{ device: 'gre1', carrier: 'no' }], 'gre-keepalive[0].carrier: "no" is not true or false'],
    [
      [{ device: 'gre1' }, { device: 'gre1' }],
      'gre-keepalive[1]: gre1 is already probed by gre-keepalive[0]',
    ],
  ];
  for (const [value, message] of cases) {
    const err = t.throws(() => parseProbeEntries(value), { instanceOf: ProbeConfigError });
    t.true(err!.message.startsWith(message), `${err!.message}\n  expected: ${message}`);
  }
});

test('the config file carries probes beside tunnels, in YAML and TOML', (t) => {
  const yaml = parseConfigDocument(
    'tunnels:\n  - {name: e1, tid: 1, remote: 192.0.2.9}\ngre-keepalive:\n  - device: gre1\n    retries: 4\n',
    'yaml',
  );
  t.is(yaml.tunnels.length, 1);
  t.deepEqual(yaml.probes, [{ device: 'gre1', intervalMs: 10_000, retries: 4 }]);
  const toml = parseConfigDocument(
    '[[gre-keepalive]]\nlocal = "2001:db8::1"\nremote = "2001:db8::2"\n',
    'toml',
  );
  t.deepEqual(toml, {
    tunnels: [],
    probes: [
      {
        spec: { local: '2001:db8::1', remote: '2001:db8::2', okey: null, ikey: null, ttl: 255 },
        intervalMs: 10_000,
        retries: 3,
      },
    ],
  });
  const err = t.throws(
    () => parseConfigDocument('gre-keepalive:\n  - device: gre1\n    retries: 300\n', 'yaml'),
    {
      instanceOf: ConfigError,
    },
  );
  t.is(err!.path, 'gre-keepalive[0].retries');
  t.regex(
    t.throws(() => parseConfigDocument('gre_keepalive: []\n', 'yaml'))!.message,
    /gre_keepalive: unknown key.*gre-keepalive/,
  );
});
