"""The registrant hears the answer (README "Registration"): `SITE REGSTATUS
NAME PASSWORD` says pending / approved / rejected with the operator's
reason, only to whoever holds the registration's password: anyone else
gets the same 530 whether or not the name exists, counted like a failed
login; `SITE REGISTER` keeps an optional mail address; the `wharf ftp`
shell's `register ... --wait` polls until the operator decides.

Clients: Python's ftplib and the `wharf` binary; the operator is
`wharfd users` in another process. Only 127.0.0.1.
"""

from __future__ import annotations

import ftplib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import TIMEOUT
from test_registration_quota import pending, site_register, users

PW = "carol-password-1"


def wharf_bin() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/wharf-target"))
    path = Path(os.environ.get("WHARF", target / "debug/wharf"))
    if not path.exists():
        pytest.fail(f"wharf binary not found at {path}; run `cargo build -p wharf`",
                    pytrace=False)
    return path


def regstatus(srv, name: str, password: str) -> str:
    f = ftplib.FTP(timeout=TIMEOUT)
    f.connect(srv.host, srv.port)
    try:
        return f.sendcmd(f"SITE REGSTATUS {name} {password}")
    except ftplib.Error as e:
        return str(e)
    finally:
        f.close()


def test_regstatus_tells_the_registrant_and_nobody_else(wharfd_factory):
    srv = wharfd_factory()
    assert site_register(srv, f"carol {PW} carol@example.org").startswith("200")
    assert "carol@example.org" in pending(srv.bin, srv.data)["carol"]
    assert regstatus(srv, "carol", PW).startswith("200 pending:")
    nobody = "530 No registration with that name and password."
    assert regstatus(srv, "carol", "wrong-password") == nobody
    assert regstatus(srv, "nosuchname", PW) == nobody

    users(srv.bin, srv.data, "approve", "carol")
    assert regstatus(srv, "carol", PW) == "200 approved: log in with USER and PASS."

    assert site_register(srv, "dave dave-password-1").startswith("200")
    users(srv.bin, srv.data, "reject", "dave", "--reason", "use your work address, please")
    assert regstatus(srv, "dave", "dave-password-1") == \
        "200 rejected: use your work address, please"
    assert regstatus(srv, "dave", "wrong-password") == nobody
    # the name is free again, and a new registrant of it hears of their own
    assert site_register(srv, "dave other-password-2").startswith("200")
    assert regstatus(srv, "dave", "other-password-2").startswith("200 pending:")
    assert regstatus(srv, "dave", "dave-password-1").startswith("200 rejected:")
    # no password reaches the log
    log = srv.log()
    assert PW not in log and "dave-password-1" not in log and "wrong-password" not in log


def test_wrong_passwords_count_as_failed_logins(wharfd_factory):
    srv = wharfd_factory()
    assert site_register(srv, f"carol {PW}").startswith("200")
    f = ftplib.FTP(timeout=TIMEOUT)
    f.connect(srv.host, srv.port)
    for _ in range(2):
        with pytest.raises(ftplib.error_perm, match="^530"):
            f.sendcmd("SITE REGSTATUS carol guess-1")
    # the session's third failure ends it, as three wrong PASS do
    with pytest.raises(ftplib.error_temp, match="^421"):
        f.sendcmd("SITE REGSTATUS carol guess-3")
    f.close()
    # and the name is now locked from this address, even with the password
    assert regstatus(srv, "carol", PW).startswith("421")


def shell(srv, script: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(wharf_bin()), "ftp", "-q", f"ftp://{srv.host}:{srv.port}/"],
                          input=script.encode(), capture_output=True, timeout=timeout)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_register_wait_hears_the_operators_answer(wharfd_factory, decision):
    srv = wharfd_factory()

    def operator():
        deadline = time.monotonic() + 30
        while "carol" not in pending(srv.bin, srv.data):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(3)             # the shell is waiting by now
        if decision == "approve":
            users(srv.bin, srv.data, "approve", "carol")
        else:
            users(srv.bin, srv.data, "reject", "carol", "--reason", "not this week")

    t = threading.Thread(target=operator)
    t.start()
    started = time.monotonic()
    proc = shell(srv, f"register carol {PW} carol@example.org --wait=60\n")
    t.join()
    out = proc.stdout.decode() + proc.stderr.decode()
    assert "waiting up to 60 s" in out, out
    if decision == "approve":
        assert proc.returncode == 0, out
        assert "carol was approved" in out
    else:
        assert proc.returncode != 0, out
        assert "carol was rejected: not this week" in out
    assert time.monotonic() - started < 40


def test_register_wait_gives_up_when_the_wait_ends(wharfd_factory):
    srv = wharfd_factory()
    started = time.monotonic()
    proc = shell(srv, f"register carol {PW} --wait=3\n")
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode != 0
    assert "no answer from the operator within 3 s" in out, out
    assert 3 <= time.monotonic() - started < 30
    assert "carol" in pending(srv.bin, srv.data)
