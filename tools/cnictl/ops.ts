// The list operations of libcni (AddNetworkList, CheckNetworkList, DelNetworkList,
// GetStatusNetworkList, GCNetworkList) with their version gates
// (https://github.com/containernetworking/cni/blob/main/libcni/api.go).
import { LEGACY_ATTACHMENTS_KEY, VALID_ATTACHMENTS_KEY } from '../../lib/cni/gc';
import { CniError, errorText } from '../../lib/cni/errors';
import { findInPath } from '../../lib/cni/invoke';
import type { Result, Verb } from '../../lib/cni/types';
import { convertResult, parseResult, versionAtLeast } from '../../lib/cni/version';
import { deleteCache, listAttachments, readCache, writeCache, type CachedAttachment } from './cache';
import { pluginStdin, pluginType, type Json, type NetworkList } from './conf';
import { execPlugin, type Attachment, type Runner } from './exec';

export interface Ctx {
  list: NetworkList;
  runner: Runner;
  cacheDir: string;
  /** Progress and notes for the operator (never the result). */
  note: (line: string) => void;
}

export interface RuntimeConf extends Attachment {
  capabilityArgs: Json;
}

/** A plugin of the list failed: which one, doing what, and its own error (code, msg, details). */
export class PluginFailure extends Error {
  constructor(
    readonly type: string,
    readonly verb: Verb,
    readonly error: CniError,
  ) {
    super(`plugin "${type}" failed (${verb}): ${error.message}`);
    this.name = 'PluginFailure';
  }
}

/** A libcni gate or condition that stops the operation before any plugin runs. */
export class Refused extends Error {}

// '' (a legacy .conf without cniVersion) means 0.1.0 for every gate and conversion.
const effective = (list: NetworkList): string => list.cniVersion || '0.1.0';
const atLeast = (list: NetworkList, v: string): boolean => versionAtLeast(effective(list), v);

/** libcni finds each binary just before running it; finding all first keeps a missing one from leaving half a chain. */
export function resolvePlugins(ctx: Ctx): void {
  for (const p of ctx.list.plugins) findInPath(pluginType(p), ctx.runner.path);
}

async function run(ctx: Ctx, verb: Verb, plugin: Json, stdin: Buffer, att?: Attachment): Promise<unknown> {
  try {
    return await execPlugin(verb, pluginType(plugin), stdin, ctx.runner, att);
  } catch (err) {
    throw new PluginFailure(pluginType(plugin), verb, err instanceof CniError ? err : new CniError(999, errorText(err)));
  }
}

/** Any version's result → the list's version (the shape every plugin of the list speaks). */
export function toListVersion(raw: unknown, list: NetworkList): { result: Result; json: Json } {
  const result = parseResult(raw, effective(list));
  return { result, json: convertResult(result, effective(list)) };
}

/** ADD in list order, each plugin getting the previous one's result; the final result cached. */
export async function addList(ctx: Ctx, rt: RuntimeConf): Promise<{ result: Result; json: Json; cacheFile: string }> {
  resolvePlugins(ctx);
  let prev: { result: Result; json: Json } | undefined;
  for (const plugin of ctx.list.plugins) {
    const stdin = pluginStdin(plugin, ctx.list, { prevResult: prev?.json, capabilityArgs: rt.capabilityArgs });
    const raw = await run(ctx, 'ADD', plugin, stdin, rt);
    try {
      prev = toListVersion(raw, ctx.list);
    } catch (err) {
      throw new PluginFailure(pluginType(plugin), 'ADD', err instanceof CniError ? err : new CniError(999, errorText(err)));
    }
  }
  const final = prev!;
  const cacheFile = writeCache(ctx.cacheDir, {
    containerId: rt.containerId,
    ifName: rt.ifName,
    networkName: ctx.list.name,
    netns: rt.netns,
    config: ctx.list.bytes,
    cniArgs: rt.args,
    capabilityArgs: rt.capabilityArgs,
    result: final.json,
  });
  return { ...final, cacheFile };
}

type Cached = { prevResult?: Json; problem?: string };

/** The cached ADD result converted to the list's version, for CHECK and DEL. */
function cachedResult(ctx: Ctx, rt: RuntimeConf): Cached {
  const c = readCache(ctx.cacheDir, ctx.list.name, rt.containerId, rt.ifName);
  if (c.state === 'absent') return {};
  if (c.state === 'broken') return { problem: c.why };
  const raw = c.state === 'ok' ? c.attachment.result : c.result;
  if (raw === undefined) return {};
  try {
    return { prevResult: toListVersion(raw, ctx.list).json };
  } catch (err) {
    return { problem: `cannot convert the cached result to ${effective(ctx.list)}: ${errorText(err)}` };
  }
}

