// Standalone entry for `cnictl doctor` (tests bundle it when dist/cnictl is not built):
// `node doctor.js [flags]` is `cnictl doctor [flags]`.
import { runDoctor } from './index';

runDoctor(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cnictl doctor: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 2;
  },
);
