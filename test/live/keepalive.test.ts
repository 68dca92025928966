/**
 * RouterOS keepalive semantics live: the carrier goes down when the peer
 * stops sending keepalives and comes back when it returns; a peer that never
 * sent one (RouterOS `!keepalive`) never drops the carrier.
 */
import test from 'ava';
import { requireRoot } from '../helpers.ts';
import { createLab, eoip, linkInfo, list, startDaemon, stopDaemon, tunnelPair, waitFor } from './harness.ts';

function noCarrier(netns: string, dev: string): boolean {
  return linkInfo(netns, dev).flags.includes('NO-CARRIER');
}

test.serial(
  'carrier drops after interval x retries of silence and returns with the next keepalive',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'ka');
    const { a, b } = lab.pair;
    await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns);
    tunnelPair(lab, 'ka4', 7, 4, ['198.51.100.1/24', '198.51.100.2/24'], ['keepalive', '1,2']);
    tunnelPair(lab, 'ka6', 8, 6, ['203.0.113.1/24', '203.0.113.2/24'], ['keepalive', '1,2']);
    await waitFor('both tunnels up on A', () => list(lab, a.netns).every((s) => s.state === 'up'));
    t.false(noCarrier(a.netns, 'ka4'));

    // B goes silent: its daemon stops (its taps stay, carrier off, and nothing is sent).
    const silencedAt = Date.now();
    t.is(await stopDaemon(lab, b.netns), 0, 'SIGTERM is a clean exit');
    await waitFor(
      'A to see both tunnels down',
      () => list(lab, a.netns).every((s) => s.state === 'down'),
      10_000,
    );
    const downAfter = Date.now() - silencedAt;
    t.true(downAfter >= 1500, `down after ${downAfter} ms (timeout 2 s from the last keepalive)`);
    t.true(noCarrier(a.netns, 'ka4') && noCarrier(a.netns, 'ka6'), 'tap shows NO-CARRIER');
    t.true(noCarrier(b.netns, 'ka4'), 'the stopped side left its tap with carrier off');
    // RouterOS keeps sending while the peer is silent: A's count moves before B returns (one
    // keepalive a second; waited for, not slept on, so a slow machine cannot make it flaky).
    const sentBy = (name: string) =>
      list(lab, a.netns).find((s) => s.config.name === name)!.counters.txKeepalives;
    const sentAtDown = sentBy('ka4');
    await waitFor('A to send a keepalive while down', () => sentBy('ka4') > sentAtDown, 5_000);
    t.is(list(lab, a.netns).find((s) => s.config.name === 'ka4')!.state, 'down', 'still down while sending');

    // B returns: the restarted daemon restores its tunnels from the state file; A comes back up.
    await startDaemon(lab, b.netns);
    await waitFor(
      'A to see both tunnels up again',
      () => list(lab, a.netns).every((s) => s.state === 'up'),
      10_000,
    );
    t.false(noCarrier(a.netns, 'ka4'));
    t.false(noCarrier(b.netns, 'ka4'), 'B has its carrier back');
    t.deepEqual(
      list(lab, b.netns).map((s) => s.config.name),
      ['ka4', 'ka6'],
      'restart restored the tunnels',
    );
  },
);

test.serial(
  'a peer that never sends keepalives (keepalive none there) never drops our carrier',
  async (t) => {
    requireRoot();
    const lab = createLab(t, 'kn');
    const { a, b } = lab.pair;
    await startDaemon(lab, a.netns);
    await startDaemon(lab, b.netns);
    eoip(lab, a.netns, ['add', 'name', 'quiet', 'tid', '9', 'remote', b.v4, 'keepalive', '1,1']);
    eoip(lab, b.netns, ['add', 'name', 'quiet', 'tid', '9', 'remote', a.v4, 'keepalive', 'none']);
    await new Promise((r) => setTimeout(r, 3000));
    const [s] = list(lab, a.netns);
    t.is(s!.state, 'waiting');
    t.true(s!.carrier);
    t.false(noCarrier(a.netns, 'quiet'));
    t.true(s!.counters.txKeepalives >= 3, 'we still send ours');
    const [peer] = list(lab, b.netns);
    t.is(peer!.state, 'off');
    t.is(peer!.counters.txKeepalives, 0);
    t.true(peer!.counters.rxKeepalives >= 3, 'B counts the keepalives it receives');
  },
);
