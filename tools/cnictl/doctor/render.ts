// Output of `cnictl doctor`: a table for people (one line per finding: severity,
// check, detail, fix) or JSON for scripts ({"ok", "findings", "inputs"}).
import type { Finding, Inputs } from './snapshot';

export function renderJson(ok: boolean, findings: readonly Finding[], inputs: Inputs): string {
  return `${JSON.stringify({ ok, findings, inputs }, null, 2)}\n`;
}

export function renderTable(ok: boolean, findings: readonly Finding[], inputs: Inputs): string {
  const head = `node: network ${inputs.network}, bridge ${inputs.bridge}, subnet file ${inputs.subnetFile}, IPAM ${inputs.ipamDataDir}/${inputs.network}\n`;
  const rows = findings.map((f) => [f.severity.toUpperCase(), f.check, f.detail, `fix: ${f.fix}`]);
  const all = [['SEVERITY', 'CHECK', 'DETAIL', 'FIX'], ...rows];
  const w0 = Math.max(...all.map((r) => r[0].length));
  const w1 = Math.max(...all.map((r) => r[1].length));
  const line = (r: string[]): string => `${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2]}  ${r[3]}`.trimEnd();
  const count = (sev: Finding['severity']): number => findings.filter((f) => f.severity === sev).length;
  const summary = ok
    ? `ok: nothing wrong${findings.length ? ` (${findings.length} for information)` : ''}`
    : `not ok: ${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} for information`;
  return `${head}${findings.length ? `${all.map(line).join('\n')}\n` : ''}${summary}\n`;
}
