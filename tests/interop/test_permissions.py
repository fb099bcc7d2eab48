"""Issue 14 (first part): what each account may do, and its limits.

Permissions per account and per virtual path (the longest matching path
wins), each one allowed and denied for every command that needs it, with
ftplib and lftp; a denied command gets 550 saying it is not permitted and
changes nothing. Per-account limits: expiry, client networks (127.0.0.1
against 127.0.0.2), protocols, sessions at once, upload and download rates,
the maximum file size; and the server-wide network lists. Every test that
writes ends with the account's usage equal to the bytes in its home.

Each test works on an account of its own (`pat`), added with `wharfd users
add`, given its files, and recounted, so its usage starts equal to its disk.
"""

from __future__ import annotations

import ftplib
import io
import os
import sqlite3
import time
from pathlib import Path

import pytest

from test_ftps import certs, start_ftps, tls_context  # noqa: F401 (certs is a fixture)
from test_lftp import q
from test_registration_quota import (OwnServer, close, code_of, disk_usage, put, site_quota,
                                     users)
from wharfd_process import report_servers
from wharf_helpers import TIMEOUT, part_files, require_tool, run, utf8_env, wait_until

NAME = "pat"
PW = "pat-password-1"
KIB = 1024

FILES = {
    "f.txt": b"0123456789",
    "other.txt": b"other file",
    "empty/.keep": None,  # a directory with nothing in it (None: no file)
    "archive/a.txt": b"archived",
}


# --------------------------------------------------------------------------
# helpers


def add_account(srv, bin: Path) -> Path:
    """`pat` with the FILES above; returns its home."""
    users(bin, srv.data, "add", NAME, "--password-stdin", input=PW + "\n")
    home = srv.data / "home" / NAME
    for rel, content in FILES.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            p.write_bytes(content)
    users(bin, srv.data, "recount", NAME)
    return home


def login(srv, *, source: str | None = None) -> ftplib.FTP:
    f = ftplib.FTP(timeout=TIMEOUT, encoding="utf-8",
                   source_address=(source, 0) if source else None)
    f.connect(srv.host, srv.port)
    f.login(NAME, PW)
    f.voidcmd("TYPE I")
    return f


def try_login(srv, *, password: str = PW, source: str | None = None) -> str:
    """The final reply to USER/PASS (or the greeting, if the server refused
    the connection)."""
    f = ftplib.FTP(timeout=TIMEOUT, encoding="utf-8",
                   source_address=(source, 0) if source else None)
    try:
        f.connect(srv.host, srv.port)
        return f.login(NAME, password)
    except ftplib.Error as e:
        return str(e)
    finally:
        close(f)


