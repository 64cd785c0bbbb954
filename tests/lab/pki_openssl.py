"""A test PKI made with the openssl command, following isakmpd(8)'s steps.

The CA: ``openssl genrsa``, ``openssl req -new`` and a self-signed
``openssl x509 -req -signkey ... -extfile x509v3.cnf -extensions
x509v3_CA``. Each peer: a key and a CSR, signed by the CA with ``openssl
x509 -req -CA ... -CAkey ... -CAcreateserial -extfile FILE -extensions
SECTION`` adding subjectAltNames. Everything is non-interactive (``-subj``)
and stays in the directory given.

Certificates with chosen validity dates (expired, not yet valid), revocation
and CRLs use ``openssl ca`` over a small CA database in the same directory.

    ca = OpenSslCa(tmp_path / "ca")                        # root CA
    west = ca.issue("west", ip=["192.0.2.1"], dns=["west.lab.example"])
    west.cert, west.key, west.der, west.subject           # PEM, PEM, DER, DN text
    sub = ca.intermediate("sub")                          # an intermediate CA
    old = ca.issue("old", start="20200101000000Z", end="20200201000000Z")
    ca.revoke(west); crl = ca.gen_crl()                    # PEM CRL path
    self_signed(tmp_path / "ss", "lonely", ip=["192.0.2.9"])
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .require import require_tool

#: The DN components above each common name.
DN_PREFIX = "/C=SE/O=isakmpd lab"


@dataclass
class Issued:
    """A key and its certificate."""

    name: str
    key: Path  # PEM (PKCS#8, as openssl genrsa writes it)
    cert: Path  # PEM
    der: bytes  # the certificate, DER
    subject: str  # openssl's slash form, e.g. /C=SE/O=isakmpd lab/CN=west

    def key_der(self) -> bytes:
        return openssl("pkey", "-in", self.key, "-outform", "DER", binary=True)


def openssl(*args: object, cwd: Path | None = None, binary: bool = False):
    """Run ``openssl args...``; the output (bytes with ``binary``)."""
    argv = [require_tool("openssl"), *map(str, args)]
    r = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=60, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n"
                           f"{r.stderr.decode(errors='replace')}")
    return r.stdout if binary else r.stdout.decode()


def _san(ip=(), dns=(), email=()) -> str:
    parts = ([f"IP:{a}" for a in ip] + [f"DNS:{d}" for d in dns]
             + [f"email:{e}" for e in email])
    return ",".join(parts)


def _extfile(path: Path, section: str, lines: list[str]) -> Path:
    path.write_text(f"[{section}]\n" + "".join(f"{ln}\n" for ln in lines))
    return path


def _ca_lines(path_len: int | None) -> list[str]:
    bc = "critical,CA:true" + (f",pathlen:{path_len}" if path_len is not None else "")
    return [f"basicConstraints={bc}", "subjectKeyIdentifier=hash",
            "authorityKeyIdentifier=keyid:always,issuer:always",
            "keyUsage=critical,keyCertSign,cRLSign"]


def _peer_lines(san: str, extra: list[str]) -> list[str]:
    lines = ["basicConstraints=CA:false", "subjectKeyIdentifier=hash",
             "authorityKeyIdentifier=keyid,issuer"]
    if san:
        lines.append(f"subjectAltName={san}")
    return lines + extra


def _der(cert: Path) -> bytes:
    return openssl("x509", "-in", cert, "-outform", "DER", binary=True)


def _genkey(key: Path, bits: int, key_type: str = "rsa") -> None:
    """``openssl genrsa`` (PKCS#8 PEM), or a P-256 key for ``key_type="ec"``."""
    if key_type == "ec":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", key)
    else:
        openssl("genrsa", "-out", key, bits)
    key.chmod(0o600)


class OpenSslCa:
    """A CA in ``directory``: ``ca.key``, ``ca.crt`` (PEM), ``ca.der``.
    With ``parent`` it is an intermediate CA signed by that CA."""

    def __init__(self, directory: Path | str, name: str = "Lab CA", *,
                 parent: OpenSslCa | None = None, path_len: int | None = None,
                 bits: int = 2048, days: int = 365, sigopt: tuple[str, ...] = ()):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.subject = f"{DN_PREFIX}/CN={name}"
        self.key = self.dir / "ca.key"
        self.cert = self.dir / "ca.crt"
        self.parent = parent
        _genkey(self.key, bits)
        csr = self.dir / "ca.csr"
        openssl("req", "-new", "-key", self.key, "-out", csr, "-subj", self.subject)
        ext = _extfile(self.dir / "x509v3.cnf", "x509v3_CA", _ca_lines(path_len))
        if parent is None:
            openssl("x509", "-req", "-days", days, "-in", csr, "-signkey", self.key,
                    "-extfile", ext, "-extensions", "x509v3_CA", "-out", self.cert)
        else:
            openssl("x509", "-req", "-days", days, "-in", csr, "-CA", parent.cert,
                    "-CAkey", parent.key, "-CAcreateserial", "-extfile", ext,
                    "-extensions", "x509v3_CA", *_sigopts(sigopt), "-out", self.cert)
        self.der = _der(self.cert)
        self._ca_db()

    def __repr__(self) -> str:
        return f"<OpenSslCa {self.subject}>"

    # ------------------------------------------------------------- issuing

    def _request(self, name: str, subject: str | None, bits: int,
                 key_type: str) -> tuple[Path, Path, str]:
        d = self.dir / "issued"
        d.mkdir(exist_ok=True)
        key, csr = d / f"{name}.key", d / f"{name}.csr"
        subject = subject or f"{DN_PREFIX}/CN={name}"
        _genkey(key, bits, key_type)
        openssl("req", "-new", "-key", key, "-out", csr, "-subj", subject)
        return key, csr, subject

    def issue(self, name: str, *, ip=(), dns=(), email=(), subject: str | None = None,
              days: int = 365, start: str | None = None, end: str | None = None,
              bits: int = 2048, key_type: str = "rsa",
              extensions: tuple[str, ...] = (),
              sigopt: tuple[str, ...] = ()) -> Issued:
        """A key and a certificate for a peer with the subjectAltNames given
        (``ip``, ``dns``, ``email``); CN=name unless ``subject`` is given.
        ``start``/``end`` (``YYYYMMDDHHMMSSZ``) choose the validity through
        ``openssl ca``; ``key_type`` "ec" makes a P-256 key; ``extensions``
        are more extfile lines; ``sigopt`` e.g. ("rsa_padding_mode:pss",)
        signs with RSA-PSS."""
        key, csr, subject = self._request(name, subject, bits, key_type)
        cert = self.dir / "issued" / f"{name}.crt"
        ext = _extfile(self.dir / "issued" / f"{name}.cnf", "x509v3_peer",
                       _peer_lines(_san(ip, dns, email), list(extensions)))
        if start is None and end is None:
            openssl("x509", "-req", "-days", days, "-in", csr, "-CA", self.cert,
                    "-CAkey", self.key, "-CAcreateserial", "-extfile", ext,
                    "-extensions", "x509v3_peer", *_sigopts(sigopt), "-out", cert)
        else:
            dates = []
            if start is not None:
                dates += ["-startdate", start]
            dates += ["-enddate", end] if end is not None else ["-days", days]
            openssl("ca", "-batch", "-config", self.dir / "ca.cnf", "-in", csr,
                    "-out", cert, "-notext", "-preserveDN", *dates, "-extfile", ext,
                    "-extensions", "x509v3_peer", *_sigopts(sigopt))
        return Issued(name, key, cert, _der(cert), subject)

    def intermediate(self, name: str, *, path_len: int | None = None,
                     sigopt: tuple[str, ...] = ()) -> OpenSslCa:
        """A CA certificate CN=name signed by this CA, in ``<dir>/<name>``."""
        return OpenSslCa(self.dir / name, name, parent=self, path_len=path_len,
                         sigopt=sigopt)

    # ----------------------------------------------------------- revoking

    def _ca_db(self) -> None:
        (self.dir / "index.txt").touch()
        (self.dir / "crlnumber").write_text("01\n")
        (self.dir / "newcerts").mkdir(exist_ok=True)
        (self.dir / "ca.cnf").write_text(f"""\
[ca]
default_ca = lab_ca
[lab_ca]
dir = {self.dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.crt
private_key = $dir/ca.key
serial = $dir/ca-db.srl
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = lab_policy
unique_subject = no
copy_extensions = none
[lab_policy]
commonName = supplied
countryName = optional
organizationName = optional
organizationalUnitName = optional
emailAddress = optional
""")
        # x509 -CAcreateserial starts ca.srl at a random 159-bit number;
        # openssl ca counts from 0x1000 in a file of its own: no collisions
        (self.dir / "ca-db.srl").write_text("1000\n")

    def revoke(self, issued: Issued) -> None:
        openssl("ca", "-batch", "-config", self.dir / "ca.cnf", "-revoke", issued.cert)

    def gen_crl(self, path: Path | str | None = None, days: int = 30) -> Path:
        """A PEM CRL of the certificates revoked so far, next update in
        ``days`` days."""
        out = Path(path) if path is not None else self.dir / "ca.crl"
        openssl("ca", "-batch", "-config", self.dir / "ca.cnf", "-gencrl",
                "-crldays", days, "-out", out)
        return out


def _sigopts(sigopt: tuple[str, ...]) -> list[str]:
    return [a for opt in sigopt for a in ("-sigopt", opt)]


def self_signed(directory: Path | str, name: str, *, ip=(), dns=(), email=(),
                days: int = 365, ca: bool = False, bits: int = 2048) -> Issued:
    """A key and a self-signed certificate (``openssl x509 -req -signkey``)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    key, csr, cert = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt"
    subject = f"{DN_PREFIX}/CN={name}"
    _genkey(key, bits)
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", subject)
    san = _san(ip, dns, email)
    lines = _ca_lines(None) if ca else _peer_lines(san, [])
    lines = [ln for ln in lines if not ln.startswith("authorityKeyIdentifier")]
    if ca and san:
        lines.append(f"subjectAltName={san}")
    ext = _extfile(d / f"{name}.cnf", "x509v3_self", lines)
    openssl("x509", "-req", "-days", days, "-in", csr, "-signkey", key,
            "-extfile", ext, "-extensions", "x509v3_self", "-out", cert)
    return Issued(name, key, cert, _der(cert), subject)


# ----------------------------------------------------- isakmpd's directories

SUBDIRS = ("ca", "certs", "crls", "private", "pubkeys")


def isakmpd_tree(root: Path | str, *, cas=(), certs=(), key: Issued | None = None,
                 crls=()) -> Path:
    """isakmpd's layout under ``root``: ``ca/`` (the PEM certificates of
    ``cas``: OpenSslCa or Issued), ``certs/`` (``certs``: Issued or
    OpenSslCa for intermediates), ``crls/`` (copies of the files ``crls``),
    ``private/local.key`` (``key``'s key, mode 0600) and ``pubkeys/``."""
    import shutil

    root = Path(root)
    for sub in SUBDIRS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "private").chmod(0o700)
    for i, ca in enumerate(cas):
        shutil.copyfile(ca.cert, root / "ca" / f"{i:02d}-{ca.name}.crt")
    for i, c in enumerate(certs):
        shutil.copyfile(c.cert, root / "certs" / f"{i:02d}-{c.name}.crt")
    for crl in crls:
        shutil.copyfile(crl, root / "crls" / Path(crl).name)
    if key is not None:
        dst = root / "private" / "local.key"
        shutil.copyfile(key.key, dst)
        dst.chmod(0o600)
    return root


def x509_conf(root: Path | str, accept_self_signed: str | None = None) -> str:
    """The ``[X509-certificates]`` and ``[General] Pubkey-directory`` lines
    of isakmpd.conf for an :func:`isakmpd_tree`."""
    r = Path(root)
    text = (f"[General]\nPubkey-directory=\t{r}/pubkeys/\n\n"
            f"[X509-certificates]\nCA-directory=\t\t{r}/ca/\n"
            f"Cert-directory=\t\t{r}/certs/\nCRL-directory=\t\t{r}/crls/\n"
            f"Private-key=\t\t{r}/private/local.key\n"
            f"Private-key-directory=\t{r}/private/\n")
    if accept_self_signed is not None:
        text += f"Accept-self-signed=\t{accept_self_signed}\n"
    return text
