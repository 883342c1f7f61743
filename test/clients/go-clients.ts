// The real Go clients of a CNI plugin, built at test time from Debian's packaged Go sources
// with Debian's Go (GOPATH mode, no network): libcni 1.1.2 (golang-github-appc-cni-dev) and
// containerd's go-cni 1.1.7 (golang-github-containerd-go-cni-dev). Nothing here is committed
// as Go code: the two small driver programs below are written into a temp dir and built there.
//
// Debian's golang-github-appc-cni-dev ships libcni and pkg/ but not cnitool's main package
// (only its doc, /usr/share/doc/golang-github-appc-cni-dev/cnitool.md), so `cnitool` below is
// our own main over Debian's libcni that keeps cnitool 1.1.2's command line and environment:
//   cnitool add|check|del <net> <netns>, NETCONFPATH, CNI_PATH, CAP_ARGS, CNI_ARGS, CNI_IFNAME,
//   container ID "cnitool-" + hex(sha512(abs netns path)[:10]), libcni's default cache dir.
// It adds one verb, `validate` (libcni's ValidateNetworkList, which probes VERSION).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRoot } from '../helpers/ns';

export const GOCODE = '/usr/share/gocode';
const LIBCNI_SRC = path.join(GOCODE, 'src/github.com/containernetworking/cni/libcni');
const GOCNI_SRC = path.join(GOCODE, 'src/github.com/containerd/go-cni');
export const APT_PACKAGES = ['golang-go', 'golang-github-appc-cni-dev', 'golang-github-containerd-go-cni-dev'];
/** Debian's reference plugins (containernetworking-plugins): portmap and loopback, as in a real node. */
export const DEBIAN_CNI_DIR = '/usr/lib/cni';
/** libcni's CacheDir (1.1.2): neither cnitool 1.1.2 nor go-cni 1.1.7 lets a caller move it. */
export const LIBCNI_CACHE_DIR = '/var/lib/cni';

const CNITOOL_GO = `// cnitool's command line over Debian's libcni (see test/clients/go-clients.ts).
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
)

func die(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: cnitool add|check|del|validate <net> <netns>")
		os.Exit(1)
	}
	verb, netName := os.Args[1], os.Args[2]
	confDir := os.Getenv("NETCONFPATH")
	if confDir == "" {
		confDir = "/etc/cni/net.d"
	}
	list, err := libcni.LoadConfList(confDir, netName)
	if err != nil {
		die(err)
	}
	var caps map[string]interface{}
	if v := os.Getenv("CAP_ARGS"); v != "" {
		if err := json.Unmarshal([]byte(v), &caps); err != nil {
			die(err)
		}
	}
	var args [][2]string
	if v := os.Getenv("CNI_ARGS"); v != "" {
		for _, kv := range strings.Split(v, ";") {
			p := strings.SplitN(kv, "=", 2)
			if len(p) != 2 || p[0] == "" || p[1] == "" {
				die(fmt.Errorf("invalid CNI_ARGS pair %q", kv))
			}
			args = append(args, [2]string{p[0], p[1]})
		}
	}
	ifName, ok := os.LookupEnv("CNI_IFNAME")
	if !ok {
		ifName = "eth0"
	}
	netns, err := filepath.Abs(os.Args[3])
	if err != nil {
		die(err)
	}
	sum := sha512.Sum512([]byte(netns))
	rt := &libcni.RuntimeConf{
		ContainerID:    fmt.Sprintf("cnitool-%x", sum[:10]),
		NetNS:          netns,
		IfName:         ifName,
		Args:           args,
		CapabilityArgs: caps,
	}
	cni := libcni.NewCNIConfig(filepath.SplitList(os.Getenv("CNI_PATH")), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch verb {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if res != nil {
			_ = res.Print()
		}
		if err != nil {
			die(err)
		}
	case "check":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			die(err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			die(err)
		}
	case "validate":
		caps, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			die(err)
		}
		out, _ := json.Marshal(map[string]interface{}{"capabilities": caps})
		fmt.Println(string(out))
	default:
		die(fmt.Errorf("unknown command %q", verb))
	}
}
`;

