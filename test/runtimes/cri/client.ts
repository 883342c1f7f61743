// A small CRI client: the calls kubelet makes to bring a pod's network up and down,
// over the runtime's unix socket. Debian 12 has no crictl and there is no Go module proxy
// here, so this stands in for kubelet.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'node:path';

export interface PodSandboxStatus {
  id: string;
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  network?: { ip: string };
}

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
type Method = (req: object, opts: grpc.CallOptions, cb: Callback<any>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

const definition = protoLoader.loadSync(path.join(__dirname, 'runtime-v1.proto'), { keepCase: true, enums: String, longs: String, defaults: true });
const RuntimeService = (grpc.loadPackageDefinition(definition) as any).runtime.v1.RuntimeService as grpc.ServiceClientConstructor; // eslint-disable-line @typescript-eslint/no-explicit-any

export class CriClient {
  private readonly client: grpc.Client;

  constructor(socket: string) {
    this.client = new RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  private call<T>(method: string, req: object, timeoutMs = 60_000): Promise<T> {
    const fn = (this.client as unknown as Record<string, Method>)[method].bind(this.client);
    return new Promise((resolve, reject) => fn(req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T))));
  }

  version(): Promise<{ runtime_name: string; runtime_version: string; runtime_api_version: string }> {
    return this.call('Version', { version: 'v1' });
  }

  async runPodSandbox(opts: { name: string; uid: string; namespace: string; cgroupParent: string }): Promise<string> {
    const config = {
      metadata: { name: opts.name, uid: opts.uid, namespace: opts.namespace, attempt: 0 },
      hostname: opts.name,
      labels: { 'io.kubernetes.pod.name': opts.name },
      linux: { cgroup_parent: opts.cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const r = await this.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, 120_000);
    return r.pod_sandbox_id;
  }

  async podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    const r = await this.call<{ status: PodSandboxStatus }>('PodSandboxStatus', { pod_sandbox_id: id });
    return r.status;
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call('StopPodSandbox', { pod_sandbox_id: id });
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call('RemovePodSandbox', { pod_sandbox_id: id });
  }

  async listPodSandbox(): Promise<Array<{ id: string; state: string; metadata: { name: string } }>> {
    const r = await this.call<{ items: Array<{ id: string; state: string; metadata: { name: string } }> }>('ListPodSandbox', {});
    return r.items;
  }

  async status(): Promise<RuntimeCondition[]> {
    const r = await this.call<{ status: { conditions: RuntimeCondition[] } }>('Status', {});
    return r.status.conditions;
  }

  close(): void {
    this.client.close();
  }
}
