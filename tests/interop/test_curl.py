"""wharfd against curl: passive (EPSV and PASV), active (EPRT and PORT),
uploads, resumed transfers in both directions and listings."""

from __future__ import annotations

import os

import pytest

from server_files import set_mtime
from wharf_helpers import (file_sha256, part_files, require_tool, run, utf8_env,
                           write_random)


@pytest.fixture
def curl():
    exe = require_tool("curl")

    def go(*args: str, timeout: float = 60) -> tuple[bytes, str]:
        cp = run([exe, "--silent", "--show-error", "--verbose", "--max-time", "45",
                  "--connect-timeout", "10", "--noproxy", "*", *args],
                 timeout=timeout, env=utf8_env())
        return cp.stdout, cp.stderr.decode("utf-8", "replace")

    return go


@pytest.fixture
def big(wharfd):
    sha = write_random(wharfd.home / "big.bin", 8 * 1024 * 1024 + 3)
    return wharfd.home / "big.bin", sha


def sent(verbose: str) -> list[str]:
    """The commands curl sent, from its --verbose output ('> CMD')."""
    return [l[2:].strip() for l in verbose.splitlines() if l.startswith("> ")]


def test_passive_default_uses_epsv(wharfd, curl, big, tmp_path):
    path, sha = big
    out = tmp_path / "out.bin"
    _, v = curl("-o", str(out), wharfd.url("/big.bin"))
    assert file_sha256(out) == sha
    cmds = sent(v)
    assert "EPSV" in cmds, cmds
    assert "PASV" not in cmds, f"EPSV failed and curl fell back to PASV: {cmds}"


def test_passive_pasv(wharfd, curl, big, tmp_path):
    path, sha = big
    out = tmp_path / "out.bin"
    _, v = curl("--disable-epsv", "-o", str(out), wharfd.url("/big.bin"))
    assert file_sha256(out) == sha
    cmds = sent(v)
    assert "PASV" in cmds and "EPSV" not in cmds, cmds


def test_active_eprt(wharfd, curl, big, tmp_path):
    path, sha = big
    out = tmp_path / "out.bin"
    _, v = curl("-P", "127.0.0.1", "-o", str(out), wharfd.url("/big.bin"))
    assert file_sha256(out) == sha
    cmds = sent(v)
    assert any(c.startswith("EPRT |1|127.0.0.1|") for c in cmds), cmds
    assert not any(c.startswith("PORT ") for c in cmds), \
        f"EPRT failed and curl fell back to PORT: {cmds}"


def test_active_port(wharfd, curl, big, tmp_path):
    path, sha = big
    out = tmp_path / "out.bin"
    _, v = curl("-P", "127.0.0.1", "--disable-eprt", "-o", str(out),
                wharfd.url("/big.bin"))
    assert file_sha256(out) == sha
    cmds = sent(v)
    assert any(c.startswith("PORT 127,0,0,1,") for c in cmds), cmds


def test_active_upload(wharfd, curl, tmp_path):
    src = tmp_path / "src.bin"
    sha = write_random(src, 2 * 1024 * 1024 + 5)
    curl("-P", "127.0.0.1", "-T", str(src), wharfd.url("/active-up.bin"))
    assert file_sha256(wharfd.home / "active-up.bin") == sha


def test_upload(wharfd, curl, tmp_path):
    src = tmp_path / "src.bin"
    sha = write_random(src, 6 * 1024 * 1024 + 1)
    curl("-T", str(src), wharfd.url("/docs/uploaded.bin"))
    assert file_sha256(wharfd.home / "docs" / "uploaded.bin") == sha
    # an upload to a directory URL keeps the local name
    curl("-T", str(src), wharfd.url("/docs/"))
    assert file_sha256(wharfd.home / "docs" / "src.bin") == sha
    # UTF-8 name, percent-encoded in the URL
    curl("-T", str(src), wharfd.url("/caf%C3%A9%20%C3%BCber.bin"))
    assert file_sha256(wharfd.home / "café über.bin") == sha
    assert part_files(wharfd.home) == []


def test_upload_create_dirs(wharfd, curl, tmp_path):
    src = tmp_path / "src.bin"
    sha = write_random(src, 100_000)
    curl("--ftp-create-dirs", "-T", str(src), wharfd.url("/new/deeper/deepest/f.bin"))
    assert file_sha256(wharfd.home / "new" / "deeper" / "deepest" / "f.bin") == sha


