"""Short runs of every cargo-fuzz target of fuzz/ through fuzz/run.sh: each
is built, replays its seed corpus (real messages: a seed that fails is a
regression) and fuzzes for a few seconds with no crash.

cargo-fuzz is installed with ``cargo install cargo-fuzz`` if it is missing;
the test skips only when that cannot be done (no cargo, no network), and
fails instead when the CI variable is set. FUZZ_SMOKE_SECONDS sets the time
per target (default 10: about 60 s of fuzzing, plus a first build of about
90 s on two cores).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from lab.require import unavailable

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
RUN = FUZZ / "run.sh"
SECONDS = int(os.environ.get("FUZZ_SMOKE_SECONDS", "10"))
TARGETS = ["message", "payloads", "sa", "decrypt", "dh", "rsa"]
ROW = re.compile(
    r"^(?P<target>\w+)\s+(?P<runs>\d+)\s+(?P<eps>\d+)\s+(?P<cov>\d+)\s+(?P<ft>\d+)"
    r"\s+(?P<corpus>\d+)\s+(?P<crashes>\d+)\s*$",
    re.MULTILINE,
)

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = dict(os.environ)
    cargo_bin = Path.home() / ".cargo" / "bin"
    env["PATH"] = f"{env.get('PATH', '')}{os.pathsep}{cargo_bin}"
    return env


def _has_cargo_fuzz(env: dict[str, str]) -> bool:
    try:
        r = subprocess.run(["cargo", "fuzz", "--version"], env=env, check=False,
                           capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@pytest.fixture(scope="module")
def fuzz_env() -> dict[str, str]:
    """An environment in which run.sh finds cargo-fuzz, installed if need be;
    the targets are built once here."""
    env = _env()
    if shutil.which("cargo", path=env["PATH"]) is None:
        unavailable("cargo-fuzz cannot be built: no cargo")
    if not _has_cargo_fuzz(env):
        try:
            r = subprocess.run(["cargo", "install", "--locked", "cargo-fuzz"], env=env,
                               check=False, capture_output=True, text=True,
                               timeout=900)
        except subprocess.TimeoutExpired:
            unavailable("cargo-fuzz cannot be built: cargo install timed out")
        if r.returncode != 0 or not _has_cargo_fuzz(env):
            unavailable("cargo-fuzz cannot be built: cargo install cargo-fuzz "
                        f"failed: {r.stderr.strip().splitlines()[-1:]}")
    r = subprocess.run([str(RUN), "--build-only"], env=env, check=False,
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"the fuzz targets do not build:\n{r.stderr[-4000:]}"
    return env


def test_targets_are_declared_everywhere():
    """run.sh, the crate's [[bin]] list and fuzz_targets/ name the same
    targets, and each has a committed seed corpus."""
    listed = subprocess.run([str(RUN), "--list"], capture_output=True, text=True,
                            check=True).stdout.split()
    manifest = tomllib.loads((FUZZ / "Cargo.toml").read_text())
    bins = sorted(b["name"] for b in manifest["bin"])
    files = sorted(p.stem for p in (FUZZ / "fuzz_targets").glob("*.rs"))
    assert sorted(listed) == bins == files == sorted(TARGETS)
    for t in TARGETS:
        seeds = list((FUZZ / "corpus-seed" / t).iterdir())
        assert seeds, f"no seeds for {t}"


def test_fuzz_crate_is_outside_the_workspace():
    """The fuzz crate has a workspace of its own; the main one does not list
    it, so `cargo test --workspace` never builds libFuzzer code."""
    manifest = tomllib.loads((FUZZ / "Cargo.toml").read_text())
    assert "workspace" in manifest
    root = tomllib.loads((ROOT / "Cargo.toml").read_text())
    assert not any("fuzz" in m for m in root["workspace"]["members"])
    if shutil.which("cargo", path=_env()["PATH"]) is None:
        return
    meta = subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1",
                           "--offline"], cwd=ROOT, env=_env(), check=False,
                          capture_output=True, text=True, timeout=120)
    assert meta.returncode == 0, meta.stderr
    assert '"isakmp-fuzz"' not in meta.stdout
    assert '"isakmp-codec"' in meta.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_without_crash(target: str, fuzz_env: dict[str, str],
                                   tmp_path: Path):
    r = subprocess.run(
        [str(RUN), "--no-build", "-t", str(SECONDS), "-c", str(tmp_path / "corpus"),
         target],
        env=fuzz_env, check=False, capture_output=True, text=True,
        timeout=SECONDS + 300,
    )
    rows = {m["target"]: m for m in ROW.finditer(r.stdout)}
    assert r.returncode == 0, f"{target} failed:\n{r.stdout}\n{r.stderr[-6000:]}"
    row = rows[target]
    seeds = len(list((FUZZ / "corpus-seed" / target).iterdir()))
    assert int(row["crashes"]) == 0
    # Every seed was replayed (libFuzzer merges duplicates, hence >=).
    assert int(row["runs"]) >= seeds
    assert int(row["cov"]) > 100 and int(row["ft"]) >= int(row["cov"])
    assert int(row["corpus"]) >= 1
