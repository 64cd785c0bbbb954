"""Always-present and auto-generated sections (spec §1.4 end, §1.5).

tests/data/conf/autogen-sections.txt lists every name isakmpd's naming loops
produce (OpenBSD's 2020 tree); the names marked [GRP25] are those conf.c
1.108 (2025) no longer generates. We follow 1.108: the unmarked names must
all resolve, the marked ones must not, which gives 1785 main-mode transforms
(1890 before) and 3456 quick-mode suites (3648 before).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from isakmpd.conf import Conf, defaults

DATA = Path(__file__).parent / "data" / "conf" / "autogen-sections.txt"


def _names() -> tuple[list[str], list[str], list[str]]:
    mm: list[str] = []
    qm: list[str] = []
    gone: list[str] = []
    part = None
    for line in DATA.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            part = line.strip("[]")
            continue
        name = line.split()[0]
        if "[GRP25]" in line:
            gone.append(name)
        elif part == "main-mode":
            mm.append(name)
        else:
            qm.append(name)
    return mm, qm, gone


MM, QM, GONE = _names()
CONF = Conf.from_text("", "empty")

GROUPS = {"": "MODP_1024", "1": "MODP_768", "2": "MODP_1024", "5": "MODP_1536",
          "14": "MODP_2048", "15": "MODP_3072", "16": "MODP_4096", "17": "MODP_6144",
          "18": "MODP_8192", "19": "ECP_256", "20": "ECP_384", "21": "ECP_521",
          "26": "ECP_224", "27": "BP_224", "28": "BP_256", "29": "BP_384",
          "30": "BP_512"}


def test_counts_after_grp25_removal() -> None:
    assert len(MM) == 1785 and len(QM) == 3456
    assert len(MM) + sum("-SUITE" not in n for n in GONE) == 1890
    assert len(QM) + sum("-SUITE" in n for n in GONE) == 3648
    assert defaults.main_mode_names() == MM  # same names, same order
    assert defaults.suite_names() == QM


def test_grp25_names_are_gone() -> None:
    for name in GONE:
        assert not CONF.has_section(name), name


MM_RE = re.compile(r"^(BLF|3DES|CAST|AES(?:-(128|192|256))?)-(MD5|SHA2-(?:256|384|512)"
                   r"|SHA)(?:-GRP(\d+))?(-DSS|-RSA_SIG)?$")
CIPHERS = {"BLF": "BLOWFISH_CBC", "3DES": "3DES_CBC", "CAST": "CAST_CBC"}


def test_every_main_mode_name_resolves_with_its_tags() -> None:
    for name in MM:
        m = MM_RE.match(name)
        assert m, name
        cipher, bits, hash_, grp, auth = m.groups()
        tags = {t: CONF.get(name, t) for t in CONF.tags(name)}
        want = {"ENCRYPTION_ALGORITHM": CIPHERS.get(cipher, "AES_CBC"),
                "HASH_ALGORITHM": hash_.replace("-", "_"),
                "AUTHENTICATION_METHOD": (auth or "-PRE_SHARED")[1:],
                "GROUP_DESCRIPTION": GROUPS[grp or ""],
                "Life": "LIFE_MAIN_MODE"}
        if bits:
            want["KEY_LENGTH"] = f"{bits},{bits}:{bits}"
        elif cipher == "AES":
            want["KEY_LENGTH"] = "128,128:256"
        elif cipher == "BLF":
            want["KEY_LENGTH"] = "128,96:192"
        assert tags == want, name


QM_RE = re.compile(r"^QM-(ESP|AH)(-TRP)?(-3DES|-CAST|-BLF|-NULL|-AES(?:CTR|GCM|GMAC)?"
                   r"(?:-(?:128|192|256))?)?(-MD5|-SHA2-(?:256|384|512)|-SHA|-RIPEMD)?"
                   r"(-PFS(?:-GRP(\d+))?)?-SUITE$")
ESP_IDS = {"-3DES": "3DES", "-CAST": "CAST", "-BLF": "BLOWFISH", "-NULL": "NULL",
           "-AES": "AES", "-AESCTR": "AES_CTR", "-AESGCM": "AES_GCM_16",
           "-AESGMAC": "AES_GMAC"}


def test_every_suite_resolves_to_protocol_and_transform() -> None:
    for suite in QM:
        m = QM_RE.match(suite)
        assert m, suite
        proto, trp, cipher, hash_, pfs, grp = m.groups()
        base = suite[: -len("-SUITE")]
        assert CONF.get(suite, "Protocols") == base
        assert CONF.get(base, "PROTOCOL_ID") == "IPSEC_" + proto
        assert CONF.get(base, "Transforms") == base + "-XF"
        xf = base + "-XF"
        tags = {t: CONF.get(xf, t) for t in CONF.tags(xf)}
        want = {"ENCAPSULATION_MODE": "TRANSPORT" if trp else "TUNNEL",
                "Life": "LIFE_QUICK_MODE"}
        if proto == "AH":
            assert cipher is None and hash_ is not None, suite
            want["TRANSFORM_ID"] = hash_[1:].replace("-", "_")
        else:
            family = re.sub(r"-(128|192|256)$", "", cipher)
            want["TRANSFORM_ID"] = ESP_IDS[family]
            size = cipher[len(family) + 1:]
            if size:
                want["KEY_LENGTH"] = f"{size},{size}:{size}"
            elif family in ("-AES", "-AESCTR"):
                # isakmpd writes none for -AESCTR; AES-CTR needs one (RFC 3686)
                want["KEY_LENGTH"] = "128,128:256"
            elif family == "-BLF":
                want["KEY_LENGTH"] = "128,96:192"
            if family in ("-AESGCM", "-AESGMAC"):
                assert hash_ is None, suite
        if hash_:
            want["AUTHENTICATION_ALGORITHM"] = "HMAC_" + hash_[1:].replace("-", "_")
        if pfs:
            # All -PFS suites do PFS, hash or not (isakmpd drops it hash-less).
            want["GROUP_DESCRIPTION"] = GROUPS[grp or ""]
        assert tags == want, suite


@pytest.mark.parametrize("suite,group", [
    ("QM-ESP-AESGCM-128-PFS-SUITE", "MODP_1024"),
    ("QM-ESP-AESGMAC-256-PFS-GRP19-SUITE", "ECP_256"),
    ("QM-ESP-NULL-PFS-GRP14-SUITE", "MODP_2048"),
    ("QM-ESP-3DES-PFS-SUITE", "MODP_1024"),
    ("QM-ESP-TRP-AES-256-PFS-GRP15-SUITE", "MODP_3072"),
])
def test_hashless_pfs_suites_carry_their_group(suite: str, group: str) -> None:
    xf = suite.replace("-SUITE", "-XF")
    assert CONF.get(xf, "GROUP_DESCRIPTION") == group
    assert CONF.get(xf, "AUTHENTICATION_ALGORITHM") is None


def test_lookup_is_case_insensitive_and_spelled_canonically() -> None:
    assert CONF.get("3des-sha", "encryption_algorithm") == "3DES_CBC"
    assert CONF.tags("aes-128-sha-grp14")[0] == "ENCRYPTION_ALGORITHM"
    assert defaults.name_of("qm-esp-aes-sha-pfs-suite") == "QM-ESP-AES-SHA-PFS-SUITE"
    assert not CONF.has_section("3DES-SHA-RSA")  # near misses are not names
    assert not CONF.has_section("QM-ESP-AESGCM-128-SHA-SUITE")
    assert not CONF.has_section("QM-AH-3DES-SHA-SUITE")
    assert not CONF.has_section("QM-ESP-SHA-SUITE")
    assert not CONF.has_section("QM-ESP-3DES-SHA-GRP14-SUITE")


def test_sections_enumerates_everything() -> None:
    names = set(CONF.sections())
    assert set(MM) <= names and set(QM) <= names
    for s in QM[:50]:
        assert s[: -len("-SUITE")] in names and s.replace("-SUITE", "-XF") in names
    for s in ("General", "Phase 1", "LIFE_MAIN_MODE", "LIFE_QUICK_MODE",
              "Default-phase-1", "Default-phase-1-configuration",
              "X509-certificates", "KeyNote"):
        assert s in names
    assert len(names) == len(MM) + 3 * len(QM) + 8


def test_always_present_defaults() -> None:
    c = CONF
    assert c.get("LIFE_MAIN_MODE", "LIFE_TYPE") == "SECONDS"
    assert c.get("LIFE_MAIN_MODE", "LIFE_DURATION") == "3600,60:86400"
    assert c.get("LIFE_QUICK_MODE", "LIFE_DURATION") == "1200,60:86400"
    assert c.get("Default-phase-1-configuration", "EXCHANGE_TYPE") == "ID_PROT"
    assert c.get("Default-phase-1-configuration", "Transforms") == "3DES-SHA-RSA_SIG"
    assert c.get("Phase 1", "Default") == "Default-phase-1"
    assert c.get("Default-phase-1", "Phase") == "1"
    assert c.get("Default-phase-1", "Configuration") == "Default-phase-1-configuration"
    assert c.get("Default-phase-1", "ID") is None
    assert c.get("General", "Retransmits") == "3"
    assert c.get("General", "Exchange-max-time") == "120"
    assert c.get("General", "Use-Keynote") == "yes"
    assert c.get("General", "Delete-SAs") == "yes"
    assert c.get("General", "Policy-file") == "/etc/isakmpd/isakmpd.policy"
    assert c.get("General", "Pubkey-directory") == "/etc/isakmpd/pubkeys/"
    assert c.get("X509-certificates", "Private-key") == "/etc/isakmpd/private/local.key"
    assert c.get("KeyNote", "Credential-directory") == "/etc/isakmpd/keynote/"
    assert c.dump() == []  # nothing of it is reported as non-default


def test_defaults_follow_general() -> None:
    c = Conf.from_text("[General]\nDefault-phase-1-lifetime=7200,600:28800\n"
                       "Default-phase-2-lifetime=900\nDefault-phase-1-ID=my-id\n"
                       "[Phase 1]\nDefault=mine\n", "g")
    assert c.get("LIFE_MAIN_MODE", "LIFE_DURATION") == "7200,600:28800"
    assert c.get("LIFE_QUICK_MODE", "LIFE_DURATION") == "900"
    assert c.get("Default-phase-1", "ID") == "my-id"
    assert c.get("Phase 1", "Default") == "mine"  # the file's value wins
