// What an operator reads: a result as a few lines (`eth0 10.244.1.2/24 gw 10.244.1.1 mac
// ..`), and errors with their CNI code, message and details.
import { CniError } from '../../lib/cni/errors';
import type { Result } from '../../lib/cni/types';
import { PluginFailure } from './ops';

/** The result of an ADD, container side first. IPs without an interface index belong to `ifName` (as containerd reads them). */
export function formatResult(r: Result, ifName: string): string[] {
  const lines: string[] = [];
  const ifs = r.interfaces ?? [];
  const used = new Set<number>();
  for (const ip of r.ips ?? []) {
    const idx = ip.interface;
    const i = idx !== undefined ? ifs[idx] : undefined;
    if (idx !== undefined) used.add(idx);
    const parts = [i?.name ?? ifName, ip.address];
    if (ip.gateway) parts.push('gw', ip.gateway);
    if (i?.mac) parts.push('mac', i.mac);
    if (i?.mtu) parts.push('mtu', String(i.mtu));
    if (i && !i.sandbox) parts.push('(host)');
    lines.push(parts.join(' '));
  }
  ifs.forEach((i, idx) => {
    if (used.has(idx) || !i.sandbox) return;
    lines.push([i.name, 'no address', ...(i.mac ? ['mac', i.mac] : []), ...(i.mtu ? ['mtu', String(i.mtu)] : [])].join(' '));
  });
  for (const route of r.routes ?? []) {
    const parts = ['  route', route.dst];
    if (route.gw) parts.push('via', route.gw);
    if (route.mtu) parts.push('mtu', String(route.mtu));
    if (route.priority) parts.push('metric', String(route.priority));
    if (route.table !== undefined) parts.push('table', String(route.table));
    lines.push(parts.join(' '));
  }
  const dns = r.dns;
  if (dns) {
    const parts: string[] = [];
    if (dns.nameservers?.length) parts.push(`nameservers ${dns.nameservers.join(' ')}`);
    if (dns.domain) parts.push(`domain ${dns.domain}`);
    if (dns.search?.length) parts.push(`search ${dns.search.join(' ')}`);
    if (dns.options?.length) parts.push(`options ${dns.options.join(' ')}`);
    if (parts.length) lines.push(`  dns ${parts.join('; ')}`);
  }
  const host = ifs.filter((i) => !i.sandbox);
  if (host.length) lines.push(`  host ${host.map((i) => (i.mac ? `${i.name} (${i.mac})` : i.name)).join(', ')}`);
  if (lines.length === 0) lines.push('(the result is empty: no interface, address or route)');
  return lines;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** `error 50: <msg>\n  <details>`, plus which plugin said it; errors of cnictl itself carry no code. */
export function formatError(err: unknown): string {
  if (err instanceof PluginFailure) {
    const e = err.error;
    return [`error ${e.code}: ${e.message}`, ...(e.details ? [indent(e.details)] : []), `  (plugin "${err.type}", ${err.verb})`].join('\n');
  }
  if (err instanceof CniError) return [`error ${err.code}: ${err.message}`, ...(err.details ? [indent(err.details)] : [])].join('\n');
  if (err instanceof AggregateError) return err.errors.map(formatError).join('\n');
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

/** The same as JSON for --json: a CNI error object ({code, msg, details}), plus the plugin and verb when known. */
export function errorJson(err: unknown): Record<string, unknown> {
  if (err instanceof PluginFailure) return { ...err.error.toJSON(), plugin: err.type, verb: err.verb };
  if (err instanceof CniError) return { ...err.toJSON() };
  if (err instanceof AggregateError) return { msg: err.message, errors: err.errors.map(errorJson) };
  return { msg: err instanceof Error ? err.message : String(err) };
}
