export { loadConfig, redactedConfig, unknownVariables, ConfigError, type GatewayConfig } from './config';
export { SETTINGS, type Setting } from './settings';
export { renderSettingsTable, renderConfigurationDoc } from './settings-doc';
