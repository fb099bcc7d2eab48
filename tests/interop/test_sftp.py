"""The SFTP front-end (`wharfd --sftp-listen`) with clients nobody here
wrote: OpenSSH's `sftp` (batch mode) and `scp`, paramiko, curl (libssh2)
and lftp, on the same accounts, quotas, permissions and files as FTP.

Also: two sessions of one account (paramiko) racing on one name, hostile
packets sent raw on an `sftp` subsystem channel, what SSH besides SFTP
is refused (shell, exec), and connections that never log in.

Passwords reach OpenSSH through SSH_ASKPASS (a script that prints it), as
OpenSSH reads no password from a pipe. Only 127.0.0.1; every server is
the fixture's, stopped by its PID.

With WHARF_TEST_STORAGE=s3 the same tests run on a bucket (moto); reput
and APPEND extend an object there too (a new object from the stored one
and the new bytes). What an object store cannot do is asserted as refused
there, as over FTP: renaming a directory, setting a modification time;
the one test that needs a symbolic link in the home is skipped (an object
store has none).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest

from conftest import PASSWORD, USER, storage_mode
from server_files import listdir, pending_uploads, stored_bytes
from test_registration_quota import site_quota, site_register, users

TIMEOUT = 60
SFTP_RE = r"listening on 127\.0\.0\.1:(\d+) \(SFTP\)"
MIB = 1024 * 1024
# What the S3 backend answers when asked for what an object store cannot do.
S3_REFUSAL = "not supported by the s3 storage backend"


# --------------------------------------------------------------------------
# helpers


def sftp_server(factory, *extra: str):
    """A server with SFTP on a kernel-chosen port, its account's usage
    counted from the fixture's files; returns (server, port)."""
    srv = factory(["--sftp-listen", "127.0.0.1:0", *extra])
    srv.recount()
    line = srv.wait_log(SFTP_RE)
    srv.wait_log(r"SSH host key .*ssh_host_rsa_key", timeout=30)  # keys ready
    return srv, int(re.search(SFTP_RE, line).group(1))


def connect(port: int, user: str = USER, password: str = PASSWORD) -> paramiko.SFTPClient:
    t = paramiko.Transport(("127.0.0.1", port))
    t.banner_timeout = t.auth_timeout = TIMEOUT
    t.connect(username=user, password=password)
    sftp = paramiko.SFTPClient.from_transport(t)
    sftp.get_channel().settimeout(TIMEOUT)
    return sftp


def close(sftp: paramiko.SFTPClient) -> None:
    t = sftp.get_channel().get_transport()
    sftp.close()
    t.close()


def openssh(tmp_path: Path, password: str = PASSWORD) -> tuple[list[str], dict[str, str]]:
    """Options and environment that make OpenSSH log in by password."""
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\nprintf '%s\\n' '{password}'\n")
    askpass.chmod(0o700)
    env = dict(os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force",
               DISPLAY=":0")
    opts = ["-o", "BatchMode=no", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
            "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR"]
    return opts, env