def state(home: Path) -> dict[str, bytes | None]:
    """Every file (with contents) and directory under `home`."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirs, files in os.walk(home):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), home) + "/"] = None
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(home))] = p.read_bytes()
    return out


def usage_is_disk(srv, home: Path) -> None:
    f = login(srv)
    try:
        used = site_quota(f)["used"]
    finally:
        close(f)
    assert used == disk_usage(home), f"usage {used} != {disk_usage(home)} bytes on disk"
    assert not part_files(home), f"temporary files left: {part_files(home)}"


def reply_of(action) -> str:
    """The final reply of `action(f)`, whether it succeeded or not."""
    try:
        return action()
    except ftplib.Error as e:
        return str(e)


def assert_not_permitted(reply: str, what: str) -> None:
    assert reply.startswith("550") and "not permitted" in reply.lower(), \
        f"{what}: want 550 '... not permitted ...', got {reply!r}"


def perms(srv, bin: Path, *args: str) -> None:
    users(bin, srv.data, "perms", NAME, *args)


def limits(srv, bin: Path, *args: str) -> None:
    users(bin, srv.data, "set", NAME, *args)


# --------------------------------------------------------------------------
# each permission, allowed and denied, for each command that needs it


def stor(name: str, data: bytes = b"new bytes", rest: int | None = None):
    return lambda f: f.storbinary(f"STOR {name}", io.BytesIO(data), rest=rest)


def rename(src: str, dst: str):
    def go(f: ftplib.FTP) -> str:
        f.sendcmd(f"RNFR {src}")
        return f.sendcmd(f"RNTO {dst}")
    return go


def stou(f: ftplib.FTP) -> str:
    conn, _ = f.ntransfercmd("STOU f.txt")
    conn.sendall(b"unique")
    conn.close()
    return f.voidresp()


# (id, permissions it needs, the command, whether it changes the home)
CASES = [
    ("LIST", {"list"}, lambda f: f.retrlines("LIST /", lambda _l: None), False),
    ("NLST", {"list"}, lambda f: f.retrlines("NLST /", lambda _l: None), False),
    ("MLSD", {"list"}, lambda f: f.retrlines("MLSD /", lambda _l: None), False),
    ("SIZE", {"list"}, lambda f: f.sendcmd("SIZE f.txt"), False),
    ("MLST", {"list"}, lambda f: f.sendcmd("MLST f.txt"), False),
    ("RETR", {"download"}, lambda f: f.retrbinary("RETR f.txt", lambda _b: None), False),
    ("STOR-new", {"upload"}, stor("new.txt"), True),
    ("STOU", {"upload"}, stou, True),
    ("APPE-new", {"upload"}, lambda f: f.storbinary("APPE new.txt", io.BytesIO(b"x")), True),
    ("STOR-over", {"overwrite"}, stor("f.txt"), True),
    ("APPE", {"append"}, lambda f: f.storbinary("APPE f.txt", io.BytesIO(b"more")), True),
    ("REST+STOR", {"append"}, stor("f.txt", b"tail", rest=4), True),
    ("DELE", {"delete"}, lambda f: f.delete("f.txt"), True),
    ("RNTO-new", {"rename", "upload"}, rename("f.txt", "g.txt"), True),
    ("RNTO-over", {"rename", "overwrite"}, rename("f.txt", "other.txt"), True),
    ("MKD", {"mkdir"}, lambda f: f.sendcmd("MKD newdir"), True),
    ("RMD", {"rmdir"}, lambda f: f.sendcmd("RMD empty"), True),
]


def attempt(wharfd, action) -> str:
    """Runs `action` in a fresh session of the account; its reply."""
    f = login(wharfd)
    try:
        return reply_of(lambda: action(f))
    finally:
        close(f)


@pytest.mark.time_limit(240)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_permission_allowed_and_denied(wharfd, wharfd_bin, case):
    cmd, needs, action, writes = case
    home = add_account(wharfd, wharfd_bin)

    for missing in sorted(needs):
        perms(wharfd, wharfd_bin, ",".join(sorted(needs - {missing})) or "none")
        before = state(home)
        reply = attempt(wharfd, action)
        assert_not_permitted(reply, f"{cmd} without {missing}")
        assert state(home) == before, f"{cmd} without {missing} changed the files"

    perms(wharfd, wharfd_bin, ",".join(sorted(needs)))
    before = state(home)
    reply = attempt(wharfd, action)
    assert reply[:1] == "2", f"{cmd} with exactly {sorted(needs)}: {reply!r}"
    assert (state(home) != before) == writes, f"{cmd}: files changed: {state(home) != before}"
    perms(wharfd, wharfd_bin, "all")
    usage_is_disk(wharfd, home)


def test_path_rules_longest_prefix_wins(wharfd, wharfd_bin):
    home = add_account(wharfd, wharfd_bin)
    (home / "incoming").mkdir()
    (home / "archive" / "open").mkdir()
    (home / "archive" / "open" / "o.txt").write_bytes(b"open")
    users(wharfd_bin, wharfd.data, "recount", NAME)
    perms(wharfd, wharfd_bin, "--upload-only", "--path", "/incoming")
    perms(wharfd, wharfd_bin, "--read-only", "--path", "/archive")
    perms(wharfd, wharfd_bin, "all", "--path", "/archive/open")
    out = users(wharfd_bin, wharfd.data, "show", NAME)
    for want in ("/incoming", "(account, rule for /archive/open)", "(server default)"):
        assert want in out, f"`users show` lacks {want!r}:\n{out}"

    f = login(wharfd)
    try:
        # the drop box takes new files and gives nothing back
        assert code_of(put(f, "/incoming/up.bin", b"dropped")) == "226"
        assert_not_permitted(put(f, "/incoming/up.bin", b"again"), "overwrite in /incoming")
        assert_not_permitted(reply_of(lambda: f.retrlines("LIST /incoming", print)),
                             "LIST /incoming")
        assert_not_permitted(
            reply_of(lambda: f.retrbinary("RETR /incoming/up.bin", lambda _b: None)),
            "RETR /incoming/up.bin")
        assert_not_permitted(reply_of(lambda: f.sendcmd("SIZE /incoming/up.bin")),
                             "SIZE in /incoming")
        f.cwd("/incoming")  # a directory may be entered
        f.cwd("/")
        # the archive is read-only, except below /archive/open
        assert code_of(reply_of(lambda: f.retrbinary("RETR /archive/a.txt",
                                                     lambda _b: None))) == "226"
        assert_not_permitted(put(f, "/archive/new.txt", b"x"), "STOR /archive/new.txt")
        assert_not_permitted(reply_of(lambda: f.delete("/archive/a.txt")), "DELE /archive")
        assert_not_permitted(reply_of(lambda: f.sendcmd("MKD /archive/d")), "MKD /archive/d")
        assert_not_permitted(reply_of(lambda: f.sendcmd("RNFR /archive/a.txt")),
                             "RNFR /archive/a.txt")
        assert code_of(put(f, "/archive/open/n.txt", b"ok")) == "226"
        assert code_of(reply_of(lambda: f.delete("/archive/open/o.txt"))) == "250"
        # /archive-x is not under /archive
        assert code_of(reply_of(lambda: f.sendcmd("MKD /archive-x"))) == "257"
        # renaming a folder would carry files away from their rules
        assert_not_permitted(reply_of(lambda: f.sendcmd("RNFR /archive")), "RNFR /archive")
        # moving a file into the read-only folder needs upload there
        f.sendcmd("RNFR other.txt")
        assert_not_permitted(reply_of(lambda: f.sendcmd("RNTO /archive/other.txt")),
                             "RNTO into /archive")
    finally:
        close(f)
    assert (home / "incoming" / "up.bin").read_bytes() == b"dropped"
    assert (home / "archive" / "a.txt").read_bytes() == b"archived"
    assert (home / "other.txt").exists()
    usage_is_disk(wharfd, home)


def test_upload_only_account_is_a_drop_box(wharfd, wharfd_bin):
    home = add_account(wharfd, wharfd_bin)
    perms(wharfd, wharfd_bin, "--upload-only")
    f = login(wharfd)
    try:
        assert code_of(put(f, "box.bin", b"secret")) == "226"
        assert_not_permitted(put(f, "box.bin", b"overwrite"), "STOR over box.bin")
        assert_not_permitted(put(f, "box.bin", b"more", cmd="APPE"), "APPE box.bin")
        assert_not_permitted(reply_of(lambda: f.retrlines("NLST", print)), "NLST")
        assert_not_permitted(
            reply_of(lambda: f.retrbinary("RETR box.bin", lambda _b: None)), "RETR")
        assert_not_permitted(reply_of(lambda: f.delete("box.bin")), "DELE")
        assert_not_permitted(reply_of(lambda: f.sendcmd("MKD d")), "MKD")
    finally:
        close(f)
    assert (home / "box.bin").read_bytes() == b"secret"
    perms(wharfd, wharfd_bin, "default")
    usage_is_disk(wharfd, home)


def test_a_running_session_sees_a_permission_change(wharfd, wharfd_bin):
    home = add_account(wharfd, wharfd_bin)
    f = login(wharfd)
    try:
        assert code_of(put(f, "one.txt", b"1")) == "226"
        perms(wharfd, wharfd_bin, "--read-only")
        time.sleep(1.3)  # sessions re-read their policy after at most a second
        assert_not_permitted(put(f, "two.txt", b"2"), "STOR after --read-only")
        perms(wharfd, wharfd_bin, "all")
        time.sleep(1.3)
        assert code_of(put(f, "two.txt", b"2")) == "226"
    finally:
        close(f)
    usage_is_disk(wharfd, home)


@pytest.mark.time_limit(200)
def test_lftp_mirror_into_a_read_only_folder_fails_cleanly(wharfd, wharfd_bin, tmp_path):
    exe = require_tool("lftp")
    home = add_account(wharfd, wharfd_bin)
    perms(wharfd, wharfd_bin, "--read-only", "--path", "/archive")
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    (local / "a.txt").write_bytes(b"a" * 1000)
    (local / "sub" / "b.txt").write_bytes(b"b" * 2000)
    before = state(home)
    script = (
        "set ftp:passive-mode on; set net:max-retries 1; set net:timeout 20; "
        "set ftp:ssl-allow no; set cmd:fail-exit yes; "
        f"open -u {NAME},{PW} ftp://{wharfd.host}:{wharfd.port}; "
        f"mirror -R --no-perms {q(local)} /archive"
    )
    cp = run([exe, "-c", script], timeout=150, env=utf8_env(), check=False)
    out = cp.stdout.decode("utf-8", "replace") + cp.stderr.decode("utf-8", "replace")
    assert cp.returncode != 0, f"lftp mirror -R into a read-only folder succeeded:\n{out}"
    assert "not permitted" in out.lower(), f"lftp did not show the refusal:\n{out}"
    assert state(home) == before, "the mirror changed the read-only folder"
    usage_is_disk(wharfd, home)


# --------------------------------------------------------------------------
# limits at login


def test_expiry_refuses_logins_after_the_day(wharfd, wharfd_bin):
    add_account(wharfd, wharfd_bin)
    limits(wharfd, wharfd_bin, "--expires", "2020-01-31")
    r = try_login(wharfd)
    assert r.startswith("530") and "expired on 2020-01-31" in r, r
    # a wrong password learns nothing about the account
    r = try_login(wharfd, password="wrong-password")
    assert r.startswith("530") and "expired" not in r, r
    limits(wharfd, wharfd_bin, "--expires", "2999-12-31")
    assert try_login(wharfd).startswith("230")
    limits(wharfd, wharfd_bin, "--expires", "never")
    assert try_login(wharfd).startswith("230")
    assert "account expired" in wharfd.log() or "expired on 2020-01-31" in wharfd.log(), \
        "the refusal was not logged with its reason"


def test_account_networks_allow_and_deny(wharfd, wharfd_bin):
    add_account(wharfd, wharfd_bin)
    limits(wharfd, wharfd_bin, "--allow-from", "127.0.0.2/32")
    r = try_login(wharfd, source="127.0.0.1")
    assert r.startswith("530") and "127.0.0.1" in r, r
    assert try_login(wharfd, source="127.0.0.2").startswith("230")
    # a session from the allowed address moves data normally
    f = login(wharfd, source="127.0.0.2")
    try:
        got = bytearray()
        f.retrbinary("RETR f.txt", got.extend)
        assert bytes(got) == FILES["f.txt"]
    finally:
        close(f)

    limits(wharfd, wharfd_bin, "--allow-from", "none", "--deny-from", "127.0.0.2")
    assert try_login(wharfd, source="127.0.0.1").startswith("230")
    r = try_login(wharfd, source="127.0.0.2")
    assert r.startswith("530") and "127.0.0.2" in r, r
    # other accounts are not affected
    f = ftplib.FTP(timeout=TIMEOUT, source_address=("127.0.0.2", 0))
    try:
        f.connect(wharfd.host, wharfd.port)
        assert f.login(wharfd.user, wharfd.password).startswith("230")
    finally:
        close(f)
    assert "login refused by the account's limits" in wharfd.log()


def test_server_wide_networks_refuse_the_connection(wharfd_factory, tmp_path):
    config = tmp_path / "wharf.toml"
    config.write_text('deny_from = ["127.0.0.2/32"]\n')
    srv = wharfd_factory(["--config", str(config)])
    f = ftplib.FTP(timeout=TIMEOUT, source_address=("127.0.0.2", 0))
    try:
        with pytest.raises(ftplib.error_temp) as refused:
            f.connect(srv.host, srv.port)
        assert str(refused.value).startswith("421"), refused.value
    finally:
        f.close()
    f = ftplib.FTP(timeout=TIMEOUT, source_address=("127.0.0.1", 0))
    try:
        f.connect(srv.host, srv.port)
        assert f.login(srv.user, srv.password).startswith("230")
    finally:
        close(f)

    config.write_text('allow_from = ["127.0.0.2/32"]\n')
    srv = wharfd_factory(["--config", str(config)])
    f = ftplib.FTP(timeout=TIMEOUT, source_address=("127.0.0.1", 0))
    try:
        with pytest.raises(ftplib.error_temp):
            f.connect(srv.host, srv.port)
    finally:
        f.close()
    # The log line is written by the server's own thread: wait for it.
    assert wait_until(lambda: "connection refused" in srv.log(), 5), srv.log_tail(20)


def test_protocols_ftps_only(wharfd_factory, wharfd_bin, certs):
    srv = start_ftps(wharfd_factory, certs, implicit=False)
    add_account(srv, wharfd_bin)
    limits(srv, wharfd_bin, "--protocols", "ftps")
    r = try_login(srv)
    assert r.startswith("530") and "AUTH TLS" in r and "ftps" in r, r
    f = ftplib.FTP_TLS(timeout=TIMEOUT, context=tls_context(srv.cert))
    try:
        f.connect(srv.host, srv.port)
        assert f.login(NAME, PW).startswith("230")
    finally:
        close(f)
    limits(srv, wharfd_bin, "--protocols", "default")
    assert try_login(srv).startswith("230")


def test_sessions_at_once(wharfd, wharfd_bin):
    add_account(wharfd, wharfd_bin)
    limits(wharfd, wharfd_bin, "--max-sessions", "1")
    first = login(wharfd)
    try:
        r = try_login(wharfd)
        assert r.startswith("530") and "limit 1" in r, r
    finally:
        close(first)
    # the first session's slot is given back as it closes
    assert wait_until(lambda: try_login(wharfd).startswith("230"), 5), \
        "no login after the only session closed"
    limits(wharfd, wharfd_bin, "--max-sessions", "default")
    a, b = login(wharfd), login(wharfd)
    close(a)
    close(b)


@pytest.mark.time_limit(120)
def test_rates_per_account(wharfd, wharfd_bin):
    home = add_account(wharfd, wharfd_bin)
    limits(wharfd, wharfd_bin, "--download-rate", "100K", "--upload-rate", "100K")
    body = os.urandom(300 * KIB)
    f = login(wharfd)
    try:
        started = time.monotonic()
        assert code_of(put(f, "up.bin", body)) == "226"
        up = time.monotonic() - started
        started = time.monotonic()
        got = bytearray()
        f.retrbinary("RETR up.bin", got.extend)
        down = time.monotonic() - started
    finally:
        close(f)
    assert bytes(got) == body
    # one second of burst, then 100 KiB/s: at least ~2 s for 300 KiB
    assert up >= 1.6, f"300 KiB uploaded in {up:.2f} s under --upload-rate 100K"
    assert down >= 1.6, f"300 KiB downloaded in {down:.2f} s under --download-rate 100K"
    # another account is not limited
    g = ftplib.FTP(timeout=TIMEOUT)
    try:
        g.connect(wharfd.host, wharfd.port)
        g.login(wharfd.user, wharfd.password)
        started = time.monotonic()
        g.retrbinary("RETR data.bin", lambda _b: None)  # 1 MiB: ~9 s at 100 KiB/s
        assert time.monotonic() - started < 5
    finally:
        close(g)
    usage_is_disk(wharfd, home)


def test_max_file_size(wharfd, wharfd_bin):
    home = add_account(wharfd, wharfd_bin)
    limits(wharfd, wharfd_bin, "--max-file-size", "100K")
    f = login(wharfd)
    try:
        used = site_quota(f)["used"]
        r = put(f, "big.bin", os.urandom(150 * KIB))
        assert r.startswith("552") and "too large" in r.lower(), r
        assert not (home / "big.bin").exists()
        assert site_quota(f)["used"] == used
        exact = os.urandom(100 * KIB)
        assert code_of(put(f, "fits.bin", exact)) == "226"
        # APPE counts the whole file, and leaves it as it was
        r = put(f, "fits.bin", b"1", cmd="APPE")
        assert r.startswith("552"), r
        assert (home / "fits.bin").read_bytes() == exact
        # an overwrite past the cap keeps the old file
        r = put(f, "f.txt", os.urandom(101 * KIB))
        assert r.startswith("552"), r
        assert (home / "f.txt").read_bytes() == FILES["f.txt"]
    finally:
        close(f)
    usage_is_disk(wharfd, home)


def test_max_file_size_counts_an_append_that_landed_while_an_append_waited(wharfd, wharfd_bin):
    """An APPE's size cap starts from the file as the append finds it once
    it has the file, not as it was when the command came: another
    session's append that lands meanwhile is counted."""
    import threading

    home = add_account(wharfd, wharfd_bin)
    limits(wharfd, wharfd_bin, "--max-file-size", "100K")
    a, b = login(wharfd), login(wharfd)
    try:
        assert code_of(put(a, "log.bin", b"x" * 10 * KIB)) == "226"
        a.voidcmd("TYPE I")
        conn = a.transfercmd("APPE log.bin")  # A appends in place, holding the file
        conn.sendall(b"a" * 20 * KIB)
        got = {}
        waiter = threading.Thread(
            target=lambda: got.update(r=put(b, "log.bin", b"b" * 50 * KIB, cmd="APPE")))
        waiter.start()  # B sees 30 KiB and waits for A's append to end
        time.sleep(0.5)
        conn.sendall(b"a" * 30 * KIB)
        conn.close()
        assert a.voidresp().startswith("226")  # the file holds 60 KiB
        waiter.join(30)
        # 60 + 50 KiB passes the cap (30 + 50, what B first saw, would not)
        assert got.get("r", "").startswith("552"), got
        assert (home / "log.bin").read_bytes() == b"x" * 10 * KIB + b"a" * 50 * KIB
    finally:
        close(a)
        close(b)
    usage_is_disk(wharfd, home)


