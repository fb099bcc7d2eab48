"""Our client (`wharf`) against a hostile server (hostile_ftp.py): names
that would escape the target directory, and PASV replies that name another
address. Nothing may be written outside the target, and the client must
connect only to the server it is talking to."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hostile_ftp import EVIL, HONEST, HostileServer


def wharf_bin() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/wharf-target"))
    path = Path(os.environ.get("WHARF", target / "debug/wharf"))
    if not path.exists():
        pytest.fail(f"wharf binary not found at {path}; run `cargo build -p wharf`", pytrace=False)
    return path


@pytest.fixture
def hostile(tmp_path):
    server = HostileServer(str(tmp_path / "outside" / "abs.txt"))
    yield server
    server.close()


def all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_mirror_stays_inside_and_ignores_pasv_address(hostile, tmp_path):
    target = tmp_path / "target"
    (tmp_path / "outside").mkdir()
    proc = subprocess.run(
        [str(wharf_bin()), "mirror", "-q", f"ftp://127.0.0.1:{hostile.port}/", str(target)],
        capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert all_files(target) == {"ok.txt", "sub", "sub/inner.txt"}, all_files(target)
    assert (target / "ok.txt").read_bytes() == HONEST
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "escape.txt").exists()
    assert list((tmp_path / "outside").iterdir()) == []
    assert hostile.foreign_connections == 0
    assert b"unsafe remote name" in proc.stderr


def test_get_keeps_downloads_in_place(hostile, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    # The local name is the URL's last component, never a path.
    proc = subprocess.run(
        [str(wharf_bin()), "get", "-q", f"ftp://127.0.0.1:{hostile.port}/x/..%2Fescape.txt"],
        capture_output=True, timeout=60, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in work.iterdir()) == ["escape.txt"]
    # A last component of ".." is no file name at all (URL parsing already
    # resolves it to a directory).
    proc = subprocess.run(
        [str(wharf_bin()), "get", "-q", f"ftp://127.0.0.1:{hostile.port}/x/%2E%2E"],
        capture_output=True, timeout=60, cwd=work)
    assert proc.returncode != 0
    assert b"names a directory" in proc.stderr or b"not a safe local file name" in proc.stderr
    assert sorted(p.name for p in work.iterdir()) == ["escape.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "work"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_shell_mget_skips_unsafe_names(hostile, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [str(wharf_bin()), "ftp", "-q", f"ftp://127.0.0.1:{hostile.port}/"],
        input=b"mget *\nquit\n", capture_output=True, timeout=60, cwd=work)
    assert sorted(p.name for p in work.iterdir()) == ["ok.txt"], proc.stderr
    assert (work / "ok.txt").read_bytes() == HONEST
    assert not (tmp_path / "evil.txt").exists()
    assert hostile.foreign_connections == 0


def test_downloads_connect_only_to_the_control_peer(hostile, tmp_path):
    proc = subprocess.run(
        [str(wharf_bin()), "get", "-q", f"ftp://127.0.0.1:{hostile.port}/ok.txt"],
        capture_output=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ok.txt").read_bytes() == HONEST
    assert hostile.foreign_connections == 0
    assert EVIL not in (tmp_path / "ok.txt").read_bytes()
