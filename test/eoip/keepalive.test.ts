import test from 'ava';
import { KeepaliveMachine } from '../../src/eoip/keepalive.ts';

const S = 1000;
const DEFAULT = { interval: 10, retries: 10 };

/** Drives a machine over a fake clock: `events` are (time in s, 'rx' | 'tick'). */
function run(machine: KeepaliveMachine, until: number, rxTimes: number[]) {
  const sent: number[] = [];
  const carrier: [number, boolean][] = [];
  const rx = [...rxTimes].sort((a, b) => a - b);
  let t = 0;
  while (t <= until * S) {
    const nextRx = rx.length > 0 ? rx[0]! * S : Number.POSITIVE_INFINITY;
    const next = Math.min(machine.nextDeadline(), nextRx, until * S + 1);
    if (next > until * S) break;
    t = Math.max(t, next);
    if (nextRx <= t) {
      rx.shift();
      const c = machine.received(t);
      if (c !== null) carrier.push([t / S, c]);
    }
    const step = machine.tick(t);
    if (step.send) sent.push(t / S);
    if (step.carrier !== null) carrier.push([t / S, step.carrier]);
  }
  return { sent, carrier };
}

test('sends one keepalive per interval, starting at once', (t) => {
  const m = new KeepaliveMachine(DEFAULT, 0);
  const { sent } = run(m, 35, []);
  t.deepEqual(sent, [0, 10, 20, 30]);
});

test('waiting: never heard from the peer, silence does not drop the carrier', (t) => {
  const m = new KeepaliveMachine(DEFAULT, 0);
  const { carrier } = run(m, 1000, []);
  t.deepEqual(carrier, []);
  t.is(m.state, 'waiting');
  t.true(m.carrier);
});

test('up on the first keepalive, down after interval x retries of silence, up again on the next', (t) => {
  const m = new KeepaliveMachine(DEFAULT, 0);
  const { carrier } = run(m, 300, [5, 15, 25, 225]);
  // Last keepalive at 25 s: down at 125 s; back at 225 s.
  t.deepEqual(carrier, [
    [125, false],
    [225, true],
  ]);
  t.is(m.state, 'up');
});

test('sending continues while down', (t) => {
  const m = new KeepaliveMachine(DEFAULT, 0);
  const { sent } = run(m, 200, [1]);
  t.is(m.state, 'down');
  t.deepEqual(
    sent,
    [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200],
  );
});

test('RouterOS jitter: gaps of 3 to 18 s at 10,10 never drop the carrier', (t) => {
  const m = new KeepaliveMachine(DEFAULT, 0);
  // Captured gaps jitter in steps of about 1.04 s from 3.1 s to 17.7 s.
  const gaps = [3.1, 17.7, 10.4, 9.4, 11.5, 4.2, 16.6, 8.3, 12.5, 17.7, 3.1];
  const rx: number[] = [];
  let at = 2;
  for (let i = 0; i < 60; i++) {
    rx.push(at);
    at += gaps[i % gaps.length]!;
  }
  const { carrier } = run(m, at, rx);
  t.deepEqual(carrier, []);
  t.is(m.state, 'up');
});

test('100 s of silence after keepalives were seen always drops the carrier', (t) => {
  for (const last of [1, 7.5, 33.3]) {
    const m = new KeepaliveMachine(DEFAULT, 0);
    const { carrier } = run(m, last + 100, [last]);
    t.deepEqual(carrier, [[last + 100, false]], `last keepalive at ${last}`);
  }
});

test('data frames are not liveness: only received() counts', (t) => {
  const m = new KeepaliveMachine({ interval: 1, retries: 3 }, 0);
  m.received(0);
  t.is(m.tick(2999).carrier, null);
  t.is(m.tick(3000).carrier, false);
});

test('keepalive none: no sending, no checking, carrier always up', (t) => {
  const m = new KeepaliveMachine(null, 0);
  t.is(m.state, 'off');
  t.is(m.nextDeadline(), Number.POSITIVE_INFINITY);
  t.deepEqual(m.tick(1e9), { send: false, carrier: null });
  t.is(m.received(5), null);
  t.true(m.carrier);
  t.is(m.lastKeepalive, null);
});

test('a stalled timer skips missed slots instead of bursting', (t) => {
  const m = new KeepaliveMachine(DEFAULT, 0);
  t.true(m.tick(0).send);
  t.true(m.tick(95 * S).send);
  t.false(m.tick(96 * S).send);
  t.is(m.nextDeadline(), 100 * S);
});

test('reconfigure: to none brings the carrier up; from none waits again; shorter timeout can drop', (t) => {
  const m = new KeepaliveMachine({ interval: 1, retries: 2 }, 0);
  m.received(0);
  m.tick(2000);
  t.is(m.state, 'down');
  t.is(m.reconfigure(null, 2500), true);
  t.is(m.state, 'off');
  t.is(m.reconfigure(DEFAULT, 3000), null);
  t.is(m.state, 'up', 'heard before, so up rather than waiting');
  const fresh = new KeepaliveMachine(null, 0);
  fresh.reconfigure(DEFAULT, 10);
  t.is(fresh.state, 'waiting');
  const up = new KeepaliveMachine(DEFAULT, 0);
  up.received(0);
  t.is(
    up.reconfigure({ interval: 1, retries: 1 }, 5000),
    false,
    'silence already longer than the new timeout',
  );
});
