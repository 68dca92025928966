/**
 * Options the long-running commands share (`greoip daemon`, `gre-keepalive run`): --log-format,
 * --log-level and --metrics, and turning them into a logger and a metrics endpoint.
 */
import { Option } from 'commander';
import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormatOption,
  Logger,
  type LogLevel,
  LogOptionError,
  parseLogFormat,
  parseLogLevel,
} from '../log/logger.ts';
import { buildInfoCollector } from '../metrics/build-info.ts';
import { type Collector, MetricsRegistry } from '../metrics/registry.ts';
import {
  formatMetricsAddress,
  MetricsAddressError,
  type MetricsServer,
  parseMetricsAddress,
  serveMetrics,
} from '../metrics/server.ts';
import { CliError } from './errors.ts';

export interface ServiceOptions {
  logFormat: string;
  logLevel: string;
  metrics?: string;
}

export function serviceOptions(): Option[] {
  return [
    new Option('--log-format <format>', 'JSON or text lines; auto: text on a terminal, else JSON')
      .choices(LOG_FORMATS)
      .default('auto'),
    new Option('--log-level <level>', 'least severe level logged').choices(LOG_LEVELS).default('info'),
    new Option(
      '--metrics <address>',
      'serve Prometheus metrics at GET /metrics on HOST:PORT, :PORT, [IPV6]:PORT or unix:/PATH (default off)',
    ),
  ];
}

export function loggerFrom(opts: ServiceOptions, component: string): Logger {
  let format: LogFormatOption;
  let level: LogLevel;
  try {
    format = parseLogFormat(opts.logFormat);
    level = parseLogLevel(opts.logLevel);
  } catch (err) {
    if (err instanceof LogOptionError) throw new CliError(`${err.option}: ${err.message}`);
    throw err;
  }
  return new Logger({ component, format, level });
}

/** Checks --metrics before anything starts, so a typo fails fast. */
export function metricsAddressFrom(opts: ServiceOptions) {
  if (opts.metrics === undefined) return null;
  try {
    return parseMetricsAddress(opts.metrics);
  } catch (err) {
    if (err instanceof MetricsAddressError) throw new CliError(`--metrics: ${err.message}`);
    throw err;
  }
}

/** Serves the collectors (plus greoip_build_info) at `address`; logs where. */
export async function startMetrics(
  address: ReturnType<typeof metricsAddressFrom>,
  component: string,
  collectors: Collector[],
  logger: Logger,
): Promise<MetricsServer | null> {
  if (address === null) return null;
  const registry = new MetricsRegistry();
  registry.register(buildInfoCollector(component));
  for (const c of collectors) registry.register(c);
  try {
    const server = await serveMetrics(address, registry);
    logger.info('metrics served', { address: formatMetricsAddress(address), path: '/metrics' });
    return server;
  } catch (err) {
    logger.error('cannot serve metrics', { option: '--metrics', error: (err as Error).message });
    throw new CliError(`--metrics: ${(err as Error).message}`, 1, true);
  }
}
