"""Two sessions of one account on one name (issue 13): every defect the
issue reproduced, each with two raw FTP sessions A and B, ending with the
files checked by SHA-256 and `SITE QUOTA` used == bytes on disk.

What the server promises, and these tests hold it to:
- an APPE (or a resume at the end of a file) writes in place under a lock;
  a second writer, a DELE, an RNFR/RNTO or a replacing STOR of that file
  waits up to 2 s for it and is then refused with 450, changing nothing;
- an aborted upload undoes only what it wrote itself;
- an upload follows its directory through a rename and leaves no hidden
  temporary file behind;
- STOU never replaces a file;
- REST applies to the next transfer only;
- a quota lowered below usage stops a running upload; a full account makes
  nothing new.

The tests of operations an object store has (STOR, STOU, REST+RETR, quotas)
run on S3 too: scripts/test.sh names them in its S3 step.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import time

import pytest

from server_files import stored_bytes
from wharf_helpers import PASSWORD, USER, RawFtp, part_files, recv_all

KIB = 1024
BUSY_WAIT = 2.0  # the server's wait for a file another session is writing


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path) -> str:
    return sha(path.read_bytes())


def admin(srv, *args: str, storage: bool = False) -> str:
    """`wharfd users ARGS` against the server's data (and its storage, for
    the commands that read files)."""
    storage_args, env = srv.storage_args() if storage else ([], {})
    cmd = [str(srv.bin), "users", *args, "--data", str(srv.data), *storage_args]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    cp = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                        env={**clean, **env})
    out = (cp.stdout + cp.stderr).decode("utf-8", "replace")
    assert cp.returncode == 0, f"`wharfd users {' '.join(args)}`: {out}"
    return out


def on_s3(srv) -> bool:
    return hasattr(srv.home, "client")


@pytest.fixture
def srv(wharfd):
    """The server, with alice's usage counted from the fixture files that
    conftest wrote straight into her home."""
    admin(wharfd, "recount", USER, storage=True)
    return wharfd


def session(srv) -> RawFtp:
    c = RawFtp(srv.host, srv.port)
    c.login(USER, PASSWORD)
    r = c.cmd("TYPE I")
    assert r.code == 200, r
    return c


@contextlib.contextmanager
def two_sessions(srv):
    """Sessions A and B of one account, closed at the end."""
    a = session(srv)
    try:
        b = session(srv)
    except BaseException:
        a.close()
        raise
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def quota_used(c: RawFtp) -> tuple[int, int]:
    r = c.cmd("SITE QUOTA")
    assert r.code == 211, r
    m = re.search(r"used=(\d+);limit=[^;]*;free=[^;]*;in-flight=(\d+);", r.text)
    assert m, r
    return int(m.group(1)), int(m.group(2))


def assert_usage_is_disk(c: RawFtp, home, what: str) -> None:
    used, in_flight = quota_used(c)
    real = stored_bytes(home)
    assert (used, in_flight) == (real, 0), \
        f"{what}: SITE QUOTA used={used} in-flight={in_flight}, {real} bytes on disk"
    assert not part_files(home), f"{what}: temporary files left: {part_files(home)}"


class Upload:
    """An upload begun on one session, its data connection held open."""

    def __init__(self, c: RawFtp, cmd: str):
        self.c = c
        self.data = c.data_conn()
        self.opening = c.cmd(cmd)
        assert self.opening.code == 150, f"{cmd}: {self.opening!r}"

    def send(self, data: bytes) -> None:
        self.data.sendall(data)

    def finish(self, data: bytes = b""):
        self.data.sendall(data)
        self.data.close()
        return self.c.reply()

    def abort(self):
        """ABOR; returns the transfer's reply and ABOR's own."""
        self.c.send_raw(b"ABOR\r\n")
        first = self.c.reply()
        second = self.c.reply() if first.code != 226 or "ABOR" not in first.text else first
        self.data.close()
        return first, second


def put(c: RawFtp, cmd: str, data: bytes):
    up = Upload(c, cmd)
    return up.finish(data)


def timed(fn):
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


# --------------------------------------------------------------------------
# 1. concurrent APPE


def test_concurrent_appends_are_serialised_and_lose_nothing(srv):
    home = srv.home
    base = os.urandom(100)
    with two_sessions(srv) as (a, b):
        assert put(a, "STOR log.txt", base).code == 226
        chunk_a = [os.urandom(100 * KIB) for _ in range(10)]
        chunk_b = [os.urandom(100 * KIB) for _ in range(10)]
        up = Upload(a, "APPE log.txt")
        up.send(chunk_a[0])
        # B's APPE meets A's lock: refused after the wait, nothing written.
        d = b.data_conn()
        r, secs = timed(lambda: b.cmd("APPE log.txt"))
        d.close()
        assert r.code == 450, f"second APPE while A appends: {r!r}"
        assert secs >= BUSY_WAIT * 0.9, f"refused after {secs:.2f} s, not after the wait"
        for part in chunk_a[1:]:
            up.send(part)
        r = up.finish()
        assert r.code == 226, r
        r = put(b, "APPE log.txt", b"".join(chunk_b))
        assert r.code == 226, r
        want = base + b"".join(chunk_a) + b"".join(chunk_b)
        assert file_sha(home / "log.txt") == sha(want), \
            f"log.txt is {(home / 'log.txt').stat().st_size} B, want {len(want)} B"
        assert_usage_is_disk(a, home, "after two APPEs")


# --------------------------------------------------------------------------
# 2. an aborted APPE undoes only its own bytes


@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "existing-file"])
def test_aborted_append_never_undoes_another_sessions_store(srv, existing):
    home = srv.home
    old = os.urandom(1000) if existing else b""
    with two_sessions(srv) as (a, b):
        if existing:
            assert put(a, "STOR new.txt", old).code == 226
        up = Upload(a, "APPE new.txt")
        up.send(os.urandom(50 * KIB))
        theirs = os.urandom(300 * KIB)
        r = put(b, "STOR new.txt", theirs)
        assert r.code == 450, f"STOR over a file being appended to: {r!r}"
        up.abort()
        if existing:
            assert file_sha(home / "new.txt") == sha(old), "the aborted APPE did not restore new.txt"
        else:
            assert not (home / "new.txt").exists(), "the aborted APPE left the file it created"
        assert_usage_is_disk(a, home, "after the aborted APPE")
        # B's retry lands and survives another aborted APPE.
        r = put(b, "STOR new.txt", theirs)
        assert r.code == 226, r
        up = Upload(a, "APPE new.txt")
        up.send(os.urandom(50 * KIB))
        up.abort()
        assert file_sha(home / "new.txt") == sha(theirs), "B's acknowledged STOR was damaged"
        assert_usage_is_disk(b, home, "after B's STOR and A's second aborted APPE")


def test_rename_over_a_file_being_appended_to_waits_then_450(srv):
    home = srv.home
    x = os.urandom(300 * KIB)
    with two_sessions(srv) as (a, b):
        assert put(b, "STOR x.txt", x).code == 226
        up = Upload(a, "APPE g.txt")
        up.send(os.urandom(50 * KIB))
        assert b.cmd("RNFR x.txt").code == 350
        r = b.cmd("RNTO g.txt")
        assert r.code == 450, f"RNTO over a file being appended to: {r!r}"
        up.abort()
        assert not (home / "g.txt").exists()
        assert file_sha(home / "x.txt") == sha(x)
        assert b.cmd("RNFR x.txt").code == 350
        assert b.cmd("RNTO g.txt").code == 250
        assert file_sha(home / "g.txt") == sha(x)
        assert_usage_is_disk(a, home, "after the rename")


# --------------------------------------------------------------------------
# 3. DELE during an APPE cannot take bytes out of the count


def test_dele_during_append_cannot_bypass_the_quota(srv):
    home = srv.home
    admin(srv, "quota", USER, "1000000")
    with two_sessions(srv) as (a, b):
        # start from an empty home
        for f in home.rglob("*"):
            if f.is_file():
                assert a.cmd(f"DELE {f.relative_to(home)}").code == 250
        assert_usage_is_disk(a, home, "start")
        up = Upload(a, "APPE f.bin")
        up.send(os.urandom(400 * KIB))
        r = b.cmd("DELE f.bin")
        assert r.code == 450, f"DELE of a file being appended to: {r!r}"
        up.abort()
        assert not (home / "f.bin").exists()
        assert_usage_is_disk(a, home, "after the aborted APPE")
        # The append that completes is counted, and its DELE frees it.
        r = put(a, "APPE f.bin", os.urandom(400 * KIB))
        assert r.code == 226, r
        assert b.cmd("DELE f.bin").code == 250
        assert_usage_is_disk(b, home, "after APPE + DELE")
        r = put(a, "STOR big.bin", os.urandom(900 * KIB))
        assert r.code == 226, r
        r = put(a, "STOR more.bin", os.urandom(200 * KIB))
        assert r.code == 552, f"passing the quota: {r!r}"
        assert_usage_is_disk(a, home, "at the end")


# --------------------------------------------------------------------------
# 4. an upload whose directory is renamed leaves nothing hidden


@pytest.mark.parametrize("ending", ["complete", "abort"])
def test_directory_renamed_mid_upload_leaves_nothing_hidden(srv, ending):
    home = srv.home
    with two_sessions(srv) as (a, b):
        assert a.cmd("MKD d").code == 257
        up = Upload(a, "STOR d/up.bin")
        first, rest = os.urandom(100 * KIB), os.urandom(100 * KIB)
        up.send(first)
        assert b.cmd("RNFR d").code == 350
        assert b.cmd("RNTO dx").code == 250
        if ending == "complete":
            r = up.finish(rest)
            assert r.code == 226, f"the upload into the renamed directory: {r!r}"
            assert file_sha(home / "dx" / "up.bin") == sha(first + rest)
            assert b.cmd("DELE dx/up.bin").code == 250
        else:
            up.abort()
            assert not (home / "dx" / "up.bin").exists()
        assert not part_files(home), f"hidden temporary files: {part_files(home)}"
        assert_usage_is_disk(a, home, f"after the rename ({ending})")
        r = b.cmd("RMD dx")
        assert r.code == 250, f"RMD of the emptied directory: {r!r}"


def test_rmd_of_the_directory_an_upload_is_writing_into_changes_nothing(srv):
    home = srv.home
    with two_sessions(srv) as (a, b):
        assert a.cmd("MKD e").code == 257
        up = Upload(a, "STOR e/up.bin")
        first, rest = os.urandom(64 * KIB), os.urandom(64 * KIB)
        up.send(first)
        r = b.cmd("RMD e")
        assert r.code == 550, f"RMD of a directory an upload writes into: {r!r}"
        r = up.finish(rest)
        assert r.code == 226, r
        assert file_sha(home / "e" / "up.bin") == sha(first + rest)
        assert_usage_is_disk(b, home, "after the refused RMD")


# --------------------------------------------------------------------------
# 5. STOU never replaces


def test_stou_never_replaces_a_file_stored_meanwhile(srv):
    home = srv.home
    with two_sessions(srv) as (a, b):
        up = Upload(a, "STOU unique.txt")
        m = re.search(rb"FILE: (\S+)", up.opening.lines[0])
        assert m, up.opening
        announced = m.group(1).decode()
        mine = os.urandom(64 * KIB)
        up.send(mine[: 32 * KIB])
        theirs = os.urandom(10 * KIB)
        r = put(b, f"STOR {announced}", theirs)
        assert r.code == 226, r
        r = up.finish(mine[32 * KIB:])
        if on_s3(srv):
            # An object store has no exclusive rename: the upload fails
            # rather than replace what B stored.
            assert r.code == 550, f"STOU whose name was taken, on S3: {r!r}"
            assert file_sha(home / announced) == sha(theirs), "STOU replaced B's file"
            assert_usage_is_disk(a, home, "after the refused STOU")
            return
        assert r.code == 226, r
        m = re.search(r"stored as (\S+)\.$", r.text)
        assert m, f"226 does not name the new file: {r!r}"
        stored = m.group(1)
        assert stored != announced
        assert file_sha(home / announced) == sha(theirs), "STOU replaced B's file"
        assert file_sha(home / stored) == sha(mine)
        assert_usage_is_disk(a, home, "after STOU")


# --------------------------------------------------------------------------
# 7. REST applies to the next transfer only


def test_rest_is_cleared_by_other_commands(srv):
    home = srv.home
    content = os.urandom(1000)
    c = session(srv)
    try:
        assert put(c, "STOR r.bin", content).code == 226
        assert c.cmd("REST 50").code == 350
        assert c.cmd("NOOP").code == 200
        _pre, got, final = c.retr("r.bin")
        assert final.code == 226 and got == content, "RETR after REST + NOOP resumed"
        # With the data connection set up in between, REST still applies.
        assert c.cmd("REST 50").code == 350
        d = c.data_conn()
        pre = c.cmd("RETR r.bin")
        assert pre.code == 150
        got = recv_all(d)
        d.close()
        assert c.reply().code == 226 and got == content[50:]
        # A STOR after the RETR consumed REST keeps nothing of the old file.
        new = os.urandom(20)
        assert put(c, "STOR r.bin", new).code == 226
        assert (home / "r.bin").read_bytes() == new
        assert_usage_is_disk(c, home, "after the STOR")
    finally:
        c.close()


# --------------------------------------------------------------------------
# 8. a lowered quota stops a running upload; a full account makes nothing


def test_lowered_quota_stops_a_running_upload(srv):
    home = srv.home
    c = session(srv)
    try:
        up = Upload(c, "STOR grow.bin")
        up.send(os.urandom(512 * KIB))
        admin(srv, "quota", USER, "256K")
        deadline = time.monotonic() + 10
        refused = None
        try:
            while time.monotonic() < deadline:
                up.send(os.urandom(64 * KIB))
                time.sleep(0.05)
        except OSError as e:
            refused = e
        up.data.close()
        r = c.reply()
        assert r.code == 552, f"upload past a lowered quota: {r!r} ({refused!r})"
        assert not (home / "grow.bin").exists()
        r = c.cmd("MKD more")
        assert r.code == 552, f"MKD over the quota: {r!r}"
        d = c.data_conn()
        r = c.cmd("STOR empty.bin")
        d.close()
        assert r.code == 552, f"an empty new file over the quota: {r!r}"
        assert_usage_is_disk(c, home, "after the refusals")
    finally:
        c.close()


# --------------------------------------------------------------------------
# `wharf put` (the project's own client) against a second session


def test_wharf_put_while_another_session_replaces_and_deletes_the_name(srv, tmp_path):
    # `wharf put` held to 512 KiB/s, so that it is mid-transfer while session
    # B stores the same name, deletes it and stores it again. B only ever
    # touches the published file; the put publishes its file whole when it
    # ends, last, and usage is the bytes on disk.
    from test_wharf_peers import WHARF, need
    src = tmp_path / "put.bin"
    payload = os.urandom(4 << 20)
    src.write_bytes(payload)
    url = f"ftp://{USER}:{PASSWORD}@{srv.host}:{srv.port}/twin.bin"
    proc = subprocess.Popen([need(WHARF), "put", "-q", "--limit-rate", "512K", str(src), url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with two_sessions(srv) as (_, b):
            deadline = time.monotonic() + 10
            while quota_used(b)[1] == 0:
                assert time.monotonic() < deadline, "the put never began"
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
            assert put(b, "STOR twin.bin", b"from B " * 1000).code == 226
            assert b.cmd("DELE twin.bin").code == 250
            assert put(b, "STOR twin.bin", b"again").code == 226
            assert proc.poll() is None, "the put ended before B was done; the test proves nothing"
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err.decode(errors="replace")
            assert file_sha(srv.home / "twin.bin") == sha(payload)
            assert_usage_is_disk(b, srv.home, "after the put and B's store, delete and store")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
