// Test-only: a "node" of a flannel vxlan network, programmed with `ip`/`bridge`
// the way flanneld's vxlan backend programs a real node. Everything lives inside
// namespaces created here; the root namespace is never touched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Netns, tempDir } from '../helpers/ns';

export const FLANNEL_NETWORK = '172.16.0.0/16';
/** flanneld's vxlan backend: 1500 on the underlay minus 50 bytes of VXLAN/UDP/IP/Ethernet. */
export const UNDERLAY_MTU = 1500;
export const FLANNEL_MTU = UNDERLAY_MTU - 50;
export const VXLAN_PORT = 8472;
export const VXLAN_DEV = 'flannel.1';
export const UNDERLAY_DEV = 'ul0';

export interface NodeSpec {
  /** The node's pod subnet, e.g. 172.16.99.0/24. */
  subnet: string;
  /** The node's underlay address (the "public IP" flanneld would use), e.g. 192.168.199.1. */
  underlayIp: string;
}

export class FlannelNode {
  readonly ns: Netns;
  /** Holds subnet.env, flannel's scratch dir and host-local's state dir. */
  readonly dir: string;
  readonly subnetFile: string;
  readonly flannelDataDir: string;
  readonly ipamDataDir: string;
  /** Network address of the node's subnet (172.16.99.0), the address flanneld puts on flannel.1. */
  readonly subnetAddr: string;
  readonly prefix: number;

  constructor(readonly spec: NodeSpec) {
    const [addr, prefix] = spec.subnet.split('/');
    this.subnetAddr = addr;
    this.prefix = Number(prefix);
    this.dir = tempDir('cnit-e2e-');
    this.subnetFile = path.join(this.dir, 'subnet.env');
    this.flannelDataDir = path.join(this.dir, 'flannel');
    this.ipamDataDir = path.join(this.dir, 'ipam');
    try {
      this.ns = Netns.create('cnit-e2e-node-');
    } catch (err) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The n-th host address of the subnet (subnet .0 + n); /24 and wider only. */
  host(n: number): string {
    const o = this.subnetAddr.split('.').map(Number);
    const v = ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) + n;
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }

  get gateway(): string {
    return this.host(1);
  }

  /** What flanneld writes to /run/flannel/subnet.env (key order as flanneld, SUBNET with the .1 host). */
  writeSubnetEnv(): void {
    fs.writeFileSync(
      this.subnetFile,
      `FLANNEL_NETWORK=${FLANNEL_NETWORK}\nFLANNEL_SUBNET=${this.gateway}/${this.prefix}\nFLANNEL_MTU=${FLANNEL_MTU}\nFLANNEL_IPMASQ=true\n`,
    );
  }

  sysctl(setting: string): void {
    this.ns.exec(['sysctl', '-q', '-w', setting]);
  }

  /** The underlay address and flannel.1, as flanneld's vxlan backend creates it at start-up. */
  setUp(): void {
    this.sysctl('net.ipv4.ip_forward=1');
    this.ns.ip(`addr add ${this.spec.underlayIp}/24 dev ${UNDERLAY_DEV}`);
    this.ns.ip(`link set ${UNDERLAY_DEV} mtu ${UNDERLAY_MTU} up`);
    this.ns.ip(`link add ${VXLAN_DEV} type vxlan id 1 local ${this.spec.underlayIp} dev ${UNDERLAY_DEV} dstport ${VXLAN_PORT} nolearning`);
    this.ns.ip(`link set ${VXLAN_DEV} mtu ${FLANNEL_MTU}`);
    this.ns.ip(`addr add ${this.subnetAddr}/32 dev ${VXLAN_DEV}`);
    this.ns.ip(`link set ${VXLAN_DEV} up`);
    this.writeSubnetEnv();
  }

  get vtepMac(): string {
    return this.ns.json<{ address: string }[]>(`link show dev ${VXLAN_DEV}`)[0].address;
  }

  /** What flanneld does when it learns a peer lease: route, ARP entry, FDB entry. */
  addPeer(peer: FlannelNode): void {
    const mac = peer.vtepMac;
    this.ns.ip(`route add ${peer.spec.subnet} via ${peer.subnetAddr} dev ${VXLAN_DEV} onlink`);
    this.ns.ip(`neigh replace ${peer.subnetAddr} lladdr ${mac} dev ${VXLAN_DEV} nud permanent`);
    this.ns.exec(['bridge', 'fdb', 'append', mac, 'dev', VXLAN_DEV, 'dst', peer.spec.underlayIp]);
  }

  /** The flannel CNI config kube-flannel installs (cni-conf.json), pointed at this node's temp dirs. */
  conf(): Record<string, unknown> {
    return {
      cniVersion: '0.3.1',
      name: 'cbr0',
      type: 'flannel',
      subnetFile: this.subnetFile,
      dataDir: this.flannelDataDir,
      ipam: { dataDir: this.ipamDataDir },
      delegate: { hairpinMode: true, isDefaultGateway: true },
    };
  }

  destroy(): void {
    this.ns.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Two nodes joined by a veth pair, the "underlay" between two machines. */
export function joinUnderlay(a: FlannelNode, b: FlannelNode): void {
  a.ns.ip(`link add ${UNDERLAY_DEV} type veth peer name ${UNDERLAY_DEV} netns ${b.ns.name}`);
}
