/** The GRE keepalive reflector's decision (no I/O). See docs/keepalive.md. */
export {
  createDecision,
  type Decision,
  decide,
  type Layout,
  MAX_INNER,
  VERDICT_NAMES,
  Verdict,
} from './decide.ts';
export { type Explained, explainPacket } from './explain.ts';
export { createPolicy, type Mode, type Policy, PolicyError, type PolicyOptions } from './policy.ts';
