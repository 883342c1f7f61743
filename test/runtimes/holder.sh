#!/bin/sh
# Runs as the first process of a private mount namespace, inside the node's network
# namespace (test/runtimes/sandbox.ts starts it). It lays the runtimes' packages over
# /usr and /etc, gives /etc, /opt and /var/lib a private upper layer, and puts empty
# tmpfs on the directories a CNI runtime uses, so the machine's own /etc/cni, /opt/cni,
# /var/lib/cni and /run are never seen nor written. It then holds the namespace until killed.
# $1: the sandbox's work dir, $2: the unpacked packages (scripts/runtimes/setup.sh).
set -eu
work=$1
pkgs=$2
for d in usr etc opt var/lib; do
  up="$work/overlay/$(echo "$d" | tr / _)"
  mkdir -p "$up/upper" "$up/work"
  if [ -d "$pkgs/$d" ]; then lower="$pkgs/$d:/$d"; else lower="/$d"; fi
  mount -t overlay cnit-rt -o "lowerdir=$lower,upperdir=$up/upper,workdir=$up/work" "/$d"
done
mount -t tmpfs cnit-rt /run
for d in /etc/cni /opt/cni /var/lib/cni; do
  mkdir -p "$d"
  mount -t tmpfs cnit-rt "$d"
done
mkdir -p /run/netns /run/flannel /etc/cni/net.d /opt/cni/bin
ip link set lo up
echo ready
exec sleep 2147483647
