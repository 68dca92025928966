import test from 'ava';
import {
  type AddConfig,
  ArgsError,
  type ArgsField,
  type EoipCommand,
  parseEoipArgs,
} from '../../src/config/eoip-args.ts';
import { applyChanges, applyDefaults, defaultName } from '../../src/config/tunnel.ts';
import { DEFAULTS, LIMITS, type TunnelConfig } from '../../src/eoip/config.ts';

function parse(line: string): EoipCommand {
  return parseEoipArgs(line === '' ? [] : line.split(' '));
}

function addConfig(line: string): AddConfig {
  const cmd = parse(line);
  if (cmd.command !== 'add') throw new Error(`expected add, got ${cmd.command}`);
  return cmd.config;
}

/** Asserts the line fails with an ArgsError about `field` whose message contains each of `parts`. */
function fails(
  t: import('ava').ExecutionContext,
  line: string,
  field: ArgsField,
  ...parts: string[]
): ArgsError | undefined {
  const err = t.throws(() => parse(line), { instanceOf: ArgsError }, line);
  if (err === undefined) return undefined;
  t.is(err.field, field, `${line}: ${err.message}`);
  for (const part of parts) t.true(err.message.includes(part), `${JSON.stringify(part)} in ${err.message}`);
  return err;
}

const BASE = 'add tid 5 remote 10.0.0.2';

// --- commands and their abbreviations -------------------------------------------------

test('the kernel tool example parses', (t) => {
  t.deepEqual(parse('add name eoip0 local 203.0.113.113 remote 198.51.100.100 tunnel-id 8421'), {
    command: 'add',
    config: { name: 'eoip0', tunnelId: 8421, family: 4, local: '203.0.113.113', remote: '198.51.100.100' },
  });
});

test('every add parameter', (t) => {
  t.deepEqual(
    addConfig(
      'add name eoip-hq tunnel-id 100 local 192.0.2.1 remote 198.51.100.2 ttl 64 tos 16 link eth0 keepalive 5,3 mtu 1400 backend kernel',
    ),
    {
      name: 'eoip-hq',
      tunnelId: 100,
      family: 4,
      local: '192.0.2.1',
      remote: '198.51.100.2',
      ttl: 64,
      tos: 16,
      link: 'eth0',
      keepalive: { interval: 5, retries: 3 },
      mtu: 1400,
      backend: 'kernel',
    },
  );
});

test('the brief example with abbreviations', (t) => {
  t.deepEqual(parse('a n eoip0 tid 5 rem 10.0.0.2'), {
    command: 'add',
    config: { name: 'eoip0', tunnelId: 5, family: 4, remote: '10.0.0.2' },
  });
});

for (const [word, command] of [
  ['a', 'add'],
  ['ad', 'add'],
  ['add', 'add'],
  ['c', 'change'],
  ['ch', 'change'],
  ['change', 'change'],
  ['s', 'change'],
  ['se', 'change'],
  ['set', 'change'],
] as const) {
  test(`command '${word}' is ${command}`, (t) => {
    const rest = command === 'add' ? ' tid 1 remote 10.0.0.1' : ' name x mtu 1400';
    t.is(parse(`${word}${rest}`).command, command);
  });
}

for (const word of ['d', 'de', 'del', 'dele', 'delete']) {
  test(`command '${word}' is del (del and delete are one command)`, (t) => {
    t.deepEqual(parse(`${word} name eoip0`), { command: 'del', name: 'eoip0' });
  });
}

for (const word of ['l', 'li', 'lis', 'list']) {
  test(`command '${word}' is list`, (t) => {
    t.deepEqual(parse(word), { command: 'list', json: false });
    t.deepEqual(parse(`${word} --json`), { command: 'list', json: true });
    t.deepEqual(parse(`${word} -j`), { command: 'list', json: true });
  });
}

for (const word of ['v', 've', 'version', '--version', '-V']) {
  test(`'${word}' is version`, (t) => {
    t.deepEqual(parse(word), { command: 'version' });
  });
}

for (const line of [
  '',
  'help',
  'h',
  '-h',
  '--help',
  'add help',
  'add tid 5 help',
  'set help',
  'del help',
  'list help',
]) {
  test(`'${line}' is help`, (t) => {
    t.deepEqual(parse(line), { command: 'help' });
  });
}

