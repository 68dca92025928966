/** src/log: one line per event, JSON off a terminal and text on one, levels, and the repeat limiter. */
import test from 'ava';
import {
  Logger,
  LogOptionError,
  type LogSink,
  parseLogFormat,
  parseLogLevel,
  RepeatLimiter,
} from '../../src/log/logger.ts';

function sink(isTTY = false): LogSink & { lines: string[] } {
  const lines: string[] = [];
  return { isTTY, lines, write: (line: string) => lines.push(line) };
}

const AT = new Date('2025-03-01T12:34:56.789Z');

test('off a terminal: one JSON object per line with time, level, component, msg and the fields', (t) => {
  const out = sink(false);
  const log = new Logger({ component: 'daemon', sink: out, now: () => AT });
  t.is(log.format, 'json');
  log.info('carrier down', { tunnel: 'eoip1', state: 'down', retries: 3, carrier: false, gone: undefined });
  t.is(out.lines.length, 1);
  t.true(out.lines[0]!.endsWith('\n'));
  t.is(out.lines[0]!.split('\n').length, 2, 'exactly one line');
  t.deepEqual(JSON.parse(out.lines[0]!), {
    time: '2025-03-01T12:34:56.789Z',
    level: 'info',
    component: 'daemon',
    msg: 'carrier down',
    tunnel: 'eoip1',
    state: 'down',
    retries: 3,
    carrier: false,
  });
});

test('on a terminal: readable text with key=value fields, quoted when they hold spaces', (t) => {
  const out = sink(true);
  const log = new Logger({ component: 'daemon', sink: out, now: () => AT });
  t.is(log.format, 'text');
  log.warn('config reload refused', {
    file: '/etc/greoip/t.yaml',
    error: 'tunnels[0].mtu: 9 is out of range',
    added: ['a', 'b'],
  });
  const line = out.lines[0]!;
  t.regex(line, /^\d\d:\d\d:\d\d WARN {2}daemon: config reload refused /);
  t.true(line.includes('file=/etc/greoip/t.yaml'));
  t.true(line.includes('error="tunnels[0].mtu: 9 is out of range"'));
  t.true(line.includes('added=a,b'));
  t.false(line.includes('{'));
});

test('--log-format overrides the terminal test both ways', (t) => {
  const tty = sink(true);
  new Logger({ component: 'x', sink: tty, format: 'json' }).info('m');
  t.is(JSON.parse(tty.lines[0]!).msg, 'm');
  const pipe = sink(false);
  new Logger({ component: 'x', sink: pipe, format: 'text' }).info('m');
  t.throws(() => JSON.parse(pipe.lines[0]!));
});

test('levels below the threshold are not written', (t) => {
  const out = sink();
  const log = new Logger({ component: 'x', sink: out, level: 'warn' });
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  t.deepEqual(
    out.lines.map((l) => JSON.parse(l).level),
    ['warn', 'error'],
  );
  t.false(log.enabled('info'));
});

test('fields cannot overwrite time, level, component or msg; child loggers add theirs', (t) => {
  const out = sink();
  const log = new Logger({ component: 'daemon', sink: out, now: () => AT }).child({ tunnel: 'e1' });
  log.info('hello', { msg: 'sneaky', level: 'error', state: 'up' });
  const o = JSON.parse(out.lines[0]!);
  t.is(o.msg, 'hello');
  t.is(o.level, 'info');
  t.is(o.msg_, 'sneaky');
  t.is(o.level_, 'error');
  t.is(o.tunnel, 'e1');
  t.is(o.state, 'up');
});

test('option parsers name the flag and the allowed values', (t) => {
  t.is(parseLogFormat('json'), 'json');
  t.is(parseLogLevel('debug'), 'debug');
  const f = t.throws(() => parseLogFormat('xml'), { instanceOf: LogOptionError });
  t.is(f.option, '--log-format');
  t.regex(f.message, /"xml" is not one of auto, json, text/);
  const l = t.throws(() => parseLogLevel('loud'), { instanceOf: LogOptionError });
  t.is(l.option, '--log-level');
});

test('RepeatLimiter: a burst per key per window, then one line saying how many were suppressed', (t) => {
  const out = sink();
  let now = 0;
  const limiter = new RepeatLimiter(new Logger({ component: 'daemon', sink: out }), {
    burst: 3,
    windowMs: 1000,
    now: () => now,
  });
  for (let i = 0; i < 10_000; i++) limiter.log('refused', 'warn', 'request refused', { i });
  limiter.log('other', 'warn', 'other refusal');
  t.is(out.lines.length, 4, 'three of the flood and the other key');
  now = 1500;
  limiter.log('refused', 'warn', 'request refused', { i: -1 });
  const last = out.lines.slice(-2).map((l) => JSON.parse(l));
  t.like(last[0], { msg: 'repeated lines suppressed', key: 'refused', suppressed: 9997 });
  t.like(last[1], { msg: 'request refused', i: -1 });
});
