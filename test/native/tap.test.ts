/**
 * Tap devices in a fresh namespace: persistence, MTU and up, carrier as `ip -j link` shows it, frames the
 * kernel sends out of the tap arriving through BatchIo, frames BatchIo writes reaching the kernel, deletion.
 */
import test from 'ava';
import { requireRoot } from '../helpers.ts';
import { Agent, Netns } from '../netns.ts';
import type { AgentWaitResult } from './fixtures/agent.ts';

const TAP = 'eoip-t0';
const TAP_IP = '10.201.0.1';
const NEIGHBOUR_IP = '10.201.0.2';
const FAKE_MAC = '020000000099';
const FAKE_IP = '10.201.0.99';

const ipHex = (address: string): string => Buffer.from(address.split('.').map(Number)).toString('hex');
const macHex = (mac: string): string => mac.replace(/:/g, '');

test.before(requireRoot);

test('tap: persistent tap, MTU, up, carrier, frames both ways, re-attach and delete', async (t) => {
  const ns = Netns.create(t);
  const agent = await Agent.start(t, ns);

  const opened = await agent.call<{ fd: number; name: string }>('tapOpen', { name: TAP, persist: true });
  t.is(opened.name, TAP);
  t.true(await agent.call<boolean>('linkExists', { name: TAP }));
  t.true((await agent.call<number>('linkGetIndex', { name: TAP })) > 1);

  const tooSmall = await t.throwsAsync(agent.call('linkSetMtu', { name: TAP, mtu: 10 }));
  t.is((tooSmall as { code?: string }).code, 'EINVAL');
  t.is((tooSmall as { syscall?: string }).syscall, 'SIOCSIFMTU');
  await agent.call('linkSetMtu', { name: TAP, mtu: 1500 });
  await agent.call('linkSetUp', { name: TAP, up: true });
  ns.ip('addr', 'add', `${TAP_IP}/24`, 'dev', TAP);
  let info = ns.link(TAP);
  t.is(info.mtu, 1500);
  t.true(info.flags.includes('UP'));
  t.true(info.flags.includes('LOWER_UP'));
  t.false(info.flags.includes('NO-CARRIER'));

  // Carrier off: administratively up, but NO-CARRIER and operstate DOWN.
  await agent.call('tapSetCarrier', { fd: opened.fd, on: false });
  info = ns.link(TAP);
  t.true(info.flags.includes('UP'));
  t.true(info.flags.includes('NO-CARRIER'));
  t.false(info.flags.includes('LOWER_UP'));
  t.is(info.operstate, 'DOWN');
  await agent.call('tapSetCarrier', { fd: opened.fd, on: true });
  info = ns.link(TAP);
  t.false(info.flags.includes('NO-CARRIER'));
  t.true(info.flags.includes('LOWER_UP'));
  t.not(info.operstate, 'DOWN');
  const tapMac = macHex(info.address);

  const io = await agent.call<number>('io', {
    fd: opened.fd,
    kind: 'tap',
    slots: 16,
    slotSize: 2048,
    start: true,
  });

  // Kernel -> tap: a datagram to a neighbour on the tap's subnet makes the kernel broadcast an ARP request.
  await agent.call('udp', { address: NEIGHBOUR_IP, port: 9 });
  const arpRequest = `ffffffffffff${tapMac}08060001080006040001${tapMac}${ipHex(TAP_IP)}000000000000${ipHex(NEIGHBOUR_IP)}`;
  let got = await agent.call<AgentWaitResult>('wait', {
    handle: io,
    count: 1,
    match: [{ offset: 0, hex: arpRequest }],
    timeoutMs: 5000,
  });
  const request = got.packets.find((p) => p.data.startsWith(arpRequest));
  t.truthy(request, 'the ARP request for the neighbour came out of the tap');
  t.is(request!.data.length / 2, 42, 'an ARP frame, no FCS, no padding');
  t.true(got.batches.every((n) => n >= 1));

  // tap -> kernel: an ARP request for the tap's address, written with BatchIo.send, gets the kernel's reply.
  const askTap = `ffffffffffff${FAKE_MAC}08060001080006040001${FAKE_MAC}${ipHex(FAKE_IP)}000000000000${ipHex(TAP_IP)}`;
  const sent = await agent.call<number>('send', { handle: io, packets: [askTap] });
  t.is(sent, 1);
  const arpReply = `${FAKE_MAC}${tapMac}08060001080006040002${tapMac}${ipHex(TAP_IP)}${FAKE_MAC}${ipHex(FAKE_IP)}`;
  got = await agent.call<AgentWaitResult>('wait', {
    handle: io,
    count: 1,
    match: [{ offset: 0, hex: arpReply }],
    timeoutMs: 5000,
  });
  t.truthy(
    got.packets.find((p) => p.data.startsWith(arpReply)),
    'the kernel answered the ARP request written into the tap',
  );
  t.is(got.stats.txPackets, 1);
  t.is(got.stats.rxPackets, got.packets.length);
  t.is(got.stats.rxBatches, got.batches.length);
  t.is(got.stats.rxErrors, 0);

  // Closing the fd leaves the persistent tap behind, without carrier.
  await agent.call('ioClose', { handle: io });
  t.true(ns.hasLink(TAP));
  t.true(ns.link(TAP).flags.includes('NO-CARRIER'));

  // A second open attaches to the same tap; persistence can be dropped through the fd.
  const again = await agent.call<{ fd: number; name: string }>('tapOpen', { name: TAP, persist: false });
  t.is(again.name, TAP);
  t.false(ns.link(TAP).flags.includes('NO-CARRIER'));
  // Attached elsewhere: delete is refused.
  const busy = await t.throwsAsync(agent.call('tapDelete', { name: TAP }));
  t.is((busy as { code?: string }).code, 'EBUSY');
  await agent.call('close', { fd: again.fd });

  await agent.call('tapDelete', { name: TAP });
  t.false(await agent.call<boolean>('linkExists', { name: TAP }));
  t.false(ns.hasLink(TAP));
  const gone = await t.throwsAsync(agent.call('tapDelete', { name: TAP }));
  t.is((gone as { code?: string }).code, 'ENODEV');
});

test('tap: a non-persistent tap disappears with its fd; setPersist turns persistence on later', async (t) => {
  const ns = Netns.create(t);
  const agent = await Agent.start(t, ns);

  const first = await agent.call<{ fd: number; name: string }>('tapOpen', {
    name: 'eoip-t1',
    persist: false,
  });
  t.true(ns.hasLink('eoip-t1'));
  await agent.call('close', { fd: first.fd });
  t.false(ns.hasLink('eoip-t1'));

  const second = await agent.call<{ fd: number; name: string }>('tapOpen', {
    name: 'eoip-t2',
    persist: false,
  });
  await agent.call('tapSetPersist', { fd: second.fd, on: true });
  await agent.call('close', { fd: second.fd });
  t.true(ns.hasLink('eoip-t2'));
  await agent.call('tapDelete', { name: 'eoip-t2' });
  t.false(ns.hasLink('eoip-t2'));

  // An existing interface that is not a tap: the kernel refuses.
  const notTap = await t.throwsAsync(agent.call('tapOpen', { name: 'lo', persist: false }));
  t.is((notTap as { code?: string }).code, 'EINVAL');
  t.is(notTap!.message, 'TUNSETIFF lo: Invalid argument (EINVAL)');

  // An empty name lets the kernel pick one.
  const picked = await agent.call<{ fd: number; name: string }>('tapOpen', { name: '', persist: false });
  t.regex(picked.name, /^tap\d+$/);
  await agent.call('close', { fd: picked.fd });
});