def sftp_batch(tmp_path: Path, port: int, commands: str, *, cwd: Path,
               password: str = PASSWORD) -> subprocess.CompletedProcess:
    opts, env = openssh(tmp_path, password)
    batch = tmp_path / "batch"
    batch.write_text(commands)
    return subprocess.run(["sftp", *opts, "-P", str(port), "-b", str(batch),
                           f"{USER}@127.0.0.1"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


def sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def random_file(p: Path, size: int) -> Path:
    with p.open("wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n
    return p


def assert_usage_is_disk(srv) -> None:
    boss = srv.ftp()
    q = site_quota(boss)
    boss.quit()
    assert q["in_flight"] == 0 and q["used"] == stored_bytes(srv.home), \
        f"SITE QUOTA {q}, stored {stored_bytes(srv.home)}"


# --------------------------------------------------------------------------
# real clients


def test_openssh_sftp_does_every_file_operation_and_100_mb_arrive_whole(
        wharfd_factory, tmp_path):
    srv, port = sftp_server(wharfd_factory)
    work = tmp_path / "work"
    work.mkdir()
    big = random_file(work / "big.bin", 100 * MIB)
    (work / "grüße.txt").write_text("grüße, wharf\n")
    r = sftp_batch(tmp_path, port, cwd=work, commands="""\
pwd
mkdir up
put big.bin up/big.bin
put grüße.txt up/grüße.txt
ls -l up
get up/big.bin back.bin
rename up/big.bin up/moved.bin
get up/grüße.txt grüße-back.txt
rm up/moved.bin
rm up/grüße.txt
rmdir up
ls
""")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Remote working directory: /" in r.stdout
    assert re.search(r"104857600 .* big\.bin", r.stdout), r.stdout
    assert sha256(work / "back.bin") == sha256(big)
    assert (work / "grüße-back.txt").read_text() == "grüße, wharf\n"
    assert not (srv.home / "up").exists()
    assert_usage_is_disk(srv)
    log = srv.log()
    assert re.search(r'transfer complete .*protocol="sftp" path=/up/big\.bin '
                     r'bytes=104857600 .*direction="in"', log), log[-2000:]
    assert 'login peer=127.0.0.1' in log and 'protocol="sftp"' in log


def test_openssh_reput_and_reget_resume_where_they_stopped(wharfd_factory, tmp_path):
    srv, port = sftp_server(wharfd_factory)
    work = tmp_path / "work"
    work.mkdir()
    whole = random_file(work / "whole.bin", 3 * MIB)
    data = whole.read_bytes()
    (srv.home / "part.bin").write_bytes(data[:MIB])      # an upload that stopped
    (work / "down.bin").write_bytes(data[:512 * 1024])     # a download that stopped
    (srv.home / "whole.bin").write_bytes(data)
    srv.recount()
    r = sftp_batch(tmp_path, port, cwd=work, commands="reget whole.bin down.bin\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (work / "down.bin").read_bytes() == data
    # (on S3 the resume builds a new object from the stored part and the rest)
    r = sftp_batch(tmp_path, port, cwd=work, commands="reput whole.bin part.bin\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (srv.home / "part.bin").read_bytes() == data
    # writing on at the end, and opening for APPEND, extend it the same way
    sftp = connect(port)
    try:
        with sftp.open("part.bin", "r+") as f:
            f.seek(len(data))
            f.write(b"tail one|")
        with sftp.open("part.bin", "a") as f:
            f.write(b"tail two")
        assert sftp.stat("part.bin").st_size == len(data) + 17
    finally:
        close(sftp)
    assert (srv.home / "part.bin").read_bytes() == data + b"tail one|tail two"
    assert pending_uploads(srv.home) == []
    assert_usage_is_disk(srv)


def test_openssh_cp_copies_on_the_server_metered_and_logged(wharfd_factory, tmp_path):
    """`sftp`'s `cp` (OpenSSH 9) sends copy-data: the copy is made on the
    server, counted against the quota as it is written, logged as an
    upload, and one the quota cannot hold leaves nothing behind."""
    srv, port = sftp_server(wharfd_factory)
    work = tmp_path / "work"
    work.mkdir()
    src = random_file(work / "src.bin", 20 * MIB)
    r = sftp_batch(tmp_path, port, cwd=work, commands="""\
put src.bin src.bin
cp src.bin copy.bin
get copy.bin back.bin
""")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sha256(work / "back.bin") == sha256(src)
    assert_usage_is_disk(srv)
    assert re.search(r'transfer complete .*protocol="sftp" path=/copy\.bin '
                     r'bytes=20971520 .*direction="in"', srv.log()), srv.log()[-2000:]
    # Room for 5 MiB more: the second copy is refused mid-way.
    users(srv.bin, srv.data, "quota", USER, str(stored_bytes(srv.home) + 5 * MIB))
    r = sftp_batch(tmp_path, port, cwd=work, commands="cp src.bin second.bin\n")
    assert r.returncode != 0, r.stdout + r.stderr
    assert "second.bin" not in listdir(srv.home)
    assert pending_uploads(srv.home) == []
    assert_usage_is_disk(srv)


def test_scp_copies_both_ways(wharfd_factory, tmp_path):
    srv, port = sftp_server(wharfd_factory)
    src = random_file(tmp_path / "src.bin", 5 * MIB)
    opts, env = openssh(tmp_path)
    up = subprocess.run(["scp", *opts, "-P", str(port), str(src),
                         f"{USER}@127.0.0.1:copied.bin"], env=env, capture_output=True,
                        text=True, timeout=TIMEOUT)
    assert up.returncode == 0, up.stderr
    assert (srv.home / "copied.bin").read_bytes() == src.read_bytes()
    down = subprocess.run(["scp", *opts, "-P", str(port), f"{USER}@127.0.0.1:data.bin",
                           str(tmp_path / "down.bin")], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert down.returncode == 0, down.stderr
    assert (tmp_path / "down.bin").read_bytes() == (srv.home / "data.bin").read_bytes()
    assert_usage_is_disk(srv)


def test_curl_and_lftp_move_files_over_sftp(wharfd_factory, tmp_path):
    srv, port = sftp_server(wharfd_factory)
    src = random_file(tmp_path / "src.bin", 2 * MIB)
    url = f"sftp://127.0.0.1:{port}"
    cred = f"{USER}:{PASSWORD}"
    up = subprocess.run(["curl", "-sS", "--insecure", "-u", cred, "-T", str(src),
                         f"{url}/by-curl.bin"], capture_output=True, text=True,
                        timeout=TIMEOUT)
    assert up.returncode == 0, up.stderr
    down = subprocess.run(["curl", "-sS", "--insecure", "-u", cred, "-o",
                           str(tmp_path / "curl.bin"), f"{url}/by-curl.bin"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert down.returncode == 0, down.stderr
    assert (tmp_path / "curl.bin").read_bytes() == src.read_bytes()
    lftp = subprocess.run(
        ["lftp", "-u", f"{USER},{PASSWORD}", "-e",
         f"set sftp:auto-confirm yes; set net:max-retries 1; put {src} -o by-lftp.bin; "
         f"get by-lftp.bin -o {tmp_path / 'lftp.bin'}; cls -1; bye", url],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert lftp.returncode == 0, lftp.stdout + lftp.stderr
    assert (tmp_path / "lftp.bin").read_bytes() == src.read_bytes()
    assert "by-curl.bin" in lftp.stdout and "by-lftp.bin" in lftp.stdout
    assert_usage_is_disk(srv)


def test_paramiko_sees_attributes_renames_and_the_jail(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    sftp = connect(port)
    try:
        names = {a.filename: a for a in sftp.listdir_attr("/")}
        assert names["hello.txt"].st_size == len(b"hello, alice\n")
        assert names["docs"].longname.startswith("d")
        with sftp.open("new.txt", "w") as f:
            f.write(b"one")
        sftp.posix_rename("new.txt", "hello.txt")     # replaces
        assert sftp.open("hello.txt").read() == b"one"
        with pytest.raises(IOError):
            sftp.rename("hello.txt", "data.bin")        # v3 RENAME never replaces
        assert sftp.normalize("../../..") == "/"
        assert sftp.normalize("docs/../docs/.") == "/docs"
        with pytest.raises(IOError):
            sftp.open("/../../etc/passwd")
        with pytest.raises(IOError):
            sftp.symlink("/etc/passwd", "link")
        if srv.storage == "s3":
            # an object's time is when it was stored: refused, unchanged
            was = sftp.stat("hello.txt").st_mtime
            with pytest.raises(IOError, match=S3_REFUSAL):
                sftp.utime("hello.txt", (1_600_000_000, 1_600_000_000))
            assert sftp.stat("hello.txt").st_mtime == was
        else:
            sftp.utime("hello.txt", (1_600_000_000, 1_600_000_000))
            assert sftp.stat("hello.txt").st_mtime == 1_600_000_000
    finally:
        close(sftp)
    assert_usage_is_disk(srv)


def test_a_time_set_on_a_file_being_written_applies_or_is_refused_at_once(
        wharfd_factory, tmp_path):
    """`put -p` and paramiko's utime on an open file (FSETSTAT before
    CLOSE): the time is set once the file is in place; where the storage
    cannot set times (S3) the FSETSTAT itself is refused and the file still
    lands, so no refusal comes after a file is stored."""
    srv, port = sftp_server(wharfd_factory)
    when = 1_600_000_000
    work = tmp_path / "work"
    work.mkdir()
    src = random_file(work / "dated.bin", 100_000)
    os.utime(src, (when, when))
    r = sftp_batch(tmp_path, port, cwd=work, commands="put -p dated.bin dated.bin\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (srv.home / "dated.bin").read_bytes() == src.read_bytes()
    if srv.storage == "s3":
        assert "fsetstat: Operation unsupported" in r.stderr, r.stderr   # said, not failed
    sftp = connect(port)
    try:
        f = sftp.open("handle.bin", "w")
        f.write(b"x" * 10)
        if srv.storage == "s3":
            with pytest.raises(IOError, match=S3_REFUSAL):
                f.utime((when, when))
        else:
            assert sftp.stat("dated.bin").st_mtime == when
            f.utime((when, when))
        f.close()
        assert sftp.open("handle.bin").read() == b"x" * 10
        if srv.storage != "s3":
            assert sftp.stat("handle.bin").st_mtime == when
    finally:
        close(sftp)
    assert_usage_is_disk(srv)


@pytest.mark.skipif(storage_mode() == "s3", reason="an object store has no symbolic "
                    "links: there is no link in a bucket to lead out of the home")
def test_a_symbolic_link_out_of_the_home_leads_nowhere(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    os.symlink("/etc", srv.home / "escape")
    sftp = connect(port)
    try:
        with pytest.raises(IOError):
            sftp.open("escape/passwd")
        with pytest.raises(IOError):
            sftp.listdir("escape")
    finally:
        close(sftp)


# --------------------------------------------------------------------------
# the account's rules hold over SFTP


def test_a_quota_hit_mid_upload_fails_and_nothing_of_it_counts(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    before = stored_bytes(srv.home)
    users(srv.bin, srv.data, "quota", USER, str(before + 2 * MIB))
    sftp = connect(port)
    try:
        with pytest.raises(IOError, match="(?i)quota"):
            with sftp.open("big.bin", "w") as f:
                f.set_pipelined(True)
                for _ in range(6):
                    f.write(os.urandom(MIB))
        assert "big.bin" not in sftp.listdir("/")
        with sftp.open("small.bin", "w") as f:                 # what fits still fits
            f.write(os.urandom(MIB))
    finally:
        close(sftp)
    assert stored_bytes(srv.home) == before + MIB
    assert_usage_is_disk(srv)


def test_read_only_accounts_and_protocol_limits_hold_over_sftp(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    users(srv.bin, srv.data, "perms", USER, "--read-only")
    sftp = connect(port)
    try:
        assert sftp.open("hello.txt").read() == b"hello, alice\n"
        for attempt in (lambda: sftp.open("new.txt", "w"),
                        lambda: sftp.remove("hello.txt"),
                        lambda: sftp.mkdir("d"),
                        lambda: sftp.rename("hello.txt", "h2.txt")):
            with pytest.raises(PermissionError, match="(?i)not permitted"):
                attempt()
        assert sorted(sftp.listdir("/")) == ["data.bin", "docs", "hello.txt"]
    finally:
        close(sftp)
    users(srv.bin, srv.data, "set", USER, "--protocols", "ftp,ftps")
    with pytest.raises(paramiko.AuthenticationException):
        connect(port)
    assert srv.wait_log(r"login refused by the account's limits .*protocol=\"sftp\"")


def test_wrong_passwords_pending_accounts_and_lockouts_are_refused(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    with pytest.raises(paramiko.AuthenticationException):
        connect(port, password="wrong")
    with pytest.raises(paramiko.AuthenticationException):
        connect(port, user="nobody", password="wrong")
    # a registration waiting for approval logs in nowhere
    resp = site_register(srv, "carol carol-password-1")
    assert resp.startswith("2"), resp
    with pytest.raises(paramiko.AuthenticationException):
        connect(port, user="carol", password="carol-password-1")
    assert srv.wait_log(r"account not approved yet .*protocol=\"sftp\"|protocol=\"sftp\".*not approved")


# --------------------------------------------------------------------------
# two sessions of one account


def test_a_second_session_deleting_and_renaming_mid_upload_keeps_usage_equal_to_disk(
        wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    a, b = connect(port), connect(port)
    payload = os.urandom(4 * MIB)
    try:
        b.mkdir("dir")
        f = a.open("dir/up.bin", "w")
        f.write(payload[:MIB])
        f.flush()
        if srv.storage == "s3":
            # renaming a directory would copy every object under it: both
            # renames are refused and nothing moves
            for rename in (b.rename, b.posix_rename):
                with pytest.raises(IOError, match=S3_REFUSAL):
                    rename("dir", "moved")
            assert "moved" not in b.listdir("/") and b.listdir("dir") == []
            moved = "dir"
        else:
            b.rename("dir", "moved")             # the upload follows its directory
            moved = "moved"
        with b.open(f"{moved}/up.bin", "w") as g:  # another session's own upload
            g.write(b"theirs")
        f.write(payload[MIB:])
        f.close()                                # acknowledged: lands whole
        assert a.open(f"{moved}/up.bin").read() == payload
        # an upload whose target is deleted by the other session meanwhile
        f = a.open(f"{moved}/second.bin", "w")
        f.write(payload[:MIB])
        f.flush()
        with pytest.raises(IOError):
            b.remove(f"{moved}/second.bin")      # not there until it is closed
        f.close()
        b.remove(f"{moved}/second.bin")
        assert sorted(a.listdir(moved)) == ["up.bin"]
    finally:
        close(a)
        close(b)
    assert_usage_is_disk(srv)


def test_a_download_keeps_the_file_it_opened_while_another_session_replaces_and_deletes_it(
        wharfd_factory):
    """READ answers straight from the opened file (read ahead for small
    sequential reads, read as asked otherwise): a second session replacing
    and then deleting the name mid-download changes none of its bytes."""
    srv, port = sftp_server(wharfd_factory)
    a, b = connect(port), connect(port)
    old, new = os.urandom(4 * MIB), os.urandom(3 * MIB)
    try:
        with b.open("down.bin", "w") as g:
            g.write(old)
        f = a.open("down.bin", "r")
        first = f.read(MIB)                      # sequential 32 KiB requests: read ahead
        with b.open("down.bin", "w") as g:       # replaced under the open handle
            g.write(new)
        if srv.storage == "s3":
            # an object store reads the old object through the open stream
            # only until it reopens at another offset; read on in order
            rest = f.read()
        else:
            b.remove("down.bin")                 # and then gone
            f.seek(3 * MIB + 7)                  # a jump: read as asked
            tail = f.read(64 * 1024)
            f.seek(MIB)
            rest = f.read()
            assert tail == old[3 * MIB + 7:3 * MIB + 7 + 64 * 1024]
        f.close()
        assert first + rest == old
    finally:
        close(a)
        close(b)
    assert_usage_is_disk(srv)


def test_a_vanished_client_leaves_nothing_and_gives_its_bytes_back(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    sftp = connect(port)
    f = sftp.open("gone.bin", "w")
    f.write(os.urandom(2 * MIB))
    f.flush()
    sftp.get_channel().get_transport().sock.close()   # no CLOSE, no goodbye
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        boss = srv.ftp()
        q = site_quota(boss)
        boss.quit()
        if q["in_flight"] == 0:
            break
        time.sleep(0.1)
    assert not (srv.home / "gone.bin").exists()
    assert pending_uploads(srv.home) == []
    assert_usage_is_disk(srv)


# --------------------------------------------------------------------------
# hostile input


class RawSftp:
    """An `sftp` subsystem channel spoken to byte by byte."""

    def __init__(self, port: int):
        self.t = paramiko.Transport(("127.0.0.1", port))
        self.t.connect(username=USER, password=PASSWORD)
        self.ch = self.t.open_session(timeout=TIMEOUT)
        self.ch.settimeout(TIMEOUT)
        self.ch.invoke_subsystem("sftp")
        self.send(1, struct.pack(">I", 3))          # INIT, version 3
        kind, _ = self.recv()
        assert kind == 2

    def send(self, kind: int, payload: bytes) -> None:
        self.ch.sendall(struct.pack(">IB", len(payload) + 1, kind) + payload)

    def recv(self) -> tuple[int, bytes]:
        head = self._exact(4)
        body = self._exact(struct.unpack(">I", head)[0])
        return body[0], body[1:]

    def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.ch.recv(n - len(out))
            if not chunk:
                raise EOFError("channel closed")
            out += chunk
        return out

    def status(self) -> tuple[int, int, str]:
        kind, body = self.recv()
        assert kind == 101, (kind, body[:40])
        rid, code, n = struct.unpack(">III", body[:12])
        return rid, code, body[12:12 + n].decode()

    def close(self) -> None:
        self.t.close()


def s(text: bytes) -> bytes:
    return struct.pack(">I", len(text)) + text


def test_malformed_and_hostile_packets_get_errors_and_change_nothing(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    raw = RawSftp(port)
    try:
        raw.send(99, struct.pack(">I", 7) + b"junk")            # unknown type
        assert raw.status()[:2] == (7, 8)                          # OP_UNSUPPORTED
        raw.send(5, struct.pack(">I", 8) + s(b"12345") + struct.pack(">QI", 0, 10))
        rid, code, text = raw.status()                             # READ, no such handle
        assert (rid, code) == (8, 4) and "handle" in text
        raw.send(13, struct.pack(">I", 9) + struct.pack(">I", 1000))  # REMOVE, string past end
        assert raw.status()[:2] == (9, 5)                          # BAD_MESSAGE
        raw.send(17, struct.pack(">I", 10) + s(b"../../../../etc/passwd"))
        assert raw.status()[:2] == (10, 2)                         # NO_SUCH_FILE in the home
        # handles are bounded
        opened = 0
        for i in range(300):
            raw.send(11, struct.pack(">I", 100 + i) + s(b"/docs"))
            kind, body = raw.recv()
            if kind == 102:
                opened += 1
                continue
            assert kind == 101 and b"too many open handles" in body, body
            break
        assert opened == 256
        # a length no client may send ends the session, not the server
        raw.ch.sendall(struct.pack(">I", 0x7fffffff) + b"\x03")
        with pytest.raises((EOFError, socket.timeout, OSError)):
            for _ in range(3):
                raw.recv()
    finally:
        raw.close()
    sftp = connect(port)                                            # still serving
    assert "hello.txt" in sftp.listdir("/")
    close(sftp)
    assert sorted(listdir(srv.home)) == ["data.bin", "docs", "hello.txt"]


def open_raw(raw: RawSftp, rid: int, path: bytes, pflags: int) -> bytes:
    """OPEN on a raw channel; returns the handle."""
    raw.send(3, struct.pack(">I", rid) + s(path) + struct.pack(">II", pflags, 0))
    kind, body = raw.recv()
    assert kind == 102, (kind, body[:80])
    n = struct.unpack(">I", body[4:8])[0]
    return body[8:8 + n]


def copy_data(raw: RawSftp, rid: int, src: bytes, offset: int, length: int, dst: bytes,
              at: int) -> tuple[int, int, str]:
    raw.send(200, struct.pack(">I", rid) + s(b"copy-data") + s(src)
             + struct.pack(">QQ", offset, length) + s(dst) + struct.pack(">Q", at))
    return raw.status()


READ, WRITE_NEW = 0x01, 0x02 | 0x08 | 0x10      # SSH_FXF_READ; WRITE|CREAT|TRUNC


def test_copy_data_refuses_bad_handles_and_ranges_and_changes_nothing(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    before = sorted(listdir(srv.home))
    raw = RawSftp(port)
    try:
        data = (srv.home / "data.bin").read_bytes()
        src = open_raw(raw, 1, b"/data.bin", READ)
        dst = open_raw(raw, 2, b"/copy.bin", WRITE_NEW)
        assert copy_data(raw, 3, b"999", 0, 0, dst, 0)[:2] == (3, 4)        # no such handle
        rid, code, text = copy_data(raw, 4, src, 0, 0, src, 0)              # one handle twice
        assert (rid, code) == (4, 4) and "two handles" in text
        rid, code, text = copy_data(raw, 5, dst, 0, 0, src, 0)              # the wrong way round
        assert (rid, code) == (5, 4) and "opened for reading" in text
        rid, code, text = copy_data(raw, 6, src, 0, 10, dst, 7)             # a gap in the writes
        assert (rid, code) == (6, 4) and "out-of-order" in text
        assert "copy.bin" not in listdir(srv.home)                          # nothing until CLOSE
        # past the end: what there was is copied, and the status says EOF
        rid, code, text = copy_data(raw, 9, src, 0, len(data) + 100, dst, 0)
        assert (rid, code) == (9, 1) and f"after {len(data)} of" in text
        raw.send(4, struct.pack(">I", 10) + s(dst))
        assert raw.status()[:2] == (10, 0)
        # a whole copy from an offset, by length 0 ("to the end")
        dst = open_raw(raw, 11, b"/tail.bin", WRITE_NEW)
        assert copy_data(raw, 12, src, 100, 0, dst, 0)[:2] == (12, 0)
        raw.send(4, struct.pack(">I", 13) + s(dst))
        assert raw.status()[:2] == (13, 0)
    finally:
        raw.close()
    assert (srv.home / "copy.bin").read_bytes() == data
    assert (srv.home / "tail.bin").read_bytes() == data[100:]
    assert sorted(listdir(srv.home)) == sorted(before + ["copy.bin", "tail.bin"])
    assert_usage_is_disk(srv)


def test_a_copy_keeps_the_source_it_opened_while_another_session_replaces_it(wharfd_factory):
    """Session A opens a source and a target and copies; between its OPENs
    and its copy, session B replaces (and, on local storage, deletes) the
    source's name, and tries to delete the target, which is not there until
    A's CLOSE. The copy holds the bytes A opened; usage == bytes on disk."""
    srv, port = sftp_server(wharfd_factory)
    b = connect(port)
    old, new = os.urandom(6 * MIB), os.urandom(2 * MIB)
    with b.open("src.bin", "w") as g:
        g.write(old)
    raw = RawSftp(port)
    try:
        src = open_raw(raw, 1, b"/src.bin", READ)
        dst = open_raw(raw, 2, b"/dst.bin", WRITE_NEW)
        with b.open("src.bin", "w") as g:       # replaced under the open handle
            g.write(new)
        if srv.storage != "s3":
            b.remove("src.bin")                 # and then gone
        assert copy_data(raw, 3, src, 0, 0, dst, 0)[:2] == (3, 0)
        with pytest.raises(IOError):
            b.remove("dst.bin")                 # not there until it is closed
        raw.send(4, struct.pack(">I", 4) + s(dst))
        assert raw.status()[:2] == (4, 0)
    finally:
        raw.close()
        close(b)
    a = connect(port)
    try:
        with a.open("dst.bin") as f:
            assert f.read() == old
    finally:
        close(a)
    assert_usage_is_disk(srv)


def test_shell_exec_and_forwarding_are_refused(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    t = paramiko.Transport(("127.0.0.1", port))
    t.connect(username=USER, password=PASSWORD)
    try:
        ch = t.open_session(timeout=TIMEOUT)
        with pytest.raises(paramiko.SSHException):
            ch.exec_command("id")
        ch = t.open_session(timeout=TIMEOUT)
        with pytest.raises(paramiko.SSHException):
            ch.invoke_shell()
        with pytest.raises(paramiko.ChannelException):
            t.open_channel("direct-tcpip", ("127.0.0.1", srv.port), ("127.0.0.1", 1))
    finally:
        t.close()
    assert srv.wait_log(r"SSH request refused: this server only serves SFTP")


def test_connections_that_never_log_in_do_not_stop_the_server(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    idle = []
    for _ in range(15):    # below the 20 sessions one address may hold
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        sock.sendall(b"SSH-2.0-idle\r\n")
        idle.append(sock)
    try:
        done = []

        def login():
            sftp = connect(port)
            done.append(sftp.listdir("/"))
            close(sftp)

        worker = threading.Thread(target=login)
        worker.start()
        worker.join(TIMEOUT)
        assert done and "hello.txt" in done[0]
    finally:
        for sock in idle:
            sock.close()


def test_host_keys_are_made_once_private_and_logged(wharfd_factory):
    srv, port = sftp_server(wharfd_factory)
    keys = srv.data / "ssh"
    for name in ("ssh_host_ed25519_key", "ssh_host_rsa_key"):
        assert (keys / name).stat().st_mode & 0o777 == 0o600
    line = srv.wait_log(r"SSH host key .*ssh_host_ed25519_key fingerprint=SHA256:")
    logged = re.search(r"fingerprint=(SHA256:\S+)", line).group(1)
    shown = subprocess.run(["ssh-keygen", "-l", "-f", str(keys / "ssh_host_ed25519_key.pub")],
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert logged in shown.stdout, (logged, shown.stdout)
    t = paramiko.Transport(("127.0.0.1", port))
    t.connect(username=USER, password=PASSWORD)
    offered = t.get_remote_server_key()
    t.close()
    assert offered.get_name() in ("ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
    # `wharfd hostkey show` prints what the server logged; `rotate` makes new keys
    hostkey = lambda verb: subprocess.run(  # noqa: E731
        [str(srv.bin), "hostkey", verb, "--data", str(srv.data)], capture_output=True,
        text=True, timeout=TIMEOUT, check=True).stdout
    shown = hostkey("show")
    assert f"{logged} ssh-ed25519" in shown, shown
    rotated = hostkey("rotate")
    assert logged not in rotated.split("moved")[-1] and "restart wharfd" in rotated, rotated
    assert (keys / "ssh_host_ed25519_key").stat().st_mode & 0o777 == 0o600
    assert list(keys.glob("ssh_host_ed25519_key.old-*"))


# --------------------------------------------------------------------------
# public keys


def test_logins_by_public_key_with_openssh_and_paramiko(wharfd_factory, tmp_path):
    srv, port = sftp_server(wharfd_factory)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@test",
                    "-f", str(key)], check=True, timeout=TIMEOUT)
    out = users(srv.bin, srv.data, "keys", "add", USER,
                input=(tmp_path / "id_ed25519.pub").read_text())
    fingerprint = re.search(r"added (SHA256:\S+) to alice", out).group(1)
    assert fingerprint in users(srv.bin, srv.data, "keys", "list", USER)
    # a bad line changes nothing
    users(srv.bin, srv.data, "keys", "add", USER, input="ssh-ed25519 notbase64\n", ok=False)
    assert users(srv.bin, srv.data, "keys", "list", USER).count("SHA256:") == 1

    opts = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "PasswordAuthentication=no",
            "-o", "IdentitiesOnly=yes", "-i", str(key), "-o", "LogLevel=ERROR"]
    batch = tmp_path / "batch"
    batch.write_text("put id_ed25519.pub keyed.pub\nls\n")
    r = subprocess.run(["sftp", *opts, "-P", str(port), "-b", str(batch),
                        f"{USER}@127.0.0.1"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (srv.home / "keyed.pub").read_bytes() == (tmp_path / "id_ed25519.pub").read_bytes()

    t = paramiko.Transport(("127.0.0.1", port))
    t.connect(username=USER, pkey=paramiko.Ed25519Key.from_private_key_file(str(key)))
    sftp = paramiko.SFTPClient.from_transport(t)
    assert "keyed.pub" in sftp.listdir("/")
    t.close()

    # another key, and a removed one, are refused
    other = paramiko.Ed25519Key.from_private_key_file(str(key))
    users(srv.bin, srv.data, "keys", "remove", USER, fingerprint)
    t = paramiko.Transport(("127.0.0.1", port))
    with pytest.raises(paramiko.AuthenticationException):
        t.connect(username=USER, pkey=other)
    t.close()
    assert "no SSH keys" in users(srv.bin, srv.data, "keys", "list", USER)
    assert_usage_is_disk(srv)

    # a right key opens nothing for a pending or a disabled account
    assert site_register(srv, "erin erin-password-1").startswith("2")
    users(srv.bin, srv.data, "keys", "add", "erin",
          input=(tmp_path / "id_ed25519.pub").read_text())
    for state in ("pending", "disabled"):
        if state == "disabled":
            users(srv.bin, srv.data, "approve", "erin")
            users(srv.bin, srv.data, "disable", "erin")
        t = paramiko.Transport(("127.0.0.1", port))
        with pytest.raises(paramiko.AuthenticationException):
            t.connect(username="erin", pkey=other)
        t.close()
    assert srv.wait_log(r'login refused: account not approved yet .*protocol="sftp"|'
                        r'protocol="sftp".*not approved')


def test_the_accounts_bandwidth_limits_hold_over_sftp_too(wharfd_factory):
    srv, port = sftp_server(wharfd_factory, "--max-download-rate", "1M",
                            "--max-upload-rate", "512K")
    (srv.home / "three.bin").write_bytes(os.urandom(3 * MIB))
    srv.recount()
    sftp = connect(port)
    try:
        t0 = time.monotonic()
        with sftp.open("three.bin") as f:
            f.prefetch()
            data = f.read()
        down = time.monotonic() - t0
        assert data == (srv.home / "three.bin").read_bytes()
        t0 = time.monotonic()
        with sftp.open("up.bin", "w") as f:
            f.set_pipelined(True)
            f.write(os.urandom(3 * MIB // 2))
        up = time.monotonic() - t0
    finally:
        close(sftp)
    # one second's worth passes at once (the bucket), the rest is paced
    assert down >= 1.5, f"3 MiB at --max-download-rate 1M took only {down:.2f} s"
    assert up >= 1.5, f"1.5 MiB at --max-upload-rate 512K took only {up:.2f} s"
    assert_usage_is_disk(srv)


def test_keyboard_interactive_asks_for_the_password(wharfd_factory, tmp_path):
    srv, port = sftp_server(wharfd_factory)
    opts, env = openssh(tmp_path)
    batch = tmp_path / "batch"
    batch.write_text("ls\n")
    only_kbd = ["-o", "PreferredAuthentications=keyboard-interactive",
                "-o", "PasswordAuthentication=no"]
    r = subprocess.run(["sftp", *opts, *only_kbd, "-P", str(port), "-b", str(batch),
                        f"{USER}@127.0.0.1"], env=env, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hello.txt" in r.stdout
    opts, env = openssh(tmp_path, password="wrong")
    r = subprocess.run(["sftp", *opts, *only_kbd, "-o", "NumberOfPasswordPrompts=1",
                        "-P", str(port), "-b", str(batch), f"{USER}@127.0.0.1"], env=env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0 and "hello.txt" not in r.stdout
    assert srv.wait_log(r'login failed .*protocol="sftp"')


def test_shared_folders_and_groups_hold_over_sftp(wharfd_factory, tmp_path):
    """The same folder, group rules and folder quota as over FTP."""
    srv, port = sftp_server(wharfd_factory)
    team = tmp_path / "team"
    users(srv.bin, srv.data, "add", "team", "--dir", str(team), "--quota", "100K",
          family="folders")
    users(srv.bin, srv.data, "add", "staff", family="groups")
    users(srv.bin, srv.data, "mount", "staff", "team", "/team", family="groups")
    users(srv.bin, srv.data, "perms", "staff", "--read-only", "--path", "/docs", family="groups")
    users(srv.bin, srv.data, "groups", USER, "staff")
    sftp = connect(port)
    try:
        assert "team" in sftp.listdir("/")
        with sftp.open("/team/a.bin", "w") as f:
            f.write(b"a" * 60 * 1024)
        # past the folder's quota (the server buffers 256 KiB of writes;
        # paramiko reports a failed write only when it waits for each)
        with pytest.raises(IOError, match="(?i)quota"):
            with sftp.open("/team/b.bin", "w") as f:
                for _ in range(8):
                    f.write(b"b" * 64 * 1024)
        with pytest.raises(PermissionError, match="(?i)not permitted"):
            sftp.open("/docs/new.txt", "w")
        with pytest.raises(OSError):
            sftp.rename("/team/a.bin", "/a.bin")
        with pytest.raises(PermissionError):
            sftp.rmdir("/team")
        assert sftp.open("/team/a.bin").read() == b"a" * 60 * 1024
    finally:
        close(sftp)
    assert sorted(listdir(srv.folder("team", team))) == ["a.bin"]
    out = users(srv.bin, srv.data, "show", "team", family="folders")
    assert f"({60 * 1024} bytes)" in out, out
    assert_usage_is_disk(srv)
