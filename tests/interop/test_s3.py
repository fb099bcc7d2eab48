"""The S3 storage backend against a real S3 server (moto, started by
conftest.py): what the shared ftplib/curl suites cannot see from outside.
An upload that is aborted or whose client vanishes leaves no object and no
pending multipart upload; REST on a large object, down and up; APPE with
another session storing the same name; listings of more than one page of
keys; directory markers; renames; the quota.

Runs in the S3 step of scripts/test.sh (WHARF_TEST_STORAGE=s3); the
local-storage run does not collect this file (conftest.py's collect_ignore),
and run by hand without the variable it fails, naming it."""

from __future__ import annotations

import ftplib
import io
import os
import signal
import socket
import struct
import time

import pytest

from conftest import storage_mode
from server_files import stored_bytes
from test_registration_quota import users
from wharf_helpers import USER, sha256, wait_until

if storage_mode() != "s3":
    pytest.fail("test_s3.py needs WHARF_TEST_STORAGE=s3 (scripts/test.sh's S3 step sets it)",
                pytrace=False)

MIB = 1024 * 1024


def pending(srv) -> list[str]:
    r = srv.home.client.list_multipart_uploads(Bucket=srv.bucket)
    return [u["Key"] for u in r.get("Uploads", [])]


def start_upload(ftp: ftplib.FTP, name: str, size: int, verb: str = "STOR") -> socket.socket:
    """Sends `size` bytes of `verb` `name` and leaves the data connection open."""
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd(f"{verb} {name}")
    block = os.urandom(MIB)
    for _ in range(size // MIB):
        conn.sendall(block)
    return conn


@pytest.mark.time_limit(90)
def test_client_vanishing_mid_upload_leaves_nothing(wharfd):
    ftp = wharfd.ftp()
    conn = start_upload(ftp, "vanish.bin", 20 * MIB)  # past the first part: multipart
    assert wait_until(lambda: pending(wharfd) != [], timeout=20), "no multipart upload started"
    # the client dies: both connections reset
    for s in (conn, ftp.sock):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    assert wait_until(lambda: pending(wharfd) == [], timeout=20), pending(wharfd)
    assert not (wharfd.home / "vanish.bin").exists()
    assert wharfd.alive()


@pytest.mark.time_limit(90)
@pytest.mark.parametrize("verb", ["STOR", "APPE"])
def test_abor_mid_upload_leaves_nothing_and_keeps_the_old_file(wharfd, verb):
    (wharfd.home / "keep.bin").write_bytes(b"old content")
    ftp = wharfd.ftp()
    conn = start_upload(ftp, "keep.bin", 20 * MIB, verb)
    assert wait_until(lambda: pending(wharfd) != [], timeout=20), "no multipart upload started"
    ftp.sock.settimeout(20)
    resp = ftp.abort()
    conn.close()
    if resp.startswith(("426", "451")):
        resp = ftp.getresp()
    assert resp[:3] in ("225", "226"), resp
    assert wait_until(lambda: pending(wharfd) == [], timeout=20), pending(wharfd)
    assert (wharfd.home / "keep.bin").read_bytes() == b"old content"
    ftp.quit()


def test_large_upload_then_rest_retr(wharfd):
    data = os.urandom(19 * MIB + 333)  # three parts
    ftp = wharfd.ftp()
    ftp.storbinary("STOR big.bin", io.BytesIO(data))
    assert sha256((wharfd.home / "big.bin").read_bytes()) == sha256(data)
    assert pending(wharfd) == []
    for offset in (9 * MIB + 1, len(data) - 1, len(data)):
        buf = io.BytesIO()
        ftp.retrbinary("RETR big.bin", buf.write, rest=offset)
        assert buf.getvalue() == data[offset:], f"REST {offset}"
    with pytest.raises(ftplib.error_perm) as e:
        ftp.retrbinary("RETR big.bin", io.BytesIO().write, rest=len(data) + 1)
    assert str(e.value).startswith("554"), str(e.value)
    # REST + STOR resumes: the kept part comes from the stored object (past
    # the first part: multipart), the rest from the client
    ftp.storbinary("STOR big.bin", io.BytesIO(b"resumed tail"), rest=9 * MIB + 1)
    want = data[:9 * MIB + 1] + b"resumed tail"
    assert sha256((wharfd.home / "big.bin").read_bytes()) == sha256(want)
    with pytest.raises(ftplib.error_perm) as e:
        ftp.storbinary("STOR big.bin", io.BytesIO(b"x"), rest=len(want) + 1)
    assert str(e.value).startswith("554"), str(e.value)
    assert pending(wharfd) == []
    ftp.quit()


@pytest.mark.time_limit(120)
def test_listing_of_more_than_one_page(wharfd):
    client, bucket = wharfd.home.client, wharfd.bucket
    base = wharfd.home / "many"
    names = [f"f{i:05d}" for i in range(1100)]
    for n in names:
        client.put_object(Bucket=bucket, Key=f"{base.key}/{n}", Body=b"x")
    # subdirectories with many keys each are listed once
    for d in ("sub-a", "sub-b"):
        for i in range(600):
            client.put_object(Bucket=bucket, Key=f"{base.key}/{d}/k{i:04d}", Body=b"")
    ftp = wharfd.ftp()
    got = ftp.nlst("many")
    assert sorted(os.path.basename(n) for n in got) == sorted(names + ["sub-a", "sub-b"])
    facts = dict(ftp.mlsd("many"))
    assert len(facts) == 1102
    assert facts["sub-a"]["type"] == "dir" and facts["f00000"]["type"] == "file"
    lines: list[str] = []
    ftp.dir("many/sub-b", lines.append)
    assert len(lines) == 600
    ftp.quit()


def test_mkd_rmd_markers(wharfd):
    ftp = wharfd.ftp()
    ftp.mkd("empty")
    marker = wharfd.home / "empty" / ".wharf-dir"
    assert marker.is_file()
    assert "empty" in ftp.nlst()
    assert ftp.nlst("empty") == []
    ftp.cwd("empty")
    ftp.storbinary("STOR inside.txt", io.BytesIO(b"i"))
    ftp.cwd("/")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.rmd("empty")
    assert str(e.value).startswith("550"), str(e.value)
    ftp.delete("empty/inside.txt")
    assert ftp.rmd("empty").startswith("250")
    assert not marker.is_file() and not (wharfd.home / "empty").exists()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.rmd("empty")
    assert str(e.value).startswith("550")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.mkd("docs")
    assert str(e.value).startswith("550")
    # the marker name is reserved: no client can reach it
    with pytest.raises(ftplib.error_perm) as e:
        ftp.storbinary("STOR docs/.wharf-dir", io.BytesIO(b"x"))
    assert str(e.value).startswith("550")
    # a directory another tool marked with `NAME/` is listed as one
    wharfd.home.client.put_object(Bucket=wharfd.bucket, Key=f"{wharfd.home.key}/other/",
                                  Body=b"")
    assert "other" in ftp.nlst()
    ftp.quit()


def test_an_empty_home_lists_as_empty(wharfd):
    """A home without a single object (a new account's) lists as empty;
    the key listing that came back empty is not read again (object_store
    panics if it is, and the fixture fails on a panic)."""
    ftp = wharfd.ftp()
    for name in ("hello.txt", "data.bin", "docs/a.txt", "docs/b.txt"):
        ftp.delete(name)
    assert wharfd.home.keys() == []
    assert ftp.nlst() == []
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    assert lines == []
    ftp.quit()


def test_rename_file_and_refuse_directory(wharfd):
    ftp = wharfd.ftp()
    ftp.storbinary("STOR a.bin", io.BytesIO(b"A" * 1000))
    ftp.storbinary("STOR b.bin", io.BytesIO(b"B"))
    ftp.rename("a.bin", "b.bin")  # over an existing file
    assert (wharfd.home / "b.bin").read_bytes() == b"A" * 1000
    assert not (wharfd.home / "a.bin").exists()
    ftp.rename("b.bin", "docs/c.bin")
    assert (wharfd.home / "docs" / "c.bin").read_bytes() == b"A" * 1000
    with pytest.raises(ftplib.error_perm) as e:
        ftp.rename("b.bin", "nowhere/c.bin")
    assert str(e.value).startswith("550")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.rename("docs", "docs2")
    assert str(e.value).startswith("502") and "s3" in str(e.value), str(e.value)
    assert (wharfd.home / "docs" / "a.txt").exists()
    ftp.quit()


@pytest.mark.time_limit(90)
def test_quota_is_enforced_on_s3(wharfd_factory, wharfd_bin, tmp_path):
    srv = wharfd_factory()
    users(wharfd_bin, srv.data, "quota", "alice", "12M")
    ftp = srv.ftp()
    # the fixture files take a little over 1 MiB; 13 MiB would pass 12 MiB
    with pytest.raises(ftplib.error_perm) as e:
        ftp.storbinary("STOR toobig.bin", io.BytesIO(os.urandom(13 * MIB)))
    assert str(e.value).startswith("552"), str(e.value)
    assert not (srv.home / "toobig.bin").exists()
    assert wait_until(lambda: pending(srv) == [], timeout=20), pending(srv)
    ftp.storbinary("STOR fits.bin", io.BytesIO(os.urandom(2 * MIB)))
    report = ftp.sendcmd("SITE QUOTA")
    assert "in-flight=0" in report, report
    used = int(report.split("used=")[1].split(";")[0])
    assert used == 2 * MIB, report  # counted as the bytes arrived
    ftp.delete("fits.bin")
    report = ftp.sendcmd("SITE QUOTA")
    assert "used=0;" in report, report
    ftp.quit()


@pytest.mark.time_limit(90)
def test_an_append_never_publishes_over_a_file_another_session_stored(wharfd):
    """An object cannot be extended in place: APPE builds a new object from
    the stored version and the new bytes, published only over that version.
    A STOR of another session of the account that lands meanwhile stands
    (the append fails with 450, to be tried again); an APPE that creates a
    name never replaces an object another session stores there meanwhile;
    of two APPEs of one version only one is acknowledged; usage follows the
    bucket."""
    recount(wharfd)
    a, b = wharfd.ftp(), wharfd.ftp()
    for f in (a, b):
        f.voidcmd("TYPE I")
    a.storbinary("STOR log.bin", io.BytesIO(b"old|"))
    conn = a.transfercmd("APPE log.bin")          # the kept part is copied
    conn.sendall(os.urandom(MIB))
    theirs = os.urandom(2 * MIB)
    b.storbinary("STOR log.bin", io.BytesIO(theirs))
    conn.close()
    with pytest.raises(ftplib.error_temp) as e:
        a.voidresp()
    assert str(e.value).startswith("450"), str(e.value)
    assert (wharfd.home / "log.bin").read_bytes() == theirs
    assert quota_used(a) == (stored_bytes(wharfd.home), 0)
    # tried again, it appends to what is there now
    a.storbinary("APPE log.bin", io.BytesIO(b"|mine"))
    assert (wharfd.home / "log.bin").read_bytes() == theirs + b"|mine"
    # an APPE creating a name meets a STOR of the same name: the STOR stands
    conn = a.transfercmd("APPE new.bin")
    conn.sendall(b"appended")
    b.storbinary("STOR new.bin", io.BytesIO(b"stored"))
    conn.close()
    with pytest.raises(ftplib.error_temp) as e:
        a.voidresp()
    assert str(e.value).startswith("450"), str(e.value)
    assert (wharfd.home / "new.bin").read_bytes() == b"stored"
    # two APPEs of the same version at once: whichever is acknowledged is
    # in the object, the other is refused, and never both lose or both win
    # over the same base
    before = (wharfd.home / "log.bin").read_bytes()
    parts = {a: os.urandom(300_000), b: os.urandom(200_000)}
    conns = {f: f.transfercmd("APPE log.bin") for f in parts}
    for f, conn in conns.items():
        conn.sendall(parts[f])
    for conn in conns.values():
        conn.close()
    done = {}
    for f in parts:
        try:
            done[f] = f.voidresp()[:3]
        except ftplib.error_temp as e:
            done[f] = str(e)[:3]
    assert sorted(done.values()) == ["226", "450"], done
    won = next(f for f, code in done.items() if code == "226")
    assert (wharfd.home / "log.bin").read_bytes() == before + parts[won]
    assert pending(wharfd) == []
    assert quota_used(b) == (stored_bytes(wharfd.home), 0)
    a.quit()
    b.quit()


def test_start_log_names_the_storage_without_secrets(wharfd):
    assert wait_until(lambda: "wharfd ready" in wharfd.log(), timeout=10), wharfd.log()
    log = wharfd.log()
    assert f"bucket={wharfd.bucket}" in log and "prefix=" in log and "endpoint=" in log, log
    assert "wharf-test-secret" not in log


def test_users_recount_lists_the_bucket(wharfd, wharfd_bin):
    import subprocess

    from conftest import HOME_FILES

    expected = sum(len(v) for v in HOME_FILES.values()) + MIB  # + data.bin
    args, env = wharfd.storage_args()
    cp = subprocess.run([str(wharfd_bin), "users", "recount", "alice", "--data", str(wharfd.data),
                         *args], capture_output=True, timeout=60,
                        env={**{k: v for k, v in os.environ.items()
                                if not k.startswith("WHARF_")}, **env})
    out = (cp.stdout + cp.stderr).decode()
    assert cp.returncode == 0, out
    ftp = wharfd.ftp()
    report = ftp.sendcmd("SITE QUOTA")
    assert f"used={expected};" in report, (out, report)
    ftp.quit()


def test_a_bucket_that_does_not_answer_stops_the_start(wharfd, wharfd_bin, tmp_path):
    import subprocess

    args, env = wharfd.storage_args()
    args[1] = "s3://no-such-bucket-wharf/site"
    cp = subprocess.run([str(wharfd_bin), "serve", "--data", str(tmp_path / "d"),
                         "--listen", "127.0.0.1:0", *args], capture_output=True, timeout=90,
                        env={**{k: v for k, v in os.environ.items()
                                if not k.startswith("WHARF_")}, **env})
    err = cp.stderr.decode()
    assert cp.returncode != 0, err
    assert "does not answer" in err and "no-such-bucket-wharf" in err, err
    assert "wharf-test-secret" not in err


def test_a_removed_name_keeps_its_objects_and_is_not_given_away(wharfd, wharfd_bin):
    """Issue 13, defect 6 on S3: objects cannot be moved aside, so `users
    remove` leaves home/NAME/ and says so, and the name is refused (to
    `users add` and to SITE REGISTER) while anything, even an empty file,
    is under it, unless the operator passes --reuse-home."""
    import subprocess

    args, env = wharfd.storage_args()

    def admin(*a: str, ok: bool = True, password: str | None = None) -> str:
        cp = subprocess.run([str(wharfd_bin), "users", *a, "--data", str(wharfd.data), *args],
                            input=None if password is None else (password + "\n").encode(),
                            capture_output=True, timeout=60,
                            env={**{k: v for k, v in os.environ.items()
                                    if not k.startswith("WHARF_")}, **env})
        out = (cp.stdout + cp.stderr).decode()
        assert (cp.returncode == 0) == ok, f"users {' '.join(a)}: exit {cp.returncode}\n{out}"
        return out

    pw = "zed-password-1"
    zed = wharfd.home.parent / "zed"
    admin("add", "zed", "--password-stdin", password=pw)
    f = wharfd.ftp(user="zed", password=pw)
    f.storbinary("STOR old.txt", io.BytesIO(b"the first zed\n"))
    f.quit()
    out = admin("remove", "zed")
    assert "home/zed/" in out and "left in place" in out, out
    assert (zed / "old.txt").read_bytes() == b"the first zed\n"

    out = admin("add", "zed", "--password-stdin", password=pw, ok=False)
    assert "home/zed/" in out and "--reuse-home" in out, out
    r = ftplib.FTP()
    r.connect(wharfd.host, wharfd.port)
    with pytest.raises(ftplib.error_perm, match="^550 .*taken"):
        r.sendcmd(f"SITE REGISTER zed {pw}")
    r.close()

    # only an empty file left: still occupied
    wharfd.home.client.delete_object(Bucket=wharfd.bucket, Key=(zed / "old.txt").key)
    (zed / "empty").write_bytes(b"")
    admin("add", "zed", "--password-stdin", password=pw, ok=False)
    (zed / "more.bin").write_bytes(b"m" * 1000)
    out = admin("add", "zed", "--password-stdin", "--reuse-home", password=pw)
    assert "reuses the 2 files" in out, out
    f = wharfd.ftp(user="zed", password=pw)
    assert "used=1000;" in f.sendcmd("SITE QUOTA")
    f.quit()


# --------------------------------------------------------------------------
# Issue 13, "backends that stall are answered, not waited on": moto frozen
# with SIGSTOP mid-session. Each command gets a 4xx within 10 s of the
# freeze (the server's backend_timeout defaults to 8 s), and once moto is
# resumed the same server stores and serves files again, with usage equal
# to the bytes in the bucket.

REPLY_WITHIN = 10.0  # seconds, from the freeze (or the last byte sent)


class Frozen:
    """Stops moto (by PID) until the block ends; always resumes it."""

    def __init__(self, service):
        self.pid = service.proc.pid

    def __enter__(self):
        os.kill(self.pid, signal.SIGSTOP)
        self.at = time.monotonic()
        return self

    def __exit__(self, *exc):
        os.kill(self.pid, signal.SIGCONT)
        return False

    def elapsed(self) -> float:
        return time.monotonic() - self.at


def quota_used(ftp: ftplib.FTP) -> tuple[int, int]:
    report = ftp.sendcmd("SITE QUOTA")
    used = int(report.split("used=")[1].split(";")[0])
    in_flight = int(report.split("in-flight=")[1].split(";")[0].split()[0])
    return used, in_flight


def recount(srv) -> None:
    """Makes usage count what the fixture put in the bucket behind the
    server's back, so that usage == bucket holds from the start."""
    srv.recount()


def assert_recovered(srv) -> None:
    """A fresh session stores and reads back a file, and usage == bucket."""
    ftp = srv.ftp()
    data = os.urandom(3 * MIB + 7)
    ftp.storbinary("STOR after.bin", io.BytesIO(data))
    got = io.BytesIO()
    ftp.retrbinary("RETR after.bin", got.write)
    assert sha256(got.getvalue()) == sha256(data)
    assert wait_until(lambda: quota_used(ftp) == (stored_bytes(srv.home), 0), timeout=30), \
        (quota_used(ftp), stored_bytes(srv.home))
    ftp.quit()


def reply_code(ftp: ftplib.FTP) -> str:
    """The next reply, whatever its class."""
    try:
        return ftp.getresp()
    except ftplib.Error as e:
        return str(e)


@pytest.mark.time_limit(120)
def test_frozen_s3_during_retr_is_answered_and_recovers(wharfd):
    data = os.urandom(48 * MIB)
    (wharfd.home / "big.bin").write_bytes(data)
    recount(wharfd)
    ftp = wharfd.ftp()
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big.bin")
    conn.settimeout(30)
    received = bytearray()
    while len(received) < 2 * MIB:
        received += conn.recv(256 * 1024)
    with Frozen(wharfd.s3) as frozen:
        # keep reading, so that only the storage can be what stalls
        while True:
            try:
                chunk = conn.recv(256 * 1024)
            except OSError:
                break
            if not chunk:
                break
            received += chunk
        conn.close()
        ftp.sock.settimeout(30)
        resp = reply_code(ftp)
        took = frozen.elapsed()
    assert resp[:3] in ("426", "451"), resp
    assert took < REPLY_WITHIN, f"reply after {took:.1f} s: {resp}"
    assert len(received) < len(data)
    ftp.voidcmd("NOOP")  # the session lives on
    ftp.quit()
    assert_recovered(wharfd)


def assert_refused_upload_left_nothing(wharfd, ftp, resp: str, took: float, name: str) -> None:
    """An upload answered 451 within the bound left no object, and usage
    equals what the bucket holds; then the server recovers."""
    assert resp.startswith("451"), resp
    assert took < REPLY_WITHIN, f"reply after {took:.1f} s: {resp}"
    assert not (wharfd.home / name).exists()
    assert wait_until(lambda: quota_used(ftp) == (stored_bytes(wharfd.home), 0), timeout=30), \
        (quota_used(ftp), stored_bytes(wharfd.home))
    ftp.quit()
    assert_recovered(wharfd)


@pytest.mark.time_limit(120)
def test_frozen_s3_during_stor_is_answered_and_leaves_nothing(wharfd):
    recount(wharfd)
    ftp = wharfd.ftp()
    conn = start_upload(ftp, "frozen.bin", 12 * MIB)  # past the first part: multipart
    assert wait_until(lambda: pending(wharfd) != [], timeout=20), "no multipart upload started"
    with Frozen(wharfd.s3) as frozen:
        block = os.urandom(MIB)
        conn.settimeout(30)
        for _ in range(8):
            conn.sendall(block)
        conn.close()
        ftp.sock.settimeout(30)
        resp = reply_code(ftp)
        took = frozen.elapsed()
    ftp.voidcmd("NOOP")
    assert wait_until(lambda: pending(wharfd) == [], timeout=40), pending(wharfd)
    assert_refused_upload_left_nothing(wharfd, ftp, resp, took, "frozen.bin")


@pytest.mark.time_limit(120)
def test_frozen_s3_small_stor_commit_is_answered_and_leaves_nothing(wharfd):
    """A small upload is kept in memory and stored by one PUT at commit:
    the commit stalls, the client hears 451, and nothing appears after."""
    recount(wharfd)
    ftp = wharfd.ftp()
    conn = start_upload(ftp, "small.bin", 2 * MIB)
    with Frozen(wharfd.s3) as frozen:
        conn.close()
        ftp.sock.settimeout(30)
        resp = reply_code(ftp)
        took = frozen.elapsed()
    time.sleep(2)  # the backend is back: a late commit would show now
    assert_refused_upload_left_nothing(wharfd, ftp, resp, took, "small.bin")


@pytest.mark.time_limit(120)
def test_frozen_s3_before_list_is_answered_and_recovers(wharfd):
    recount(wharfd)
    ftp = wharfd.ftp()
    ftp.sock.settimeout(30)
    with Frozen(wharfd.s3) as frozen:
        with pytest.raises(ftplib.error_temp) as e:
            ftp.nlst()
        took = frozen.elapsed()
    assert str(e.value).startswith("451"), str(e.value)
    assert took < REPLY_WITHIN, f"reply after {took:.1f} s"
    assert "hello.txt" in ftp.nlst()
    ftp.quit()
    assert_recovered(wharfd)


@pytest.mark.time_limit(180)
def test_frozen_s3_mid_listing_ends_with_451_not_a_short_226(wharfd):
    """A listing whose later pages stall ends with 451: a client must never
    take a cut listing for the whole directory."""
    from concurrent.futures import ThreadPoolExecutor

    client, bucket = wharfd.home.client, wharfd.bucket
    base = wharfd.home / "wide"
    # long names, three pages of keys: the server's buffers fill before the
    # last page is asked for, as long as the client does not read
    names = [f"{'n' * 200}{i:05d}" for i in range(3000)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: client.put_object(Bucket=bucket, Key=f"{base.key}/{n}",
                                                  Body=b"x"), names))
    recount(wharfd)
    ftp = wharfd.ftp()
    ftp.sock.settimeout(30)
    host, port = ftp.makepasv()
    ftp.putcmd("LIST wide")
    time.sleep(2)  # the first pages are fetched and formatted; then it waits
    with Frozen(wharfd.s3) as frozen:
        with socket.create_connection((host, port), timeout=30) as conn:
            assert ftp.getresp().startswith("150")
            listing = bytearray()
            while chunk := conn.recv(256 * 1024):
                listing += chunk
        resp = reply_code(ftp)
        took = frozen.elapsed()
    assert resp.startswith("451"), resp
    assert took < REPLY_WITHIN, f"reply after {took:.1f} s: {resp}"
    assert 0 < listing.count(b"\n") < len(names)
    assert len(ftp.nlst("wide")) == len(names)  # whole again once moto answers
    ftp.quit()
    assert_recovered(wharfd)
