"""The configuration store: lookups, lists, the defaults layer,
transactions, the report dump, reload and the secrecy check."""

from __future__ import annotations

import os

import pytest

from isakmpd.conf import Conf, check_secrecy
from isakmpd.errors import ConfigError

TEXT = """\
[General]
Retransmits=\t5
Listen-on=\t10.0.0.1, 10.0.0.2,,  10.0.0.3 ,
Check-interval=\tsoon

[Peer]
Address=\t10.0.0.9
Transforms=\t3DES-SHA
"""


@pytest.fixture
def conf() -> Conf:
    return Conf.from_text(TEXT, "s.conf")


def test_get_is_case_insensitive(conf: Conf) -> None:
    assert conf.get("general", "RETRANSMITS") == "5"
    assert conf.get("PEER", "address") == "10.0.0.9"
    assert conf.get("peer", "nothing") is None
    assert conf.get("peer", "nothing", "x") == "x"
    assert conf.has_section("pEeR") and not conf.has_section("nope")


def test_get_int(conf: Conf) -> None:
    assert conf.get_int("General", "Retransmits") == 5
    assert conf.get_int("General", "NAT-T-Keepalive", 20) == 20
    with pytest.raises(ConfigError) as ei:
        conf.get_int("General", "Check-interval")
    assert (ei.value.file, ei.value.line) == ("s.conf", 4)
    assert "'soon' is not a number" in ei.value.reason


def test_lists_trim_and_skip_empty_fields(conf: Conf) -> None:
    assert conf.get_list("General", "Listen-on") == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert conf.get_list("General", "Nothing") == []


def test_defaults_never_override_file_values(conf: Conf) -> None:
    assert conf.get("General", "Retransmits") == "5"  # default 3
    assert not conf.is_default("General", "Retransmits")
    assert conf.get("General", "Exchange-max-time") == "120"
    assert conf.is_default("General", "Exchange-max-time")
    assert conf.tags("General")[:3] == ["Retransmits", "Listen-on", "Check-interval"]
    assert "Exchange-max-time" in conf.tags("General")


def test_file_section_shadows_autogen_tags() -> None:
    c = Conf.from_text("[3DES-SHA]\nLife=MY_LIFE\n", "x")
    assert c.get("3DES-SHA", "Life") == "MY_LIFE"
    assert c.get("3DES-SHA", "ENCRYPTION_ALGORITHM") == "3DES_CBC"


def test_where(conf: Conf) -> None:
    assert conf.where("peer", "transforms") == ("s.conf", 8)
    assert conf.where("Peer") == ("s.conf", 6)
    assert conf.where("3DES-SHA", "Life") == (None, None)
    assert conf.at("peer", "Address") == "s.conf:7: "


# ------------------------------------------------------------ transactions


def test_set_commits_at_end_of_block(conf: Conf) -> None:
    gen = conf.generation
    with conf.transaction() as t:
        t.set("New", "Tag", "v")
        assert t.get("new", "tag") == "v"  # the transaction sees its change
        assert conf.get("new", "tag") is None  # the configuration does not yet
    assert conf.get("NEW", "TAG") == "v"
    assert conf.generation == gen + 1


def test_exception_discards_the_whole_transaction(conf: Conf) -> None:
    with pytest.raises(RuntimeError):
        with conf.transaction() as t:
            t.set("New", "Tag", "v")
            t.remove("Peer", "Address")
            raise RuntimeError("abort")
    assert conf.get("New", "Tag") is None
    assert conf.get("Peer", "Address") == "10.0.0.9"


def test_set_without_override_fails_on_existing_tag(conf: Conf) -> None:
    with pytest.raises(ConfigError) as ei:
        with conf.transaction() as t:
            t.set("Peer", "Port", "4500")
            t.set("peer", "ADDRESS", "10.0.0.10")
    assert "already set" in ei.value.reason and "override" in ei.value.reason
    # atomic: the first set went too
    assert conf.get("Peer", "Port") is None
    assert conf.get("Peer", "Address") == "10.0.0.9"


def test_set_without_override_fails_on_default_tag(conf: Conf) -> None:
    with pytest.raises(ConfigError):
        with conf.transaction() as t:
            t.set("3DES-SHA", "Life", "LIFE_X")
    assert conf.get("3DES-SHA", "Life") == "LIFE_MAIN_MODE"


