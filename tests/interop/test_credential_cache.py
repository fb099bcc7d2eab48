"""The credential cache (issue 20): a repeated password login skips Argon2,
and `wharfd users passwd` / `disable` still refuse the old credentials at
the very next login, over FTP (ftplib) and SFTP (paramiko), which share
one login path. With `--no-credential-cache` the same holds and nothing is
ever served from the cache.

The server logs "password matched the credential cache" at debug level on
every hit; the tests count those lines.
"""

from __future__ import annotations

import ftplib
import re
import threading
import time

import paramiko
import pytest

from conftest import PASSWORD, USER
from test_registration_quota import users
from test_sftp import SFTP_RE

TIMEOUT = 30
HIT = "password matched the credential cache"
NEW_PASSWORD = "a-brand-new-password"


def start(factory, cache: bool):
    args = ["--sftp-listen", "127.0.0.1:0"] + ([] if cache else ["--no-credential-cache"])
    srv = factory(args, {"WHARF_LOG": "info,ftp_server::accounts=debug"})
    port = int(re.search(SFTP_RE, srv.wait_log(SFTP_RE)).group(1))
    srv.wait_log(r"SSH host key .*ssh_host_rsa_key", timeout=30)
    return srv, port


def ftp_login(srv, password: str) -> bool:
    f = ftplib.FTP(timeout=TIMEOUT)
    f.connect(srv.host, srv.port)
    try:
        f.login(USER, password)
    except (ftplib.error_perm, ftplib.error_temp) as e:
        # 530, or 421 once the failures locked the name out
        assert str(e)[:3] in ("530", "421"), e
        f.close()
        return False
    f.quit()
    return True


def sftp_login(port: int, password: str) -> bool:
    t = paramiko.Transport(("127.0.0.1", port))
    t.banner_timeout = t.auth_timeout = TIMEOUT
    try:
        t.connect(username=USER, password=password)
        return t.is_authenticated()
    except paramiko.AuthenticationException:
        return False
    finally:
        t.close()


def hits(srv) -> int:
    return srv.log().count(HIT)


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_passwd_and_disable_refuse_the_old_credentials_at_once(wharfd_factory, cache):
    srv, port = start(wharfd_factory, cache)
    assert ftp_login(srv, PASSWORD) and ftp_login(srv, PASSWORD)
    assert sftp_login(port, PASSWORD)
    time.sleep(0.2)  # the debug lines are written by then
    assert hits(srv) == (2 if cache else 0), srv.log_tail(20)

    users(srv.bin, srv.data, "passwd", USER, "--password-stdin", input=NEW_PASSWORD + "\n")
    assert not ftp_login(srv, PASSWORD), "old password accepted over FTP after passwd"
    assert not sftp_login(port, PASSWORD), "old password accepted over SFTP after passwd"
    assert ftp_login(srv, NEW_PASSWORD) and sftp_login(port, NEW_PASSWORD)

    users(srv.bin, srv.data, "disable", USER)
    assert not ftp_login(srv, NEW_PASSWORD), "a disabled account logged in over FTP"
    assert not sftp_login(port, NEW_PASSWORD), "a disabled account logged in over SFTP"
    users(srv.bin, srv.data, "enable", USER)
    assert ftp_login(srv, NEW_PASSWORD)
    time.sleep(0.2)
    # With the cache: the new password's second and third logins (SFTP,
    # then FTP after enable) were hits; without it, none ever is.
    assert hits(srv) == (4 if cache else 0), srv.log_tail(20)


def test_two_sessions_logging_in_while_the_password_changes(wharfd_factory):
    """Twin: two clients log in with the old password over and over while
    `wharfd users passwd` runs; every login that starts after it returned
    is refused, the ones before it were served (mostly from the cache), and
    once the store has the new hash no client gets in with the old one
    again (a login racing the change itself may go either way)."""
    srv, port = start(wharfd_factory, True)
    changed = threading.Event()
    stop = threading.Event()
    results: list[tuple[bool, bool]] = []  # (started after the change, accepted)
    sequences: list[list[bool]] = [[], []]  # per client, in order
    errors: list[BaseException] = []

    def client(login, seq):
        try:
            while not stop.is_set():
                after = changed.is_set()
                ok = login()
                results.append((after, ok))
                seq.append(ok)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=client,
                                args=(lambda: ftp_login(srv, PASSWORD), sequences[0])),
               threading.Thread(target=client,
                                args=(lambda: sftp_login(port, PASSWORD), sequences[1]))]
    for t in threads:
        t.start()
    time.sleep(1.0)
    users(srv.bin, srv.data, "passwd", USER, "--password-stdin", input=NEW_PASSWORD + "\n")
    changed.set()
    deadline = time.monotonic() + 20
    while sum(after for after, _ in results) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(TIMEOUT)
    assert not errors, errors
    before = [ok for after, ok in results if not after]
    after = [ok for after, ok in results if after]
    assert len(after) >= 6, "the clients went on after the change"
    assert not any(after), f"{sum(after)} logins with the old password after passwd"
    assert sum(before) >= 4, "the old password worked before the change"
    for seq in sequences:
        first_refusal = seq.index(False)
        assert not any(seq[first_refusal:]), f"accepted again after a refusal: {seq}"
    assert hits(srv) >= 1, "repeated logins were served from the cache"
