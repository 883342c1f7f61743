// The spec versions every plugin here speaks. Its own module, with no imports, so the
// VERSION verb answers before anything else of a plugin is loaded.
export const SUPPORTED_VERSIONS: readonly string[] = Object.freeze(['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);

/** The most a plugin reads from stdin: a config is a few KB; more is an attack or a mistake. */
export const MAX_STDIN = 1 << 20;
