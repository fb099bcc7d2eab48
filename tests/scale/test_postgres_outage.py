"""Issue 13, "backends that stall are answered, not waited on", for the
account store: the PostgreSQL fixture stopped (`pg_ctl stop -m fast`) or
frozen (SIGSTOP of the postmaster and every backend) in the middle of
sessions. Meanwhile an upload gets 451 and a login 421, each within 10 s,
and a download already running goes on to its end; once PostgreSQL is
back the same wharfd (no restart) logs in, stores and serves files again,
and the account's usage equals the bytes in its home."""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import time
from contextlib import contextmanager

import pytest

from scale_helpers import db_of, wharfd_admin

MIB = 1024 * 1024
REPLY_WITHIN = 10.0  # seconds; the server's backend_timeout defaults to 8 s
USER, PASSWORD = "erin", "erin-password"
PARTIAL = ".wharf-part-"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_bytes(home) -> int:
    return sum(p.stat().st_size for p in home.rglob("*")
               if p.is_file() and not p.name.startswith(PARTIAL))


@contextmanager
def outage(postgres, kind: str):
    """PostgreSQL unavailable for the block, and always back after it."""
    if kind == "frozen":
        with postgres.frozen():
            yield
        return
    postgres.stop()
    try:
        yield
    finally:
        postgres.start()


def timed(action) -> tuple[str, float]:
    """Runs `action`, which must fail with a 4xx; returns the reply and the
    seconds it took."""
    start = time.monotonic()
    with pytest.raises(ftplib.error_temp) as e:
        action()
    return str(e.value), time.monotonic() - start


def logs_in(inst) -> bool:
    try:
        inst.ftp(USER, PASSWORD).quit()
        return True
    except (ftplib.Error, OSError, EOFError):
        return False


@pytest.mark.time_limit(180)
@pytest.mark.parametrize("kind", ["stopped", "frozen"])
def test_postgres_outage_mid_session_is_answered_and_recovers(
        kind, wharfd_bin, instances, tmp_path, pg_db, postgres):
    data = tmp_path / "d"
    inst = instances(data, ["--accounts", pg_db])
    wharfd_admin(wharfd_bin, "users", "add", USER, "--password-stdin", "--quota", "100M",
                 "--accounts", pg_db, "--data", str(data), stdin=PASSWORD + "\n")
    home = data / "home" / USER
    big = os.urandom(24 * MIB)
    f = inst.ftp(USER, PASSWORD)
    f.storbinary("STOR big.bin", io.BytesIO(big))
    g = inst.ftp(USER, PASSWORD)  # a second session, logged in before the outage
    g.sock.settimeout(30)
    # a download under way when PostgreSQL goes
    f.voidcmd("TYPE I")
    conn = f.transfercmd("RETR big.bin")
    conn.settimeout(30)
    received = bytearray(conn.recv(MIB))

    with outage(postgres, kind):
        # the download goes on to its end
        while chunk := conn.recv(MIB):
            received += chunk
        conn.close()
        assert f.voidresp().startswith("226")
        assert sha256(bytes(received)) == sha256(big)
        # an upload is refused, in time
        reply, took = timed(lambda: g.storbinary("STOR new.bin", io.BytesIO(b"n" * 1000)))
        assert reply.startswith("451"), reply
        assert took < REPLY_WITHIN, f"STOR answered after {took:.1f} s: {reply}"
        # a login is refused, in time
        reply, took = timed(lambda: inst.ftp(USER, PASSWORD))
        assert reply.startswith("421"), reply
        assert took < REPLY_WITHIN, f"login answered after {took:.1f} s: {reply}"
        assert not (home / "new.bin").exists()

    # back, without restarting wharfd
    assert inst.alive()
    deadline = time.monotonic() + 30
    while not logs_in(inst):
        assert time.monotonic() < deadline, "no login within 30 s of PostgreSQL's return"
        time.sleep(0.5)
    h = inst.ftp(USER, PASSWORD)
    after = os.urandom(3 * MIB + 5)
    h.storbinary("STOR after.bin", io.BytesIO(after))
    got = io.BytesIO()
    h.retrbinary("RETR after.bin", got.write)
    assert sha256(got.getvalue()) == sha256(after)
    report = h.sendcmd("SITE QUOTA")
    h.quit()
    on_disk = files_bytes(home)
    assert on_disk == len(big) + len(after)
    assert f"used={on_disk};" in report and "in-flight=0" in report, report
    used = postgres.psql(db_of(pg_db), f"SELECT used_bytes FROM accounts WHERE name='{USER}'")
    assert int(used) == on_disk
    for s in (f, g):
        s.close()


@pytest.mark.time_limit(120)
def test_an_upload_committing_during_the_outage_is_refused_and_not_stored(
        wharfd_bin, instances, tmp_path, pg_db, postgres):
    data = tmp_path / "d"
    inst = instances(data, ["--accounts", pg_db])
    wharfd_admin(wharfd_bin, "users", "add", USER, "--password-stdin", "--quota", "100M",
                 "--accounts", pg_db, "--data", str(data), stdin=PASSWORD + "\n")
    home = data / "home" / USER
    f = inst.ftp(USER, PASSWORD)
    f.sock.settimeout(30)
    f.voidcmd("TYPE I")
    conn = f.transfercmd("STOR inflight.bin")
    conn.sendall(os.urandom(2 * MIB))  # its quota reservation is taken now
    time.sleep(1)
    with outage(postgres, "stopped"):
        conn.close()
        start = time.monotonic()
        try:
            reply = f.voidresp()
        except ftplib.Error as e:
            reply = str(e)
        took = time.monotonic() - start
    assert took < REPLY_WITHIN, f"answered after {took:.1f} s: {reply}"
    # Its usage cannot be recorded, so it is not stored either.
    assert reply.startswith("451"), reply
    assert not (home / "inflight.bin").exists()
    deadline = time.monotonic() + 30
    while not logs_in(inst):
        assert time.monotonic() < deadline, "no login within 30 s of PostgreSQL's return"
        time.sleep(0.5)
    used = postgres.psql(db_of(pg_db), f"SELECT used_bytes FROM accounts WHERE name='{USER}'")
    assert int(used) == files_bytes(home), (reply, used, files_bytes(home))
