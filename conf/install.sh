#!/usr/bin/env bash
# Install the built plugins into <prefix>/opt/cni/bin and a conflist into
# <prefix>/etc/cni/net.d. Each file is copied to a temporary name and renamed into
# place, so a runtime never executes a half-written plugin. Every target is checked
# before anything changes; switching builds removes the other build's files (ours only).
set -euo pipefail

usage() {
  cat <<USAGE
usage: conf/install.sh [--prefix DIR] [--conf flannel|bridge|none] [--standalone] [--from DIR] [--force]
  --prefix DIR   install under DIR instead of / (tests use a temporary root)
  --standalone   install the self-contained executable (dist-standalone/), no Node.js needed;
                 cnictl is a Node bundle: installed from dist/ when Node.js 20+ is here, else skipped
  --from DIR     the standalone build in DIR instead (implies --standalone), e.g. release/linux-arm64
  --conf NAME    which conflist to install (default: flannel; none = binaries only)
  --force        replace plugin binaries that were not built by this project
USAGE
}

prefix=""
from=""
conf="flannel"
force=0
standalone=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --conf) conf="${2:?--conf needs a name}"; shift 2 ;;
    --force) force=1; shift ;;
    --standalone) standalone=1; shift ;;
    --from) from="${2:?--from needs a directory}"; standalone=1; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "$0")/.." && pwd)"
dist="$here/dist"
bindir="$prefix/opt/cni/bin"
confdir="$prefix/etc/cni/net.d"
marker="built by cni-flannel-bridge"

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
# cnictl (the operator's tool, dist/cnictl) is a Node bundle in both modes; it needs
# cninative.node beside it, which both builds install.
cnictl=0
if [ "$standalone" -eq 1 ]; then
  dist="${from:-$here/dist-standalone}"
  files="cni-plugins cninative.node"
  if [ "$node_major" -lt 20 ]; then
    echo "install: skipping cnictl: it runs on Node.js 20 or later (found: $(node --version 2>/dev/null || echo none)); the plugins do not need Node" >&2
  elif [ ! -f "$here/dist/cnictl" ]; then
    echo "install: skipping cnictl: $here/dist/cnictl is missing; run npm run build (or npm run build:node) to have it" >&2
  else
    cnictl=1
  fi
else
  if [ "$node_major" -lt 20 ]; then
    echo "install: Node.js 20 or later is needed on this node (found: $(node --version 2>/dev/null || echo none)); or install --standalone" >&2
    exit 1
  fi
  files="bridge flannel cnictl cninative.node"
  cnictl=1
fi
for f in $files; do
  [ -f "$dist/$f" ] || { echo "install: $dist/$f is missing; run npm run build first" >&2; exit 1; }
done

# What the build needs of this node (host-requirements, written beside it by the build):
# refused here, with every reason, rather than installed and failing in every pod start.
version_lt() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]; }
check_host() {
  local req="$dist/host-requirements" problems=() arch glibc flags f
  if [ ! -f "$req" ]; then
    echo "install: $req is missing: rebuild (npm run build, or npm run release)" >&2
    exit 1
  fi
  local ARCH="" KERNEL="" GLIBC="" CPU=""
  # shellcheck disable=SC1090
  . "$req"
  case "$(uname -m)" in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  [ "$arch" = "$ARCH" ] || problems+=("this build is for $ARCH, the node is $arch: use the $arch build (npm run release writes release/linux-$arch)")
  version_lt "$(uname -r | grep -o '^[0-9.]*')" "$KERNEL" && problems+=("kernel $(uname -r) is older than $KERNEL, the oldest this build supports")
  if glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null)"; then
    glibc="${glibc#glibc }"
    version_lt "$glibc" "$GLIBC" && problems+=("glibc $glibc is older than $GLIBC, which the plugins link against")
  else
    problems+=("no GNU C library found (a musl system such as Alpine?): the plugins need glibc $GLIBC or later")
  fi
  if [ "$arch" = "$ARCH" ] && [ -n "$CPU" ]; then
    flags=" $(grep -m 1 -E '^(flags|Features)[[:space:]]*:' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
    local missing=""
    for f in $CPU; do case "$flags" in *" $f "*) ;; *) missing="$missing $f" ;; esac; done
    if [ -n "$missing" ]; then
      local hint=""
      case "$missing" in *avx2*) hint=" (no AVX2: install the build for any x86-64, --from release/linux-amd64)" ;; esac
      problems+=("the CPU lacks${missing}, which this build's runtime is compiled for$hint")
    fi
  fi
  # Last, the build itself on this node's kernel, CPU and C library, as a runtime will start it.
  if [ ${#problems[@]} -eq 0 ]; then
    local out
    if [ "$standalone" -eq 1 ]; then out="$(CNI_COMMAND=VERSION bash -c 'exec -a bridge "$0"' "$dist/cni-plugins" 2>&1 </dev/null)" || true
    else out="$(CNI_COMMAND=VERSION node "$dist/bridge" 2>&1 </dev/null)" || true; fi
    case "$out" in *supportedVersions*) ;; *) problems+=("the plugins do not start here: $(printf '%s' "$out" | head -c 300)") ;; esac
  fi
  if [ ${#problems[@]} -gt 0 ]; then
    echo "install: this node cannot run these plugins; nothing was changed:" >&2
    printf '  %s\n' "${problems[@]}" >&2
    exit 1
  fi
}
check_host

case "$conf" in
  flannel|bridge) conflist="10-$conf.conflist" ;;
  none) conflist="" ;;
  *) echo "install: unknown --conf $conf" >&2; exit 2 ;;
