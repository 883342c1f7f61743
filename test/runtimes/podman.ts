// Podman inside a NodeSandbox, set up the way the measured notes say works on this kind of
// machine: the CNI backend reading the sandbox's /etc/cni/net.d and /opt/cni/bin, runc
// (crun refuses hybrid cgroups), cgroupfs, file events, vfs storage in the sandbox's work dir.
import * as path from 'node:path';
import type { NodeSandbox, Run, RunOptions } from './sandbox';

export function setUpPodman(box: NodeSandbox): void {
  const conf = [
    '[containers]',
    // No CAP_SYS_RESOURCE here: runc may lower these limits but not raise them to podman's defaults.
    'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
    '[network]',
    'network_backend = "cni"',
    'cni_plugin_dirs = ["/opt/cni/bin"]',
    'network_config_dir = "/etc/cni/net.d"',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    // Also for `podman container cleanup`, which conmon starts when a container exits and
    // which then runs the DEL (run --rm, and often rm -f) with podman's engine env only.
    `env = ["CNI_CALL_LOG=${box.callLog}"]`,
    '',
  ].join('\n');
  const storage = ['[storage]', 'driver = "vfs"', `graphroot = "${path.join(box.work, 'storage')}"`, 'runroot = "/run/containers/storage"', ''].join('\n');
  box.run(['sh', '-c', 'cat > /etc/containers/containers.conf'], { input: conf });
  box.run(['sh', '-c', 'cat > /etc/containers/storage.conf'], { input: storage });
}

export class Podman {
  constructor(readonly box: NodeSandbox) {}

  run(args: string[], opts: RunOptions = {}): Run {
    return this.box.run(['podman', ...args], opts);
  }

  /** `podman run` with the sandbox's cgroup parent, so teardown finds every container process. */
  start(args: string[], opts: RunOptions = {}): Run {
    return this.run(['run', '--cgroup-parent', this.box.cgroupParent, ...args], opts);
  }

  startAsync(args: string[]): Promise<Run> {
    return this.box.runAsync(['podman', 'run', '--cgroup-parent', this.box.cgroupParent, ...args]);
  }

  exec(name: string, argv: string[], opts: RunOptions = {}): Run {
    return this.run(['exec', name, ...argv], opts);
  }

  inspect(name: string, format: string): string {
    return this.run(['inspect', '--format', format, name]).stdout.trim();
  }

  removeAll(): void {
    this.run(['rm', '--all', '--force', '--time', '0'], { allowFail: true });
  }
}
