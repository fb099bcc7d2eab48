"""`wharf mirror`'s lftp-like options against the real wharfd: --exclude,
--include and --exclude-from, --dry-run (nothing changes), --delete,
--only-newer, --parallel (connections seen by the server), --verify
(HASH SHA-256), times kept both ways (MFMT, utimes) and progress (a line
per file on a terminal, none when piped), each checked by tree contents
and SHA-256. Retries are in
test_wharf_hostile.py, where a server can fail on purpose."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pty_run import run_on_pty
from wharf_helpers import PASSWORD, USER, build_tree, diff_manifests, run, tree_manifest

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/wharf-target"))
WHARF = Path(os.environ.get("WHARF", TARGET / "debug/wharf"))


def wharf(*args: str, check: bool = True):
    return run([str(WHARF), *args], timeout=120, check=check)


def url(srv, path: str = "tree/") -> str:
    return f"ftp://{USER}:{PASSWORD}@127.0.0.1:{srv.port}/{path}"


def files_only(manifest: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in manifest.items() if v != "<dir>"}


def test_exclude_include_and_exclude_from(wharfd, tmp_path):
    src = tmp_path / "src"
    want = build_tree(src)
    (src / "scratch.tmp").write_bytes(b"temporary\n")
    (src / "nested" / "level1" / "x.tmp").write_bytes(b"temporary too\n")
    (src / "cache").mkdir()
    (src / "cache" / "blob.bin").write_bytes(b"cached\n")
    (src / "nested" / "keep.log").write_bytes(b"a log\n")
    patterns = tmp_path / "exclude.txt"
    patterns.write_text("# logs stay here\n*.log\n")
    wharf("mirror", "-q", "-R", "--exclude", "*.tmp", "--exclude", "cache",
          "--exclude-from", str(patterns), str(src), url(wharfd))
    got = tree_manifest(wharfd.home / "tree")
    assert got == want, diff_manifests(want, got)

    # Only the .txt files come back; a path pattern excludes one of them.
    back = tmp_path / "back"
    wharf("mirror", "-q", "--include", "*.txt", "--exclude", "nested/level1/sibling*", url(wharfd), str(back))
    got = files_only(tree_manifest(back))
    expect = {k: v for k, v in files_only(want).items()
              if k.endswith(".txt") and not k.startswith("nested/level1/sibling")}
    assert got == expect, diff_manifests(expect, got)


def test_dry_run_changes_nothing_then_delete_does(wharfd, tmp_path):
    src = tmp_path / "src"
    build_tree(src)
    wharf("mirror", "-q", "-R", str(src), url(wharfd))
    back = tmp_path / "back"
    wharf("mirror", "-q", url(wharfd), str(back))
    # The server loses a file and gains one; the local copy has an extra.
    os.remove(wharfd.home / "tree" / "top.txt")
    (wharfd.home / "tree" / "new.txt").write_bytes(b"new on the server\n")
    (back / "nested" / "local-only.txt").write_bytes(b"only here\n")
    before = tree_manifest(back)
    out = wharf("mirror", "--delete", "--dry-run", url(wharfd), str(back)).stdout.decode()
    assert tree_manifest(back) == before
    assert "get new.txt (18 bytes)" in out, out
    assert "delete top.txt" in out and "delete nested/local-only.txt" in out, out
    assert "nothing changed" in out
    # and the reverse direction's dry run leaves the server alone
    server_before = tree_manifest(wharfd.home / "tree")
    out = wharf("mirror", "-R", "--delete", "--dry-run", str(back), url(wharfd)).stdout.decode()
    assert "delete new.txt" in out and "put nested/local-only.txt" in out, out
    assert tree_manifest(wharfd.home / "tree") == server_before

    wharf("mirror", "-q", "--delete", url(wharfd), str(back))
    got = tree_manifest(back)
    want = tree_manifest(wharfd.home / "tree")
    assert got == want, diff_manifests(want, got)


def test_times_are_kept_both_ways(wharfd, tmp_path):
    src = tmp_path / "src"
    build_tree(src)
    then = 1_600_000_000
    for i, path in enumerate(p for p in sorted(src.rglob("*")) if p.is_file()):
        os.utime(path, (then + i * 60, then + i * 60))
    wharf("mirror", "-q", "-R", str(src), url(wharfd))
    back = tmp_path / "back"
    wharf("mirror", "-q", url(wharfd), str(back))
    for path in (p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src)
        want = int(path.stat().st_mtime)
        assert int((wharfd.home / "tree" / rel).stat().st_mtime) == want, rel  # MFMT
        assert int((back / rel).stat().st_mtime) == want, rel
    # and a second upload finds nothing to do
    again = wharf("mirror", "-R", str(src), url(wharfd)).stderr
    assert b"0 files transferred" in again, again


def test_only_newer_keeps_a_newer_target(wharfd, tmp_path):
    src = tmp_path / "src"
    build_tree(src)
    wharf("mirror", "-q", "-R", str(src), url(wharfd))
    back = tmp_path / "back"
    wharf("mirror", "-q", url(wharfd), str(back))
    # Edited here after the server's copy: bigger, and newer.
    edited = back / "with space.txt"
    edited.write_bytes(b"edited locally, and longer than before\n")
    future = os.stat(wharfd.home / "tree" / "with space.txt").st_mtime + 3600
    os.utime(edited, (future, future))
    wharf("mirror", "-q", "--only-newer", url(wharfd), str(back))
    assert edited.read_bytes() == b"edited locally, and longer than before\n"
    # Without it, a difference in size is enough.
    wharf("mirror", "-q", url(wharfd), str(back))
    assert edited.read_bytes() == (src / "with space.txt").read_bytes()


def test_parallel_and_verify(wharfd, tmp_path):
    src = tmp_path / "src"
    want = build_tree(src, big_size=8 << 20)
    wharf("mirror", "-q", "-R", "--verify", str(src), url(wharfd))
    got = tree_manifest(wharfd.home / "tree")
    assert got == want, diff_manifests(want, got)
    back = tmp_path / "back"
    proc = wharf("mirror", "-v", "--verify", url(wharfd), str(back))
    got = tree_manifest(back)
    assert got == want, diff_manifests(want, got)
    transcript = proc.stderr.decode(errors="replace")
    files = len([v for v in want.values() if v != "<dir>"])
    assert len(re.findall(r"^> HASH ", transcript, re.M)) == files, transcript
    assert re.search(r"^> OPTS HASH SHA-256", transcript, re.M), transcript
    # The default --parallel is 4: one connection lists, four transfer.
    assert len(re.findall(r"^< 230", transcript, re.M)) == 5, transcript
    proc = wharf("mirror", "-v", "-j", "2", url(wharfd), str(tmp_path / "two"))
    assert len(re.findall(r"^< 230", proc.stderr.decode(errors="replace"), re.M)) == 3


def test_a_line_per_file_on_a_terminal_none_when_piped(wharfd, tmp_path):
    src = tmp_path / "src"
    build_tree(src)
    wharf("mirror", "-q", "-R", str(src), url(wharfd))
    code, out = run_on_pty([str(WHARF), "mirror", url(wharfd), str(tmp_path / "tty")], tmp_path)
    assert code == 0, out
    assert b"got top.txt (15 bytes)" in out and b"got nested/zero.bin (0 bytes)" in out, out
    assert b"8 files transferred" in out, out
    piped = wharf("mirror", url(wharfd), str(tmp_path / "piped"))
    assert b"got " not in piped.stderr + piped.stdout
    assert b"8 files transferred" in piped.stderr


def test_limit_rate_caps_every_connection_together(wharfd, tmp_path):
    import time
    from wharf_helpers import write_random
    src = tmp_path / "src"
    for i in range(4):
        write_random(src / f"f{i}.bin", 1 << 20)
    # 4 MiB at 1 MiB/s over four connections: the bucket's first second
    # passes at once, the other three MiB take three seconds.
    start = time.monotonic()
    wharf("mirror", "-q", "-R", "--parallel", "4", "--limit-rate", "1M", str(src), url(wharfd))
    up = time.monotonic() - start
    back = tmp_path / "back"
    start = time.monotonic()
    wharf("mirror", "-q", "--parallel", "4", "--limit-rate", "1M", url(wharfd), str(back))
    down = time.monotonic() - start
    assert tree_manifest(back) == tree_manifest(src)
    assert 2.5 < up < 30 and 2.5 < down < 30, (up, down)
    # 1 MiB at 512 KiB/s: half at once, half in a second
    start = time.monotonic()
    wharf("get", "-q", "--limit-rate", "512K", url(wharfd, "tree/f0.bin"), "-o", str(tmp_path / "one.bin"))
    assert 0.8 < time.monotonic() - start < 30
    assert (tmp_path / "one.bin").read_bytes() == (src / "f0.bin").read_bytes()
    bad = wharf("get", "--limit-rate", "fast", url(wharfd, "tree/f0.bin"), check=False)
    assert bad.returncode == 2 and b"not a rate" in bad.stderr
