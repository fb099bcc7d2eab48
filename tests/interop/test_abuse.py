"""Abuse resistance on real sockets: user enumeration (replies and timing),
lockout per name and per address, the per-account session cap, slowloris and
line floods, pipelined command storms, the Prometheus endpoint and the
per-account download rate limit.

Only 127.0.0.0/8 is used; 127.0.0.2 plays "someone else" (Linux routes the
whole block to loopback)."""

from __future__ import annotations

import ftplib
import io
import os
import re
import select
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from wharf_helpers import (PASSWORD, USER, RawFtp, Reply, connect_from,
                           file_sha256, sha256, wait_until, write_random)

OTHER_ADDR = "127.0.0.2"


def write_config(tmp_path: Path, text: str, name: str = "wharfd.toml") -> list[str]:
    p = tmp_path / name
    p.write_text(text)
    return ["--config", str(p)]


def login_reply(srv, user: str, password: str, *, source: str | None = None
                ) -> tuple[Reply, Reply | None, float]:
    """A fresh connection: USER, then PASS if asked; (USER reply, PASS reply,
    seconds the PASS took)."""
    with RawFtp(srv.host, srv.port, source=source) as c:
        ru = c.cmd(f"USER {user}")
        if ru.code != 331:
            return ru, None, 0.0
        t0 = time.monotonic()
        rp = c.cmd(f"PASS {password}")
        return ru, rp, time.monotonic() - t0


def raw_greeting(host: str, port: int, *, source: str | None = None,
                 timeout: float = 10) -> bytes:
    """Connect and read what the server says first (until CRLF or EOF)."""
    s = connect_from(host, port, source=source, timeout=timeout)
    try:
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf
    finally:
        s.close()


