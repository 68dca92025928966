/**
 * The registry and the text exposition format (version 0.0.4). The API (see README.md here) is pull-only: a collector is a function called at scrape time that
 * returns metric families built from counters the datapath already keeps. Nothing is counted twice
 * and nothing runs per packet.
 */

export type MetricType = 'counter' | 'gauge';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

export interface MetricFamily {
  /** `greoip_<subsystem>_<what>[_<unit>]`; counters end in `_total`. */
  name: string;
  help: string;
  type: MetricType;
  samples: readonly Sample[];
}

/** Called at every scrape. */
export type Collector = () => readonly MetricFamily[];

export class MetricsError extends Error {
  override name = 'MetricsError';
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class MetricsRegistry {
  private readonly collectors = new Set<Collector>();

  /** Adds a collector; returns a function that removes it again. */
  register(collector: Collector): () => void {
    this.collectors.add(collector);
    return () => this.collectors.delete(collector);
  }

  /**
   * Every family of every collector. Families of the same name from two collectors are merged when
   * their type and help agree (for instance one collector per tunnel kind); otherwise it throws.
   */
  collect(): MetricFamily[] {
    const byName = new Map<string, MetricFamily>();
    for (const collector of this.collectors) {
      for (const family of collector()) {
        checkFamily(family);
        const seen = byName.get(family.name);
        if (!seen) {
          byName.set(family.name, { ...family, samples: [...family.samples] });
        } else if (seen.type !== family.type || seen.help !== family.help) {
          throw new MetricsError(`metric ${family.name} registered twice with a different type or help`);
        } else {
          byName.set(family.name, { ...seen, samples: [...seen.samples, ...family.samples] });
        }
      }
    }
    return [...byName.values()];
  }

  /** The text exposition of everything registered. */
  exposition(): string {
    return renderExposition(this.collect());
  }
}

function checkFamily(family: MetricFamily): void {
  if (!METRIC_NAME.test(family.name)) throw new MetricsError(`invalid metric name ${family.name}`);
  if (family.type === 'counter' && !family.name.endsWith('_total'))
    throw new MetricsError(`counter ${family.name} must end in _total`);
  for (const sample of family.samples) {
    for (const label of Object.keys(sample.labels ?? {})) {
      if (!LABEL_NAME.test(label) || label.startsWith('__'))
        throw new MetricsError(`invalid label name ${label} on ${family.name}`);
    }
  }
}

/** Content-Type of the text format. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Renders families in the Prometheus text format, version 0.0.4. */
export function renderExposition(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const family of families) {
    out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    out.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples)
      out.push(`${family.name}${labelSet(sample.labels)} ${number(sample.value)}`);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

function labelSet(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** One family from (labels, value) pairs: the shape most collectors build. */
export function family(
  name: string,
  type: MetricType,
  help: string,
  samples: readonly Sample[],
): MetricFamily {
  return { name, type, help, samples };
}
