"""File hashes (HASH, OPTS HASH, RANG, XCRC/XMD5/XSHA1/XSHA256/XSHA512) and
modification times (MFMT, MFCT) against wharfd.

Hashes are checked against Python's hashlib and zlib.crc32 for an empty
file, small ones, a name with spaces, a 64 MiB file and a 1 GiB one, whole
and in ranges. Times: a FileZilla-style MFMT then MDTM round trip, and two
mirroring clients that set times when FEAT lists MFMT: lftp `mirror -R` and
rclone `sync` (both ways), which must leave identical trees with equal
modification times. Hostile input gets clear 5xx replies.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import zlib
from pathlib import Path

import pytest

from wharf_helpers import (PASSWORD, USER, RawFtp, build_tree, diff_manifests, require_tool,
                           run, tree_manifest, utf8_env, write_random)

MIB = 1024 * 1024

ALGORITHMS = {  # draft name -> (X-verb, hex digest of bytes)
    "SHA-256": ("XSHA256", lambda b: hashlib.sha256(b).hexdigest()),
    "SHA-512": ("XSHA512", lambda b: hashlib.sha512(b).hexdigest()),
    "SHA-1": ("XSHA1", lambda b: hashlib.sha1(b).hexdigest()),
    "MD5": ("XMD5", lambda b: hashlib.md5(b).hexdigest()),
    "CRC32": ("XCRC", lambda b: f"{zlib.crc32(b):08x}"),
}


def file_digests(path: Path, start: int = 0, end: int | None = None) -> dict[str, str]:
    """Every algorithm's hex digest of bytes [start, end) of a local file,
    read once in pieces."""
    hashers = {name: hashlib.new(name.replace("-", "").lower())
               for name in ("SHA-256", "SHA-512", "SHA-1", "MD5")}
    crc = 0
    with open(path, "rb") as f:
        f.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            block = f.read(4 * MIB if left is None else min(4 * MIB, left))
            if not block:
                break
            for h in hashers.values():
                h.update(block)
            crc = zlib.crc32(block, crc)
            if left is not None:
                left -= len(block)
    out = {name: h.hexdigest() for name, h in hashers.items()}
    out["CRC32"] = f"{crc:08x}"
    return out


def hash_reply(c: RawFtp, path: str) -> tuple[str, str, str, str]:
    """HASH path -> (algorithm, range, hex, path) from its 213 reply."""
    r = c.cmd(f"HASH {path}")
    assert r.code == 213, f"HASH {path}: {r!r}"
    algorithm, span, hexdigest, shown = r.lines[0].decode().split(" ", 4)[1:]
    return algorithm, span, hexdigest, shown


def logged_in(srv) -> RawFtp:
    c = RawFtp(srv.host, srv.port)
    c.login()
    return c


def local_files(srv) -> bool:
    return srv.storage == "local"


# -- FEAT and OPTS HASH ---------------------------------------------------------------


def test_feat_lists_hash_verbs_and_mfmt(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        feats = [l.decode().strip() for l in c.cmd("FEAT").lines[1:-1]]
        assert "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32" in feats, feats
        for verb in ("XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512"):
            assert verb in feats, feats
        # MFMT only where times can be set; MFCT never (Linux cannot set btime)
        assert ("MFMT" in feats) == local_files(wharfd), feats
        assert "MFCT" not in feats, feats
        c.login()
        assert c.cmd("OPTS HASH").lines == [b"200 SHA-256"]
        assert c.cmd("OPTS HASH md5").lines == [b"200 MD5"]
        feats = [l.decode().strip() for l in c.cmd("FEAT").lines[1:-1]]
        assert "HASH SHA-256;SHA-512;SHA-1;MD5*;CRC32" in feats, feats
        r = c.cmd("OPTS HASH SHA-3")
        assert r.code == 501 and "SHA-256, SHA-512, SHA-1, MD5, CRC32" in r.text, r
        assert c.cmd("OPTS HASH").lines == [b"200 MD5"]


# -- hashes against hashlib -------------------------------------------------------------


@pytest.mark.time_limit(240)
def test_hash_and_x_verbs_match_hashlib(wharfd, tmp_path):
    files = {"empty.bin": b"", "hello.txt": b"hello, alice\n", "with space.txt": b"x" * 1000}
    for name, data in files.items():
        (wharfd.home / name).write_bytes(data)
    write_random(wharfd.home / "big" / "64m.bin", 64 * MIB)
    local = tmp_path / "64m.bin"
    local.write_bytes((wharfd.home / "big" / "64m.bin").read_bytes())
    want = {name: {alg: fn(data) for alg, (_, fn) in ALGORITHMS.items()}
            for name, data in files.items()}
    want["big/64m.bin"] = file_digests(local)
    sizes = {name: len(data) for name, data in files.items()} | {"big/64m.bin": 64 * MIB}
    with logged_in(wharfd) as c:
        for alg, (xverb, _) in ALGORITHMS.items():
            assert c.cmd(f"OPTS HASH {alg}").code == 200
            for name, digests in want.items():
                got_alg, span, hexdigest, shown = hash_reply(c, name)
                assert (got_alg, span, shown) == (alg, f"0-{sizes[name]}", name)
                assert hexdigest == digests[alg], f"HASH {alg} of {name}"
                r = c.cmd(f"{xverb} {name}")
                assert r.code == 250, f"{xverb} {name}: {r!r}"
                assert r.lines[-1].decode().split()[-1].lower() == digests[alg], f"{xverb} {name}"
        # relative to the working directory, like every path
        assert c.cmd("CWD big").code == 250
        assert hash_reply(c, "64m.bin")[2] == want["big/64m.bin"]["CRC32"]
    local.unlink()


def test_ranges_with_rang_and_x_verbs(wharfd, tmp_path):
    write_random(wharfd.home / "r.bin", 3 * MIB + 123)
    local = tmp_path / "r.bin"
    local.write_bytes((wharfd.home / "r.bin").read_bytes())
    with logged_in(wharfd) as c:
        r = c.cmd("RANG 1000 2999999")
        assert r.code == 350 and "1000" in r.text and "2999999" in r.text, r
        alg, span, hexdigest, _ = hash_reply(c, "r.bin")
        assert (alg, span) == ("SHA-256", "1000-2999999")
        assert hexdigest == file_digests(local, 1000, 3000000)["SHA-256"]
        # the range was used up: the next HASH covers the whole file
        assert hash_reply(c, "r.bin")[1] == f"0-{3 * MIB + 123}"
        # RANG 1 0 resets
        assert c.cmd("RANG 5 9").code == 350
        assert c.cmd("RANG 1 0").code == 350
        assert hash_reply(c, "r.bin")[1] == f"0-{3 * MIB + 123}"
        # X-verbs take start and end (excluded), with a plain or quoted path
        for cmd in ("XMD5 r.bin 17 2000017", 'XMD5 "r.bin" 17 2000017'):
            r = c.cmd(cmd)
            assert r.code == 250, r
            assert r.lines[-1].decode().split()[-1].lower() == \
                file_digests(local, 17, 2000017)["MD5"], cmd
        # a range past the end of the file
        assert c.cmd("RANG 0 99999999").code == 350
        r = c.cmd("HASH r.bin")
        assert r.code == 554 and "not inside the file" in r.text, r
        r = c.cmd("XCRC r.bin 0 99999999")
        assert r.code == 554, r
        # a transfer right after RANG is refused, not sent whole
        assert c.cmd("RANG 0 9").code == 350
        r = c.cmd("RETR r.bin")
        assert r.code == 504 and "HASH" in r.text, r
        assert c.cmd("NOOP").code == 200


def test_one_gib_file(wharfd, tmp_path):
    """The issue's "files up to 1 GiB": one SHA-256 HASH of 1 GiB, bounded."""
    if not local_files(wharfd):
        pytest.skip("1 GiB through the S3 test server is too slow for the suite")
    path = wharfd.home / "1g.bin"
    want = hashlib.sha256()
    block = os.urandom(4 * MIB)
    with open(path, "wb") as f:
        for i in range(256):
            piece = bytes([i]) + block[1:]
            f.write(piece)
            want.update(piece)
    with logged_in(wharfd) as c:
        started = time.monotonic()
        _, span, hexdigest, _ = hash_reply(c, "1g.bin")
        took = time.monotonic() - started
    print(f"HASH of 1 GiB: {took:.1f} s")
    path.unlink()
    assert (span, hexdigest) == (f"0-{1 << 30}", want.hexdigest())
    assert took < 20, f"HASH of 1 GiB took {took:.1f} s"


