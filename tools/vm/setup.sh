#!/bin/bash
# Prepare the cache that tools/vm/run.sh boots: a stock Debian kernel (with
# ESP, AH, IPcomp, AF_KEY and xfrm_user as modules), its modules without the
# hardware drivers, an uncompressed vmlinux for PVH boot, and a small
# initramfs. Safe to run again: it does nothing once the cache is complete.
#
#   tools/vm/setup.sh [--force]
#
# Settings (environment):
#   ISAKMPD_VM_CACHE   cache folder (default /var/tmp/isakmpd-vm); no spaces
#   ISAKMPD_VM_KPKG    kernel package (default linux-image-amd64, resolved to
#                      the versioned image package it depends on)
#
# Host requirements: root, apt-get/apt-cache/dpkg-deb (any Debian), python3,
# and qemu-system-x86_64 (installed with apt-get when missing). Nothing is
# installed into /boot or /lib/modules: packages are unpacked with dpkg-deb.
set -euo pipefail

vm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${ISAKMPD_VM_CACHE:-/var/tmp/isakmpd-vm}
kpkg_meta=${ISAKMPD_VM_KPKG:-linux-image-amd64}
force=0
case ${1:-} in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

say() { printf '[vm-setup %s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { say "error: $*"; exit 1; }

case $cache in
  *[[:space:]]*) fail "ISAKMPD_VM_CACHE must not contain white space: '$cache'" ;;
esac
[ "$(id -u)" = 0 ] || fail "run as root (apt-get download, 9p shares of /)"
for tool in apt-get apt-cache dpkg-deb python3 flock gzip; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# One setup at a time (several test runs may start together).
exec 9>"$cache/.lock"
flock 9

lists_fresh=0
refresh_lists() {
  if [ $lists_fresh = 0 ]; then
    say "apt-get update"
    apt-get update -qq || fail "apt-get update failed (is a Debian mirror reachable?)"
    lists_fresh=1
  fi
}

if ! command -v qemu-system-x86_64 >/dev/null; then
  say "qemu-system-x86_64 missing: installing qemu-system-x86"
  refresh_lists
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    qemu-system-x86 >/dev/null || fail "cannot install qemu-system-x86"
fi

stamp=$cache/ready
initrd=$cache/initramfs.img

kernel_ready() {
  [ -f "$stamp" ] || return 1
  local kver
  kver=$(cat "$stamp")
  [ -d "$cache/kernel/lib/modules/$kver" ] || return 1
  [ -s "$cache/vmlinux" ] || [ -s "$cache/kernel/boot/vmlinuz-$kver" ]
}
initrd_ready() {
  [ -s "$initrd" ] && [ ! "$vm_dir/stage1-init.sh" -nt "$initrd" ] \
    && [ ! "$stamp" -nt "$initrd" ]
}

if [ $force = 0 ] && kernel_ready && initrd_ready; then
  say "cache complete: $cache (kernel $(cat "$stamp"))"
  exit 0
fi

t_start=$(date +%s)

# linux-image-amd64 -> linux-image-6.1.0-NN-amd64 (a versioned name stays)
versioned_image() {
  case $kpkg_meta in
    linux-image-[0-9]*) apt-cache show "$kpkg_meta" >/dev/null 2>&1 && echo "$kpkg_meta" ;;
    *) apt-cache depends "$kpkg_meta" 2>/dev/null \
         | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1 ;;
  esac
}

fetch_debs() {  # fetch_debs DIR PKG...
  local dir=$1; shift
  (cd "$dir" && apt-get download -q "$@" >"$dir/download.log" 2>&1)
}