def test_override_replaces(conf: Conf) -> None:
    with conf.transaction() as t:
        t.set("Peer", "Address", "10.0.0.10", override=True)
        t.set("3DES-SHA", "Life", "LIFE_X", override=True)
    assert conf.get("Peer", "Address") == "10.0.0.10"
    assert conf.get("3DES-SHA", "Life") == "LIFE_X"
    assert not conf.is_default("3DES-SHA", "Life")


def test_remove_hides_the_default_beneath(conf: Conf) -> None:
    with conf.transaction() as t:
        t.remove("Peer", "Address")
        t.remove("General", "Exchange-max-time")
        t.remove("Peer", "NoSuchTag")  # as isakmpd: nothing to do
    assert conf.get("Peer", "Address") is None
    assert conf.get("General", "Exchange-max-time") is None
    assert "Exchange-max-time" not in conf.tags("General")
    with conf.transaction() as t:
        t.set("General", "Exchange-max-time", "30")  # free again
    assert conf.get_int("General", "Exchange-max-time") == 30


def test_remove_section_removes_defaults_too(conf: Conf) -> None:
    assert "AES-SHA" in conf.sections()
    with conf.transaction() as t:
        t.remove_section("Peer")
        t.remove_section("aes-sha")
    assert not conf.has_section("Peer") and not conf.has_section("AES-SHA")
    assert conf.get("AES-SHA", "ENCRYPTION_ALGORITHM") is None
    names = conf.sections()
    assert "AES-SHA" not in names and "Peer" not in names and "AES-SHA-GRP14" in names
    with conf.transaction() as t:
        t.set("AES-SHA", "Life", "L")  # back, without the defaults
    assert conf.tags("AES-SHA") == ["Life"]


def test_add_and_rmv_lists(conf: Conf) -> None:
    with conf.transaction() as t:
        t.add("Phase 2", "Connections", "a")  # no tag yet: set
        t.add("Phase 2", "Connections", "b")
        t.add("Phase 2", "Connections", "a")  # already there: nothing
    assert conf.get("Phase 2", "Connections") == "a,b"
    with conf.transaction() as t:
        t.set("X", "L", "p,", override=True)
        t.add("X", "L", "q")  # no doubled comma after a trailing one
    assert conf.get("X", "L") == "p,q"
    with conf.transaction() as t:
        t.rmv("Phase 2", "Connections", "a")
    assert conf.get("Phase 2", "Connections") == "b"
    with conf.transaction() as t:
        t.rmv("Phase 2", "Connections", "b")  # emptied: the tag goes
    assert not conf.has_tag("Phase 2", "Connections")


@pytest.mark.parametrize("section,tag,value", [
    ("", "t", "v"), ("a]b", "t", "v"), ("s", "", "v"), ("s", "a b", "v"),
    ("s", "a=b", "v"), ("s", "t", "two\nlines"),
])
def test_bad_names_and_values_refused(conf: Conf, section, tag, value) -> None:
    with pytest.raises(ConfigError):
        with conf.transaction() as t:
            t.set(section, tag, value)


def test_transaction_against_a_stale_configuration_fails(conf: Conf) -> None:
    t = conf.transaction()
    t.set("A", "b", "c")
    with conf.transaction() as t2:
        t2.set("D", "e", "f")
    with pytest.raises(ConfigError):
        t.commit()
    assert conf.get("A", "b") is None and conf.get("D", "e") == "f"


# ------------------------------------------------------------ dump


def test_dump_nondefault_in_isakmpd_report_format(conf: Conf) -> None:
    with conf.transaction() as t:
        t.set("Peer", "Port", "500")
    assert conf.dump() == [
        "[General]",
        "Retransmits=\t5",
        "Listen-on=\t10.0.0.1, 10.0.0.2,,  10.0.0.3 ,",
        "Check-interval=\tsoon",
        "",
        "[Peer]",
        "Address=\t10.0.0.9",
        "Transforms=\t3DES-SHA",
        "Port=\t500",
    ]


