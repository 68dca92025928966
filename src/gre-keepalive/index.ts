/**
 * src/gre-keepalive/: the GRE keepalive core: the reflector's decision and policy (docs/keepalive.md), its per-source limit, the probe's packets, matcher and state machine.
 * May import: src/wire only: no I/O, clocks are injected.
 */
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
export { type NeighbourFacts, NeighbourView, type OnLinkPrefix } from './neighbours.ts';
export { createPolicy, type Mode, type Policy, PolicyError, type PolicyOptions } from './policy.ts';
export {
  AnswerForm,
  compileProbe,
  PROBE_LAYOUTS,
  type ProbeLayout,
  ProbeSet,
  type ProbeSpec,
  ProbeSpecError,
  type ProbeTunnel,
} from './probe.ts';
export {
  DEFAULT_INTERVAL_S,
  DEFAULT_RETRIES,
  INTERVAL_RANGE_S,
  ProbeConfigError,
  type ProbeTarget,
  parseProbeEntries,
  RETRIES_RANGE,
  targetName,
} from './probe-config.ts';
export { ProbeMachine, ProbeSchedule, type ProbeState, type Transition } from './probe-state.ts';
export {
  DEFAULT_SOURCE_LIMIT,
  SourceLimitError,
  SourceLimiter,
  type SourceLimitOptions,
} from './source-limit.ts';