/** CHECK in list order with the cached result; refused below 0.4.0, skipped with disableCheck. */
export async function checkList(ctx: Ctx, rt: RuntimeConf): Promise<'checked' | 'disabled'> {
  if (!atLeast(ctx.list, '0.4.0')) {
    throw new Refused(`network "${ctx.list.name}" is CNI ${effective(ctx.list)}, which has no CHECK (it needs 0.4.0 or later); libcni refuses it too`);
  }
  if (ctx.list.disableCheck) return 'disabled';
  const cached = cachedResult(ctx, rt);
  if (cached.problem) throw new Refused(`the cached result of ${rt.containerId}/${rt.ifName} in ${ctx.cacheDir} is unusable: ${cached.problem}`);
  if (!cached.prevResult) ctx.note(`no cached result for ${rt.containerId}/${rt.ifName} in ${ctx.cacheDir}: CHECK runs without prevResult`);
  resolvePlugins(ctx);
  for (const plugin of ctx.list.plugins) {
    await run(ctx, 'CHECK', plugin, pluginStdin(plugin, ctx.list, { prevResult: cached.prevResult, capabilityArgs: rt.capabilityArgs }), rt);
  }
  return 'checked';
}

/**
 * DEL in reverse list order, with the cached result as prevResult from 0.4.0 on. A cache
 * entry that cannot be used is removed and DEL goes on without it (libcni); the entry is
 * removed after success.
 */
export async function delList(ctx: Ctx, rt: RuntimeConf): Promise<void> {
  let prevResult: Json | undefined;
  if (atLeast(ctx.list, '0.4.0')) {
    const cached = cachedResult(ctx, rt);
    if (cached.problem) {
      ctx.note(`dropping the unusable cached result of ${rt.containerId}/${rt.ifName}: ${cached.problem}`);
      deleteCache(ctx.cacheDir, ctx.list.name, rt.containerId, rt.ifName);
    }
    prevResult = cached.prevResult;
  }
  resolvePlugins(ctx);
  for (const plugin of [...ctx.list.plugins].reverse()) {
    await run(ctx, 'DEL', plugin, pluginStdin(plugin, ctx.list, { prevResult, capabilityArgs: rt.capabilityArgs }), rt);
  }
  deleteCache(ctx.cacheDir, ctx.list.name, rt.containerId, rt.ifName);
}

/** STATUS in list order, stopping at the first error; below 1.1.0 libcni asks nothing. */
export async function statusList(ctx: Ctx): Promise<'ready' | 'unsupported'> {
  if (!atLeast(ctx.list, '1.1.0')) return 'unsupported';
  resolvePlugins(ctx);
  for (const plugin of ctx.list.plugins) await run(ctx, 'STATUS', plugin, pluginStdin(plugin, ctx.list));
  return 'ready';
}

export interface ValidAttachment {
  containerID: string;
  ifname: string;
}

export interface GcReport {
  deleted: CachedAttachment[];
  /** The GC verb went to the plugins (1.1.0 and later). */
  gcSent: boolean;
  errors: Error[];
}

/**
 * libcni GCNetworkList: DEL every cached attachment of this network that is not valid
 * (at any version), then GC to every plugin with both spellings of the attachment list
 * (1.1.0 and later). Goes on past errors and returns them all. Nothing with disableGC.
 */
export async function gcList(ctx: Ctx, valid: ValidAttachment[]): Promise<GcReport | 'disabled'> {
  if (ctx.list.disableGC) return 'disabled';
  const keep = new Set(valid.map((v) => `${v.containerID}\0${v.ifname}`));
  const report: GcReport = { deleted: [], gcSent: false, errors: [] };
  for (const a of listAttachments(ctx.cacheDir)) {
    if (a.networkName !== ctx.list.name || keep.has(`${a.containerId}\0${a.ifName}`)) continue;
    const rt: RuntimeConf = { containerId: a.containerId, netns: a.netns, ifName: a.ifName, args: a.cniArgs, capabilityArgs: a.capabilityArgs };
    ctx.note(`deleting stale attachment ${a.containerId} ${a.ifName}${a.netns ? ` (netns ${a.netns})` : ''}`);
    try {
      await delList(ctx, rt);
      report.deleted.push(a);
    } catch (err) {
      report.errors.push(new Error(`failed to delete stale attachment ${a.containerId} ${a.ifName}: ${errorText(err)}`, { cause: err }));
    }
  }
  if (!atLeast(ctx.list, '1.1.0')) return report;
  const attachments = valid.map((v) => ({ containerID: v.containerID, ifname: v.ifname }));
  const extra = { [VALID_ATTACHMENTS_KEY]: attachments, [LEGACY_ATTACHMENTS_KEY]: attachments };
  for (const plugin of ctx.list.plugins) {
    try {
      await run(ctx, 'GC', plugin, pluginStdin(plugin, ctx.list, { extra }));
    } catch (err) {
      report.errors.push(err as Error);
    }
  }
  report.gcSent = true;
  return report;
}
