// The directories the CNI world agrees on by convention, not by the spec: runtimes and
// cnitool read network configs from CONF_DIR and run plugins from BIN_DIR, and libcni
// caches each attachment's result under CACHE_DIR. One place, so the tools and the
// installer default to the same directories a runtime uses.
// https://github.com/containernetworking/cni/blob/main/cnitool/cmd/root.go (DefaultNetDir)
// https://github.com/containernetworking/cni/blob/main/libcni/api.go (CacheDir)

/** Where runtimes look for network configs (cnitool's DefaultNetDir, kubelet's and containerd's default). */
export const CONF_DIR = '/etc/cni/net.d';
/** Where runtimes look for plugin executables (CNI_PATH when nothing else is configured). */
export const BIN_DIR = '/opt/cni/bin';
/** libcni's result cache (results/NETWORK-ID-IFNAME). */
export const CACHE_DIR = '/var/lib/cni';