test('unknown command lists the commands', (t) => {
  fails(t, 'frobnicate', 'command', "unknown command 'frobnicate'", 'add', 'change', 'list', 'version');
  fails(t, 'ad-hoc', 'command', "'ad-hoc'");
  fails(t, 'addd', 'command', "'addd'", 'did you mean "add"?');
  fails(t, '--frob', 'command', "unknown option '--frob'");
});

test('an empty keyword is never a prefix of anything', (t) => {
  t.throws(() => parseEoipArgs(['']), { instanceOf: ArgsError });
  t.throws(() => parseEoipArgs(['add', '', '5']), { instanceOf: ArgsError });
});

test('commands are case-sensitive', (t) => {
  fails(t, 'ADD tid 1 remote 10.0.0.1', 'command', "'ADD'");
});

// --- parameter keywords and abbreviations ---------------------------------------------

const PARAM_ABBREVIATIONS: [string, keyof AddConfig, string, unknown][] = [
  ['n', 'name', 'eoip7', 'eoip7'],
  ['na', 'name', 'eoip7', 'eoip7'],
  ['name', 'name', 'eoip7', 'eoip7'],
  ['lo', 'local', '10.0.0.1', '10.0.0.1'],
  ['loc', 'local', '10.0.0.1', '10.0.0.1'],
  ['local', 'local', '10.0.0.1', '10.0.0.1'],
  ['tt', 'ttl', '9', 9],
  ['ttl', 'ttl', '9', 9],
  ['to', 'tos', '9', 9],
  ['tos', 'tos', '9', 9],
  ['li', 'link', 'eth1', 'eth1'],
  ['link', 'link', 'eth1', 'eth1'],
  ['k', 'keepalive', 'none', null],
  ['kee', 'keepalive', '20,4', { interval: 20, retries: 4 }],
  ['keepalive', 'keepalive', '20', { interval: 20, retries: 10 }],
  ['m', 'mtu', '1400', 1400],
  ['mtu', 'mtu', '1400', 1400],
  ['b', 'backend', 'kernel', 'kernel'],
  ['backend', 'backend', 'userland', 'userland'],
  ['backe', 'backend', 'ebpf', 'ebpf'],
];

for (const [word, key, value, expected] of PARAM_ABBREVIATIONS) {
  test(`add parameter '${word}' is ${key}`, (t) => {
    t.deepEqual(addConfig(`${BASE} ${word} ${value}`)[key], expected);
  });
}

for (const word of ['tu', 'tun', 'tunnel', 'tunnel-', 'tunnel-i', 'tunnel-id', 'ti', 'tid']) {
  test(`'${word}' is the tunnel id`, (t) => {
    t.is(addConfig(`add ${word} 77 remote 10.0.0.2`).tunnelId, 77);
  });
}

for (const word of ['r', 're', 'rem', 'remote']) {
  test(`'${word}' is remote`, (t) => {
    t.is(addConfig(`add tid 1 ${word} 10.9.8.7`).remote, '10.9.8.7');
  });
}

test("ambiguous 't' lists every candidate", (t) => {
  const err = fails(t, 'add t 5 remote 10.0.0.2', 'parameter');
  t.is(err?.message, "ambiguous 't': tunnel-id, tid, ttl, tos");
});

test("ambiguous 'l' lists local and link", (t) => {
  const err = fails(t, 'change name x l 10.0.0.1', 'parameter');
  t.is(err?.message, "ambiguous 'l': local, link");
});

test('exact keywords win over longer ones they prefix', (t) => {
  // `tid`, `ttl` and `tos` are exact, though 't' alone is ambiguous.
  t.deepEqual(addConfig('add tid 1 remote 10.0.0.1 ttl 2 tos 3'), {
    name: null,
    tunnelId: 1,
    family: 4,
    remote: '10.0.0.1',
    ttl: 2,
    tos: 3,
  });
});

test('unknown parameter is named, with a suggestion and the list', (t) => {
  fails(
    t,
    `${BASE} remtoe 10.0.0.3`,
    'parameter',
    "unknown parameter 'remtoe' for add",
    'did you mean "remote"?',
  );
  fails(t, `${BASE} colour blue`, 'parameter', "'colour'", 'tunnel-id', 'keepalive', 'backend');
  fails(t, `${BASE} REMOTE 10.0.0.3`, 'parameter', "'REMOTE'");
  fails(t, 'del name x mtu 1400', 'parameter', "unknown parameter 'mtu' for del");
  fails(t, 'list --yaml', 'parameter', "'--yaml'");
  fails(t, 'version now', 'parameter', "'now'");
});

