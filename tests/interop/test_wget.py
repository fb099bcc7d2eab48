"""wharfd against wget: a recursive download of a tree (passive mode)."""

from __future__ import annotations

from wharf_helpers import (build_tree, diff_manifests, file_sha256, require_tool, run,
                           tree_manifest, utf8_env)


def wget(*args: str, timeout: float = 120):
    exe = require_tool("wget")
    return run([exe, "--no-verbose", "--tries=1", "--timeout=20", "--no-proxy", *args],
               timeout=timeout, env=utf8_env())


def test_wget_recursive(wharfd, tmp_path):
    want = build_tree(wharfd.home / "tree", big_size=5 * 1024 * 1024)
    out = tmp_path / "out"
    wget("-r", "-l", "10", "-nH", "--restrict-file-names=nocontrol", "-P", str(out),
         wharfd.url("/tree/"))
    # wget does not recreate empty folders: compare the files
    want_files = {k: v for k, v in want.items() if v != "<dir>"}
    got_files = {k: v for k, v in tree_manifest(out / "tree").items()
                 if v != "<dir>" and not k.endswith(".listing")}
    assert got_files == want_files, "wget tree differs:\n" + \
        diff_manifests(want_files, got_files)


def test_wget_single_file_and_anonymous(wharfd, tmp_path):
    out = tmp_path / "data.bin"
    wget("-O", str(out), wharfd.url("/data.bin"))
    assert file_sha256(out) == file_sha256(wharfd.home / "data.bin")
    anon = tmp_path / "pub.bin"
    wget("-O", str(anon), wharfd.url("/data.bin", user=None))
    assert file_sha256(anon) == file_sha256(wharfd.pub / "data.bin")


def test_wget_active_mode(wharfd, tmp_path):
    out = tmp_path / "data.bin"
    wget("--no-passive-ftp", "-O", str(out), wharfd.url("/data.bin"))
    assert file_sha256(out) == file_sha256(wharfd.home / "data.bin")