def users_cmd(srv, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    cp = subprocess.run([str(srv.bin), "users", *args, "--data", str(srv.data)],
                        capture_output=True, timeout=60, env=env,
                        stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, (args, (cp.stdout + cp.stderr).decode(errors="replace"))


def add_account(srv, name: str, password: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    cp = subprocess.run([str(srv.bin), "users", "add", name, "--password-stdin",
                         "--data", str(srv.data)],
                        input=(password + "\n").encode(), capture_output=True,
                        timeout=60, env=env)
    assert cp.returncode == 0, (cp.stdout + cp.stderr).decode(errors="replace")


def retr_bytes(ftp: ftplib.FTP, name: str) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write)
    return buf.getvalue()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------
# user enumeration


def test_unknown_user_and_wrong_password_look_the_same(wharfd_factory, tmp_path):
    # lockout thresholds out of the way: this test fails on purpose many times
    srv = wharfd_factory(write_config(tmp_path, (
        "lockout_failures = 1000\nlockout_address_failures = 1000\n"
        "max_login_failures = 100\n")))
    add_account(srv, "bob", "bob-secret-pw")
    users_cmd(srv, "disable", "bob")

    # warm up (first Argon2 use, first SQLite access)
    login_reply(srv, USER, "warm-up-wrong")
    login_reply(srv, "nosuchuser", "warm-up-wrong")

    cases = {
        "wrong password": (USER, "definitely-wrong"),
        "unknown user": ("nosuchuser", "definitely-wrong"),
        "disabled account, right password": ("bob", "bob-secret-pw"),
    }
    replies: dict[str, set[tuple[int, str, int, str]]] = {k: set() for k in cases}
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(5):
        for what, (user, pw) in cases.items():  # interleaved, not in blocks
            ru, rp, dt = login_reply(srv, user, pw)
            assert rp is not None, f"{what}: USER answered {ru!r}"
            replies[what].add((ru.code, ru.text, rp.code, rp.text))
            times[what].append(dt)

    for what, seen in replies.items():
        assert len(seen) == 1, f"{what}: replies vary between tries: {seen}"
    distinct = {what: next(iter(seen)) for what, seen in replies.items()}
    ref = distinct["wrong password"]
    assert ref[0] == 331 and ref[2] == 530, ref
    for what, got in distinct.items():
        assert got == ref, (f"{what!r} is told apart from a wrong password:\n"
                            f"  {what}: {got}\n  wrong password: {ref}")

    medians = {what: statistics.median(ts) for what, ts in times.items()}
    for what, m in medians.items():
        assert m >= 0.04, f"{what}: answered in {m * 1000:.0f} ms, before the 50 ms delay"
    spread = max(medians.values()) - min(medians.values())
    assert spread < 0.150, (
        "failed-login timing tells the cases apart: medians "
        + ", ".join(f"{k}={v * 1000:.0f} ms" for k, v in medians.items()))
    # and a right password still works afterwards
    _, rp, _ = login_reply(srv, USER, PASSWORD)
    assert rp is not None and rp.code == 230, rp


# --------------------------------------------------------------------------
# lockout


def test_lockout_of_one_name_from_one_address(wharfd_factory, tmp_path):
    srv = wharfd_factory(write_config(tmp_path, (
        "lockout_failures = 3\nlockout_window = 60\nlockout_duration = 2\n"
        "max_login_failures = 10\n")))

    # three failures across two sessions
    with RawFtp(srv.host, srv.port) as c:
        for _ in range(2):
            assert c.cmd(f"USER {USER}").code == 331
            r = c.cmd("PASS wrong-1")
            assert r.code == 530, r
    with RawFtp(srv.host, srv.port) as c:
        assert c.cmd(f"USER {USER}").code == 331
        r = c.cmd("PASS wrong-2")
        assert r.code == 530, r
    locked_at = time.monotonic()

    # now even the right password is refused, from this address
    with RawFtp(srv.host, srv.port) as c:
        assert c.cmd(f"USER {USER}").code == 331
        r = c.cmd(f"PASS {PASSWORD}")
        assert r.code == 421, f"locked-out login with the right password: {r!r}"
        assert "try again" in r.text.lower(), r
        # 421 closes the session
        c.sock.settimeout(5)
        with pytest.raises((ConnectionError, OSError)):
            c.cmd("NOOP")
    assert time.monotonic() - locked_at < 1.8, "too slow to observe the 2 s lockout"

    # someone else (another address) is not locked out of alice's account ...
    ru, rp, _ = login_reply(srv, USER, PASSWORD, source=OTHER_ADDR)
    assert rp is not None and rp.code == 230, f"alice from {OTHER_ADDR}: {ru!r} {rp!r}"
    # ... and other names from the locked address still work
    ru, rp, _ = login_reply(srv, "anonymous", "guest@example.org")
    assert rp is not None and rp.code == 230, rp

    # the lockout lasts 2 s
    time.sleep(max(0.0, locked_at + 2.5 - time.monotonic()))
    with RawFtp(srv.host, srv.port) as c:
        c.login()
        assert c.cmd("PWD").code == 257


def test_lockout_of_a_whole_address(wharfd_factory, tmp_path):
    srv = wharfd_factory(write_config(tmp_path, (
        "lockout_failures = 3\nlockout_address_failures = 4\nlockout_window = 60\n"
        "lockout_duration = 60\nmax_login_failures = 10\n")))
    # password spraying: one failure each for several names
    with RawFtp(srv.host, srv.port) as c:
        for name in ("carol", "dave", USER, "eve"):
            assert c.cmd(f"USER {name}").code == 331
            r = c.cmd("PASS spray-password")
            assert r.code == 530, (name, r)

    greeting = raw_greeting(srv.host, srv.port)
    assert greeting.startswith(b"421"), \
        f"new connection from a locked address greeted with {greeting!r}"
    assert b"try again" in greeting.lower(), greeting
    # no session: nothing follows the 421
    assert raw_greeting(srv.host, srv.port).startswith(b"421")

    # another address is not affected
    greeting = raw_greeting(srv.host, srv.port, source=OTHER_ADDR)
    assert greeting.startswith(b"220"), greeting
    ru, rp, _ = login_reply(srv, USER, PASSWORD, source=OTHER_ADDR)
    assert rp is not None and rp.code == 230, (ru, rp)


# --------------------------------------------------------------------------
# sessions per account


def test_sessions_per_account_cap(wharfd_factory, tmp_path):
    srv = wharfd_factory(write_config(tmp_path, "max_sessions_per_user = 2\n"))
    first = srv.ftp()
    second = srv.ftp()
    try:
        for source in (None, OTHER_ADDR):  # per account, not per address
            with RawFtp(srv.host, srv.port, source=source) as c:
                assert c.cmd(f"USER {USER}").code == 331
                r = c.cmd(f"PASS {PASSWORD}")
                assert r.code == 530, f"third session of alice: {r!r}"
                assert "limit" in r.text.lower(), r
                assert c.cmd("PWD").code == 530, "the refused session is logged in"
        # other accounts are not limited by alice's sessions
        anon = srv.ftp(user="anonymous", password="guest@example.org")
        anon.quit()
        # the two sessions work
        assert retr_bytes(first, "hello.txt") == b"hello, alice\n"
        assert second.voidcmd("NOOP").startswith("200")

        assert first.quit().startswith("221")

        def third_logs_in() -> bool:
            _, rp, _ = login_reply(srv, USER, PASSWORD)
            return rp is not None and rp.code == 230

        assert wait_until(third_logs_in, timeout=5, interval=0.1), \
            "a login still fails after one of the two sessions quit"
        third = srv.ftp()
        assert third.pwd() == "/"
        third.quit()
    finally:
        first.close()
        second.close()


# --------------------------------------------------------------------------
# slowloris and line floods


@pytest.mark.time_limit(100)
def test_slowloris_is_disconnected_while_others_work(wharfd):
    slow = RawFtp(wharfd.host, wharfd.port)
    result: dict[str, object] = {}

    def drip() -> None:
        sock = slow.sock
        t0 = time.monotonic()
        line = b"USER " + b"a" * 1000  # never finished by CRLF
        try:
            for b in line:
                try:
                    sock.sendall(bytes([b]))
                except OSError as e:
                    result["send_error"] = repr(e)
                    break
                readable, _, _ = select.select([sock], [], [], 1.0)
                if readable:
                    break
                if time.monotonic() - t0 > 60:
                    result["timeout"] = True
                    return
            got = b""
            sock.settimeout(10)
            try:
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        result["eof"] = True
                        break
                    got += chunk
            except (socket.timeout, OSError) as e:
                result["recv_error"] = repr(e)
            result["reply"] = got
        finally:
            result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=drip, daemon=True)
    t.start()
    try:
        # meanwhile, a normal client logs in and moves bytes, twice
        for round_ in range(2):
            time.sleep(5)
            assert t.is_alive(), f"the slow client was cut off early: {result}"
            f = wharfd.ftp()
            try:
                assert sha256(retr_bytes(f, "data.bin")) == \
                    file_sha256(wharfd.home / "data.bin")
                payload = os.urandom(200_000 + round_)
                f.storbinary(f"STOR during-slowloris-{round_}.bin", io.BytesIO(payload))
                assert file_sha256(wharfd.home / f"during-slowloris-{round_}.bin") == \
                    sha256(payload)
                f.quit()
            finally:
                f.close()
        t.join(70)
        assert not t.is_alive(), "the slow client was never disconnected"
    finally:
        slow.close()
    assert not result.get("timeout"), f"no reply after 60 s of dripping: {result}"
    reply = result.get("reply", b"")
    assert isinstance(reply, bytes) and reply.startswith(b"421"), \
        f"slow client got {reply!r} ({result})"
    assert result.get("eof"), f"the connection was not closed after the 421: {result}"
    elapsed = float(result["elapsed"])
    assert elapsed <= 36, f"slow client disconnected only after {elapsed:.1f} s"
    assert elapsed >= 25, f"slow client disconnected already after {elapsed:.1f} s"


def test_line_flood_closed_after_three_overlong_lines(wharfd):
    good = wharfd.ftp()
    try:
        flood = RawFtp(wharfd.host, wharfd.port)
        codes: list[int] = []
        closed = False
        try:
            flood.sock.settimeout(15)
            for i in range(20):
                try:
                    flood.send_raw(b"NOOP " + bytes([65 + i]) * 100_000 + b"\r\n")
                except OSError:
                    closed = True
                    break
                try:
                    codes.append(flood.reply().code)
                except (ConnectionError, OSError):
                    closed = True
                    break
            if not closed:
                try:
                    flood.send_raw(b"NOOP\r\n")
                    flood.reply()
                except (ConnectionError, OSError):
                    closed = True
        finally:
            flood.close()
        assert closed, f"the flooding client was never disconnected: replies {codes}"
        # docs/hardening.md: after three overlong lines the next one closes.
        assert codes == [500, 500, 500, 421], \
            f"replies to 100 KB lines: {codes}; want 500 three times, then 421 and close"

        # the other session never noticed
        assert good.voidcmd("NOOP").startswith("200")
        assert sha256(retr_bytes(good, "data.bin")) == file_sha256(wharfd.home / "data.bin")
        good.quit()
    finally:
        good.close()


def test_500_pipelined_commands_answered_in_order(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        cmds = []
        for i in range(500):
            cmds.append(f"MKD p{i:03d}" if i % 10 == 9 else "NOOP")
        c.send_raw("".join(f"{x}\r\n" for x in cmds).encode())
        for i, cmd in enumerate(cmds):
            r = c.reply()
            if cmd == "NOOP":
                assert r.code == 200, f"reply #{i} to {cmd}: {r!r}"
            else:
                assert r.code == 257 and f"/p{i:03d}" in r.text, \
                    f"reply #{i} to {cmd}: {r!r}"
        assert c.cmd("NOOP").code == 200
    made = sorted(p.name for p in wharfd.home.iterdir() if p.name.startswith("p"))
    assert made == [f"p{i:03d}" for i in range(9, 500, 10)]


# --------------------------------------------------------------------------
# metrics


def scrape(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode("utf-8", "replace")


def metric(text: str, name: str, labels: str) -> float | None:
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_metrics_endpoint(wharfd_factory):
    port = free_port()
    srv = wharfd_factory(["--metrics-listen", f"127.0.0.1:{port}"])
    base = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: _up(base), timeout=10), "metrics endpoint never answered"

    f = srv.ftp()
    size = (srv.home / "data.bin").stat().st_size
    assert sha256(retr_bytes(f, "data.bin")) == file_sha256(srv.home / "data.bin")
    with pytest.raises(ftplib.error_perm) as e:
        f.sendcmd("SIZE no-such-file")
    assert str(e.value).startswith("550")
    f.quit()
    _, rp, _ = login_reply(srv, USER, "wrong-password")
    assert rp is not None and rp.code == 530

    want = {
        ('wharf_logins_total', 'result="ok"'): 1,
        ('wharf_logins_total', 'result="failed"'): 1,
        ('wharf_bytes_total', 'direction="out"'): size,
        ('wharf_error_replies_total', 'code="550"'): 1,
        ('wharf_error_replies_total', 'code="530"'): 1,
    }
    text = ""

    def all_there() -> bool:
        nonlocal text
        status, text = scrape(f"{base}/metrics")
        assert status == 200
        return all((metric(text, n, l) or 0) >= v for (n, l), v in want.items())

    if not wait_until(all_there, timeout=5, interval=0.2):
        got = {f"{n}{{{l}}}": metric(text, n, l) for (n, l) in want}
        pytest.fail(f"metrics below what happened: {got} (want "
                    f"{ {f'{n}{{{l}}}': v for (n, l), v in want.items()} })\n{text}")
    # a fresh server counted exactly what happened: no event twice, also
    # after a moment for any late update
    time.sleep(0.5)
    _, text = scrape(f"{base}/metrics")
    got = {f"{n}{{{l}}}": metric(text, n, l) for (n, l) in want}
    assert got == {f"{n}{{{l}}}": v for (n, l), v in want.items()}, \
        f"metrics differ from what happened (double counting?):\n{text}"
    assert "# TYPE wharf_logins_total counter" in text, text

    status, body = scrape(f"{base}/health")
    # JSON, one entry per backend the health check asks.
    assert status == 200 and '"status":"ok"' in body, (status, body)
    assert '"accounts":{"ok":true,"detail":"sqlite:' in body, body
    assert '"storage":{"ok":true,"detail":"local filesystem"}' in body, body


def _up(base: str) -> bool:
    try:
        return scrape(f"{base}/health")[0] == 200
    except OSError:
        return False


# --------------------------------------------------------------------------
# bandwidth


def test_download_rate_limit(wharfd_factory):
    srv = wharfd_factory(["--max-download-rate", "1M"])
    size = 3 * 1024 * 1024
    sha = write_random(srv.home / "three.bin", size)
    f = srv.ftp()
    try:
        t0 = time.monotonic()
        data = retr_bytes(f, "three.bin")
        elapsed = time.monotonic() - t0
        f.quit()
    finally:
        f.close()
    assert len(data) == size and sha256(data) == sha
    # 3 MiB at 1 MiB/s with at most one second of burst: >= 2 s; allow slack
    assert elapsed >= 1.5, f"3 MiB at --max-download-rate 1M took only {elapsed:.2f} s"


def test_upload_rate_limit(wharfd_factory):
    from test_registration_quota import disk_usage, site_quota, users

    srv = wharfd_factory(["--max-upload-rate", "256K"])
    users(srv.bin, srv.data, "recount", USER)
    size = 1024 * 1024 + 4321
    data = os.urandom(size)
    f = srv.ftp()
    try:
        t0 = time.monotonic()
        r = f.storbinary("STOR paced.bin", io.BytesIO(data), blocksize=32 * 1024)
        elapsed = time.monotonic() - t0
        q = site_quota(f)
        f.quit()
    finally:
        f.close()
    assert r.startswith("226"), r
    assert file_sha256(srv.home / "paced.bin") == sha256(data)
    # 1 MiB at 256 KiB/s with at most one second of burst takes >= 3 s (the
    # 226 comes only once the server has read it all); a generous lower bound
    assert elapsed >= 2.0, f"1 MiB at --max-upload-rate 256K took only {elapsed:.2f} s"
    assert q["used"] == disk_usage(srv.home) and q["in_flight"] == 0, \
        f"SITE QUOTA {q}, but {disk_usage(srv.home)} bytes are on disk"
