// The cnictl executable (dist/cnictl): a CNI runtime for one command, for operators.
// Exit status through process.exitCode, so stdout drains before the process ends.
import { runCli } from './cli';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cnictl: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