esac

# Every file this run writes. The standalone build puts bridge and flannel as links.
targets="$files"
if [ "$standalone" -eq 1 ]; then
  targets="$targets bridge flannel"
  if [ "$cnictl" -eq 1 ]; then targets="$targets cnictl"; fi
fi
# What the other build installs and this one does not, and netlink.node, which releases
# before this one installed beside the Node bundles: removed below when it is ours.
if [ "$standalone" -eq 1 ]; then
  if [ "$cnictl" -eq 1 ]; then stale="netlink.node"; else stale="cnictl netlink.node"; fi
else
  stale="cni-plugins netlink.node"
fi

# Ours: a Node bundle carries the marker in its first lines, the standalone executable
# anywhere in it (Bun puts its banner deep inside), bridge/flannel of the standalone
# build are links to cni-plugins, and cni-plugins is ours when they link to it (an
# install from before it carried the marker). netlink.node is the `netlink` package's
# binary, which carries no marker: ours when it is that very prebuilt file.
# Only regular files are read: `head` on a FIFO would wait forever.
case "$(uname -m)" in aarch64|arm64) node_arch=arm64 ;; *) node_arch=x64 ;; esac
netlink_prebuilt="$here/node_modules/netlink/prebuilds/linux-$node_arch/node.napi.node"
links_to_cni_plugins() {
  [ "$(readlink "$bindir/bridge")" = "cni-plugins" ] || [ "$(readlink "$bindir/flannel")" = "cni-plugins" ]
}
is_ours() { # name
  local f="$bindir/$1"
  case "$1" in
    bridge|flannel|cnictl)
      [ "$(readlink "$f")" = "cni-plugins" ] && return 0
      [ -f "$f" ] && head -c 512 "$f" | grep -q "$marker" ;;
    cni-plugins) [ -f "$f" ] && [ ! -L "$f" ] && { LC_ALL=C grep -qaF "$marker" "$f" || links_to_cni_plugins; } ;;
    netlink.node) [ -f "$f" ] && [ ! -L "$f" ] && [ -f "$netlink_prebuilt" ] && cmp -s "$f" "$netlink_prebuilt" ;;
    *) return 1 ;;
  esac
}

# Everything is checked before anything changes, so a refusal leaves the node as it was.
# mv onto a directory (or a link to one) would move the file inside it and report success.
refuse_dir() { # path
  if [ -d "$1" ]; then
    echo "install: $1 is a directory, where this install puts a file; refusing (nothing was changed): move it away, then run install again" >&2
    exit 1
  fi
}
for f in $targets; do refuse_dir "$bindir/$f"; done
if [ -n "$conflist" ]; then refuse_dir "$confdir/$conflist"; fi
ours="bridge flannel"
if [ "$cnictl" -eq 1 ]; then ours="$ours cnictl"; fi
for f in $ours; do
  if [ -e "$bindir/$f" ] && ! is_ours "$f" && [ "$force" -ne 1 ]; then
    echo "install: $bindir/$f exists and was not built by this project; keeping it (use --force to replace it)" >&2
    exit 1
  fi
done
remove=""
for f in $stale; do
  if [ -e "$bindir/$f" ] || [ -L "$bindir/$f" ]; then
    if is_ours "$f"; then remove="$remove $f"
    else echo "install: keeping $bindir/$f: the other build installs a file by that name, but this one was not recognised as ours" >&2
    fi
  fi
done

mkdir -p "$bindir" "$confdir"

# -T: never "into" a directory that appeared since the check.
install_atomic() { # src dst mode
  local tmp
  tmp="$(dirname "$2")/.$(basename "$2").tmp.$$"
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  # Unlike the plugins' state, a binary must outlive a power loss: a torn plugin fails every pod after the reboot.
  sync "$tmp"
  mv -fT "$tmp" "$2"
  sync "$(dirname "$2")"
  echo "installed $2"
}

link_atomic() { # target name
  local tmp
  tmp="$(dirname "$2")/.$(basename "$2").tmp.$$"
  ln -sfn "$1" "$tmp"
  mv -fT "$tmp" "$2"
  echo "installed $2 -> $1"
}

if [ "$standalone" -eq 1 ]; then
  install_atomic "$dist/cninative.node" "$bindir/cninative.node" 0644
  install_atomic "$dist/cni-plugins" "$bindir/cni-plugins" 0755
  for f in bridge flannel; do link_atomic cni-plugins "$bindir/$f"; done
  if [ "$cnictl" -eq 1 ]; then install_atomic "$here/dist/cnictl" "$bindir/cnictl" 0755; fi
else
  install_atomic "$dist/cninative.node" "$bindir/cninative.node" 0644
  for f in bridge flannel cnictl; do install_atomic "$dist/$f" "$bindir/$f" 0755; done
fi
# After the new build is in place, so the plugins are never missing in between.
for f in $remove; do
  rm -f "$bindir/$f"
  echo "removed $bindir/$f (installed by the other build)"
done
if [ -n "$conflist" ]; then install_atomic "$here/conf/$conflist" "$confdir/$conflist" 0644; fi
