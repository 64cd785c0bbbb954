"""Privilege separation against real kernel ESP, inside the qemu VM
(tools/vm/run.sh).

Both example gateways run as root, so each splits into a privileged parent
and a child locked in an empty directory as an unprivileged user. The
child negotiates; the parent installs: the kernels hold the SAs and flows
and a ping crosses the veth as ESP. Then west's child is killed: its
parent must take every SA and flow it installed out of west's kernel and
exit non-zero, while east's clean SIGTERM leaves east's kernel empty too.

Skipped outside the VM (run.sh sets ISAKMPD_IN_VM=1).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import lab
import pytest
from test_tunnel_guest import (
    QUIET,
    SA_TIMEOUT,
    add_routes,
    example,
    make_daemon,
    out_dir,
    ping_through,
    start_all,
    wait_sas,
    xfrm_policies,
    xfrm_states,
)

pytestmark = [
    pytest.mark.vm,
    pytest.mark.netns,
    lab.in_vm_only,
]


def child_of(d: lab.Isakmpd) -> int:
    assert d.pid is not None
    path = Path(f"/proc/{d.pid}/task/{d.pid}/children")

    def probe() -> int | None:
        pids = path.read_text().split()
        return int(pids[0]) if len(pids) == 1 else None

    return lab.wait_until(probe, SA_TIMEOUT, f"{d.name}: its child")


def uids(pid: int) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(x) for x in line.split()[1:]}
    raise AssertionError(f"no Uid line for {pid}")


@pytest.mark.timeout(600)
def test_separated_daemons_key_kernel_esp_and_clean_up_after_a_crash(
    tmp_path: Path,
) -> None:
    lab.require_netns()
    lab.require_tool("tcpdump")
    with lab.NetnsPair() as pair:
        w, e = pair.west, pair.east
        add_routes(pair)
        daemons = {side.name: make_daemon(side, example(side.name, general=QUIET),
                                          tmp_path, "privsep")
                   for side in (w, e)}
        west, east = daemons["west"], daemons["east"]
        try:
            start_all(east, west)
            children = {}
            for d in (west, east):
                child = children[d.name] = child_of(d)
                assert uids(d.pid) == {0}
                assert 0 not in uids(child)
                assert os.listdir(f"/proc/{child}/root") == []
            # the parents installed what the children negotiated
            sas = wait_sas(w, 2, list(daemons.values()), timeout=SA_TIMEOUT)
            assert set(sas) == set(wait_sas(e, 2, list(daemons.values()),
                                            timeout=SA_TIMEOUT))
            assert len(xfrm_policies(w)) == len(xfrm_policies(e)) == 3
            wire = ping_through(pair, out_dir(tmp_path), "isakmpd-privsep")
            assert set(wire.esp_spis()) == set(sas)
            # west's child dies: its parent empties west's kernel and fails
            os.kill(children[west.name], signal.SIGKILL)
            assert west.wait(60) != 0
            assert "removing what the child left in the kernel" in west.log()
            assert xfrm_states(w) == [] and xfrm_policies(w) == []
            assert not west.pid_path.exists() and not west.fifo_path.exists()
            # east, stopped cleanly, empties its own
            assert east.stop(timeout=60) == 0
            assert xfrm_states(e) == [] and xfrm_policies(e) == []
            assert "[priv]" in east.log()
        finally:
            for d in daemons.values():
                d.stop(timeout=30)
