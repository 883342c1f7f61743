#!/usr/bin/env bash
# Install the built plugins into <prefix>/opt/cni/bin and a conflist into
# <prefix>/etc/cni/net.d. Each file is copied to a temporary name and renamed into
# place, so a runtime never executes a half-written plugin. Every target is checked
# before anything changes; switching builds removes the other build's files (ours only).
set -euo pipefail

usage() {
  cat <<USAGE
usage: conf/install.sh [--prefix DIR] [--conf flannel|bridge|none] [--standalone] [--force]
  --prefix DIR   install under DIR instead of / (tests use a temporary root)
  --standalone   install the self-contained executable (dist-standalone/), no Node.js needed;
                 cnictl is a Node bundle: installed from dist/ when Node.js 20+ is here, else skipped
  --conf NAME    which conflist to install (default: flannel; none = binaries only)
  --force        replace plugin binaries that were not built by this project
USAGE
}

prefix=""
conf="flannel"
force=0
standalone=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --conf) conf="${2:?--conf needs a name}"; shift 2 ;;
    --force) force=1; shift ;;
    --standalone) standalone=1; shift ;;
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
  dist="$here/dist-standalone"
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
  mv -fT "$tmp" "$2"
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
