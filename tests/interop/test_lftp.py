"""wharfd against lftp: `mirror -R` (upload) and `mirror` (download) of a tree
with nested folders, empty folders, spaces, UTF-8 names and a 100 MB file."""

from __future__ import annotations

import shutil

import pytest

from wharf_helpers import (PASSWORD, USER, build_tree, diff_manifests, part_files,
                           require_tool, run, tree_manifest, utf8_env)

BIG = 100 * 1024 * 1024


def lftp(srv, commands: str, *, timeout: float = 150) -> str:
    exe = require_tool("lftp")
    script = (
        "set ftp:passive-mode on; set net:max-retries 1; set net:timeout 20; "
        "set net:reconnect-interval-base 1; set ssl:verify-certificate no; "
        "set ftp:ssl-allow no; set cmd:fail-exit yes; set file:charset utf-8; "
        f"open -u {USER},{PASSWORD} ftp://{srv.host}:{srv.port}; {commands}"
    )
    cp = run([exe, "-c", script], timeout=timeout, env=utf8_env())
    return cp.stdout.decode("utf-8", "replace") + cp.stderr.decode("utf-8", "replace")


def q(path) -> str:
    """Quote a local path for lftp's command line."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.time_limit(300)
def test_mirror_roundtrip_with_100mb_file(wharfd, tmp_path):
    local = tmp_path / "local"
    want = build_tree(local, big_size=BIG)

    lftp(wharfd, f"mirror -R --no-perms {q(local)} /tree")
    got = tree_manifest(wharfd.home / "tree")
    assert got == want, "mirror -R tree differs:\n" + diff_manifests(want, got)
    assert part_files(wharfd.home) == []

    back = tmp_path / "back"
    lftp(wharfd, f"mirror --no-perms /tree {q(back)}")
    got = tree_manifest(back)
    assert got == want, "mirror tree differs:\n" + diff_manifests(want, got)
    for p in (local / "big.bin", back / "big.bin", wharfd.home / "tree" / "big.bin"):
        p.unlink()  # 300 MB of temp files need not outlive a passing test


@pytest.mark.time_limit(120)
def test_mirror_of_server_side_tree(wharfd, tmp_path):
    # files put on the server's disk directly, then mirrored down
    want = build_tree(wharfd.home / "srv tree", big_size=3 * 1024 * 1024)
    out = tmp_path / "down"
    lftp(wharfd, f'mirror --no-perms "/srv tree" {q(out)}')
    got = tree_manifest(out)
    assert got == want, "mirror tree differs:\n" + diff_manifests(want, got)


@pytest.mark.time_limit(120)
def test_mirror_reverse_update_and_delete(wharfd, tmp_path):
    local = tmp_path / "local"
    build_tree(local)
    lftp(wharfd, f"mirror -R --no-perms {q(local)} /tree")
    # change the local tree: modify, delete, add; mirror -R --delete follows it
    (local / "top.txt").write_bytes(b"changed, and longer than before\n")
    shutil.rmtree(local / "nested" / "level1" / "level2")
    (local / "with space.txt").unlink()
    (local / "added.txt").write_bytes(b"new file\n")
    want = tree_manifest(local)
    lftp(wharfd, f"mirror -R --delete --no-perms {q(local)} /tree")
    got = tree_manifest(wharfd.home / "tree")
    assert got == want, "mirror -R --delete differs:\n" + diff_manifests(want, got)


def test_lftp_ls_get_put(wharfd, tmp_path):
    out = lftp(wharfd, "cls -1 /docs")
    assert sorted(out.split()) == ["/docs/a.txt", "/docs/b.txt"] or \
        sorted(out.split()) == ["a.txt", "b.txt"], out
    (tmp_path / "p.bin").write_bytes(b"put by lftp")
    lftp(wharfd, f"lcd {q(tmp_path)}; put p.bin -o /docs/p.bin; get /docs/a.txt -o got.txt")
    assert (wharfd.home / "docs" / "p.bin").read_bytes() == b"put by lftp"
    assert (tmp_path / "got.txt").read_bytes() == (wharfd.home / "docs" / "a.txt").read_bytes()


@pytest.mark.parametrize("mode", ["set ftp:passive-mode off", "set ftp:prefer-epsv yes"])
def test_lftp_active_and_epsv(wharfd, tmp_path, mode):
    lftp(wharfd, f"{mode}; lcd {q(tmp_path)}; get /data.bin -o got.bin; "
                 f"put got.bin -o /docs/again.bin")
    want = (wharfd.home / "data.bin").read_bytes()
    assert (tmp_path / "got.bin").read_bytes() == want
    assert (wharfd.home / "docs" / "again.bin").read_bytes() == want
