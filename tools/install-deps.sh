#!/bin/bash
# Install what building and testing isakmpd needs on Debian 12 (run as root):
#   - Debian packages: strongSwan (charon, swanctl, plugins), ike-scan,
#     tshark, tcpdump, iproute2, nftables, qemu, busybox-static, openssl,
#     Python 3 with pip and venv, a C toolchain (the Rust linker needs one);
#   - a Rust toolchain through rustup when cargo is missing or older than the
#     workspace's rust-version (Debian 12's rustc is too old);
#   - then tools/vm/setup.sh (the kernel the VM tests boot), if present.
# Only what is missing is installed, so a second run changes nothing and
# takes a second or two.
#
#   tools/install-deps.sh            install what is missing
#   tools/install-deps.sh --check    only list what is missing (exit 1 if any)
#
# Environment: SKIP_VM_SETUP=1 skips tools/vm/setup.sh; SKIP_RUST=1 skips the
# Rust check.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
check_only=0
case ${1:-} in
  --check) check_only=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

say() { printf '[install-deps %s] %s\n' "$(date +%T)" "$*" >&2; }

packages=(
  # strongSwan, the reference IKEv1 peer (not libreswan: the two conflict)
  strongswan-charon strongswan-swanctl libstrongswan-standard-plugins
  libstrongswan-extra-plugins libcharon-extra-plugins
  # probes and packet tools
  ike-scan tshark tcpdump iputils-ping iproute2 nftables
  # the VM with a real ESP kernel
  qemu-system-x86 busybox-static
  # everything else the build and the tests use
  openssl util-linux mount procps strace python3 python3-pip python3-venv make gcc
  libc6-dev ca-certificates curl
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

# the Rust toolchain: cargo at least the workspace's rust-version
need_rust=0
if [ "${SKIP_RUST:-0}" != 1 ]; then
  want=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$top/Cargo.toml" | head -n1)
  want=${want:-1.85}
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  have=$(cargo --version 2>/dev/null | awk '{print $2}' || true)
  if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]; then
    need_rust=1
  fi
fi

if [ $check_only = 1 ]; then
  [ ${#missing[@]} -eq 0 ] || echo "missing packages: ${missing[*]}"
  [ $need_rust = 0 ] || echo "missing: cargo >= $want (have: ${have:-none})"
  [ ${#missing[@]} -eq 0 ] && [ $need_rust = 0 ]
  exit
fi

[ "$(id -u)" = 0 ] || { [ ${#missing[@]} -eq 0 ] || { say "run as root"; exit 1; }; }

if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  # tshark asks whether non-root users may capture; root runs the tests
  echo "wireshark-common wireshark-common/install-setuid boolean false" |
    debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "all ${#packages[@]} Debian packages present"
fi

if [ $need_rust = 1 ]; then
  if command -v rustup >/dev/null; then
    say "updating the Rust toolchain (cargo ${have:-none} < $want)"
    rustup toolchain install stable --profile minimal
    rustup default stable
  else
    say "installing Rust with rustup (cargo ${have:-none} < $want)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --default-toolchain stable
  fi
  say "$("${CARGO_HOME:-$HOME/.cargo}/bin/cargo" --version) in ${CARGO_HOME:-$HOME/.cargo}/bin"
fi

if [ "${SKIP_VM_SETUP:-0}" != 1 ] && [ -x "$top/tools/vm/setup.sh" ]; then
  "$top/tools/vm/setup.sh"
fi
