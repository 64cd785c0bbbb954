"""isakmpd.conf text for the load generator's initiator (one peer and one
connection per source address) and for a responder that accepts them all."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

PSK = "isakmpd-bench-pre-shared-key-0123456789"


@dataclass(frozen=True)
class Profile:
    """What is negotiated: isakmpd's transform and suite names, and the
    same in strongSwan's proposal syntax."""

    transform: str = "AES-128-SHA-GRP14"
    suite: str = "QM-ESP-AES-128-SHA-PFS-GRP14-SUITE"
    ike: str = "aes128-sha1-modp2048"
    esp: str = "aes128-sha1-modp2048"

    @property
    def label(self) -> str:
        return f"IKE {self.ike}, ESP {self.esp}"


PROFILES = {
    "modp2048": Profile(),
    "modp2048-nopfs": Profile(suite="QM-ESP-AES-128-SHA-SUITE", esp="aes128-sha1"),
    "modp1024": Profile(transform="AES-128-SHA-GRP2",
                        suite="QM-ESP-AES-128-SHA-PFS-GRP2-SUITE",
                        ike="aes128-sha1-modp1024", esp="aes128-sha1-modp1024"),
    "ecp256": Profile(transform="AES-128-SHA-GRP19",
                      suite="QM-ESP-AES-128-SHA-PFS-GRP19-SUITE",
                      ike="aes128-sha1-ecp256", esp="aes128-sha1-ecp256"),
}


def _mask(net: str) -> tuple[str, str]:
    n = ipaddress.ip_network(net, strict=False)
    return str(n.network_address), str(n.netmask)


def initiator_conf(sources: list[str], responder: str, profile: Profile,
                   psk: str = PSK, natt: bool = False) -> str:
    """One [Phase 1] peer ``p<i>`` (Local-address = the i-th source) and
    one connection ``c<i>`` per source, host to host with the IKE addresses
    as explicit IPV4_ADDR IDs (charon answers a Quick Mode without IDs with
    IDs of its own, which an initiator must refuse). No connection is listed
    in [Phase 2]: the generator starts them."""
    lines = ["[General]", "Check-interval= 100000", "Retransmits= 3",
             "Exchange-max-time= 60", "",
             "[main]", "DOI= IPSEC", "EXCHANGE_TYPE= ID_PROT",
             f"Transforms= {profile.transform}", "",
             "[quick]", "DOI= IPSEC", "EXCHANGE_TYPE= QUICK_MODE",
             f"Suites= {profile.suite}", ""]
    for i, src in enumerate(sources):
        lines += [f"[p{i}]", "Phase= 1", f"Address= {responder}",
                  f"Local-address= {src}", f"Authentication= {psk}",
                  "Configuration= main", "",
                  f"[c{i}]", "Phase= 2", f"ISAKMP-peer= p{i}",
                  "Configuration= quick", f"Local-ID= l{i}", "Remote-ID= rsp", "",
                  f"[l{i}]", "ID-type= IPV4_ADDR", f"Address= {src}", ""]
    lines += ["[rsp]", "ID-type= IPV4_ADDR", f"Address= {responder}", ""]
    return "\n".join(lines) + "\n"


def responder_conf(listen: str, local_net: str, remote_net: str, profile: Profile,
                   psk: str = PSK) -> str:
    """Any peer (Default), one passive connection whose IDs contain every
    initiator's host IDs."""
    lnet, lmask = _mask(local_net)
    rnet, rmask = _mask(remote_net)
    return "\n".join([
        "[General]", f"Listen-on= {listen}", "Check-interval= 100000", "",
        "[Phase 1]", "Default= anyone", "",
        "[Phase 2]", "Passive-connections= bench", "",
        "[anyone]", "Phase= 1", f"Authentication= {psk}", "Configuration= main", "",
        "[main]", "DOI= IPSEC", "EXCHANGE_TYPE= ID_PROT",
        f"Transforms= {profile.transform}", "",
        "[bench]", "Phase= 2", "ISAKMP-peer= anyone", "Configuration= quick",
        "Local-ID= id-local", "Remote-ID= id-remote", "",
        "[id-local]", "ID-type= IPV4_ADDR_SUBNET", f"Network= {lnet}",
        f"Netmask= {lmask}", "",
        "[id-remote]", "ID-type= IPV4_ADDR_SUBNET", f"Network= {rnet}",
        f"Netmask= {rmask}", "",
        "[quick]", "DOI= IPSEC", "EXCHANGE_TYPE= QUICK_MODE",
        f"Suites= {profile.suite}", "",
    ]) + "\n"


def source_addresses(n: int, base: str = "198.18.0.1") -> list[str]:
    """``n`` consecutive addresses from ``base`` (198.18.0.0/15 is the
    benchmarking range of RFC 2544)."""
    first = int(ipaddress.IPv4Address(base))
    return [str(ipaddress.IPv4Address(first + i)) for i in range(n)]
