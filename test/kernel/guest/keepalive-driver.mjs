// Guest half of test/kernel/keepalive.test.ts, run by the host's node from /host inside namespace A
// (the router): one Node process per boot (Node starts slowly under TCG) drives every step.
//
// argv[2]: a JSON plan {addon, steps}. A step is
//   {run: [argv...], name?}            run a command (e.g. `ip -n B link set dev gk4 xdp object ...`)
//   {send: {name, family, dst, payload, expect, waitMs}}
//   {configure: {ns, dev, hook, value, underlay?}, name}
//       write `value` (hex) as entry 0 of the ka_config map of the program attached to dev's hook ('xdp'
//       or 'tc'); `underlay` names a device of ns whose ifindex goes into bytes 48..51 (underlay_ifindex)
//   {counters: {ns, dev, hook}, name}           print that program's ka_counters, summed over CPUs
// A send hands `payload` (hex: the GRE header and the inner packet) to a raw IPPROTO_GRE socket for
// `dst`: the kernel adds the outer IP header A->B, which makes it the keepalive request. Replies are
// read with raw IPPROTO_GRE sockets bound to the underlay veth (va) and, for information, to A's own
// tunnel devices (what A's gre/ip6gre decapsulated). Markers:
//   @@GREOIP PASS|FAIL <name> <json [{src,dst,data}] of what reached va>   (expect 'reply': exactly one)
//   @@GREOIP PASS <name>.tunnel <json>                                     (what A's tunnels passed up)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIPv4 } from 'node:net';

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const addon = createRequire(import.meta.url)(plan.addon);

/** Details are one line; long ones (a verifier log) keep their head and tail. */
function marker(ok, name, detail) {
  let text = String(detail).replace(/\s+/g, ' ');
  if (text.length > 3000) text = `${text.slice(0, 1000)} [...] ${text.slice(-2000)}`;
  process.stdout.write(`@@GREOIP ${ok ? 'PASS' : 'FAIL'} ${name} ${text}\n`);
}

function addressBytes(address) {
  const out = new Uint8Array(16);
  if (isIPv4(address)) {
    out.set(address.split('.').map(Number));
    return out;
  }
  const [head, tail = ''] = address.split('::');
  const groups = (s) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const h = groups(head);
  const t = address.includes('::') ? groups(tail) : [];
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

function hex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

/**
 * IPv6 control traffic of the tunnels themselves (router solicitations, MLD reports: inner destination
 * ff00::/8) is not part of any exchange under test; it is counted apart, never as a reply.
 */
function isTunnelNoise(family, data) {
  const greAt = family === 4 ? (data[0] & 0x0f) * 4 : 0;
  if (data.length < greAt + 4) return false;
  const flags = data[greAt];
  const greLength = 4 + (flags & 0x80 ? 4 : 0) + (flags & 0x20 ? 4 : 0) + (flags & 0x10 ? 4 : 0);
  const protocol = (data[greAt + 2] << 8) | data[greAt + 3];
  const inner = greAt + greLength;
  return protocol === 0x86dd && data.length >= inner + 40 && data[inner + 24] === 0xff;
}

const SLOT = 2048;
let noise = 0;
const captured = new Map();

function listen(family, device) {
  const key = `${family}/${device}`;
  captured.set(key, []);
  const fd = addon.rawOpen(family, 47, { device });
  const io = new addon.BatchIo(fd, family === 4 ? 'ip4' : 'ip6', 16, SLOT, (count) => {
    for (let i = 0; i < count; i++) {
      const data = io.rxBuffer.subarray(i * SLOT, i * SLOT + io.rxLengths[i]);
      const addrLength = family === 4 ? 4 : 16;
      if (device === 'va' && isTunnelNoise(family, data)) {
        noise++;
        continue;
      }
      captured.get(key).push({
        src: hex(io.rxSrc.subarray(i * 16, i * 16 + addrLength)),
        dst: hex(io.rxDst.subarray(i * 16, i * 16 + addrLength)),
        data: hex(data),
      });
    }
  });
  io.start();
  return io;
}

function sender(family) {
  const fd = addon.rawOpen(family, 47, { ttl: 255 });
  return new addon.BatchIo(fd, family === 4 ? 'ip4' : 'ip6', 1, SLOT, () => {});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const ios = [listen(4, 'va'), listen(6, 'va'), listen(4, 'gk4'), listen(6, 'gk6')];
const senders = { 4: sender(4), 6: sender(6) };

async function send(step) {
  // A reply takes a few ms even under TCG; a silent step waits the whole window.
  const { name, family, dst, payload, expect, waitMs = expect === 'none' ? 1500 : 3000 } = step;
  for (const list of captured.values()) list.length = 0;
  const buf = Buffer.from(payload, 'hex');
  const took = senders[family].send(buf, Uint32Array.of(0), Uint32Array.of(buf.length), addressBytes(dst), 1);
  if (took !== 1) {
    marker(false, name, `send took ${took}`);
    return;
  }
  const veth = captured.get(`${family}/va`);
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && (expect === 'none' || veth.length === 0)) await sleep(20);
  if (expect === 'reply') await sleep(300); // a duplicate would show up here
  const got = [...veth];
  const ok = expect === 'none' ? got.length === 0 : got.length === 1;
  marker(ok, name, JSON.stringify(got));
  marker(true, `${name}.tunnel`, JSON.stringify(captured.get(`${family}/gk${family}`)));
}

function run(step) {
  const [cmd, ...args] = step.run;
  const name =
    step.name ??
    `run.${step.run
      .join('_')
      .replace(/[^\w.-]+/g, '_')
      .slice(0, 60)}`;
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (step.name !== undefined) marker(true, name, out);
  } catch (e) {
    marker(false, name, `${e.message} ${e.stderr ?? ''}`);
  }
}