test('parameters are order-free', (t) => {
  t.deepEqual(addConfig('add remote 10.0.0.2 mtu 1400 tid 5 name e1'), {
    name: 'e1',
    tunnelId: 5,
    family: 4,
    remote: '10.0.0.2',
    mtu: 1400,
  });
});

test('a parameter without its value', (t) => {
  fails(t, 'add tid 5 remote', 'remote', 'remote: missing value');
  fails(t, 'add tid', 'tunnel-id', 'tid: missing value');
  fails(t, 'del name', 'name', 'name: missing value');
});

test('a parameter given twice', (t) => {
  fails(t, `${BASE} mtu 1400 mtu 1500`, 'mtu', 'mtu: given more than once');
  fails(
    t,
    'add tid 5 tunnel-id 6 remote 10.0.0.2',
    'tunnel-id',
    'given more than once',
    'as tid and tunnel-id',
  );
});

// --- add: required fields and defaults ------------------------------------------------

test('add without a name leaves it to the daemon', (t) => {
  t.is(addConfig(BASE).name, null);
});

test('add needs a tunnel id and a remote', (t) => {
  fails(t, 'add remote 10.0.0.2', 'tunnel-id', 'tunnel-id: required');
  fails(t, 'add tid 5', 'remote', 'remote: required');
  fails(t, 'add name x', 'tunnel-id', 'required');
});

test('local may be omitted, or be any', (t) => {
  t.false('local' in addConfig(BASE));
  t.is(addConfig(`${BASE} local any`).local, null);
  t.is(addConfig(`${BASE} local 0.0.0.0`).local, null);
});

test('applyDefaults fills DEFAULTS and derives the family', (t) => {
  const config = applyDefaults(addConfig('add name e0 tid 5 remote 10.0.0.2'));
  t.deepEqual(config, {
    name: 'e0',
    tunnelId: 5,
    family: 4,
    local: null,
    remote: '10.0.0.2',
    ttl: DEFAULTS.ttl,
    tos: DEFAULTS.tos,
    link: null,
    keepalive: DEFAULTS.keepalive,
    mtu: DEFAULTS.mtu,
    backend: DEFAULTS.backend,
  } satisfies TunnelConfig);
  t.not(config.keepalive, DEFAULTS.keepalive, 'a copy, never the shared default object');
});

test('applyDefaults keeps what was given, keepalive none included', (t) => {
  const config = applyDefaults(
    addConfig(
      'add name e0 tid 5 remote 2001:db8::2 local 2001:db8::1 keepalive none mtu 1400 backend kernel',
    ),
  );
  t.is(config.family, 6);
  t.is(config.keepalive, null);
  t.is(config.mtu, 1400);
  t.is(config.backend, 'kernel');
  t.is(config.local, '2001:db8::1');
});

test('applyDefaults names an unnamed tunnel from its argument, or refuses', (t) => {
  t.is(applyDefaults(addConfig(BASE), 'eoip3').name, 'eoip3');
  t.is(applyDefaults(addConfig(`${BASE} name mine`), 'eoip3').name, 'mine');
  const err = t.throws(() => applyDefaults(addConfig(BASE)), { instanceOf: ArgsError });
  t.is(err?.field, 'name');
});

test('applyDefaults re-checks a hand-made partial', (t) => {
  const err = t.throws(() => applyDefaults({ name: 'x', tunnelId: 5000, remote: '2001:db8::1', family: 4 }), {
    instanceOf: ArgsError,
  });
  t.is(err?.field, 'tunnel-id');
  t.is(
    applyDefaults({ name: 'x', tunnelId: 5, remote: '2001:db8::1', family: 4 }).family,
    6,
    'family re-derived',
  );
});

test('defaultName picks the first free eoipN', (t) => {
  t.is(defaultName([]), 'eoip0');
  t.is(defaultName(['eoip0', 'eoip1', 'eoip3']), 'eoip2');
  t.is(defaultName(new Set(['x0']), 'x'), 'x1');
});

// --- families --------------------------------------------------------------------------

test('an IPv6 remote selects EoIPv6, canonicalised', (t) => {
  const config = addConfig('add tid 4095 remote 2001:DB8:0:0::1');
  t.is(config.family, 6);
  t.is(config.remote, '2001:db8::1');
  t.is(addConfig('add tid 65535 remote 10.0.0.2').family, 4);
});