const GOCNI_DRIVER_GO = `// containerd's CRI plugin (1.6/1.7) reduced to its go-cni calls: the same options at init
// and load, the same namespace options at Setup. Usage: gocni-driver setup|check|remove|status <json>
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	gocni "github.com/containerd/go-cni"
)

type request struct {
	ConfDir      string              \`json:"confDir"\`
	PluginDirs   []string            \`json:"pluginDirs"\`
	Loopback     bool                \`json:"loopback"\`
	ID           string              \`json:"id"\`
	NetNS        string              \`json:"netns"\`
	PodName      string              \`json:"podName"\`
	PodNamespace string              \`json:"podNamespace"\`
	PodUID       string              \`json:"podUID"\`
	PortMappings []gocni.PortMapping \`json:"portMappings"\`
	DNS          *gocni.DNS          \`json:"dns"\`
	Annotations  map[string]string   \`json:"annotations"\`
}

func die(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gocni-driver setup|check|remove|status <json>")
		os.Exit(1)
	}
	var req request
	if err := json.Unmarshal([]byte(os.Args[2]), &req); err != nil {
		die(err)
	}
	minNetworks := 1
	loadOpts := []gocni.Opt{gocni.WithDefaultConf}
	if req.Loopback {
		minNetworks = 2
		loadOpts = []gocni.Opt{gocni.WithLoNetwork, gocni.WithDefaultConf}
	}
	c, err := gocni.New(gocni.WithMinNetworkCount(minNetworks),
		gocni.WithPluginConfDir(req.ConfDir),
		gocni.WithPluginMaxConfNum(1),
		gocni.WithPluginDir(req.PluginDirs),
		gocni.WithInterfacePrefix("eth"))
	if err != nil {
		die(err)
	}
	if err := c.Load(loadOpts...); err != nil {
		die(err)
	}
	labels := map[string]string{
		"K8S_POD_NAMESPACE":          req.PodNamespace,
		"K8S_POD_NAME":               req.PodName,
		"K8S_POD_INFRA_CONTAINER_ID": req.ID,
		"K8S_POD_UID":                req.PodUID,
		"IgnoreUnknown":              "1",
	}
	annotations := req.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	nsOpts := []gocni.NamespaceOpts{
		gocni.WithLabels(labels),
		gocni.WithCapability("io.kubernetes.cri.pod-annotations", annotations),
		gocni.WithCapabilityPortMap(req.PortMappings),
	}
	if req.DNS != nil {
		nsOpts = append(nsOpts, gocni.WithCapabilityDNS(*req.DNS))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch os.Args[1] {
	case "setup":
		res, err := c.Setup(ctx, req.ID, req.NetNS, nsOpts...)
		if err != nil {
			die(err)
		}
		out, err := json.Marshal(map[string]interface{}{
			"interfaces": res.Interfaces, "dns": res.DNS, "routes": res.Routes, "raw": res.Raw(),
		})
		if err != nil {
			die(err)
		}
		fmt.Println(string(out))
	case "check":
		if err := c.Check(ctx, req.ID, req.NetNS, nsOpts...); err != nil {
			die(err)
		}
	case "remove":
		if err := c.Remove(ctx, req.ID, req.NetNS, nsOpts...); err != nil {
			die(err)
		}
	case "status":
		if err := c.Status(); err != nil {
			die(err)
		}
		type network struct {
			Name       string   \`json:"name"\`
			CNIVersion string   \`json:"cniVersion"\`
			IfName     string   \`json:"ifName"\`
			Plugins    []string \`json:"plugins"\`
		}
		networks := []network{}
		for _, n := range c.GetConfig().Networks {
			nw := network{Name: n.Config.Name, CNIVersion: n.Config.CNIVersion, IfName: n.IFName}
			for _, p := range n.Config.Plugins {
				nw.Plugins = append(nw.Plugins, p.Network.Type)
			}
			networks = append(networks, nw)
		}
		out, _ := json.Marshal(map[string]interface{}{"networks": networks})
		fmt.Println(string(out))
	default:
		die(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}
`;

