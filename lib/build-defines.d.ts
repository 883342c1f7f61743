// Constants the build substitutes (esbuild `define` in scripts/build.mjs, `bun build
// --define` in scripts/build-standalone.mjs). Running from source (vitest) none is set:
// test them with `typeof`, which the bundlers fold, so code for the other case is dropped.

/** One id per build, the same in every bundle of it (lib/cni/invoke.ts). */
declare const __CNI_BUILD_ID__: string | undefined;
/** Which build this code is part of: the Node bundles or the standalone executable. */
declare const __CNI_BUILD_KIND__: 'node' | 'standalone' | undefined;