test('tunnel id range depends on the family', (t) => {
  t.is(addConfig('add tid 0 remote 10.0.0.2').tunnelId, 0);
  t.is(addConfig(`add tid ${LIMITS.eoipMaxTunnelId} remote 10.0.0.2`).tunnelId, 65535);
  fails(t, 'add tid 65536 remote 10.0.0.2', 'tunnel-id', 'tid: 65536 is out of range 0-65535');
  t.is(addConfig(`add tid ${LIMITS.eoipv6MaxTunnelId} remote 2001:db8::1`).tunnelId, 4095);
  fails(
    t,
    'add tunnel-id 4096 remote 2001:db8::1',
    'tunnel-id',
    'tunnel-id: 4096 is out of range 0-4095',
    'EoIPv6',
  );
  fails(t, 'add tid -1 remote 10.0.0.2', 'tunnel-id', '-1 is out of range');
  fails(t, 'add tid five remote 10.0.0.2', 'tunnel-id', 'tid: "five" is not an integer');
  fails(t, 'add tid 1.5 remote 10.0.0.2', 'tunnel-id', '"1.5" is not an integer');
  fails(t, 'add tid 007 remote 10.0.0.2', 'tunnel-id', '"007" is not an integer');
  fails(t, 'add tid 99999999999999999999 remote 10.0.0.2', 'tunnel-id', 'out of range');
});

test('hex integers are accepted', (t) => {
  t.is(addConfig('add tid 0x10 remote 10.0.0.2 tos 0xb8').tos, 0xb8);
  t.is(addConfig('add tid 0x10 remote 10.0.0.2').tunnelId, 16);
});

test('local and remote must be of one family', (t) => {
  fails(t, 'add tid 1 local 10.0.0.1 remote 2001:db8::1', 'local', 'local: 10.0.0.1 is IPv4', 'IPv6');
  fails(t, 'add tid 1 local 2001:db8::1 remote 10.0.0.1', 'local', 'local: 2001:db8::1 is IPv6', 'IPv4');
});

test('addresses are validated', (t) => {
  fails(t, 'add tid 1 remote 10.0.0.300', 'remote', 'remote: "10.0.0.300" is not an IPv4 or IPv6 address');
  fails(t, 'add tid 1 remote example.com', 'remote', '"example.com" is not an IPv4 or IPv6 address');
  fails(t, 'add tid 1 remote 2001:db8:::1', 'remote', 'not an IPv4 or IPv6 address');
  fails(t, 'add tid 1 remote 0.0.0.0', 'remote', 'unspecified');
  fails(t, 'add tid 1 remote ::', 'remote', 'unspecified');
  fails(t, 'add tid 1 remote 224.0.0.5', 'remote', 'multicast');
  fails(t, 'add tid 1 remote 255.255.255.255', 'remote', 'broadcast');
  fails(t, 'add tid 1 remote ff02::1', 'remote', 'multicast');
  fails(t, 'add tid 1 remote ::ffff:10.0.0.1', 'remote', 'IPv4-mapped', 'write it as 10.0.0.1');
  fails(
    t,
    'add tid 1 remote 10.0.0.2 local 10.0.0.256',
    'local',
    'local: "10.0.0.256" is not an IPv4 or IPv6 address',
  );
  fails(t, 'add tid 1 remote 10.0.0.2 local 239.1.1.1', 'local', 'multicast');
});

// --- value validation --------------------------------------------------------------------

test('ttl is 1-255', (t) => {
  t.is(addConfig(`${BASE} ttl 1`).ttl, 1);
  t.is(addConfig(`${BASE} ttl 255`).ttl, 255);
  fails(t, `${BASE} ttl 0`, 'ttl', 'ttl: 0 is out of range 1-255');
  fails(t, `${BASE} ttl 256`, 'ttl', 'ttl: 256 is out of range 1-255');
  fails(t, `${BASE} ttl inherit`, 'ttl', 'ttl: "inherit" is not an integer');
});

test('tos is 0-255', (t) => {
  t.is(addConfig(`${BASE} tos 0`).tos, 0);
  t.is(addConfig(`${BASE} tos 255`).tos, 255);
  fails(t, `${BASE} tos 256`, 'tos', 'tos: 256 is out of range 0-255');
  fails(t, `${BASE} tos x`, 'tos', 'tos: "x" is not an integer');
});