def test_session_stays_responsive_and_a_vanished_client_stops_the_hash(wharfd):
    write_random(wharfd.home / "h.bin", 64 * MIB)
    with logged_in(wharfd) as c:
        # HASH, then NOOP pipelined behind it: answered in order
        c.send_raw(b"HASH h.bin\r\nNOOP\r\n")
        first, second = c.reply(), c.reply()
        assert (first.code, second.code) == (213, 200), (first, second)
        # ABOR while hashing: the hash stops (426) or had finished (213); ABOR is answered
        c.send_raw(b"OPTS HASH SHA-512\r\n")
        assert c.reply().code == 200
        c.send_raw(b"HASH h.bin\r\nABOR\r\n")
        codes = [c.reply().code, c.reply().code]
        assert codes in ([426, 226], [213, 226]), codes
        assert c.cmd("NOOP").code == 200
    # a client that goes away mid-hash: the server carries on
    for _ in range(3):
        s = socket.create_connection((wharfd.host, wharfd.port))
        s.recv(1024)
        s.sendall(f"USER {USER}\r\nPASS {PASSWORD}\r\nHASH h.bin\r\n".encode())
        time.sleep(0.05)
        s.close()
    with logged_in(wharfd) as c:
        assert hash_reply(c, "hello.txt")[2] == hashlib.sha256(b"hello, alice\n").hexdigest()


