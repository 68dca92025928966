/**
 * The kernel backend on this host, whose kernel has no eoip module (no GRE and
 * no loadable modules at all): real rtnetlink round trips, the refusal users
 * get when the module is absent, and that nothing is left half-created. The
 * module's own behaviour is tested on a real 6.1 kernel in test/kernel/.
 */
import test from 'ava';
import { KernelBackend, MODULE_MISSING_HINT } from '../../src/backend/kernel.ts';
import { BackendError } from '../../src/backend/types.ts';
import { completeTunnel } from '../../src/config/validate.ts';
import { ip } from '../../src/demo/netns.ts';
import { link } from '../../src/native/index.ts';
import { getLinkRequest, parseLink } from '../../src/netlink/link.ts';
import { RtnlSocket } from '../../src/netlink/socket.ts';
import { requireRoot } from '../helpers.ts';
import { createLab, eoip, list, startDaemon } from './harness.ts';

test.serial('rtnetlink round trips: a get by name and a dump parse as the kernel reports them', (t) => {
  requireRoot();
  const rtnl = new RtnlSocket();
  t.teardown(() => rtnl.close());
  const [lo] = rtnl.request(getLinkRequest(41, 'lo'), 41, false).map(parseLink);
  t.like(lo, { index: 1, name: 'lo', kind: null, eoip: null });
  t.true(lo!.mtu >= 1500);
  t.true((lo!.stats?.rxPackets ?? -1) >= 0);
  const all = rtnl.request(getLinkRequest(42, null), 42, true).map(parseLink);
  t.true(all.some((l) => l.name === 'lo'));
  t.is(new Set(all.map((l) => l.index)).size, all.length);
  // An unknown name is ENODEV from the kernel, with its errno name.
  const err = t.throws(() => rtnl.request(getLinkRequest(43, 'gtk-none'), 43, false));
  t.is((err as { code?: string }).code, 'ENODEV');
});

test.serial(
  'without the module, create says how to load or install it and leaves no interface',
  async (t) => {
    requireRoot();
    const backend = new KernelBackend();
    t.teardown(() => backend.close({ keepInterfaces: true }));
    for (const remote of ['198.51.100.9', '2001:db8::9']) {
      const config = completeTunnel({ name: 'gtk-nomod', tunnelId: 7, remote, backend: 'kernel' });
      const err = await t.throwsAsync(backend.create(config), { instanceOf: BackendError });
      const kind = remote.includes(':') ? 'eoipv6' : 'eoip';
      t.is(err?.field, 'backend');
      t.true(err?.message.includes(`link kind "${kind}"`), err?.message);
      t.true(err?.message.includes(MODULE_MISSING_HINT), err?.message);
      t.false(link.exists('gtk-nomod'));
    }
    t.deepEqual(backend.list(), []);
  },
);

test.serial('eoip add backend kernel through the daemon: the same refusal, nothing added', async (t) => {
  requireRoot();
  const lab = createLab(t, 'kb');
  const { a, b } = lab.pair;
  await startDaemon(lab, a.netns);
  eoip(lab, a.netns, ['add', 'name', 'u0', 'tid', '5', 'remote', b.v4]);
  const missing = eoip(
    lab,
    a.netns,
    ['add', 'name', 'k0', 'tid', '6', 'remote', b.v4, '--backend', 'kernel'],
    true,
  );
  t.is(missing.status, 1);
  t.regex(missing.stderr, /backend: the kernel does not know link kind "eoip"/);
  t.regex(missing.stderr, /modprobe eoip eoipv6/);
  t.regex(missing.stderr, /greoip kmod install/);
  // The (remote, tunnel id) of a userland tunnel cannot go to the kernel, module or not.
  const clash = eoip(
    lab,
    a.netns,
    ['add', 'name', 'k1', 'tid', '5', 'remote', b.v4, 'backend', 'kernel'],
    true,
  );
  t.is(clash.status, 1);
  t.regex(clash.stderr, /tunnel-id: 5 with remote 192\.0\.2\.2 is already used by u0 \(userland\)/);
  t.deepEqual(
    list(lab, a.netns).map((s) => s.config.name),
    ['u0'],
  );
  for (const name of ['k0', 'k1']) t.throws(() => ip(['link', 'show', 'dev', name], a.netns));
});