test('mtu is within LIMITS', (t) => {
  t.is(addConfig(`${BASE} mtu ${LIMITS.minMtu}`).mtu, LIMITS.minMtu);
  t.is(addConfig(`${BASE} mtu ${LIMITS.maxMtu}`).mtu, LIMITS.maxMtu);
  fails(t, `${BASE} mtu ${LIMITS.minMtu - 1}`, 'mtu', `mtu: ${LIMITS.minMtu - 1} is out of range 68-65493`);
  fails(t, `${BASE} mtu ${LIMITS.maxMtu + 1}`, 'mtu', `mtu: ${LIMITS.maxMtu + 1} is out of range`);
  fails(t, `${BASE} mtu big`, 'mtu', 'mtu: "big" is not an integer');
});

test('keepalive forms', (t) => {
  t.is(addConfig(`${BASE} keepalive none`).keepalive, null);
  t.deepEqual(addConfig(`${BASE} keepalive 10`).keepalive, { interval: 10, retries: 10 });
  t.deepEqual(addConfig(`${BASE} keepalive 1,1`).keepalive, { interval: 1, retries: 1 });
  t.deepEqual(addConfig(`${BASE} keepalive 3600,255`).keepalive, { interval: 3600, retries: 255 });
  t.deepEqual(
    addConfig(`${BASE} keepalive 10s,5`).keepalive,
    { interval: 10, retries: 5 },
    'RouterOS spelling',
  );
});

test('keepalive errors name the part that is wrong', (t) => {
  fails(t, `${BASE} keepalive 0`, 'keepalive', 'keepalive: interval 0 is out of range 1-3600', "'none'");
  fails(t, `${BASE} keepalive 3601`, 'keepalive', 'interval 3601 is out of range 1-3600');
  fails(t, `${BASE} keepalive 10,0`, 'keepalive', 'keepalive: retries 0 is out of range 1-255');
  fails(t, `${BASE} keepalive 10,256`, 'keepalive', 'retries 256 is out of range 1-255');
  for (const bad of ['off', 'NONE', '10,', ',10', '10,10,10', 'x,1', '1,x', '10m', '']) {
    fails(t, `${BASE} keepalive ${bad}`, 'keepalive', 'keepalive:');
  }
  fails(t, `${BASE} keepalive off`, 'keepalive', '"off" is not none, SECS or SECS,RETRIES');
});

test('backend is userland, kernel or ebpf', (t) => {
  fails(t, `${BASE} backend xdp`, 'backend', 'backend: "xdp" is not one of userland, kernel, ebpf');
  fails(t, `${BASE} backend k`, 'backend', 'backend: "k"');
});

test('names follow the kernel rules', (t) => {
  t.is(addConfig(`${BASE} name ${'x'.repeat(15)}`).name, 'x'.repeat(15));
  t.is(addConfig(`${BASE} name eoip.v6-1_a`).name, 'eoip.v6-1_a');
  fails(t, `${BASE} name ${'x'.repeat(16)}`, 'name', 'name:', '16 bytes', 'limit is 15');
  fails(t, `${BASE} name ${'é'.repeat(8)}`, 'name', '16 bytes'); // 8 characters, 16 bytes
  fails(t, `${BASE} name a/b`, 'name', `name: "a/b" must not contain '/'`);
  fails(t, `${BASE} name a:b`, 'name', "must not contain ':'");
  fails(t, `${BASE} name eoip%d`, 'name', "must not contain '%'");
  fails(t, `${BASE} name .`, 'name', 'name: "." is not allowed');
  fails(t, `${BASE} name ..`, 'name', 'name: ".." is not allowed');
  t.throws(() => parseEoipArgs(['add', 'tid', '1', 'remote', '10.0.0.1', 'name', 'a b']), {
    instanceOf: ArgsError,
    message: 'name: "a b" must not contain whitespace',
  });
  t.throws(() => parseEoipArgs(['add', 'tid', '1', 'remote', '10.0.0.1', 'name', 'a\tb']), {
    message: /whitespace/,
  });
  t.throws(() => parseEoipArgs(['add', 'tid', '1', 'remote', '10.0.0.1', 'name', 'a\u0001b']), {
    message: /control characters/,
  });
  t.throws(() => parseEoipArgs(['add', 'tid', '1', 'remote', '10.0.0.1', 'name', '']), {
    message: 'name: must not be empty',
  });
});

