/**
 * Errors thrown by the native layer carry `code` (errno name), `syscall` and a message that says which
 * call failed on what. These run in the test process itself and send no traffic: they only ask the kernel
 * for things it refuses (bad names, missing devices, non-local binds) or use a socket nobody sends to.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import {
  BatchIo,
  close,
  isNativeSystemError,
  link,
  NATIVE_ADDON_RELATIVE_PATH,
  nativeAddonPath,
  openNativeAddon,
  raw,
  SendList,
  tap,
} from '../../src/native/index.ts';
import { REPO_DIR, requireRoot } from '../helpers.ts';

const missing = (): string => `gnx${randomBytes(4).toString('hex')}`; // 11 bytes, never a real interface

function expectSystemError(
  t: import('ava').ExecutionContext,
  fn: () => unknown,
  code: string,
  syscall: string,
  message?: RegExp,
): void {
  const error = t.throws(fn);
  t.true(isNativeSystemError(error), `a system error: ${String(error)}`);
  t.is((error as NodeJS.ErrnoException).code, code);
  t.is((error as NodeJS.ErrnoException).syscall, syscall);
  t.true(((error as NodeJS.ErrnoException).errno ?? 0) < 0, 'errno is negative, as in Node');
  t.true(error!.message.endsWith(`(${code})`), error!.message);
  if (message) t.regex(error!.message, message);
}

test.before(requireRoot);

test('the addon is found where the build puts it', (t) => {
  t.is(nativeAddonPath(), join(REPO_DIR, NATIVE_ADDON_RELATIVE_PATH));
});

test('a missing addon gives an error naming the path and the build command', (t) => {
  const path = '/nonexistent/greoip.node';
  const error = t.throws(() => openNativeAddon(path));
  t.is((error as NodeJS.ErrnoException).code, 'ERR_GREOIP_NATIVE_MISSING');
  t.true(error!.message.includes(path));
  t.true(error!.message.includes('npm run build:native'));
});

test('tap: a 20-byte name is EINVAL from TUNSETIFF', (t) => {
  expectSystemError(
    t,
    () => tap.open('abcdefghijklmnopqrst', false),
    'EINVAL',
    'TUNSETIFF',
    /^TUNSETIFF abcdefghijklmnopqrst: Invalid argument.* \(EINVAL\)$/,
  );
});

test('tap: deleting or configuring what is not there', (t) => {
  const name = missing();
  expectSystemError(
    t,
    () => tap.delete(name),
    'ENODEV',
    'TUNSETIFF',
    new RegExp(`^TUNSETIFF ${name}: No such device`),
  );
  t.false(link.exists(name), 'tapDelete did not create it on the way');
  // A raw socket is no tun fd.
  const fd = raw.open(4, 47);
  t.teardown(() => close(fd));
  const error = t.throws(() => tap.setCarrier(fd, false));
  t.is((error as NodeJS.ErrnoException).syscall, 'TUNSETCARRIER');
  t.regex(error!.message, new RegExp(`^TUNSETCARRIER fd ${fd}: `));
});

test('link: missing interfaces are ENODEV; lo exists', (t) => {
  const name = missing();
  expectSystemError(
    t,
    () => link.setMtu(name, 1500),
    'ENODEV',
    'SIOCSIFMTU',
    new RegExp(`^SIOCSIFMTU ${name}: `),
  );
  expectSystemError(t, () => link.setUp(name, true), 'ENODEV', 'SIOCGIFFLAGS');
  expectSystemError(t, () => link.getIndex(name), 'ENODEV', 'SIOCGIFINDEX');
  t.false(link.exists(name));
  t.false(link.exists('abcdefghijklmnopqrst'));
  t.true(link.exists('lo'));
  t.true(link.getIndex('lo') >= 1);
});

test('raw: bind and device errors, argument checks', (t) => {
  // 192.0.2.1 (TEST-NET-1) is not a local address here: bind() refuses, nothing is sent.
  expectSystemError(
    t,
    () => raw.open(4, 47, { bindAddress: '192.0.2.1' }),
    'EADDRNOTAVAIL',
    'bind',
    /^bind 192\.0\.2\.1: /,
  );
  expectSystemError(t, () => raw.open(6, 97, { bindAddress: '2001:db8::1' }), 'EADDRNOTAVAIL', 'bind');
  const name = missing();
  expectSystemError(t, () => raw.open(4, 47, { device: name }), 'ENODEV', 'setsockopt', /SO_BINDTODEVICE/);
  t.throws(() => raw.open(5 as 4, 47), { instanceOf: RangeError });
  t.throws(() => raw.open(4, 0), { instanceOf: RangeError });
  t.throws(() => raw.open(4, 47, { ttl: 0 }), { instanceOf: RangeError });
  t.throws(() => raw.open(4, 47, { bindAddress: 'fd00::1' }), { instanceOf: TypeError });
  t.throws(() => raw.open(4, 47, { eoipFilter: 'yes' as unknown as boolean }), { instanceOf: TypeError });
  expectSystemError(t, () => close(1 << 30), 'EBADF', 'close');
});

test('BatchIo: argument checks, and a closed BatchIo refuses send() and start()', (t) => {
  const fd = raw.open(4, 47, { eoipFilter: true });
  const noop = (): void => {};
  t.throws(() => new BatchIo(fd, 'udp' as 'ip4', 4, 2048, noop), { instanceOf: RangeError });
  t.throws(() => new BatchIo(fd, 'ip4', 0, 2048, noop), { instanceOf: RangeError });
  t.throws(() => new BatchIo(fd, 'ip4', 4, 2048, undefined as unknown as () => void), {
    instanceOf: TypeError,
  });

  const io = new BatchIo(fd, 'ip4', 4, 2048, noop);
  t.is(io.rxBuffer.length, 4 * 2048);
  t.true(Buffer.isBuffer(io.rxBuffer));
  t.is(io.rxLengths.length, 4);
  t.is(io.rxSrc.length, 64);
  t.is(io.rxDst.length, 64);
  const buffer = io.rxBuffer;
  io.start();
  io.start();
  io.stop();
  io.stop();
  t.is(io.rxBuffer, buffer, 'allocated once');

  const buf = Buffer.alloc(16);
  const one = new Uint32Array([0]);
  const len = new Uint32Array([16]);
  const dsts = new Uint8Array(16);
  t.throws(
    () => io.send(buf, one, new Uint32Array([17]), dsts, 1),
    { instanceOf: RangeError },
    'outside buf',
  );
  t.throws(() => io.send(buf, one, len, new Uint8Array(8), 1), { instanceOf: RangeError }, 'short dsts');
  t.throws(() => io.send(buf, one, len, dsts, 2), { instanceOf: RangeError }, 'count too large');
  t.throws(() => io.send(buf, [0] as unknown as Uint32Array, len, dsts, 1), { instanceOf: TypeError });
  t.is(io.send(buf, one, len, dsts, 0), 0);

  io.close();
  io.close();
  expectSystemError(
    t,
    () => io.send(buf, one, len, dsts, 1),
    'EBADF',
    'send',
    /^send: BatchIo is closed \(EBADF\)$/,
  );
  expectSystemError(t, () => io.start(), 'EBADF', 'start', /BatchIo is closed/);
  expectSystemError(t, () => close(fd), 'EBADF', 'close', /^close fd \d+: Bad file descriptor \(EBADF\)$/);
  t.deepEqual(io.stats(), {
    rxBatches: 0,
    rxPackets: 0,
    rxErrors: 0,
    rxTruncated: 0,
    txPackets: 0,
    txErrors: 0,
    txDropped: 0,
  });
});

test('SendList: pieces are checked against their buffers on every send; a closed BatchIo refuses sendList()', (t) => {
  const fd = raw.open(4, 47, { eoipFilter: true });
  const noop = (): void => {};
  t.throws(() => new SendList(0, 4), { instanceOf: RangeError }, 'no messages');
  t.throws(() => new SendList(4, 0), { instanceOf: RangeError }, 'no pieces');
  const list = new SendList(2, 4);
  t.is(list.msgEnd.length, 2);
  t.is(list.pieceOff.length, 4);
  t.is(list.dsts.length, 32);
  const io = new BatchIo(fd, 'ip4', 4, 2048, noop);
  const buf = Buffer.alloc(64);
  list.msgEnd[0] = 1;
  list.pieceBuf[0] = 0;
  list.pieceOff[0] = 0;
  list.pieceLen[0] = 8;
  t.throws(() => io.sendList(list, 1), { instanceOf: RangeError }, 'buffer 0 not bound');
  list.setBuffer(0, buf);
  list.pieceLen[0] = 65;
  t.throws(
    () => io.sendList(list, 1),
    { instanceOf: RangeError, message: /piece 0 of message 0/ },
    'outside',
  );
  list.pieceLen[0] = 8;
  list.pieceBuf[0] = 4;
  t.throws(() => io.sendList(list, 1), { instanceOf: RangeError }, 'no buffer 4');
  list.pieceBuf[0] = 0;
  list.msgEnd[0] = 0;
  t.throws(() => io.sendList(list, 1), { instanceOf: RangeError, message: /message 0/ }, 'no pieces');
  list.msgEnd[0] = 5;
  t.throws(() => io.sendList(list, 1), { instanceOf: RangeError }, 'more pieces than the list has');
  list.msgEnd[0] = 1;
  t.throws(() => io.sendList(list, 3), { instanceOf: RangeError }, 'count beyond the messages');
  t.throws(() => io.sendList({} as SendList, 1), { instanceOf: TypeError });
  t.is(io.sendList(list, 0), 0);
  io.close();
  expectSystemError(t, () => io.sendList(list, 1), 'EBADF', 'send', /BatchIo is closed/);
});
