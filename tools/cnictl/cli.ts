// cnictl's verbs: load the network, build the attachment, run the libcni operation,
// say what happened. Returns the exit status; main.ts owns the process.
import * as fs from 'node:fs';
import { validateContainerId, validateIfName, validateNetworkName } from '../../lib/cni/conf';
import { errorText } from '../../lib/cni/errors';
import { HELP, UsageError, parseArgs, type Options } from './args';
import { listAttachments, readCache } from './cache';
import { findNetwork, loadFile, type NetworkList, type SkippedConf } from './conf';
import { errorJson, formatError, formatResult } from './format';
import { addList, checkList, delList, gcList, resolvePlugins, statusList, type Ctx, type RuntimeConf } from './ops';
import { createNamedNetns, defaultContainerId, removeNamedNetns, resolveNetns, type NetnsRef } from './netns';

export interface IO {
  out(text: string): void;
  err(text: string): void;
}

export const processIO: IO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

function loadNetwork(o: Options, io: IO): NetworkList {
  // Always on stderr: stdout may be reserved for the result JSON.
  const skipped = (s: SkippedConf): void =>
    io.err(`cnictl: skipped ${s.file}: it is ${s.type}, not a regular file (a runtime's libcni would hang reading it; cnictl doctor reports it)\n`);
  const list = o.conf !== undefined ? loadFile(o.conf) : findNetwork(o.confDir, o.network!, skipped);
  if (o.conf !== undefined && o.network !== undefined && o.network !== list.name) {
    throw new Error(`${o.conf} defines network "${list.name}", not "${o.network}"`);
  }
  validateNetworkName(list.name);
  return list;
}

/** The attachment of add/check/del; check and del take --args/--cap from the cached add unless given. */
function attachment(o: Options, list: NetworkList, ref: NetnsRef): RuntimeConf {
  const containerId = o.id ?? defaultContainerId(ref.path);
  validateContainerId(containerId);
  validateIfName(o.ifName);
  const rt: RuntimeConf = { containerId, netns: ref.path, ifName: o.ifName, args: o.args ?? [], capabilityArgs: o.caps ?? {} };
  if (o.verb !== 'add' && (o.args === undefined || o.caps === undefined)) {
    const c = readCache(o.cacheDir, list.name, containerId, o.ifName);
    if (c.state === 'ok') {
      if (o.args === undefined) rt.args = c.attachment.cniArgs;
      if (o.caps === undefined) rt.capabilityArgs = c.attachment.capabilityArgs;
    }
  }
  return rt;
}

async function execute(o: Options, io: IO): Promise<number> {
  // Notes go to stdout, unless stdout is reserved for JSON.
  const say = (line: string): void => (o.json ? io.err(`${line}\n`) : io.out(`${line}\n`));
  const list = loadNetwork(o, io);
  const ctx: Ctx = { list, runner: { path: o.bin, timeoutMs: o.timeoutMs }, cacheDir: o.cacheDir, note: say };
  const v = list.cniVersion || '0.1.0 (no cniVersion)';

  if (o.verb === 'status') {
    if ((await statusList(ctx)) === 'unsupported') {
      say(`network "${list.name}" is CNI ${v}: STATUS needs 1.1.0, so no plugin was asked (libcni does the same)`);
    } else if (!o.json) say('ready');
    return 0;
  }

  if (o.verb === 'gc') {
    if (o.valid === undefined) {
      const mine = listAttachments(o.cacheDir).filter((a) => a.networkName === list.name);
      const listed = mine.map((a) => `\n  ${a.containerId}:${a.ifName}${a.netns ? ` (${a.netns})` : ''}`).join('');
      throw new UsageError(
        `gc deletes every attachment of "${list.name}" that is not listed with --valid ID:IFNAME, and tells the plugins to ` +
          `release what belongs to no listed attachment; list the ones to keep, or pass --valid none. ` +
          `Cached in ${o.cacheDir}: ${mine.length}${listed}`,
      );
    }
    const r = await gcList(ctx, o.valid);
    if (r === 'disabled') {
      say(`network "${list.name}" has disableGC: nothing done`);
      return 0;
    }
    say(`deleted ${r.deleted.length} stale attachment(s), kept ${o.valid.length} listed`);
    say(r.gcSent ? `GC sent to ${list.plugins.map((p) => p.type).join(', ')}` : `GC not sent: network "${list.name}" is CNI ${v}, the GC verb needs 1.1.0`);
    if (r.errors.length) throw new AggregateError(r.errors, 'gc failed');
    return 0;
  }

  const ref = resolveNetns(o.netns!);
  const rt = attachment(o, list, ref);
  const what = `${rt.containerId} ${rt.ifName} (netns ${ref.path})`;

  if (o.verb === 'add') {
    // A plugin missing from --bin fails here, before a namespace is made for nothing.
    resolvePlugins(ctx);
    if (o.create && createNamedNetns(ref)) say(`created netns ${ref.path}`);
    else if (!fs.existsSync(ref.path)) throw new Error(`netns ${ref.path} does not exist${ref.name ? ' (add --create to make it)' : ''}`);
    try {
      const { result, json } = await addList(ctx, rt);
      if (o.json) io.out(`${JSON.stringify(json, null, 2)}\n`);
      else {
        say(`${list.name}: added ${what}, CNI ${v}`);
        for (const line of formatResult(result, rt.ifName)) say(line);
      }
    } catch (err) {
      const hint = `${o.create ? ' --create' : ''}${o.id ? ` --id ${o.id}` : ''}${o.ifName !== 'eth0' ? ` --ifname ${o.ifName}` : ''}`;
      io.err(`add failed; a runtime would now run DEL: cnictl del ${list.name} ${o.netns}${hint}\n`);
      throw err;
    }
    return 0;
  }

  if (o.verb === 'check') {
    if ((await checkList(ctx, rt)) === 'disabled') say(`network "${list.name}" has disableCheck: not checked`);
    else if (!o.json) say(`ok: ${what}`);
    return 0;
  }

  try {
    await delList(ctx, rt);
  } catch (err) {
    if (o.create) io.err(`netns ${ref.path} kept: DEL failed; run this again once the cause is fixed\n`);
    throw err;
  }
  if (!o.json) say(`${list.name}: deleted ${what}`);
  if (o.create && removeNamedNetns(ref)) say(`removed netns ${ref.path}`);
  return 0;
}

/** `cnictl ARGV...` → exit status. */
export async function runCli(argv: readonly string[], io: IO = processIO): Promise<number> {
  if (argv[0] === 'doctor') {
    const { runDoctor } = await import('./doctor/index');
    return runDoctor(argv.slice(1));
  }
  let o: Options | 'help';
  try {
    o = parseArgs(argv);
  } catch (err) {
    io.err(`cnictl: ${errorText(err)}\nrun cnictl --help for usage\n`);
    return 2;
  }
  if (o === 'help') {
    io.out(`${HELP}\n`);
    return 0;
  }
  try {
    return await execute(o, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`cnictl: ${err.message}\n`);
      return 2;
    }
    if (o.json) io.out(`${JSON.stringify(errorJson(err))}\n`);
    else io.err(`${formatError(err)}\n`);
    return 1;
  }
}
