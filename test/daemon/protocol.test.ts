/**
 * The control protocol as a client meets it, over the real socket of a real
 * Daemon (in-memory backend): every line gets exactly one reply, in order;
 * the size limit is per request, not per buffer; a request of the wrong
 * shape gets an error naming where, never an internal error (issue 12,
 * defect 10).
 */
import test from 'ava';
import { ProtocolError, parseRequest } from '../../src/daemon/protocol.ts';
import { ask, RawClient, startInProcess } from './in-process.ts';

test('20,000 small requests pipelined in one write each get their reply, in order', async (t) => {
  const { paths } = await startInProcess(t);
  const client = new RawClient(paths.socket);
  t.teardown(() => client.close());
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) lines.push(i % 2 === 0 ? '{"op":"list"}' : '{"op":"status"}');
  client.write(`${lines.join('\n')}\n`);
  const replies = (await client.until(20_000)) as { ok: boolean; tunnels?: unknown; status?: unknown }[];
  t.is(replies.length, 20_000);
  t.true(replies.every((r, i) => r.ok && (i % 2 === 0 ? Array.isArray(r.tunnels) : r.status !== undefined)));
  t.false(client.closed);
});

test('a request over the limit is refused alone; the next one on the connection is answered', async (t) => {
  const { paths } = await startInProcess(t);
  const client = new RawClient(paths.socket);
  t.teardown(() => client.close());
  client.write(`{"op":"list","pad":"${'x'.repeat(70_000)}"}\n{"op":"list"}\n`);
  const replies = (await client.until(2)) as { ok: boolean; error?: string }[];
  t.regex(replies[0]!.error ?? '', /request too large \(limit 65536 bytes\)/);
  t.true(replies[1]!.ok);
});

test('malformed requests get an error naming what is wrong, never an internal error', async (t) => {
  const { paths, logs } = await startInProcess(t);
  const cases: [string, RegExp][] = [
    ['null', /^request: expected a JSON object with an "op", got null$/],
    ['[]', /got a list/],
    ['"add"', /got a string/],
    ['{}', /^op: unknown operation nothing/],
    ['{"op":"frob"}', /^op: unknown operation "frob"/],
    ['{"op":"add"}', /^config: expected an object, got nothing$/],
    ['{"op":"add","config":null}', /^config: expected an object, got null$/],
    ['{"op":"add","config":{"remote":"192.0.2.2"}}', /^config\.tunnelId: required$/],
    ['{"op":"add","config":{"tunnelId":1,"remote":"192.0.2.2","evil":1}}', /^config\.evil: unknown field/],
    ['{"op":"add","config":{"tunnelId":"x","remote":"192.0.2.2"}}', /^tunnel-id: "x" is not an integer$/],
    ['{"op":"add","config":{"tunnelId":1,"remote":[]}}', /^remote: a list is not an IPv4 or IPv6 address$/],
    [
      '{"op":"add","config":{"tunnelId":1,"remote":"192.0.2.2","name":7}}',
      /^config\.name: expected a string/,
    ],
    [
      '{"op":"add","config":{"tunnelId":1,"remote":"192.0.2.2","keepalive":{"x":1}}}',
      /^keepalive: unknown key/,
    ],
    ['{"op":"change","name":"e0"}', /^changes: expected an object/],
    ['{"op":"change","name":"e0","changes":{"name":"x"}}', /^changes\.name: unknown field/],
    ['{"op":"change","name":"nope","changes":{}}', /^name: no tunnel named nope$/],
    ['{"op":"del"}', /^name: expected a string, got nothing$/],
    ['{"op":"del","name":"nope"}', /^name: no tunnel named nope$/],
    ['{"op":"list","x":1}', /^x: unknown field for list$/],
    ['{"op":"list"', /^request is not JSON$/],
  ];
  for (const [line, error] of cases) {
    const reply = await ask(paths.socket, line);
    t.is(reply.ok, false, line);
    t.regex(String(reply.error), error, line);
  }
  t.deepEqual(
    logs.filter((l) => l.msg === 'internal error'),
    [],
  );
});

test('parseRequest accepts what the CLI sends', (t) => {
  t.deepEqual(
    parseRequest({ op: 'add', config: { name: null, tunnelId: 1, remote: '192.0.2.2', family: 4 } }),
    {
      op: 'add',
      config: { name: null, tunnelId: 1, remote: '192.0.2.2', family: 4 },
    },
  );
  t.deepEqual(parseRequest({ op: 'del', name: 'e0' }), { op: 'del', name: 'e0' });
  t.throws(() => parseRequest({ op: 'del', name: 1 }), { instanceOf: ProtocolError });
});
