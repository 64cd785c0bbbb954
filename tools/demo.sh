#!/bin/bash
# The main job: two gateways, each in its own network namespace with a
# protected subnet behind it, key an IPsec tunnel with isakmpd and the
# example configurations (examples/west.conf, examples/east.conf), then
# ping through it. See tools/demo-scenario.sh for the steps.
#
# ESP needs kernel support. Where this kernel has none (ip xfrm cannot add
# an ESP SA), the same scenario runs inside a qemu VM that boots a stock
# Debian kernel (tools/vm/). ISAKMPD_DEMO_VM=1 forces the VM.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "demo: run as root (network namespaces, XFRM)" >&2; exit 1; }

kernel_has_esp() {
  local ns=esp-probe-$$ ok=1
  ip netns add "$ns" 2>/dev/null || return 1
  if ip -n "$ns" xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 \
       enc 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f \
       auth 'hmac(sha1)' 0x000102030405060708090a0b0c0d0e0f10111213 2>/dev/null; then
    ok=0
  fi
  ip netns del "$ns"
  return $ok
}

# the interpreter's real path: a version manager's shim is slow under qemu
# (make demo passes the project's virtual environment)
PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
export PYTHON

if [ "${ISAKMPD_DEMO_VM:-0}" != 1 ] && kernel_has_esp; then
  exec "$top/tools/demo-scenario.sh"
fi
echo "demo: this kernel cannot hold ESP SAs (no ESP support), so the scenario"
echo "demo: runs inside a qemu VM with a stock Debian kernel (tools/vm/run.sh)"
exec "$top/tools/vm/run.sh" --timeout 600 -- "$top/tools/demo-scenario.sh"
