#!/bin/bash
# Run one command as root inside a throw-away qemu VM whose kernel has ESP,
# AH, IPcomp, xfrm_user, AF_KEY and veth, and exit with the command's status.
#
#   tools/vm/run.sh [--timeout S] [--out DIR] [--mem MB] [--smp N] [--accel tcg|kvm] \
#                   -- CMD [ARGS...]
#
# The guest sees the host's whole / read-only over 9p with a tmpfs overlay on
# top, so host paths (this checkout, the Python interpreter, ping, tcpdump)
# work unchanged and guest writes stay in guest memory. CMD runs from the
# current directory with the host's PATH and PYTHONPATH (plus VIRTUAL_ENV,
# CI and the names in ISAKMPD_VM_PASSENV) and ISAKMPD_IN_VM=1. The guest has
# no network device: nothing leaves it.
#
# The run folder (--out DIR, else a temporary folder that is removed) is the
# one writable share, /isakmpd-vm in the guest; it keeps console.log, rc and
# whatever CMD writes there (ISAKMPD_VM_OUT names it for CMD).
#
# Exit status: CMD's status; 125 if the VM ended before CMD did (boot
# failure, kernel panic, timeout); 2 for a usage error.
set -uo pipefail

vm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${ISAKMPD_VM_CACHE:-/var/tmp/isakmpd-vm}
timeout_s=${ISAKMPD_VM_TIMEOUT:-1200}
mem=1024
smp=2
accel=${ISAKMPD_VM_ACCEL:-tcg}
out=""

usage() {
  echo "usage: $0 [--timeout S] [--out DIR] [--mem MB] [--smp N] [--accel tcg|kvm] -- CMD [ARGS...]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
    --smp) [ $# -ge 2 ] || usage; smp=$2; shift 2 ;;
    --accel) [ $# -ge 2 ] || usage; accel=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "run.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || usage
case $timeout_s$mem$smp in *[!0-9]*) echo "run.sh: --timeout, --mem and --smp take integers" >&2; exit 2 ;; esac
case $accel in
  tcg) accel_args=(-accel "tcg,thread=multi,tb-size=128" -cpu max) ;;
  kvm) accel_args=(-accel kvm -cpu host) ;;
  *) echo "run.sh: --accel is tcg or kvm" >&2; exit 2 ;;
esac

say() { printf '[vm-run] %s\n' "$*" >&2; }

ISAKMPD_VM_CACHE=$cache "$vm_dir/setup.sh" || { say "setup failed"; exit 125; }
cache=$(cd "$cache" && pwd)
kver=$(cat "$cache/ready")
kernel=$cache/vmlinux
[ -s "$kernel" ] || kernel=$cache/kernel/boot/vmlinuz-$kver
case $cache$vm_dir in
  *[[:space:]]*) say "neither the cache nor $vm_dir may contain white space"; exit 2 ;;
esac

if [ -n "$out" ]; then
  mkdir -p "$out" || exit 2
  run=$(cd "$out" && pwd)
  rm -f "$run/rc" "$run/console.log"
else
  run=$(mktemp -d "${TMPDIR:-/tmp}/isakmpd-vm-run.XXXXXX")
  trap 'rm -rf "$run"' EXIT
fi

# The guest command: host environment, the same working directory, CMD.
{
  echo "# written by tools/vm/run.sh"
  for name in PATH PYTHONPATH VIRTUAL_ENV CI ${ISAKMPD_VM_PASSENV:-}; do
    [ -n "${!name+set}" ] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  echo "export ISAKMPD_IN_VM=1 ISAKMPD_VM_OUT=/isakmpd-vm"
  printf 'export ISAKMPD_VM_CACHE=%q\n' "$cache"
  printf 'cd %q || exit 125\n' "$PWD"
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$run/cmd"

say "booting $kver ($accel, ${mem} MB, $smp CPUs, timeout ${timeout_s} s)"
t0=$(date +%s.%N)
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
  -nodefaults -no-user-config -display none -monitor none -serial stdio \
  -fw_cfg name=etc/sercon-port,string=0 \
  -no-reboot -nic none -m "$mem" -smp "$smp" "${accel_args[@]}" \
  -kernel "$kernel" -initrd "$cache/initramfs.img" \
  -append "console=ttyS0 quiet loglevel=4 panic=-1 isakmpd_vm_stage2=$vm_dir/stage2-init.sh isakmpd_vm_cache=$cache" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$run,mount_tag=vmout,security_model=none,multidevs=remap" \
  </dev/null 2>"$run/qemu.err" | tr -d '\r' | tee "$run/console.log"
qemu_status=${PIPESTATUS[0]}
t1=$(date +%s.%N)
say "qemu ran $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, status $qemu_status"

if [ -s "$run/rc" ]; then
  exit "$(cat "$run/rc")"
fi
case $qemu_status in
  124|137) say "timed out after $timeout_s s" ;;
  *) say "the VM ended before the command finished"; cat "$run/qemu.err" >&2 ;;
esac
exit 125
