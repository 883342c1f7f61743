#!/usr/bin/env bash
# What `npm run test:runtimes` drives, from Debian's archive, without touching the
# machine's own configuration: podman, containerd, runc and conmon are unpacked with
# `dpkg -x` into .runtimes/root (installing the podman package would drop a conflist into
# /etc/cni/net.d and start nothing we could take back); the suite overlays that tree
# on /usr and /etc inside a private mount namespace. Only shared libraries they link
# and the tools the suite itself runs are installed the ordinary way.
# Safe to run again: it does nothing when everything is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${CNI_RUNTIMES_DIR:-$PWD/.runtimes}"
export DEBIAN_FRONTEND=noninteractive

unpacked="podman conmon runc containerd golang-github-containers-common golang-github-containers-image busybox-static"
# Libraries podman links (libgpgme11, libsubid4) and the suite's tools: the reference
# portmap (containernetworking-plugins), iptables for the checks, the arm64 cross compiler
# and C library for the release, qemu-user-static to start the arm64 build here.
installed="libgpgme11 libsubid4 libdevmapper1.02.1 libseccomp2 libglib2.0-0 containernetworking-plugins iptables util-linux
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static"

need_update=1
apt_update() { if [ "$need_update" -eq 1 ]; then apt-get update -qq; need_update=0; fi; }

missing=()
for p in $installed; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt_update
  echo "runtimes setup: apt-get install ${missing[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="$dir/root/.unpacked"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$unpacked" ]; then
  apt_update
  rm -rf "$dir"
  mkdir -p "$dir/debs" "$dir/root"
  echo "runtimes setup: unpacking $unpacked into $dir/root" >&2
  # apt-get download as root warns that _apt cannot write here; the download itself is fine.
  (cd "$dir/debs" && apt-get download $unpacked 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
  for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
  for bin in usr/bin/podman usr/bin/containerd usr/bin/ctr usr/sbin/runc usr/bin/conmon bin/busybox; do
    [ -x "$dir/root/$bin" ] || { echo "runtimes setup: $bin is missing after unpacking" >&2; exit 1; }
  done
  echo "$unpacked" > "$stamp"
fi
echo "runtimes setup: ready in $dir/root" >&2
