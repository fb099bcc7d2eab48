"""Our client (`wharf`) against a hostile server (hostile_ftp.py): names
that would escape the target directory, PASV replies that name another
address, downloads shorter or endlessly longer than the size announced,
and terminal escape sequences in names and replies. Nothing may be written
outside the target, the client must connect only to the server it is
talking to, a download that does not match its size is an error (exit 4)
that leaves its bytes for `-c`, and no raw control character reaches a
terminal."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from pty_run import run_on_pty
from hostile_ftp import ANSI_NAME, EVIL, HONEST, SHORT, HostileServer


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


def wharf(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(wharf_bin()), *args], capture_output=True, timeout=timeout, cwd=cwd)


def test_a_short_download_is_an_error_and_kept_for_continue(hostile, tmp_path):
    url = f"ftp://127.0.0.1:{hostile.port}/sized/short.bin"
    proc = wharf("get", "-q", url, cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert b"announced 1000 bytes and sent 500" in proc.stderr, proc.stderr
    assert not (tmp_path / "short.bin").exists()
    kept = tmp_path / ".short.bin.wharf-part"
    assert kept.read_bytes() == SHORT
    assert b"-c" in proc.stderr
    # -c finds the kept bytes and asks for the rest (REST 500); the server
    # has nothing more, so it is short again and nothing moves into place.
    proc = wharf("get", "-q", "-c", url, cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert hostile.rest_offsets == [len(SHORT)]
    assert kept.read_bytes() == SHORT
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]


def test_a_download_past_its_size_is_stopped(hostile, tmp_path):
    start = time.monotonic()
    proc = wharf("get", "-q", f"ftp://127.0.0.1:{hostile.port}/sized-endless/endless.bin", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert b"announced 1000 bytes" in proc.stderr, proc.stderr
    assert time.monotonic() - start < 30
    # Bytes past the size are no prefix to resume from: nothing is kept.
    assert list(tmp_path.iterdir()) == []
    # stopped at once, not after the server's 1 GiB bound
    assert hostile.endless_sent < 64 << 20, hostile.endless_sent


def test_mirror_refuses_short_and_endless_files(hostile, tmp_path):
    for folder in ("sized", "sized-endless"):
        target = tmp_path / folder
        proc = wharf("mirror", "-q", "--retries", "0", f"ftp://127.0.0.1:{hostile.port}/{folder}/", str(target),
                     cwd=tmp_path)
        assert proc.returncode == 4, proc.stderr
        assert b"announced 1000 bytes" in proc.stderr, proc.stderr
        assert [p.name for p in target.iterdir() if not p.name.startswith(".")] == []
    assert hostile.endless_sent < 64 << 20, hostile.endless_sent


@pytest.mark.parametrize("names_only", [False, True], ids=["list", "nlst"])
def test_listing_escapes_reach_a_terminal_escaped(hostile, tmp_path, names_only):
    args = [str(wharf_bin()), "ls"] + (["-1"] if names_only else []) + [f"ftp://127.0.0.1:{hostile.port}/ansi/"]
    code, out = run_on_pty(args, tmp_path)
    assert code == 0, out
    assert b"\\x1b]0;pwned-title\\x07\\x1b[2J" in out, out
    for raw in (b"\x1b", b"\x07", b"\x9b", b"\xc2\x9b"):
        assert raw not in out, out
    # Piped, the name arrives exactly as the server sent it.
    piped = subprocess.run(args, capture_output=True, timeout=60, cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert ANSI_NAME in piped.stdout


def test_a_refusal_reaches_a_terminal_escaped(hostile, tmp_path):
    code, out = run_on_pty([str(wharf_bin()), "get", "-q", f"ftp://127.0.0.1:{hostile.port}/ansi/x.txt"], tmp_path)
    assert code == 3, out
    assert b"no such file\\x1b]0;pwned-title" in out, out
    assert b"\x1b" not in out and b"\x07" not in out, out


def test_shell_user_says_who_is_logged_in(hostile, tmp_path):
    proc = subprocess.run([str(wharf_bin()), "ftp", "-q", f"ftp://127.0.0.1:{hostile.port}/"],
                          input=b"user bob bob-pw\nquit\n", capture_output=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"Logged in to 127.0.0.1:{hostile.port} as bob.".encode() in proc.stdout, proc.stdout


def test_mirror_tries_again_after_a_temporary_refusal(hostile, tmp_path):
    proc = wharf("mirror", f"ftp://127.0.0.1:{hostile.port}/flaky/", str(tmp_path / "t"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert b"450 busy" in proc.stderr and b"trying again in 1 s" in proc.stderr, proc.stderr
    assert (tmp_path / "t" / "ok.txt").read_bytes() == HONEST
    assert hostile.retrs[b"flaky/ok.txt"] == 2


def test_mirror_tries_again_after_a_reset(hostile, tmp_path):
    proc = wharf("mirror", f"ftp://127.0.0.1:{hostile.port}/reset/", str(tmp_path / "t"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert b"trying again in 1 s" in proc.stderr, proc.stderr
    assert (tmp_path / "t" / "ok.txt").read_bytes() == HONEST
    assert hostile.retrs[b"reset/ok.txt"] == 2
    # Without another try, a lost connection is a network failure: exit 4.
    proc = wharf("get", "-q", f"ftp://127.0.0.1:{hostile.port}/reset/other.txt", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert not (tmp_path / "other.txt").exists()


def test_mirror_gives_up_after_its_retries(hostile, tmp_path):
    proc = wharf("mirror", "-q", "--retries", "2", f"ftp://127.0.0.1:{hostile.port}/sized/", str(tmp_path / "t"),
                 cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert hostile.retrs[b"sized/short.bin"] == 3
    assert proc.stderr.count(b"trying again") == 2, proc.stderr
    assert b"1 of 1 files could not be mirrored" in proc.stderr, proc.stderr


def test_mirror_max_errors_stops_new_transfers(hostile, tmp_path):
    source = f"ftp://127.0.0.1:{hostile.port}/sized-many/"
    proc = wharf("mirror", "-q", "--retries", "0", "-j", "1", "--max-errors", "2", source, str(tmp_path / "t"),
                 cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert b"2 of 3 files could not be mirrored (stopped by --max-errors; 1 not tried)" in proc.stderr, proc.stderr
    assert sum(n for path, n in hostile.retrs.items() if path.startswith(b"sized-many/")) == 2
    # without it, every file is tried
    proc = wharf("mirror", "-q", "--retries", "0", "-j", "1", source, str(tmp_path / "u"), cwd=tmp_path)
    assert b"3 of 3 files could not be mirrored; the first" in proc.stderr, proc.stderr


def test_mirror_verify_catches_a_hash_that_differs(hostile, tmp_path):
    target = tmp_path / "t"
    proc = wharf("mirror", "-q", "--verify", "--retries", "1", f"ftp://127.0.0.1:{hostile.port}/hashed/",
                 str(target), cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert b"hashed/bad.txt: the server's SHA-256 is" in proc.stderr, proc.stderr
    assert hostile.retrs[b"hashed/bad.txt"] == 2
    # the copy that failed its check is not left to look current
    assert sorted(p.name for p in target.iterdir()) == ["ok.txt"]
    assert (target / "ok.txt").read_bytes() == HONEST


def test_mirror_continue_resumes_what_a_failure_kept(hostile, tmp_path):
    target = tmp_path / "t"
    source = f"ftp://127.0.0.1:{hostile.port}/sized/"
    proc = wharf("mirror", "-q", "--retries", "0", source, str(target), cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert (target / ".short.bin.wharf-part").read_bytes() == SHORT
    proc = wharf("mirror", "-q", "--retries", "0", "--continue", source, str(target), cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert hostile.rest_offsets == [len(SHORT)]
    assert not (target / "short.bin").exists()
