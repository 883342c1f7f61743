// containerd 1.6 inside a NodeSandbox: its root in the sandbox's work dir, its state in
// the private /run, its socket in the work dir (so the CRI client outside the mount
// namespace reaches it), and its CRI plugin reading the sandbox's /etc/cni/net.d and
// /opt/cni/bin as kubelet's node would.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TEST_IMAGE } from './cni-node';
import type { NodeSandbox, Run, RunOptions } from './sandbox';

export class Containerd {
  readonly socket: string;
  readonly log: string;
  private daemon?: ChildProcess;

  constructor(readonly box: NodeSandbox) {
    this.socket = path.join(box.work, 'containerd.sock');
    this.log = path.join(box.work, 'containerd.log');
  }

  async start(): Promise<void> {
    const config = path.join(this.box.work, 'containerd.toml');
    fs.writeFileSync(
      config,
      [
        'version = 2',
        `root = "${path.join(this.box.work, 'containerd')}"`,
        'state = "/run/containerd"',
        'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]',
        '[grpc]',
        `  address = "${this.socket}"`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        `  sandbox_image = "${TEST_IMAGE}"`,
        // No CAP_SYS_RESOURCE in this sandbox: without it, sandboxes fail with
        // "can't get final child's PID from pipe: EOF". Harmless on a real node.
        '  restrict_oom_score_adj = true',
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        '  [plugins."io.containerd.grpc.v1.cri".cni]',
        '    bin_dir = "/opt/cni/bin"',
        '    conf_dir = "/etc/cni/net.d"',
        '',
      ].join('\n'),
    );
    this.daemon = this.box.startDaemon(['containerd', '--config', config], this.log);
    for (let i = 0; i < 150; i++) {
      if (this.daemon.exitCode !== null) break;
      if (fs.existsSync(this.socket) && this.ctr(['version'], { allowFail: true }).status === 0) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`containerd did not come up: ${fs.readFileSync(this.log, 'utf8').slice(-2000)}`);
  }

  ctr(args: string[], opts: RunOptions = {}): Run {
    return this.box.run(['ctr', '--address', this.socket, ...args], opts);
  }

  /** The image, into the namespace ctr uses and the one the CRI plugin uses. */
  importImage(tar: string): void {
    for (const ns of ['default', 'k8s.io']) this.ctr(['-n', ns, 'images', 'import', tar]);
  }

  async stop(): Promise<void> {
    if (this.daemon) await this.box.stopDaemon(this.daemon);
  }
}