# --------------------------------------------------------------------------
# a store made before permissions existed


# The account table of the release before permissions (schema version 1).
RELEASE_V1 = """CREATE TABLE accounts (
    name TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    home TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    registered_from TEXT,
    quota_bytes INTEGER,
    used_bytes INTEGER NOT NULL DEFAULT 0
)"""


def test_a_store_from_the_previous_release_keeps_every_account(wharfd_bin, tmp_path, request):
    # a real Argon2 hash of PW, made by `users add` in a scratch store
    scratch = tmp_path / "scratch"
    users(wharfd_bin, scratch, "add", NAME, "--password-stdin", input=PW + "\n")
    with sqlite3.connect(scratch / "wharf.db") as db:
        (hash_,) = db.execute("SELECT password_hash FROM accounts").fetchone()
    data = tmp_path / "data"
    (data / "home" / NAME).mkdir(parents=True)
    (data / "home" / NAME / "kept.txt").write_bytes(b"from before")
    db = sqlite3.connect(data / "wharf.db")
    db.execute(RELEASE_V1)
    db.execute("INSERT INTO accounts VALUES (?, ?, NULL, 'active', 1, NULL, 1048576, 11)",
               (NAME, hash_))
    db.execute("INSERT INTO accounts VALUES ('waiting', ?, NULL, 'pending', 1, '192.0.2.1', "
               "NULL, 0)", (hash_,))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()

    srv = OwnServer(bin=wharfd_bin, data=data)
    report_servers(request.node, [srv])
    srv.start()
    try:
        f = login(srv)
        try:
            got = bytearray()
            f.retrbinary("RETR kept.txt", got.extend)
            assert bytes(got) == b"from before"
            assert code_of(put(f, "new.bin", os.urandom(1000))) == "226"
            q = site_quota(f)
            assert q["used"] == 1011 and q["limit"] == 1048576, q
        finally:
            close(f)
        assert disk_usage(data / "home" / NAME) == 1011
        r = try_login(srv, password="wrong")
        assert r.startswith("530"), r
    finally:
        srv.stop()
    out = users(wharfd_bin, data, "show", NAME)
    assert "everywhere" in out and "all" in out and "(server default)" in out, out
    assert "waiting" in users(wharfd_bin, data, "pending")
    with sqlite3.connect(data / "wharf.db") as db:
        # migrated through every step since: policies (2), SSH keys (3),
        # groups (4), the admin console's tables (5), registration
        # outcomes (6, 7), the transfer history (8) and
        # the admins' TOTP columns (9)
        assert db.execute("PRAGMA user_version").fetchone()[0] == 9
        cols = {r[1] for r in db.execute("PRAGMA table_info(admins)")}
        assert {"totp_secret", "totp_last_step"} <= cols, cols
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"account_groups", "admins", "admin_tokens", "admin_audit",
                "rejections", "transfers"} <= tables, tables
        assert db.execute("SELECT ssh_keys FROM accounts WHERE name = ?",
                          (NAME,)).fetchone() == ("",)
    # and the migrated store takes groups
    users(wharfd_bin, data, "add", "staff", family="groups")
    users(wharfd_bin, data, "groups", NAME, "staff")
    assert users(wharfd_bin, data, "groups", NAME).strip().endswith(f"{NAME}: staff")


@pytest.mark.parametrize("cmd", ["STOR", "APPE"])
def test_a_drop_box_race_never_replaces_or_extends_a_file(wharfd, wharfd_bin, cmd):
    """Two sessions of an upload-only account start uploads to the same new
    name; the one that finishes first keeps the name, the other is refused
    at its end and leaves nothing."""
    home = add_account(wharfd, wharfd_bin)
    perms(wharfd, wharfd_bin, "--upload-only")
    first, second = login(wharfd), login(wharfd)
    try:
        a = first.transfercmd(f"{cmd} box.bin")
        b = second.transfercmd(f"{cmd} box.bin")
        a.sendall(b"A" * 5000)
        b.sendall(b"B" * 7000)
        a.close()
        assert code_of(first.voidresp()) == "226"
        b.close()
        assert_not_permitted(reply_of(second.voidresp), f"the later {cmd}")
    finally:
        close(first)
        close(second)
    assert (home / "box.bin").read_bytes() == b"A" * 5000
    perms(wharfd, wharfd_bin, "default")
    usage_is_disk(wharfd, home)