def test_dump_all_includes_defaults() -> None:
    c = Conf.from_text("[General]\nRetransmits=4\n", "d")
    lines = c.dump(nondefault_only=False)
    assert lines[:3] == ["[General]", "Retransmits=\t4", "Exchange-max-time=\t120"]
    i = lines.index("[QM-ESP-AES-SHA-PFS-XF]")
    assert "GROUP_DESCRIPTION=\tMODP_1024" in lines[i:i + 8]


# ------------------------------------------------------------ files


def _write(path, text: str, mode: int = 0o600) -> str:
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_load_and_errors_name_the_file(tmp_path) -> None:
    p = _write(tmp_path / "ok.conf", TEXT)
    c = Conf.load(p)
    assert c.get("Peer", "Address") == "10.0.0.9" and c.path == p
    bad = _write(tmp_path / "bad.conf", "[s]\nt=1\noops\n")
    with pytest.raises(ConfigError) as ei:
        Conf.load(bad)
    assert str(ei.value) == f"{bad}:3: syntax error: expected [section], tag=value " \
        "or a comment"
    with pytest.raises(ConfigError) as ei:
        Conf.load(str(tmp_path / "missing.conf"))
    assert "cannot open" in ei.value.reason


def test_reload_keeps_old_configuration_on_error(tmp_path) -> None:
    p = _write(tmp_path / "r.conf", "[s]\nt=1\n")
    c = Conf.load(p)
    with c.transaction() as t:
        t.set("fifo", "edit", "x")
    _write(tmp_path / "r.conf", "[s]\nt=2\nbroken line\n")
    with pytest.raises(ConfigError) as ei:
        c.reload()
    assert ei.value.line == 3
    assert c.get("s", "t") == "1" and c.get("fifo", "edit") == "x"
    _write(tmp_path / "r.conf", "[s]\nt=3\nt=4\n")
    warnings = c.reload()
    assert c.get("s", "t") == "3"
    assert c.get("fifo", "edit") is None  # reload voids FIFO edits, as isakmpd's R
    assert len(warnings) == 1 and "duplicate tag" in warnings[0]


def test_reload_refuses_a_file_made_world_readable(tmp_path) -> None:
    p = _write(tmp_path / "r.conf", "[s]\nt=1\n")
    c = Conf.load(p)
    os.chmod(p, 0o644)
    with pytest.raises(ConfigError):
        c.reload()
    assert c.get("s", "t") == "1"


def test_secrecy_refuses_group_or_world_access(tmp_path) -> None:
    for mode in (0o644, 0o640, 0o604, 0o601, 0o610):
        p = _write(tmp_path / f"m{mode:o}.conf", "[s]\nt=1\n", mode)
        with pytest.raises(ConfigError) as ei:
            check_secrecy(p)
        assert f"chmod 600 {p}" in ei.value.reason, mode
        assert ei.value.file == p
        with pytest.raises(ConfigError):
            Conf.load(p)
    assert Conf.load(p, secrecy=False).get("s", "t") == "1"


def test_secrecy_accepts_0600_and_0400(tmp_path) -> None:
    for mode in (0o600, 0o400):
        p = _write(tmp_path / f"m{mode:o}.conf", "[s]\nt=1\n", mode)
        check_secrecy(p)
        assert Conf.load(p).get("s", "t") == "1"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the file away")
def test_secrecy_refuses_a_file_of_another_user(tmp_path) -> None:
    p = _write(tmp_path / "other.conf", "[s]\nt=1\n")
    os.chown(p, 4242, -1)
    with pytest.raises(ConfigError) as ei:
        check_secrecy(p)
    assert "uid 4242" in ei.value.reason and f"chown 0 {p}" in ei.value.reason


def test_secrecy_refuses_what_is_not_a_file(tmp_path) -> None:
    d = tmp_path / "dir"
    d.mkdir(mode=0o700)
    with pytest.raises(ConfigError) as ei:
        check_secrecy(str(d))
    assert "not a regular file" in ei.value.reason


def test_psk_bytes_survive_loading(tmp_path) -> None:
    p = tmp_path / "k.conf"
    p.write_bytes(b"[peer]\nAuthentication=s\xe9cret\xff\n")
    os.chmod(p, 0o600)
    c = Conf.load(str(p))
    v = c.get("peer", "Authentication")
    assert v is not None
    assert v.encode("utf-8", "surrogateescape") == b"s\xe9cret\xff"
