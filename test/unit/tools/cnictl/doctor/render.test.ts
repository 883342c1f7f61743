// Doctor's output: the table and the JSON.
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../../../tools/cnictl/doctor/args';
import { renderJson, renderTable } from '../../../../../tools/cnictl/doctor/render';
import type { Finding } from '../../../../../tools/cnictl/doctor/snapshot';

describe('render', () => {
  const inputs = DEFAULTS;
  const findings: Finding[] = [
    { severity: 'error', check: 'ip-forward', detail: 'net.ipv4.ip_forward is 0', fix: 'sysctl -w net.ipv4.ip_forward=1', subject: 'net.ipv4.ip_forward' },
    { severity: 'info', check: 'bridge', detail: 'no link "cni0"', fix: 'nothing to do' },
  ];

  it('prints one line per finding with severity, check, detail and fix', () => {
    const out = renderTable(false, findings, inputs).split('\n');
    expect(out[1]).toMatch(/^SEVERITY\s+CHECK\s+DETAIL\s+FIX$/);
    expect(out[2]).toMatch(/^ERROR\s+ip-forward\s+net\.ipv4\.ip_forward is 0  fix: sysctl -w net\.ipv4\.ip_forward=1$/);
    expect(out[3]).toMatch(/^INFO\s+bridge\s+no link "cni0"  fix: nothing to do$/);
    expect(out[4]).toBe('not ok: 1 error(s), 0 warning(s), 1 for information');
  });

  it('says ok on a healthy node', () => {
    expect(renderTable(true, [], inputs)).toMatch(/\nok: nothing wrong\n$/);
  });

  it('JSON has ok and the findings', () => {
    const j = JSON.parse(renderJson(false, findings, inputs));
    expect(j.ok).toBe(false);
    expect(j.findings).toEqual(findings);
    expect(j.inputs.bridge).toBe('cni0');
  });
});
