/**
 * fast-check: any argv at all gives a command or an ArgsError, never another
 * exception; what parses as `add` always completes into a valid config; any
 * config text gives tunnels or a ConfigError.
 */
import test from 'ava';
import fc from 'fast-check';
import { ArgsError, parseEoipArgs } from '../../src/config/eoip-args.ts';
import { ConfigError, parseConfigFile } from '../../src/config/file.ts';
import { applyDefaults } from '../../src/config/tunnel.ts';
import { LIMITS } from '../../src/eoip/config.ts';

const RUNS = { numRuns: 3000 };

const WORDS = [
  'add',
  'a',
  'change',
  'set',
  's',
  'del',
  'delete',
  'd',
  'list',
  'l',
  'version',
  'help',
  '--json',
  '-j',
  '-h',
  '--version',
  'name',
  'n',
  'tunnel-id',
  'tid',
  't',
  'ti',
  'tu',
  'local',
  'lo',
  'remote',
  'r',
  'ttl',
  'tos',
  'link',
  'li',
  'keepalive',
  'k',
  'mtu',
  'backend',
  'userland',
  'kernel',
  'none',
  'any',
  '',
  '0',
  '1',
  '255',
  '4095',
  '4096',
  '65535',
  '65536',
  '-1',
  '0x10',
  '1e3',
  '10,10',
  '10s,5',
  ',',
  '10.0.0.1',
  '0.0.0.0',
  '2001:db8::1',
  '::',
  '::ffff:1.2.3.4',
  'eoip0',
  '.',
  '..',
  'a/b',
  '__proto__',
  'constructor',
  'toString',
];

const token = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.ipV4().map(String) },
  { weight: 1, arbitrary: fc.ipV6().map(String) },
);

test('random argv gives a command or an ArgsError, nothing else', (t) => {
  fc.assert(
    fc.property(fc.array(token, { maxLength: 16 }), (argv) => {
      try {
        const cmd = parseEoipArgs(argv);
        if (cmd.command === 'add') {
          // whatever parses completes into a config that passes every check
          const config = applyDefaults(cmd.config, 'eoip0');
          const max = config.family === 6 ? LIMITS.eoipv6MaxTunnelId : LIMITS.eoipMaxTunnelId;
          if (config.tunnelId < 0 || config.tunnelId > max) return false;
        }
        return true;
      } catch (err) {
        if (!(err instanceof ArgsError)) throw err;
        return err.message.length > 0 && !err.message.includes('\n');
      }
    }),
    RUNS,
  );
  t.pass();
});

test('well-formed add lines always parse', (t) => {
  fc.assert(
    fc.property(
      fc.record({
        tid: fc.integer({ min: 0, max: LIMITS.eoipv6MaxTunnelId }),
        remote: fc.oneof(fc.constant('10.0.0.2'), fc.constant('2001:db8::2')),
        ttl: fc.integer({ min: 1, max: 255 }),
        tos: fc.integer({ min: 0, max: 255 }),
        mtu: fc.integer({ min: LIMITS.minMtu, max: LIMITS.maxMtu }),
        interval: fc.integer({ min: 1, max: 3600 }),
        retries: fc.integer({ min: 1, max: 255 }),
      }),
      (v) => {
        const cmd = parseEoipArgs(
          `add tid ${v.tid} remote ${v.remote} ttl ${v.ttl} tos ${v.tos} mtu ${v.mtu} keepalive ${v.interval},${v.retries}`.split(
            ' ',
          ),
        );
        if (cmd.command !== 'add') return false;
        const c = applyDefaults(cmd.config, 'eoip0');
        return (
          c.tunnelId === v.tid &&
          c.ttl === v.ttl &&
          c.tos === v.tos &&
          c.mtu === v.mtu &&
          c.keepalive?.interval === v.interval &&
          c.keepalive.retries === v.retries
        );
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test('random config text gives tunnels or a ConfigError', (t) => {
  const value = fc.oneof(fc.constantFrom(...WORDS), fc.integer(), fc.boolean(), fc.string({ maxLength: 8 }));
  const entry = fc.dictionary(
    fc.constantFrom('name', 'tid', 'tunnel-id', 'remote', 'local', 'mtu', 'keepalive', 'ttl', 'x'),
    value,
  );
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 4 }), fc.string({ maxLength: 40 }), (entries, junk) => {
      const toml = entries
        .map(
          (e) =>
            `[[tunnels]]\n${Object.entries(e)
              .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
              .join('\n')}\n`,
        )
        .join('\n');
      const yaml = `tunnels:\n${entries.map((e) => `  - ${JSON.stringify(e)}`).join('\n')}\n`;
      for (const [text, format] of [
        [toml, 'toml'],
        [yaml, 'yaml'],
        [junk, 'yaml'],
        [junk, 'toml'],
      ] as const) {
        try {
          parseConfigFile(text, format);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
        }
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});
