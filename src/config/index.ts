/** Tunnel configuration: the `eoip` command line, the daemon's config file, and one call from a request or entry to a complete config. */
export { type ConfigDiff, diffConfigs } from './diff.ts';
export { ArgsError, type ArgsField, type EoipCommand, parseEoipArgs } from './eoip-args.ts';
export {
  ConfigError,
  type ConfigErrorInfo,
  type ConfigFormat,
  formatOf,
  loadConfigFile,
  parseConfigFile,
} from './file.ts';
export {
  type AddConfig,
  applyChanges,
  applyDefaults,
  defaultName,
  resolveTunnel,
  type TunnelRequest,
} from './tunnel.ts';
export { type FieldName, type TunnelChanges, ValidationError } from './validate.ts';