export interface GoClients {
  /** Where the binaries are; remove it when done. */
  dir: string;
  cnitool: string;
  gocni: string;
  goVersion: string;
  buildSeconds: number;
}

function findGo(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/lib/go/bin', '/usr/bin'])) {
    const p = path.join(dir, 'go');
    if (dir && fs.existsSync(p)) return p;
  }
  return undefined;
}

const sourcesPresent = () => fs.existsSync(path.join(LIBCNI_SRC, 'api.go')) && fs.existsSync(path.join(GOCNI_SRC, 'cni.go'));

/**
 * Why the client tests cannot run here, or undefined when they can. As root, installs the Debian
 * packages when they are missing (apt-get update first if the install fails on stale lists);
 * CNIT_CLIENTS_NO_INSTALL=1 forbids that.
 */
export function clientsUnavailable(): string | undefined {
  if (!isRoot) return 'needs root (network namespaces)';
  if (findGo() && sourcesPresent()) return undefined;
  const apt = '/usr/bin/apt-get';
  if (process.env.CNIT_CLIENTS_NO_INSTALL === '1' || !fs.existsSync(apt)) {
    return `Go or the Go CNI sources are missing and were not installed: apt-get install ${APT_PACKAGES.join(' ')}`;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync(apt, ['install', '-y', '-qq', '--no-install-recommends', ...APT_PACKAGES], { env, encoding: 'utf8', timeout: 300_000 });
  let r = install();
  if (r.status !== 0) {
    spawnSync(apt, ['update', '-qq'], { env, encoding: 'utf8', timeout: 300_000 });
    r = install();
  }
  if (r.status !== 0 || !findGo() || !sourcesPresent()) {
    return `could not install ${APT_PACKAGES.join(' ')}: ${(r.stderr || r.stdout || String(r.error ?? '')).trim().split('\n').slice(-3).join(' | ')}`;
  }
  return undefined;
}

/** Write the drivers into a fresh temp GOPATH and build them there with a temp GOCACHE. */
export function buildGoClients(): GoClients {
  const go = findGo();
  if (!go) throw new Error('go not found');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnit-cli-go-'));
  for (const [pkg, src] of [['cnitool', CNITOOL_GO], ['gocni-driver', GOCNI_DRIVER_GO]] as const) {
    fs.mkdirSync(path.join(dir, 'src', pkg), { recursive: true });
    fs.writeFileSync(path.join(dir, 'src', pkg, 'main.go'), src);
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: dir,
    GOPATH: `${GOCODE}:${dir}`,
    GO111MODULE: 'off',
    GOFLAGS: '',
    GOPROXY: 'off',
    GOENV: 'off',
    GOTOOLCHAIN: 'local',
    GOCACHE: path.join(dir, 'gocache'),
    GOTMPDIR: '',
    CGO_ENABLED: '0',
  };
  const started = process.hrtime.bigint();
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const r = spawnSync(go, ['build', '-o', bin + '/', 'cnitool', 'gocni-driver'], { cwd: dir, env, encoding: 'utf8', timeout: 240_000 });
  const buildSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`go build of the CNI clients failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  }
  const goVersion = spawnSync(go, ['version'], { env, encoding: 'utf8' }).stdout.trim();
  return { dir, cnitool: path.join(bin, 'cnitool'), gocni: path.join(bin, 'gocni-driver'), goVersion, buildSeconds };
}

/** cnitool's container ID for a netns path. */
export const cnitoolContainerId = (netnsPath: string): string =>
  `cnitool-${createHash('sha512').update(path.resolve(netnsPath)).digest().subarray(0, 10).toString('hex')}`;

/** libcni's result cache file of one attachment. */
export const cacheFile = (network: string, containerId: string, ifName: string): string =>
  path.join(LIBCNI_CACHE_DIR, 'results', `${network}-${containerId}-${ifName}`);