const bpftool = (ns, ...args) =>
  JSON.parse(
    execFileSync('/usr/sbin/ip', ['netns', 'exec', ns, '/usr/sbin/bpftool', '-j', ...args], {
      encoding: 'utf8',
    }),
  );

/** The id of the map called `mapName` used by the program attached to dev's hook in namespace ns. */
function attachedMap(ns, dev, hook, mapName) {
  const [net] = bpftool(ns, 'net', 'show', 'dev', dev);
  const progs = (net?.[hook] ?? []).filter((p) => p.devname === dev);
  if (progs.length !== 1)
    throw new Error(`${progs.length} ${hook} programs on ${dev}: ${JSON.stringify(net)}`);
  for (const id of bpftool(ns, 'prog', 'show', 'id', String(progs[0].id)).map_ids ?? []) {
    if (bpftool(ns, 'map', 'show', 'id', String(id)).name === mapName) return id;
  }
  throw new Error(`program ${progs[0].id} on ${dev} has no map ${mapName}`);
}

function configure(step) {
  const { ns, dev, hook, underlay } = step.configure;
  let { value } = step.configure;
  try {
    const id = attachedMap(ns, dev, hook, 'ka_config');
    if (underlay !== undefined) {
      const ifindex = Number(
        execFileSync('/usr/sbin/ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${underlay}/ifindex`], {
          encoding: 'utf8',
        }),
      );
      const b = Buffer.from(value, 'hex');
      b.writeUInt32LE(ifindex, 48);
      value = b.toString('hex');
    }
    const bytes = (hex) => hex.match(/../g);
    execFileSync('/usr/sbin/bpftool', [
      'map',
      'update',
      'id',
      String(id),
      'key',
      'hex',
      ...bytes('00000000'),
      'value',
      'hex',
      ...bytes(value),
    ]);
    marker(true, step.name, `map ${id}`);
  } catch (e) {
    marker(false, step.name, `${e.message} ${e.stderr ?? ''}`);
  }
}

/** Sums a per-CPU u64 value as bpftool prints it (numbers, or hex byte strings without BTF). */
function perCpuSum(entry) {
  let sum = 0;
  for (const v of entry.values ?? entry.formatted?.values ?? []) {
    const value = v.value;
    sum += Array.isArray(value)
      ? Number(
          BigInt(
            `0x${value
              .map((b) => b.slice(2))
              .reverse()
              .join('')}`,
          ),
        )
      : Number(value);
  }
  return sum;
}

function counters(step) {
  const { ns, dev, hook } = step.counters;
  try {
    const id = attachedMap(ns, dev, hook, 'ka_counters');
    const slots = {};
    for (const entry of bpftool(ns, 'map', 'dump', 'id', String(id))) {
      const key = entry.formatted?.key ?? entry.key;
      const slot = Array.isArray(key) ? Number.parseInt(key[0], 16) : Number(key);
      const sum = perCpuSum(entry.formatted ?? entry);
      if (sum !== 0) slots[slot] = sum;
    }
    marker(true, step.name, JSON.stringify(slots));
  } catch (e) {
    marker(false, step.name, `${e.message} ${e.stderr ?? ''}`);
  }
}

marker(true, 'driver-started', process.uptime().toFixed(2));
for (const step of plan.steps) {
  if (step.run !== undefined) run(step);
  else if (step.configure !== undefined) configure(step);
  else if (step.counters !== undefined) counters(step);
  else await send(step.send);
}
for (const io of [...ios, ...Object.values(senders)]) io.close();
marker(true, 'driver-noise', noise);
marker(true, 'driver-done', process.uptime().toFixed(2));
