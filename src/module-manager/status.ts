/**
 * `greoip kmod status`: whether eoip.ko/eoipv6.ko are greoip's and usable, and what is in the way: the
 * facts (detect.ts) and what they mean (findings.ts).
 */
import { detectModules, type KmodFacts, type StatusOptions } from './detect.ts';
import { type Finding, findings } from './findings.ts';

export interface KmodStatus extends KmodFacts {
  findings: Finding[];
  /** A warning or an error: `greoip kmod status` exits 1. */
  needsAction: boolean;
}

export function kmodStatus(options: StatusOptions = {}): KmodStatus {
  const facts = detectModules(options);
  const found = findings(facts);
  return {
    ...facts,
    findings: found,
    needsAction: found.some((f) => f.severity === 'warning' || f.severity === 'error'),
  };
}