def test_resume_download(wharfd, curl, big, tmp_path):
    path, sha = big
    full = path.read_bytes()
    out = tmp_path / "partial.bin"
    cut = 3 * 1024 * 1024 + 11
    out.write_bytes(full[:cut])
    _, v = curl("-C", "-", "-o", str(out), wharfd.url("/big.bin"))
    assert file_sha256(out) == sha
    assert f"REST {cut}" in sent(v), sent(v)


def test_resume_upload(wharfd, curl, tmp_path):
    src = tmp_path / "src.bin"
    sha = write_random(src, 5 * 1024 * 1024 + 7)
    full = src.read_bytes()
    cut = 2 * 1024 * 1024 + 3
    (wharfd.home / "resumed.bin").write_bytes(full[:cut])
    # on S3 the resume builds a new object from the stored part and the rest
    _, v = curl("-C", "-", "-T", str(src), wharfd.url("/resumed.bin"))
    assert file_sha256(wharfd.home / "resumed.bin") == sha
    cmds = sent(v)
    assert "SIZE resumed.bin" in cmds and "APPE resumed.bin" in cmds, cmds


def test_listing(wharfd, curl):
    out, _ = curl(wharfd.url("/docs/"))
    lines = out.decode().splitlines()
    assert len(lines) == 2, lines
    by_name = {l.split()[-1]: l for l in lines}
    assert set(by_name) == {"a.txt", "b.txt"}, lines
    for l in lines:
        assert l.startswith("-"), l
    out, _ = curl(wharfd.url("/"))
    names = {l.split()[-1]: l for l in out.decode().splitlines()}
    assert names["docs"].startswith("d"), names


def test_list_only(wharfd, curl):
    out, v = curl("--list-only", wharfd.url("/docs/"))
    assert sorted(out.decode().splitlines()) == ["a.txt", "b.txt"]
    assert "NLST" in sent(v), sent(v)
    out, _ = curl("--list-only", wharfd.url("/"))
    assert sorted(out.decode().splitlines()) == ["data.bin", "docs", "hello.txt"]


def test_anonymous_download(wharfd, curl, tmp_path):
    out = tmp_path / "r.bin"
    curl("-o", str(out), wharfd.url("/data.bin", user=None))
    assert file_sha256(out) == file_sha256(wharfd.pub / "data.bin")


def test_anonymous_upload_refused(wharfd, tmp_path):
    exe = require_tool("curl")
    src = tmp_path / "src.bin"
    src.write_bytes(b"nope")
    cp = run([exe, "-sS", "--max-time", "30", "-T", str(src),
              wharfd.url("/nope.bin", user=None)], check=False)
    assert cp.returncode != 0
    assert b"550" in cp.stderr or cp.returncode == 25, cp.stderr
    assert not (wharfd.pub / "nope.bin").exists()


def test_quote_commands(wharfd, curl):
    # -Q runs commands after login: DELE, RNFR/RNTO, MKD
    (wharfd.home / "gone.txt").write_bytes(b"x")
    (wharfd.home / "old.txt").write_bytes(b"y")
    curl("-Q", "DELE gone.txt", "-Q", "RNFR old.txt", "-Q", "RNTO new.txt",
         "-Q", "MKD made", "--list-only", wharfd.url("/"))
    assert not (wharfd.home / "gone.txt").exists()
    assert (wharfd.home / "new.txt").read_bytes() == b"y"
    assert (wharfd.home / "made").is_dir()


def test_many_sequential_transfers_on_one_connection(wharfd, curl, tmp_path):
    # curl reuses the control connection for several URLs in one run
    outs = [tmp_path / f"o{i}" for i in range(5)]
    args = []
    for o in outs:
        args += ["-o", str(o), wharfd.url("/data.bin")]
    curl(*args)
    want = file_sha256(wharfd.home / "data.bin")
    for o in outs:
        assert file_sha256(o) == want
    assert os.path.getsize(outs[0]) == 1024 * 1024


def test_head_reports_size_and_mtime(wharfd, curl):
    import calendar

    from email.utils import formatdate

    when = calendar.timegm((2021, 6, 7, 8, 9, 10, 0, 0, 0))
    when = set_mtime(wharfd.home / "data.bin", when)
    out, _ = curl("-I", wharfd.url("/data.bin"))
    text = out.decode()
    assert "Content-Length: 1048576" in text, text
    assert f"Last-Modified: {formatdate(when, usegmt=True)}" in text, text
