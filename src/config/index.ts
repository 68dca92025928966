/**
 * src/config/: tunnel and probe configuration: the `eoip` grammar, config files, one call from a request or entry to a valid config.
 * May import: src/eoip, src/gre-keepalive, src/wire.
 */
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