test('link is an interface name or index', (t) => {
  t.is(addConfig(`${BASE} link 3`).link, '3');
  fails(t, `${BASE} link eth/0`, 'link', `link: "eth/0" must not contain '/'`);
  fails(t, `${BASE} link ${'e'.repeat(16)}`, 'link', 'link:', 'limit is 15');
});

// --- change -------------------------------------------------------------------------------

test('change takes a name and only the fields given', (t) => {
  t.deepEqual(parse('change name eoip0 mtu 1400 keepalive none'), {
    command: 'change',
    name: 'eoip0',
    changes: { mtu: 1400, keepalive: null },
  });
  t.deepEqual(parse('set n eoip0 tid 9'), { command: 'change', name: 'eoip0', changes: { tunnelId: 9 } });
});

test('change with every field', (t) => {
  t.deepEqual(
    parse(
      'change name e tunnel-id 9 local 10.0.0.1 remote 10.0.0.2 ttl 9 tos 9 link eth9 keepalive 9,9 mtu 1400',
    ),
    {
      command: 'change',
      name: 'e',
      changes: {
        tunnelId: 9,
        local: '10.0.0.1',
        remote: '10.0.0.2',
        family: 4,
        ttl: 9,
        tos: 9,
        link: 'eth9',
        keepalive: { interval: 9, retries: 9 },
        mtu: 1400,
      },
    },
  );
});

test('change of remote carries the family, and checks the tunnel id against it', (t) => {
  t.deepEqual(parse('change name e remote 2001:db8::9'), {
    command: 'change',
    name: 'e',
    changes: { remote: '2001:db8::9', family: 6 },
  });
  fails(t, 'change name e remote 2001:db8::9 tid 5000', 'tunnel-id', 'tid: 5000 is out of range 0-4095');
  fails(t, 'change name e remote 2001:db8::9 local 10.0.0.1', 'local', 'IPv4');
  fails(t, 'change name e tid 70000', 'tunnel-id', '70000 is out of range 0-65535');
});

test('change local any clears the local address', (t) => {
  t.deepEqual(parse('change name e local any'), { command: 'change', name: 'e', changes: { local: null } });
});

test('change needs a name and something to change', (t) => {
  fails(t, 'change mtu 1400', 'name', 'name: required');
  fails(t, 'change name e', 'command', 'nothing to change');
  fails(t, 'change name a/b mtu 1400', 'name', "must not contain '/'");
});

test('change cannot switch the backend', (t) => {
  fails(t, 'change name e backend kernel', 'backend', 'backend: cannot be changed');
});

test('applyChanges merges and re-checks the whole tunnel', (t) => {
  const current = applyDefaults(addConfig('add name e tid 4000 remote 10.0.0.2 local 10.0.0.1'));
  const apply = (line: string): TunnelConfig => {
    const cmd = parse(line);
    if (cmd.command !== 'change') throw new Error('not a change');
    return applyChanges(current, cmd.changes);
  };
  t.deepEqual(apply('change name e mtu 1400'), { ...current, mtu: 1400 });
  t.deepEqual(apply('change name e remote 2001:db8::2 local any'), {
    ...current,
    remote: '2001:db8::2',
    local: null,
    family: 6,
  });
  t.throws(() => apply('change name e remote 2001:db8::2'), { instanceOf: ArgsError, message: /^local: / });
  t.throws(() => applyChanges(current, { tunnelId: 5000, remote: '2001:db8::2', local: null }), {
    instanceOf: ArgsError,
    message: /^tunnel-id: 5000 is out of range 0-4095/,
  });
  t.is(apply('change name e remote 2001:db8::2 local 2001:db8::1').family, 6, 'tid 4000 fits EoIPv6 too');
  const big = { ...current, tunnelId: 5000 };
  const err = t.throws(() => applyChanges(big, { remote: '2001:db8::2', local: null }), {
    instanceOf: ArgsError,
  });
  t.is(err?.field, 'tunnel-id');
});

// --- del, list ------------------------------------------------------------------------------

test('del needs a valid name', (t) => {
  t.deepEqual(parse('delete name eoip0'), { command: 'del', name: 'eoip0' });
  fails(t, 'del', 'name', 'name: required');
  fails(t, 'del name ..', 'name', 'not allowed');
});

test('list --json', (t) => {
  t.deepEqual(parse('list --json'), { command: 'list', json: true });
  fails(t, 'list --json extra', 'parameter', "'extra'");
});