def test_with_one_hash_slot_a_second_session_waits_its_turn(wharfd_factory, tmp_path):
    """max_hash_jobs = 1: a second session's HASH waits for the slot, then
    gets its answer (past 30 s of waiting it would get 450)."""
    cfg = tmp_path / "w.toml"
    cfg.write_text("max_hash_jobs = 1\n")
    srv = wharfd_factory(["--config", str(cfg)])
    write_random(srv.home / "h.bin", 64 * MIB)
    with logged_in(srv) as a, logged_in(srv) as b:
        a.send_raw(b"HASH h.bin\r\n")
        b.send_raw(b"HASH h.bin\r\n")
        ra, rb = a.reply(), b.reply()
        assert (ra.code, rb.code) == (213, 213), (ra, rb)
        assert ra.lines == rb.lines


# -- MFMT and MDTM -----------------------------------------------------------------------


def test_mfmt_then_mdtm_round_trip(wharfd):
    """What FileZilla does after an upload when FEAT lists MFMT."""
    with logged_in(wharfd) as c:
        r = c.cmd("MFMT 20200102030405 hello.txt")
        if not local_files(wharfd):
            assert r.code == 502 and "s3" in r.text, r
            return
        assert r.lines == [b"213 Modify=20200102030405; hello.txt"]
        assert c.cmd("MDTM hello.txt").lines == [b"213 20200102030405"]
        assert int(os.stat(wharfd.home / "hello.txt").st_mtime) == 1577934245
        # a name with spaces, a directory, fractions of a second, times before 1970
        (wharfd.home / "a b.txt").write_bytes(b"ab")
        assert c.cmd("MFMT 19991231235959.5 a b.txt").lines == \
            [b"213 Modify=19991231235959; a b.txt"]
        assert c.cmd("MDTM a b.txt").lines == [b"213 19991231235959"]
        assert c.cmd("MFMT 20010909014640 docs").code == 213
        assert int(os.stat(wharfd.home / "docs").st_mtime) == 1000000000
        assert c.cmd("MFMT 19690720201800 docs/a.txt").code == 213
        assert c.cmd("MDTM docs/a.txt").lines == [b"213 19690720201800"]


def test_hostile_input_gets_clear_refusals(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        assert c.cmd("HASH hello.txt").code == 530  # before login
        c.login()
        checks = [
            ("MFMT 20230229000000 hello.txt", 501, "YYYYMMDDHHMMSS"),  # no 29 February 2023
            ("MFMT 2023 hello.txt", 501, "YYYYMMDDHHMMSS"),
            ("MFMT 20230101000000", 501, "YYYYMMDDHHMMSS"),
            ("MFMT yesterday hello.txt", 501, "YYYYMMDDHHMMSS"),
            ("MFCT 20200101000000 hello.txt", 502, "creation time"),
            ("HASH docs", 553, "regular file"),
            ("XSHA256 docs", 550, "regular file"),
            ("HASH missing.bin", 550, "No such file"),
            ("HASH ../../../../etc/passwd", 550, "No such file"),
            ("XCRC ../../../../etc/passwd", 550, "No such file"),
            ("XCRC hello.txt 9 3", 501, "start end"),
            ("RANG 9 3", 501, "RANG 1 0 resets"),
            ("RANG x y", 501, "start end"),
            ("XMD5", 501, "path [start end]"),
        ]
        if local_files(wharfd):
            checks.append(("MFMT 20200101000000 ../../../../etc/passwd", 550, "No such file"))
            # the jail's own name-hiding: temporary upload files cannot be named
            checks.append(("MFMT 20200101000000 .wharf-part-1", 550, "No such file"))
        for cmd, code, text in checks:
            r = c.cmd(cmd)
            assert r.code == code and text in r.text, f"{cmd}: {r!r}"
        assert c.cmd("MDTM hello.txt").code == 213  # and nothing changed
    # anonymous sessions are read-only: no MFMT, but HASH works
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login("anonymous", "guest@example.com")
        r = c.cmd("MFMT 20200101000000 readme.txt")
        assert r.code in (550, 502), r
        assert hash_reply(c, "readme.txt")[2] == \
            hashlib.sha256(b"Welcome to the Wharf public area.\n").hexdigest()


# -- mirroring clients keep times ------------------------------------------------------------


def set_times(root: Path) -> dict[str, int]:
    """Give every file under `root` a distinct whole-second time in the past;
    return {relative path: mtime}."""
    times = {}
    for i, path in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):
        t = 1_500_000_000 + i * 86_400 + 7
        os.utime(path, (t, t))
        times[path.relative_to(root).as_posix()] = t
    return times


