/** Shared test helpers: the root guard, scratch directories, hex conversion, the repository's location and its capture fixtures. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

/**
 * The one root guard: every root-only test (or its file's test.before) calls it first. Without root it
 * throws, which fails the test with this message and stops it; root-only tests are never skipped.
 */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'this test needs root (network namespaces, taps, raw sockets, BPF); CI runs as root: run the tests as root',
    );
  }
}

/** A fresh directory under the system temp dir, removed when the test ends. */
export function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/[^0-9a-fA-F]/g, ''), 'hex');
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** 10.1.2.3 -> "0a010203"; IPv6 literals through URL parsing is overkill, so tests give IPv6 as hex. */
export function ipv4Hex(address: string): string {
  return Buffer.from(address.split('.').map(Number)).toString('hex');
}

/** Real RouterOS 7.18.2 EoIP captures (origin and licence: fixtures/README.md). */
export const CAPTURES_DIR = fileURLToPath(new URL('./fixtures/routeros-7.18/', import.meta.url));
export const CAPTURE_FILES = ['mk-mk-arp.pcap', 'mk-mk-idle.pcap', 'mk-mk-mtu.pcap', 'mk-mk-ping.pcap'];
export const REPO_DIR = fileURLToPath(new URL('../', import.meta.url));

/** Worked example of docs/gre-keepalive-packets.md: A=192.0.2.1 asks B=198.51.100.2. */
export const CISCO_KEEPALIVE_REQUEST = hex(`
  45 00 00 30 00 00 00 00 ff 2f cf 67 c0 00 02 01
  c6 33 64 02 00 00 08 00 45 00 00 18 00 00 00 00
  ff 2f cf 7f c6 33 64 02 c0 00 02 01 00 00 00 00`);

/** docs/eoip-wire.md: an EoIP keepalive, tid 100, captured from RouterOS 7.18.2. */
export const ROUTEROS_EOIP_KEEPALIVE = hex(`
  45 00 00 1c 67 00 00 00 f7 2f e3 82 80 8c 72 af 4e 2f 37 c5
  20 01 64 00 00 00 64 00`);
