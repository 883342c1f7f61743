#!/usr/bin/env bash
# Install the built plugins into <prefix>/opt/cni/bin and a conflist into
# <prefix>/etc/cni/net.d. Each file is copied to a temporary name and renamed into
# place, so a runtime never executes a half-written plugin.
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

mkdir -p "$bindir" "$confdir"
ours="bridge flannel"
if [ "$cnictl" -eq 1 ]; then ours="$ours cnictl"; fi
for f in $ours; do
  # Ours: a Node bundle carries the marker in its first lines; the standalone build is a link to cni-plugins.
  if [ -e "$bindir/$f" ] && [ "$(readlink "$bindir/$f")" != "cni-plugins" ] && ! head -c 512 "$bindir/$f" | grep -q "$marker" && [ "$force" -ne 1 ]; then
    echo "install: $bindir/$f exists and was not built by this project; keeping it (use --force to replace it)" >&2
    exit 1
  fi
done

install_atomic() { # src dst mode
  local tmp
  tmp="$(dirname "$2")/.$(basename "$2").tmp.$$"
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
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
case "$conf" in
  flannel) install_atomic "$here/conf/10-flannel.conflist" "$confdir/10-flannel.conflist" 0644 ;;
  bridge) install_atomic "$here/conf/10-bridge.conflist" "$confdir/10-bridge.conflist" 0644 ;;
  none) ;;
  *) echo "install: unknown --conf $conf" >&2; exit 2 ;;
esac