def file_times(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): int(p.stat().st_mtime)
            for p in root.rglob("*") if p.is_file()}


def files_only(manifest: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in manifest.items() if v != "<dir>"}


def needs_local_files(srv) -> None:
    if not local_files(srv):
        pytest.skip("object storage cannot set modification times (MFMT answers 502 there; "
                    "see test_mfmt_then_mdtm_round_trip)")


@pytest.mark.time_limit(180)
def test_lftp_mirror_keeps_times(wharfd, tmp_path):
    needs_local_files(wharfd)
    exe = require_tool("lftp")
    local = tmp_path / "local"
    want = build_tree(local, big_size=5 * MIB)
    times = set_times(local)

    def lftp(commands: str) -> None:
        script = ("set ftp:passive-mode on; set net:max-retries 1; set net:timeout 20; "
                  "set ftp:ssl-allow no; set cmd:fail-exit yes; set file:charset utf-8; "
                  f"open -u {USER},{PASSWORD} ftp://{wharfd.host}:{wharfd.port}; {commands}")
        run([exe, "-c", script], timeout=150, env=utf8_env())

    lftp(f'mirror -R --no-perms "{local}" /tree')
    assert tree_manifest(wharfd.home / "tree") == want, \
        diff_manifests(want, tree_manifest(wharfd.home / "tree"))
    assert file_times(wharfd.home / "tree") == times
    back = tmp_path / "back"
    lftp(f'mirror --no-perms /tree "{back}"')
    assert tree_manifest(back) == want
    assert file_times(back) == times
    # a second mirror -R finds the times equal and leaves them
    lftp(f'mirror -R --no-perms "{local}" /tree')
    assert file_times(wharfd.home / "tree") == times


def rclone(srv, *args: str, timeout: float = 150) -> str:
    exe = require_tool("rclone")
    obscured = run([exe, "obscure", PASSWORD]).stdout.decode().strip()
    remote_env = {
        "RCLONE_CONFIG": "/dev/null",
        "RCLONE_CONFIG_WHARF_TYPE": "ftp",
        "RCLONE_CONFIG_WHARF_HOST": srv.host,
        "RCLONE_CONFIG_WHARF_PORT": str(srv.port),
        "RCLONE_CONFIG_WHARF_USER": USER,
        "RCLONE_CONFIG_WHARF_PASS": obscured,
    }
    env = utf8_env() | remote_env
    cp = run([exe, "--retries", "1", "--low-level-retries", "2", "--contimeout", "10s",
              "--timeout", "30s", *args], timeout=timeout, env=env)
    return cp.stdout.decode("utf-8", "replace") + cp.stderr.decode("utf-8", "replace")


@pytest.mark.time_limit(240)
def test_rclone_sync_both_ways_keeps_times_and_contents(wharfd, tmp_path):
    needs_local_files(wharfd)
    local = tmp_path / "local"
    want = files_only(build_tree(local, big_size=5 * MIB))
    times = set_times(local)

    rclone(wharfd, "sync", str(local), "wharf:/synced")
    got = files_only(tree_manifest(wharfd.home / "synced"))
    assert got == want, diff_manifests(want, got)
    assert file_times(wharfd.home / "synced") == times
    # a second sync sees equal sizes and times and moves nothing
    out = rclone(wharfd, "sync", "-v", str(local), "wharf:/synced")
    assert "Copied" not in out, out

    back = tmp_path / "back"
    rclone(wharfd, "sync", "wharf:/synced", str(back))
    got = files_only(tree_manifest(back))
    assert got == want, diff_manifests(want, got)
    assert file_times(back) == times
    # rclone's own comparison agrees: same files, same contents
    rclone(wharfd, "check", "--download", str(local), "wharf:/synced")
