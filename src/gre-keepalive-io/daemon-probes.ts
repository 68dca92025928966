/**
 * The probes of the daemon's config file (its `gre-keepalive:` list): staged
 * when the file is read, started or updated once the daemon has applied the
 * file's tunnels, so a refused reload changes no probe either. Probes whose
 * settings did not change keep running with their state across reloads.
 * A device that is missing or unfit is not refused here: its probe waits,
 * and `gre-keepalive status` says why.
 */
import type { ProbeTarget } from '../gre-keepalive/index.ts';
import { Prober, type ProbeStatus } from './prober.ts';

export class DaemonProbes {
  private prober: Prober | null = null;
  private staged: ProbeTarget[] | null = null;

  constructor(private readonly log: (line: string) => void) {}

  /** The targets of a file just read (not yet applied). */
  stage(targets: ProbeTarget[]): void {
    this.staged = targets;
  }

  /** The file was applied: probe what it says. Failures are logged, never thrown: the tunnels are up. */
  async commit(): Promise<void> {
    const targets = this.staged;
    this.staged = null;
    if (targets === null) return;
    try {
      if (this.prober !== null && targets.length > 0) {
        this.prober.update(targets);
      } else if (this.prober !== null) {
        await this.close();
      } else if (targets.length > 0) {
        const prober = new Prober(targets, { log: (line) => this.log(`gre-keepalive: ${line}`) });
        await prober.start({ strict: false });
        this.prober = prober;
      }
      if (targets.length > 0) this.log(`gre-keepalive: probing ${targets.length} tunnel(s)`);
    } catch (err) {
      this.log(`gre-keepalive: probes not started: ${(err as Error).message}`);
    }
  }

  /** The running probes' status (for metrics), empty when none. */
  statuses(): ProbeStatus[] {
    return this.prober?.statuses() ?? [];
  }

  async close(): Promise<void> {
    const prober = this.prober;
    this.prober = null;
    await prober?.close();
  }
}