build_kernel_tree() {
  rm -f "$stamp"
  local dl=$cache/downloads kpkg kver mods d
  rm -rf "$dl"
  mkdir -p "$dl"
  kpkg=$(versioned_image || true)
  if [ -z "$kpkg" ]; then
    refresh_lists
    kpkg=$(versioned_image || true)
  fi
  [ -n "$kpkg" ] || fail "cannot resolve $kpkg_meta to a kernel image package"
  say "downloading $kpkg and busybox-static"
  if ! fetch_debs "$dl" "$kpkg" busybox-static; then
    refresh_lists
    kpkg=$(versioned_image || true)
    fetch_debs "$dl" "$kpkg" busybox-static || {
      cat "$dl/download.log" >&2
      fail "apt-get download failed"
    }
  fi

  say "unpacking"
  rm -rf "$cache/kernel" "$cache/busybox" "$cache/vmlinux" "$initrd"
  mkdir -p "$cache/kernel" "$cache/busybox"
  dpkg-deb -x "$dl/$kpkg"_*.deb "$cache/kernel"
  dpkg-deb -x "$dl"/busybox-static_*.deb "$cache/busybox"
  rm -rf "$dl"
  [ -x "$bb" ] || fail "busybox-static did not unpack to $bb"
  kver=$(ls "$cache/kernel/lib/modules")
  [ -n "$kver" ] && [ -d "$cache/kernel/lib/modules/$kver" ] \
    || fail "no module tree in $kpkg"

  # The guest has two virtio-9p devices and nothing else: drop every driver
  # folder except virtio and the top-level virtual net drivers (veth, dummy).
  mods=$cache/kernel/lib/modules/$kver/kernel
  rm -rf "$mods/sound" "$cache/kernel/boot/System.map-$kver"
  for d in "$mods"/drivers/*; do
    case ${d##*/} in
      virtio) ;;
      net) find "$d" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} + ;;
      *) rm -rf "$d" ;;
    esac
  done
  say "depmod $kver"
  "$bb" depmod -b "$cache/kernel" "$kver"

  # qemu boots an uncompressed ELF vmlinux through PVH, which skips the
  # in-kernel decompressor (seconds under TCG). Debian's bzImage carries an
  # xz stream; the bzImage stays the fallback if that ever changes.
  say "extracting vmlinux"
  python3 - "$cache/kernel/boot/vmlinuz-$kver" "$cache/vmlinux" <<'PYEOF' || true
import lzma
import sys

blob = open(sys.argv[1], "rb").read()
start = blob.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no xz stream in the bzImage")
out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob[start:])
if out[:4] != b"\x7fELF":
    sys.exit("the xz stream is not an ELF image")
with open(sys.argv[2], "wb") as f:
    f.write(out)
PYEOF
  [ -s "$cache/vmlinux" ] || { rm -f "$cache/vmlinux"; say "no vmlinux: run.sh boots the bzImage"; }
  echo "$kver" >"$stamp"
}

# initramfs: static busybox, the modules that mount the 9p root, stage 1.
build_initrd() {
  local kver mods m rel entry
  kver=$(cat "$stamp")
  mods=$cache/kernel/lib/modules/$kver
  say "building initramfs"
  work=$(mktemp -d "${TMPDIR:-/tmp}/isakmpd-vm-initrd.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/bin" "$work/proc" "$work/sys" "$work/dev" "$work/lib/modules/$kver"
  cp "$bb" "$work/bin/busybox"
  cp "$vm_dir/stage1-init.sh" "$work/init"
  chmod 0755 "$work/init"
  for m in virtio_pci 9pnet_virtio 9p overlay; do
    entry=$(grep -E "(^|/)$m\.ko:" "$mods/modules.dep") || fail "module $m not in $kver"
    for rel in ${entry/:/}; do
      mkdir -p "$work/lib/modules/$kver/$(dirname "$rel")"
      cp "$mods/$rel" "$work/lib/modules/$kver/$rel"
    done
  done
  # modules.dep lines of exactly the modules copied
  (cd "$work/lib/modules/$kver" && find . -name '*.ko' | sed 's|^\./||') | while read -r rel; do
    grep -E "^$rel:" "$mods/modules.dep"
  done >"$work/lib/modules/$kver/modules.dep"
  (cd "$work" && find . | "$bb" cpio -o -H newc 2>/dev/null) | gzip -1 >"$initrd.new"
  mv "$initrd.new" "$initrd"
}

bb=$cache/busybox/bin/busybox
if [ $force = 1 ] || ! kernel_ready; then
  build_kernel_tree
fi
if [ $force = 1 ] || ! initrd_ready; then
  build_initrd
fi
say "ready in $(( $(date +%s) - t_start )) s: kernel $(cat "$stamp"), $(du -sh "$cache" | cut -f1) in $cache"
