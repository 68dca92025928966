/**
 * src/module-manager/: `greoip kmod`: building, installing (updates/ or DKMS) and inspecting kmod/'s eoip.ko and eoipv6.ko.
 * May import: nothing else of greoip (system commands run through an injectable Runner).
 */
export { type BuildOptions, type Built, buildModules } from './build.ts';
export {
  detectModules,
  type KernelSummary,
  type KindStatus,
  type KmodFacts,
  type StatusOptions,
} from './detect.ts';
export { type DkmsEntry, dkmsEntries, parseDkmsStatus } from './dkms.ts';
export { type ModuleInfo, parseModuleInfo } from './elf.ts';
export { KmodError } from './error.ts';
export type { Finding, Severity } from './findings.ts';
export { type InstallOptions, type InstallResult, install, type ModuleSource } from './install.ts';
export { headersPackages, KINDS, type Kind, releaseOfKdir } from './kinds.ts';
export { describeFailure, type Runner, type RunOutput, systemRunner } from './runner.ts';
export { DKMS_NAME, kmodSourceDir, kmodVersion } from './source.ts';
export { type KmodStatus, kmodStatus } from './status.ts';
export { installedReleases, type KmodRoots, runningRelease, SYSTEM_ROOTS } from './system.ts';
export { type UninstallOptions, type UninstallResult, uninstall } from './uninstall.ts';
