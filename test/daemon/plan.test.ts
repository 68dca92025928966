/**
 * The daemon's plan (current tunnels + wanted set -> ordered steps) and its
 * host checks, on a host described by a table: a plan that cannot be carried
 * out is refused before any step, naming the field (issue 12, defects 5, 12).
 */
import test from 'ava';
import { resolveTunnel } from '../../src/config/tunnel.ts';
import { FieldError, planChanges, wantedAdding, wantedWithout } from '../../src/daemon/plan.ts';
import { type Host, preflight } from '../../src/daemon/preflight.ts';
import type { TunnelConfig } from '../../src/eoip/config.ts';

function tunnel(name: string, tid: number, extra: Partial<TunnelConfig> = {}): TunnelConfig {
  return resolveTunnel({ kind: 'entry', config: { name, tunnelId: tid, remote: '192.0.2.2', ...extra } }, []);
}

const e7 = tunnel('e7', 7);
const e8 = tunnel('e8', 8);

test('removals wait until every addition and change that does not need them has been made', (t) => {
  const plan = planChanges([e7, e8], [tunnel('e8', 8, { ttl: 64 }), tunnel('e9', 9), tunnel('e10', 10)]);
  t.deepEqual(
    plan.steps.map((s) => `${s.op} ${s.config.name}`),
    ['change e8', 'add e9', 'add e10', 'remove e7'],
  );
});

test('what takes over a removed tunnel (family, remote, tunnel id) comes after the removal', (t) => {
  const plan = planChanges([e7, e8], [e8, tunnel('moved', 7), tunnel('e11', 11)]);
  t.deepEqual(
    plan.steps.map((s) => `${s.op} ${s.config.name}`),
    ['add e11', 'remove e7', 'add moved'],
  );
});

test('the wanted set is checked whole; the request’s own tunnel is the one named', (t) => {
  const dupName = t.throws(() => planChanges([e7], wantedAdding([e7], tunnel('e7', 70))), {
    instanceOf: FieldError,
  });
  t.is(dupName?.message, 'name: e7 exists already');
  const dupPeer = t.throws(() => planChanges([e7], wantedAdding([e7], tunnel('x', 7))), {
    instanceOf: FieldError,
  });
  t.is(dupPeer?.message, 'tunnel-id: 7 with remote 192.0.2.2 is already used by e7 (userland)');
  t.is(t.throws(() => wantedWithout([e7], 'nope'))?.message, 'name: no tunnel named nope');
});

/** A namespace with these interfaces (name -> ifindex) and local addresses. */
function host(interfaces: Record<string, number>, addresses: string[] = []): Host {
  return {
    interfaceIndex: (name) => interfaces[name] ?? null,
    canBind: (address) => addresses.includes(address),
  };
}

const userland = new Set(['userland'] as const);

test('preflight names the field a host cannot give: link, local address, backend', async (t) => {
  const ctx = {
    host: host({ eth0: 2 }, ['192.0.2.1']),
    owned: new Map<string, number>(),
    backends: userland,
  };
  const noLink = planChanges([e7], [e7, tunnel('l', 1, { link: 'nonexist0' })]);
  t.is(
    (await t.throwsAsync(preflight(noLink, ctx), { instanceOf: FieldError }))?.message,
    'link: no interface named nonexist0 in this network namespace',
  );
  const noLocal = planChanges([], [tunnel('l', 1, { local: '192.0.2.9' })]);
  const local = await t.throwsAsync(preflight(noLocal, ctx), { instanceOf: FieldError });
  t.is(local?.field, 'local');
  t.regex(local!.message, /192\.0\.2\.9 is not assigned to any interface/);
  await t.notThrowsAsync(
    preflight(planChanges([], [tunnel('l', 1, { local: '192.0.2.1', link: 'eth0' })]), ctx),
  );
  const kernel = planChanges([], [tunnel('k', 1, { backend: 'kernel' })]);
  t.is((await t.throwsAsync(preflight(kernel, ctx), { instanceOf: FieldError }))?.field, 'backend');
});

test('preflight refuses a name held by an interface the daemon did not make, and takes back its own', async (t) => {
  const plan = planChanges([], [tunnel('eth0', 1)]);
  const foreign = { host: host({ eth0: 2 }), owned: new Map<string, number>(), backends: userland };
  const err = await t.throwsAsync(preflight(plan, foreign), { instanceOf: FieldError });
  t.is(err?.field, 'name');
  t.regex(err!.message, /an interface named eth0 exists already and is not a greoip tunnel/);
  // Same name, but re-created since it was recorded: another ifindex, so not ours.
  await t.throwsAsync(preflight(plan, { ...foreign, owned: new Map([['eth0', 5]]) }), {
    instanceOf: FieldError,
  });
  await t.notThrowsAsync(preflight(plan, { ...foreign, owned: new Map([['eth0', 2]]) }));
});
