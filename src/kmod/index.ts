/** Building, installing and checking greoip's kernel modules (eoip.ko, eoipv6.ko). No CLI parsing here. */
export { type BuildOptions, type Built, buildModules, headersPackages, releaseOfKdir } from './build.ts';
export { type ModuleInfo, parseModuleInfo } from './elf.ts';
export { KmodError } from './error.ts';
export { type InstallOptions, type InstallResult, install, type ModuleSource } from './install.ts';
export { describeFailure, type Runner, type RunOutput, systemRunner } from './runner.ts';
export { DKMS_NAME, kmodSourceDir, kmodVersion } from './source.ts';
export {
  type Finding,
  KINDS,
  type Kind,
  type KindStatus,
  type KmodStatus,
  kmodStatus,
  type Severity,
  type StatusOptions,
} from './status.ts';
export { type KmodRoots, runningRelease, SYSTEM_ROOTS } from './system.ts';
