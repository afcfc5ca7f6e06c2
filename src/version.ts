/** headstart's version, recorded in config.json and printed by `headstart --version` (keep in step with package.json). */
export const HEADSTART_VERSION = '0.1.0';
