/**
 * The control protocol under fast-check: any JSON value, any line of text and
 * any request-shaped object with fields of any type get exactly one reply
 * from a real daemon (in-memory backend), `ok` or an error naming what is
 * wrong, and never an internal error; the same inputs through parseRequest
 * and resolveTunnel alone either give a value or throw their typed errors.
 * 1,000,000 runs each in `npm run fuzz`.
 */
import test from 'ava';
import fc from 'fast-check';
import { ArgsError } from '../../src/config/eoip-args.ts';
import { resolveTunnel } from '../../src/config/tunnel.ts';
import { ProtocolError, parseRequest } from '../../src/daemon/protocol.ts';
import { RawClient, startInProcess } from '../daemon/in-process.ts';
import { fuzzRuns } from './runs.ts';

const field = fc.oneof(
  fc.anything(),
  fc.string(),
  fc.integer({ min: -1, max: 70000 }),
  fc.constantFrom(
    '192.0.2.2',
    '2001:db8::2',
    'fe80::1',
    'none',
    '10,3',
    'userland',
    'kernel',
    'e0',
    'lo',
    null,
  ),
);
const config = fc.dictionary(
  fc.constantFrom(
    'name',
    'tunnelId',
    'remote',
    'local',
    'ttl',
    'tos',
    'link',
    'keepalive',
    'mtu',
    'backend',
    'family',
    'x',
  ),
  field,
);
const request = fc.oneof(
  fc.anything(),
  fc.record(
    {
      op: fc.constantFrom('add', 'change', 'del', 'list', 'status', 'flush', 'x'),
      config,
      name: field,
      changes: config,
    },
    { requiredKeys: ['op'] },
  ),
);

test('parseRequest and resolveTunnel: a value, or their typed errors, for any input', (t) => {
  fc.assert(
    fc.property(request, (value) => {
      let parsed: ReturnType<typeof parseRequest>;
      try {
        parsed = parseRequest(value);
      } catch (err) {
        return err instanceof ProtocolError;
      }
      try {
        if (parsed.op === 'add') resolveTunnel({ kind: 'add', config: parsed.config }, []);
      } catch (err) {
        return err instanceof ArgsError;
      }
      return true;
    }),
    fuzzRuns(20_000),
  );
  t.pass('every input gave a request or a ProtocolError, then a config or an ArgsError');
});

test('a live daemon answers every line once, never with an internal error, and keeps serving', async (t) => {
  const { paths, logs } = await startInProcess(t);
  const client = new RawClient(paths.socket);
  t.teardown(() => client.close());
  let expected = 0;
  const line = fc.oneof(
    request.map((v) => {
      try {
        return JSON.stringify(v) ?? 'null';
      } catch {
        return 'null';
      }
    }),
    fc.string({ maxLength: 200 }).map((s) => s.replace(/\n/g, ' ')),
  );
  await fc.assert(
    fc.asyncProperty(line, async (text) => {
      client.write(`${text}\n`);
      expected++;
      const replies = (await client.until(expected)) as { ok: boolean; error?: string }[];
      const last = replies[expected - 1];
      return (
        last !== undefined &&
        (last.ok || (typeof last.error === 'string' && !last.error.startsWith('internal error')))
      );
    }),
    fuzzRuns(3000),
  );
  t.false(client.closed, 'the connection is still open');
  t.deepEqual(
    logs.filter((l) => l.msg === 'internal error'),
    [],
  );
});
