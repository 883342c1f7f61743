// `cnictl doctor`: inspects the node (the network namespace it runs in) and reports
// what breaks pod networking, each finding with its fix. Read-only.
// Exit status: 0 nothing wrong (information only), 1 something wrong, 2 usage error
// or doctor itself failed.
import { errorText } from '../../../lib/cni/errors';
import { USAGE, UsageError, parseDoctorArgs } from './args';
import { diagnose, isOk } from './diagnose';
import { gather } from './gather';
import { renderJson, renderTable } from './render';

export { diagnose, isOk } from './diagnose';
export type { Finding, Severity, Snapshot } from './snapshot';

export async function runDoctor(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseDoctorArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`cnictl doctor: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const snapshot = await gather(args.given);
    const findings = diagnose(snapshot);
    const ok = isOk(findings);
    process.stdout.write((args.json ? renderJson : renderTable)(ok, findings, snapshot.inputs));
    return ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`cnictl doctor: ${errorText(err)}\n`);
    return 2;
  }
}
