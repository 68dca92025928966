/** A failure of one step of `greoip kmod build|install`, with what was undone after it. */
export class KmodError extends Error {
  override name = 'KmodError';
  constructor(
    /** The step that failed, e.g. "depmod" or "modprobe eoipv6". */
    readonly step: string,
    message: string,
    /** What was rolled back, one line each (install only). */
    readonly undone: string[] = [],
  ) {
    super(message);
  }
}
