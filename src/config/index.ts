/** Tunnel configuration: the `eoip` command line, the daemon's config file, and reload diffs. */
export { type ConfigDiff, diffConfigs } from './diff.ts';
export {
  type AddConfig,
  ArgsError,
  type ArgsField,
  applyChanges,
  applyDefaults,
  defaultName,
  type EoipCommand,
  parseEoipArgs,
} from './eoip-args.ts';
export {
  ConfigError,
  type ConfigErrorInfo,
  type ConfigFormat,
  formatOf,
  loadConfigFile,
  parseConfigFile,
} from './file.ts';
export { type FieldName, type TunnelChanges, ValidationError } from './validate.ts';
