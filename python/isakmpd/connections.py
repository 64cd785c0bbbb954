"""Which configured connection a flow belongs to: the kernel selectors of
a connection's IPsec-IDs, and the connection a peer's Quick Mode proposes."""

from __future__ import annotations

import ipaddress

from . import log
from .conf import model
from .conf.store import Conf
from .constants import name_of
from .errors import ConfigError
from .exchange.ids import mask_network
from .log import Cls
from .sa import IsakmpSA, Selector


def contains(outer: Selector, inner: Selector) -> bool:
    o, i = outer.network, inner.network
    if o.version != i.version or i.prefixlen < o.prefixlen:
        return False
    # the same first outer.prefixlen bits: inner is within outer (as
    # subnet_of says, without building broadcast addresses)
    shift = o.max_prefixlen - o.prefixlen
    if int(i.network_address) >> shift != int(o.network_address) >> shift:
        return False
    if outer.protocol and outer.protocol != inner.protocol:
        return False
    if outer.port and outer.port != inner.port:
        return False
    return True


def id_selector(spec: model.IdSpec | None, default_host: str) -> Selector:
    """The selector of a configured IPsec-ID (None: the IKE address)."""
    if spec is None:
        return Selector(ipaddress.ip_network(default_host))
    from .constants import IdType

    t = spec.id_type
    addr = spec.address or default_host
    if t in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
        net = ipaddress.ip_network(addr)
    elif t in (IdType.IPV4_ADDR_SUBNET, IdType.IPV6_ADDR_SUBNET):
        net = mask_network(addr, spec.mask_or_end, strict=False)
    elif t in (IdType.IPV4_ADDR_RANGE, IdType.IPV6_ADDR_RANGE):
        nets = list(ipaddress.summarize_address_range(
            ipaddress.ip_address(addr), ipaddress.ip_address(spec.mask_or_end)))
        if len(nets) != 1:
            # the kernel's policies select by prefix; one SA gets one policy
            # per direction, so only a range that is one subnet can be used
            raise ConfigError(f"ID section [{spec.section}]: range {addr}-"
                              f"{spec.mask_or_end} is not one prefix (only ranges "
                              "that are one subnet can become kernel policies)")
        net = nets[0]
    else:
        raise ConfigError(f"ID section {spec.section}: type "
                          f"{name_of(IdType, t)} cannot describe a flow")
    return Selector(net, spec.protocol, spec.port)


def selectors(conn: model.Connection, local_host: str, remote_host: str
              ) -> tuple[Selector, Selector]:
    """(local, remote) selectors of ``conn``; a side without an ID is the
    IKE address of that side."""
    return id_selector(conn.local_id, local_host), id_selector(conn.remote_id, remote_host)


def responder_connection(conf: Conf, sa: IsakmpSA, local_sel: Selector,
                         remote_sel: Selector) -> model.Connection | None:
    """The connection for a peer's Quick Mode: one whose IDs equal the
    proposed ones, else the first whose IDs contain them."""
    active, passive = model.connections(conf)
    wider = None
    for name in passive + active:
        try:
            conn = model.connection(conf, name)
        except ConfigError as e:
            log.debug(Cls.NEGOTIATION, 20, f"connection {name}: {e}")
            continue
        if conn.isakmp_peer.lower() != sa.peer_name.lower():
            try:
                peer = model.phase1_peer(conf, conn.isakmp_peer)
            except ConfigError:
                continue
            if peer.address != sa.remote[0]:
                continue
        try:
            lsel, rsel = selectors(conn, sa.local[0], sa.remote[0])
        except (ConfigError, ValueError):
            continue
        if (lsel, rsel) == (local_sel, remote_sel):
            return conn
        if (wider is None and contains(lsel, local_sel)
                and contains(rsel, remote_sel)):
            wider = conn
    return wider
