/**
 * The HTTP endpoint Prometheus scrapes: GET /metrics on a TCP address or a unix socket, in the network
 * namespace of the process that serves it (a daemon in a namespace serves inside that namespace).
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { EXPOSITION_CONTENT_TYPE, type MetricsRegistry } from './registry.ts';

export type MetricsAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** A bad --metrics value; the message says what is accepted. */
export class MetricsAddressError extends Error {
  override name = 'MetricsAddressError';
}

const ADDRESS_FORMS = 'HOST:PORT, :PORT (every address), [IPV6]:PORT or unix:/PATH';

/**
 * `127.0.0.1:9464`, `[::1]:9464`, `:9464` (all addresses), `localhost:9464` or `unix:/run/x.sock`.
 * Only literal addresses and `localhost`: a daemon must not depend on name resolution to start.
 */
export function parseMetricsAddress(text: string): MetricsAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!path.startsWith('/')) throw new MetricsAddressError(`${text}: a unix socket path must be absolute`);
    return { kind: 'unix', path };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) throw new MetricsAddressError(`${JSON.stringify(text)} is not ${ADDRESS_FORMS}`);
  const host = m[1] ?? (m[2] === '' ? '::' : m[2]!);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new MetricsAddressError(`${text}: port ${port} is not 1-65535`);
  if (m[1] !== undefined && isIP(host) !== 6)
    throw new MetricsAddressError(`${text}: ${host} is not an IPv6 address`);
  if (m[1] === undefined && host !== '::' && host !== 'localhost' && isIP(host) !== 4)
    throw new MetricsAddressError(`${text}: ${host} is not an IPv4 address (IPv6 goes in brackets)`);
  return { kind: 'tcp', host, port };
}

export function formatMetricsAddress(address: MetricsAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export interface MetricsServer {
  /** Where it listens. */
  readonly address: MetricsAddress;
  close(): Promise<void>;
}

/** Starts serving `registry`; rejects with the listen error (EADDRINUSE, EACCES, ...) named. */
export async function serveMetrics(
  address: MetricsAddress,
  registry: MetricsRegistry,
): Promise<MetricsServer> {
  const server = createServer((req, res) => respond(registry, req, res));
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 10_000;
  if (address.kind === 'unix') await rm(address.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new MetricsAddressError(
          `cannot listen on ${formatMetricsAddress(address)}: ${err.code ?? err.message}`,
        ),
      ),
    );
    if (address.kind === 'unix') server.listen(address.path, resolve);
    else server.listen({ host: address.host, port: address.port, ipv6Only: false }, resolve);
  });
  // A scrape reads tunnel names and counters: root and the socket's group only.
  if (address.kind === 'unix') await chmod(address.path, 0o660);
  return { address, close: () => closeServer(server, address) };
}

function respond(registry: MetricsRegistry, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('GET /metrics\n');
    return;
  }
  if (path === '/') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('greoip metrics: GET /metrics\n');
    return;
  }
  if (path !== '/metrics') {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: GET /metrics\n');
    return;
  }
  let body: string;
  try {
    body = registry.exposition();
  } catch (err) {
    res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(err as Error).message}\n`);
    return;
  }
  res.writeHead(200, { 'Content-Type': EXPOSITION_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function closeServer(server: Server, address: MetricsAddress): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address.kind === 'unix') await rm(address.path, { force: true });
}
