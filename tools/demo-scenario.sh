#!/bin/bash
# Two gateways key a tunnel and a ping goes through it:
#
#   10.1.0.1 (lo) -- west 192.0.2.1 ==== veth ==== 192.0.2.2 east -- 10.2.0.1 (lo)
#
# 1. namespaces demo-west and demo-east, joined by a veth pair;
# 2. isakmpd in each, with examples/west.conf and examples/east.conf
#    (west's connection is active, east's passive);
# 3. Main Mode + Quick Mode; both SA reports (FIFO "S"), the kernel's SAs
#    and policies;
# 4. a ping 10.1.0.1 -> 10.2.0.1 while tcpdump watches the veth: ESP only;
# 5. SIGTERM to both daemons: DELETEs sent, kernel state removed.
# Exit status 0 when the ping passed through ESP.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
W=demo-west E=demo-east
work=$(mktemp -d /tmp/isakmpd-demo.XXXXXX)
pids=()

step() { printf "\n=== [%3ds] %s\n" "$SECONDS" "$*"; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "${ISAKMPD_VM_OUT:-}" ] && cp "$work"/*.log "$ISAKMPD_VM_OUT"/ 2>/dev/null
  sleep 0.5
  ip netns del "$W" 2>/dev/null; ip netns del "$E" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

for ns in "$W" "$E"; do
  if ip netns list | awk '{print $1}' | grep -qx "$ns"; then ip netns del "$ns"; fi
done
step "network: $W (192.0.2.1, subnet 10.1.0.0/24) <-> $E (192.0.2.2, subnet 10.2.0.0/24)"
ip netns add "$W"; ip netns add "$E"
ip link add veth-west netns "$W" type veth peer name veth-east netns "$E"
ip -n "$W" link set lo up; ip -n "$E" link set lo up
ip -n "$W" addr add 192.0.2.1/24 dev veth-west; ip -n "$E" addr add 192.0.2.2/24 dev veth-east
ip -n "$W" addr add 10.1.0.1/32 dev lo; ip -n "$E" addr add 10.2.0.1/32 dev lo
ip -n "$W" link set veth-west up; ip -n "$E" link set veth-east up
ip -n "$W" route add 10.2.0.0/24 via 192.0.2.2 src 10.1.0.1
ip -n "$E" route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1

start() {  # start NS SIDE
  local ns=$1 side=$2
  install -m 600 "$top/examples/$side.conf" "$work/$side.conf"
  ip netns exec "$ns" env PYTHONPATH="${PYTHONPATH:-}" "$PYTHON" -m isakmpd -d \
    -c "$work/$side.conf" -f "$work/$side.fifo" -i "$work/$side.pid" \
    -R "$work/$side.report" --result-file "$work/$side.result" -D A=10 \
    2> "$work/$side.log" &
  pids+=($!)
}
report() {  # report SIDE: ask for the SA report and print it
  local side=$1
  rm -f "$work/$side.result"
  echo S > "$work/$side.fifo"
  for _ in $(seq 50); do [ -s "$work/$side.result" ] && break; sleep 0.1; done
  cat "$work/$side.result" 2>/dev/null
}

step "isakmpd on east (passive) and west (active), examples/{east,west}.conf"
start "$E" east
for _ in $(seq 100); do [ -p "$work/east.fifo" ] && break; sleep 0.1; done
start "$W" west
echo "waiting for Main Mode and Quick Mode (under qemu's emulation each daemon"
echo "takes a while to start)..."
up=0
for _ in $(seq 60); do
  if [ -p "$work/west.fifo" ] && report west | grep -q "Phase 2"; then up=1; break; fi
  sleep 0.5
done
if [ $up != 1 ]; then
  echo "demo: no IPsec SA after 30 s; the logs:"; tail -n 30 "$work/west.log" "$work/east.log"
  exit 1
fi
sleep 0.5

step "west: SA report (FIFO S)"; report west
step "east: SA report (FIFO S)"; report east
step "west: kernel SAs (ip xfrm state)"; ip -n "$W" xfrm state
step "west: kernel policies (ip xfrm policy)"; ip -n "$W" xfrm policy
step "east: kernel SAs (ip xfrm state)"; ip -n "$E" xfrm state
step "east: kernel policies (ip xfrm policy)"; ip -n "$E" xfrm policy

step "ping 10.1.0.1 -> 10.2.0.1 through the tunnel, tcpdump on east's veth"
ip netns exec "$E" tcpdump -l -n -i veth-east -w "$work/wire.pcap" 'not udp port 500' \
  2> "$work/tcpdump.err" &
tcpd=$!
pids+=($tcpd)
for _ in $(seq 50); do grep -q listening "$work/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
ip netns exec "$W" ping -c 3 -W 2 -I 10.1.0.1 10.2.0.1; ping_rc=$?
sleep 1.5; kill -INT $tcpd 2>/dev/null; wait $tcpd 2>/dev/null
step "what crossed the wire"
tcpdump -n -r "$work/wire.pcap" 2>/dev/null
esp=$(tcpdump -n -r "$work/wire.pcap" esp 2>/dev/null | wc -l)
# east's own packets leave only as ESP; incoming requests show up twice,
# once as ESP and once as the packet the kernel decrypted from it
icmp=$(tcpdump -n -r "$work/wire.pcap" 'icmp and src host 10.2.0.1' 2>/dev/null | wc -l)
echo "ESP packets: $esp; echo replies that left east in cleartext: $icmp"
echo "(the echo requests appear a second time: that is the packet east decrypted)"

step "kernel counters on west"; ip -n "$W" -s xfrm state | grep -E "^src|lifetime current" -A1 | grep -v "^--"

step "shutting down west (SIGTERM: DELETEs to east, kernel state removed), then east"
kill -TERM "${pids[1]}" 2>/dev/null; wait "${pids[1]}" 2>/dev/null
sleep 1
kill -TERM "${pids[0]}" 2>/dev/null; wait "${pids[0]}" 2>/dev/null
pids=()
echo "west:"; grep -h "deleting\|shutting down" "$work/west.log" | cut -d' ' -f2-
echo "east:"; grep -h "deleted\|deleting\|shutting down" "$work/east.log" | cut -d' ' -f2-
echo "west SAs left in the kernel: $(ip -n "$W" xfrm state | grep -c '^src')"

if [ $ping_rc = 0 ] && [ "$esp" -gt 0 ] && [ "$icmp" = 0 ]; then
  step "demo: the ping went through the tunnel, as ESP on the wire"
  exit 0
fi
step "demo: FAILED (ping status $ping_rc, $esp ESP, $icmp cleartext replies)"
tail -n 20 "$work/west.log" "$work/east.log"
exit 1
