"""The admin console of one instance sees and acts on the whole cluster:
two `wharfd` instances share a PostgreSQL store, each with its own admin
console. A session held by instance B is listed (with its running upload)
by instance A's API, and disconnected from A: B's client sees its control
connection close. The transfer history written by B is read through A. An
instance that stops publishing (SIGSTOP) drops out of A's list after a few
missed heartbeats, and comes back when it runs again.

Every API answer is checked against docs/openapi.yaml (tests/interop's
client)."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
from admin_http import ADMIN, ADMIN_PASSWORD, Api  # noqa: E402
from scale_helpers import wharfd_admin  # noqa: E402

PASSWORD = "ivy-cluster-pw"
CONSOLE_RE = r"admin console on (http://127\.0\.0\.1:\d+)/console/"


@pytest.fixture
def consoles(wharfd_bin, instances, tmp_path, pg_db):
    """Instances A and B on one PostgreSQL store and data directory, each
    with an admin console; an admin, a token for each, and account ivy."""
    data = tmp_path / "shared"
    args = ["--accounts", pg_db, "--admin-listen", "127.0.0.1:0"]
    a = instances(data, args)
    b = instances(data, args)
    common = ["--accounts", pg_db, "--data", str(data)]
    wharfd_admin(wharfd_bin, "admins", "add", ADMIN, "--password-stdin", *common,
                 stdin=ADMIN_PASSWORD + "\n")
    wharfd_admin(wharfd_bin, "users", "add", "ivy", "--password-stdin", "--quota", "10M",
                 *common, stdin=PASSWORD + "\n")
    apis = []
    for inst in (a, b):
        base = re.search(CONSOLE_RE, inst.wait_log(CONSOLE_RE)).group(1)
        token = wharfd_admin(wharfd_bin, "admins", "token", ADMIN, "--scope", "admin",
                             *common).strip()
        apis.append(Api(base, token=token))
    return a, b, apis[0], apis[1]


def wait_for(what: str, probe, timeout: float = 15):
    """Polls `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s", pytrace=False)


def ivy_sessions(api: Api) -> list[dict]:
    answer = api.call("GET", "/api/sessions")
    assert answer.status == 200, answer.body
    assert answer.body["unreachable"] is None, answer.body
    return [s for s in answer.body["sessions"] if s["user"] == "ivy"]


@pytest.mark.time_limit(180)
def test_a_session_on_b_is_listed_and_disconnected_from_a(consoles):
    a, b, api_a, api_b = consoles
    here_a = api_a.call("GET", "/api/sessions").body["instance"]
    here_b = api_b.call("GET", "/api/sessions").body["instance"]
    assert here_a != here_b

    # ivy logs in on B and starts an upload that stays open.
    f = b.ftp("ivy", PASSWORD)
    f.voidcmd("TYPE I")
    data = f.transfercmd("STOR held.bin")
    data.sendall(b"x" * 65536)

    # B lists it as its own, at once.
    own = ivy_sessions(api_b)
    assert len(own) == 1 and own[0]["local"] and own[0]["instance"] == here_b, own

    # A lists it as B's, with the running upload, within a heartbeat or two.
    def seen_with_upload():
        found = ivy_sessions(api_a)
        ok = (len(found) == 1 and found[0]["transfer"] is not None
              and found[0]["transfer"]["bytes"] >= 65536)
        return found if ok else None

    remote = wait_for("A lists B's session with its upload", seen_with_upload)[0]
    assert not remote["local"] and remote["instance"] == here_b, remote
    assert remote["id"] == own[0]["id"] and remote["protocol"] == "ftp", remote
    assert remote["transfer"]["direction"] == "upload"
    assert remote["transfer"]["path"].endswith("held.bin")
    status = api_a.call("GET", "/api/status").body
    assert status["sessions"] >= 1

    # A session id that B does not hold is a 404; a read-only token may
    # not disconnect at all.
    missing = api_a.call("DELETE", f"/api/sessions/{remote['id'] + 1000}?instance={here_b}")
    assert missing.status == 404, missing.body

    # A disconnects it; B closes ivy's control connection.
    gone = api_a.call("DELETE", f"/api/sessions/{remote['id']}?instance={here_b}")
    assert gone.status == 204, gone.body
    f.sock.settimeout(15)
    started = time.monotonic()
    last = None
    try:
        while True:
            line = f.getline()
            if line == "" or line.startswith("421"):
                last = line
                break
    except (EOFError, ConnectionError):
        last = ""
    except socket.timeout:
        pytest.fail("B never closed the disconnected session", pytrace=False)
    assert last is not None and time.monotonic() - started < 10, last
    data.close()
    f.close()
    wait_for("the session leaves A's list", lambda: not ivy_sessions(api_a))
    audit = api_a.call("GET", "/api/audit").body["entries"]
    assert any(e["action"] == "sessions.disconnect"
               and e["target"] == f"{remote['id']}@{here_b}" for e in audit), audit

    # A finished upload on B is in the history A reads, named B's.
    g = b.ftp("ivy", PASSWORD)
    g.storbinary("STOR done.bin", io.BytesIO(os.urandom(5000)))
    g.quit()

    def in_history():
        page = api_a.call("GET", "/api/transfers?account=ivy&limit=10").body
        return [t for t in page["transfers"] if t["path"].endswith("done.bin")]

    done = wait_for("A's history shows B's upload", in_history)[0]
    assert (done["instance"], done["direction"], done["bytes"], done["error"]) == (
        here_b, "upload", 5000, None), done
    failed = api_a.call("GET", "/api/transfers?account=ivy&status=failed").body["transfers"]
    assert [t["path"] for t in failed if t["path"].endswith("held.bin")], failed
    hourly = api_a.call("GET", "/api/transfers/hourly?hours=2").body["hours"]
    assert len(hourly) == 2 and hourly[-1]["uploads"] >= 1 and hourly[-1]["bytes_in"] >= 5000


@pytest.mark.time_limit(120)
def test_an_instance_that_stops_publishing_drops_out_and_comes_back(consoles):
    a, b, api_a, api_b = consoles
    f = b.ftp("ivy", PASSWORD)
    wait_for("A lists B's session", lambda: ivy_sessions(api_a))
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        wait_for("A stops listing a frozen instance's session",
                 lambda: not ivy_sessions(api_a), timeout=15)
        # Not before its last publication went stale (6 s), give or take a
        # heartbeat (2 s) for when it was made.
        assert time.monotonic() - stopped >= 3
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    wait_for("A lists B's session again", lambda: ivy_sessions(api_a))
    f.voidcmd("NOOP")
    f.quit()
