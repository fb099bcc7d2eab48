"""Registration with operator approval and per-account disk quotas, driven
with Python's ftplib against the real `wharfd` and its `wharfd users` admin
commands.

Covers: SITE REGISTER under the approval, open and off policies; logins of
pending accounts; `users pending|approve|reject|quota|recount`; uploads up to
and past the byte limit (STOR, STOU, APPE, REST+STOR), overwrites, DELE and
RNTO freeing space, SITE QUOTA's machine line after every step; several
sessions of one account uploading at once, and two sessions touching the same
file (usage must still equal the bytes on disk); files and usage after a
`kill -9` in the middle of every kind of upload (STOR new and replacing, APPE
existing and new, REST+STOR mid-file and at the end, STOU) and a restart; bad, reserved and duplicate names, weak passwords,
registration floods and a full approval queue.

Everything talks to 127.0.0.1 only; every server started here is stopped by
its PID.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import random
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wharf_helpers import PART_PREFIX, TIMEOUT, part_files, wait_until
from wharfd_process import WharfdProcess, report_servers

REG_PASSWORD = "a-long-password"
QUOTA_LINE_RE = re.compile(
    r"used=(\d+);limit=(\d+|none);free=(\d+|none);in-flight=(\d+);")
KIB = 1024
MIB = 1024 * 1024


# --------------------------------------------------------------------------
# helpers: admin commands


def admin_env() -> dict[str, str]:
    """The caller's environment without WHARF_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}


def users(bin: Path, data: Path, *args: str, input: str | None = None,
          ok: bool = True, family: str = "users") -> str:
    """Run `wharfd users ARGS --data DATA` (or another command `family`, such
    as groups); return stdout+stderr. With ok=True a non-zero exit fails the
    test, with ok=False a zero exit does."""
    cmd = [str(bin), family, *args, "--data", str(data)]
    try:
        cp = subprocess.run(
            cmd, input=input.encode() if input is not None else None,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, timeout=60, env=admin_env())
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(cmd)}` did not finish within 60 s", pytrace=False)
    out = cp.stdout.decode("utf-8", "replace") + cp.stderr.decode("utf-8", "replace")
    if ok and cp.returncode != 0:
        pytest.fail(f"`wharfd {family} {' '.join(args)}` exited {cp.returncode}:\n{out}",
                    pytrace=False)
    if not ok and cp.returncode == 0:
        pytest.fail(f"`wharfd {family} {' '.join(args)}` should have failed but exited 0:"
                    f"\n{out}", pytrace=False)
    return out


def listed_names(out: str) -> dict[str, str]:
    """First column -> whole line, for `users pending` and `users list`."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] not in ("NAME", "approve", "no"):
            rows[parts[0]] = line
    return rows


def pending(bin: Path, data: Path) -> dict[str, str]:
    return listed_names(users(bin, data, "pending"))


def accounts(bin: Path, data: Path) -> dict[str, str]:
    return listed_names(users(bin, data, "list"))


# --------------------------------------------------------------------------
# helpers: FTP


def connect(srv) -> ftplib.FTP:
    f = ftplib.FTP(timeout=TIMEOUT, encoding="utf-8")
    f.connect(srv.host, srv.port)
    return f


def close(f: ftplib.FTP) -> None:
    try:
        f.quit()
    except (OSError, EOFError, ftplib.Error):
        pass
    f.close()


def login(srv, user: str, password: str = REG_PASSWORD) -> ftplib.FTP:
    f = connect(srv)
    try:
        f.login(user, password)
    except ftplib.Error as e:
        close(f)
        pytest.fail(f"login as {user!r} refused: {e}", pytrace=False)
    f.voidcmd("TYPE I")
    return f


def try_login(srv, user: str, password: str) -> str:
    """Log in on a fresh connection; return the final reply text."""
    f = connect(srv)
    try:
        return f.login(user, password)
    except ftplib.Error as e:
        return str(e)
    finally:
        close(f)


def site_register(srv, args: str, *, ftp: ftplib.FTP | None = None) -> str:
    """`SITE REGISTER args` before login (on a fresh connection unless one is
    given); return the reply text, whatever its code."""
    f = ftp or connect(srv)
    try:
        return f.sendcmd(f"SITE REGISTER {args}" if args else "SITE REGISTER")
    except ftplib.Error as e:
        return str(e)
    finally:
        if ftp is None:
            close(f)


def put(f: ftplib.FTP, name: str, data: bytes, *, cmd: str = "STOR",
        rest: int | None = None) -> str:
    """Upload with ftplib's storbinary; return the final reply text, whether
    the server accepted ('226 ...') or refused ('552 ...'). If the server
    reset the data connection while we were still sending, the verdict is
    read from the control connection."""
    try:
        return f.storbinary(f"{cmd} {name}", io.BytesIO(data), blocksize=64 * KIB,
                            rest=rest)
    except ftplib.Error as e:
        return str(e)
    except (ConnectionResetError, BrokenPipeError) as e:
        try:
            return f.getresp()
        except ftplib.Error as e2:
            return str(e2)
        except OSError as e2:
            pytest.fail(f"{cmd} {name}: data connection reset ({e}) and no reply "
                        f"on the control connection ({e2})", pytrace=False)


def site_quota(f: ftplib.FTP) -> dict:
    """SITE QUOTA, parsed from its machine line."""
    resp = f.sendcmd("SITE QUOTA")
    assert resp.startswith("211"), f"SITE QUOTA: {resp!r}"
    m = QUOTA_LINE_RE.search(resp)
    assert m, f"SITE QUOTA has no 'used=N;limit=N;free=N;in-flight=N;' line: {resp!r}"

    def num(s: str) -> int | None:
        return None if s == "none" else int(s)

    return {"used": int(m.group(1)), "limit": num(m.group(2)),
            "free": num(m.group(3)), "in_flight": int(m.group(4))}


def home_files(home: Path) -> dict[str, bytes]:
    """Every committed file under `home` (temp files excluded), by relative path."""
    out = {}
    for dirpath, _dirs, files in os.walk(home):
        for name in files:
            if name.startswith(PART_PREFIX):
                continue
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            out[str(p.relative_to(home))] = p.read_bytes()
    return out


def disk_usage(home: Path) -> int:
    """Bytes of committed files under `home`, as a recount sees them."""
    total = 0
    for dirpath, _dirs, files in os.walk(home):
        for name in files:
            if name.startswith(PART_PREFIX):
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            if (st.st_mode & 0o170000) == 0o100000:
                total += st.st_size
    return total


def digest(b: bytes) -> str:
    return f"{len(b)} bytes sha256 {hashlib.sha256(b).hexdigest()[:12]}"


def code_of(reply: str) -> str:
    return reply[:3]


# --------------------------------------------------------------------------
# a server this file starts and kills itself (the crash test)


@dataclass
class OwnServer(WharfdProcess):
    """`wharfd serve` on 127.0.0.1 (wharfd_process.py runs it), started and
    stopped (or killed) by PID; it gets 40 s to stop after SIGTERM."""
    args: list[str] = field(default_factory=list)

    STOP_GRACE = 40

    def start(self) -> "OwnServer":
        env = {k: v for k, v in admin_env().items() if k != "RUST_LOG"}
        env.update({"NO_COLOR": "1", "RUST_BACKTRACE": "1"})
        self.serve(["--login-fail-delay-ms", "50", *self.args], env)
        return self


# --------------------------------------------------------------------------
# 1. the whole flow


def test_registration_approval_then_quota_enforced_step_by_step(wharfd_factory, wharfd_bin):
    srv = wharfd_factory()  # the default policy: approval
    name = "carol"
    home = srv.data / "home" / name

    r = site_register(srv, f"{name} {REG_PASSWORD}")
    assert code_of(r) == "200" and "approv" in r.lower(), \
        f"SITE REGISTER {name} <password>: got {r!r}, want 200 '...awaits the operator's approval'"

    # pending: refused, and told why only after the right password
    r = try_login(srv, name, REG_PASSWORD)
    assert code_of(r) == "530" and "approv" in r.lower(), \
        f"login of a pending account with the right password: got {r!r}, " \
        f"want 530 '...not approved yet'"
    r = try_login(srv, name, "not-the-password")
    assert code_of(r) == "530" and "approv" not in r.lower(), \
        f"login of a pending account with a wrong password: got {r!r}, " \
        f"want a plain 530 that does not reveal the pending state"

    rows = pending(wharfd_bin, srv.data)
    assert name in rows, f"`users pending` does not list {name}: {rows}"
    assert "127.0.0.1" in rows[name], f"`users pending` does not show the address: {rows[name]!r}"

    users(wharfd_bin, srv.data, "approve", name, "--quota", "100K")
    assert name not in pending(wharfd_bin, srv.data), "still pending after approve"
    assert home.is_dir(), f"approve did not create the home {home}"

    f = login(srv, name)
    limit = 100 * KIB
    files: dict[str, bytes] = {}

    def check(step: str) -> None:
        q = site_quota(f)
        used = sum(len(b) for b in files.values())
        on_disk = home_files(home)
        assert not part_files(home), f"after {step}: temp files left: {part_files(home)}"
        want = {k: digest(v) for k, v in files.items()}
        got = {k: digest(v) for k, v in on_disk.items()}
        assert got == want, f"after {step}: files on disk {got}, want {want}"
        assert q == {"used": used, "limit": limit, "free": limit - used, "in_flight": 0}, \
            f"after {step}: SITE QUOTA says {q}, want used={used} limit={limit} " \
            f"free={limit - used} in-flight=0"

    def stor(step: str, fname: str, data: bytes, want: str, **kw) -> str:
        r = put(f, fname, data, **kw)
        assert code_of(r) == want, f"{step}: got {r!r}, want {want}"
        return r

    check("approval")

    a = os.urandom(60_000)
    stor("STOR a.bin (60000)", "a.bin", a, "226")
    files["a.bin"] = a
    check("STOR a.bin")

    b = os.urandom(40_000)
    stor("STOR b.bin (40000)", "b.bin", b, "226")
    files["b.bin"] = b
    check("STOR b.bin")

    # 2400 bytes are left: one more is refused, exactly 2400 fit
    stor("STOR c.bin, 1 byte past the quota", "c.bin", os.urandom(2401), "552")
    check("refused STOR c.bin (2401)")
    c = os.urandom(2400)
    stor("STOR c.bin, exactly up to the quota", "c.bin", c, "226")
    files["c.bin"] = c
    check("STOR c.bin (2400, quota full)")

    stor("STOR d.bin (1 byte) with the quota full", "d.bin", b"x", "552")
    check("refused STOR d.bin")
    stor("STOU with the quota full", "", os.urandom(10), "552", cmd="STOU")
    check("refused STOU")
    stor("STOR big.bin (3 MiB) with the quota full", "big.bin", os.urandom(3 * MIB), "552")
    check("refused 3 MiB STOR")
    # a full account makes nothing new, not even an empty file (issue 13)
    stor("STOR empty.bin (0 bytes) with the quota full", "empty.bin", b"", "552")
    check("refused empty STOR at full quota")
    try:
        r = f.sendcmd("MKD newdir")
    except ftplib.Error as e:
        r = str(e)
    assert code_of(r) == "552", f"MKD with the quota full: got {r!r}, want 552"
    check("refused MKD at full quota")

    # replacing counts only the difference
    b = os.urandom(40_000)
    stor("overwrite b.bin with as many bytes, quota full", "b.bin", b, "226")
    files["b.bin"] = b
    check("same-size overwrite at full quota")
    stor("overwrite b.bin with one byte more, quota full", "b.bin", os.urandom(40_001), "552")
    check("refused larger overwrite (b.bin must keep its content)")
    b = os.urandom(30_000)
    stor("overwrite b.bin with fewer bytes", "b.bin", b, "226")
    files["b.bin"] = b
    check("smaller overwrite")

    # DELE and RNTO over an existing file free space
    r = f.delete("c.bin")
    assert code_of(r) == "250", f"DELE c.bin: {r!r}"
    del files["c.bin"]
    check("DELE c.bin")
    r = f.rename("a.bin", "b.bin")
    assert code_of(r) == "250", f"RNFR a.bin / RNTO b.bin: {r!r}"
    files["b.bin"] = files.pop("a.bin")
    check("RNTO a.bin over b.bin")

    # APPE past the quota: the file returns to its old length
    free = limit - sum(len(v) for v in files.values())
    stor("APPE b.bin, 1 byte past the quota", "b.bin", os.urandom(free + 1), "552", cmd="APPE")
    check("refused APPE (b.bin must keep its old length and content)")
    tail = os.urandom(2400)
    stor("APPE b.bin within the quota", "b.bin", tail, "226", cmd="APPE")
    files["b.bin"] += tail
    check("APPE b.bin")

    # REST + STOR: resume at the end, and in the middle
    r_all = os.urandom(30_000)
    stor("STOR r.bin (first 10000 bytes)", "r.bin", r_all[:10_000], "226")
    files["r.bin"] = r_all[:10_000]
    check("STOR r.bin part 1")
    stor("REST 10000 + STOR r.bin (20000 more)", "r.bin", r_all[10_000:], "226", rest=10_000)
    files["r.bin"] = r_all
    check("REST 10000 + STOR r.bin")
    free = limit - sum(len(v) for v in files.values())
    assert free == 10_000, f"test arithmetic: free is {free}"
    stor("REST 30000 + STOR r.bin, 1 byte past the quota", "r.bin",
         os.urandom(free + 1), "552", rest=30_000)
    check("refused REST 30000 + STOR (r.bin must keep its 30000 bytes)")
    stor("REST 20000 + STOR r.bin, final size 1 byte past the quota", "r.bin",
         os.urandom(20_001), "552", rest=20_000)
    check("refused REST 20000 + STOR (r.bin must keep its 30000 bytes)")
    new_tail = os.urandom(20_000)
    stor("REST 20000 + STOR r.bin, exactly up to the quota", "r.bin", new_tail, "226",
         rest=20_000)
    files["r.bin"] = r_all[:20_000] + new_tail
    check("REST 20000 + STOR r.bin up to the quota")

    # a second session sees the same account usage; a recount changes nothing
    g = login(srv, name)
    try:
        assert site_quota(g) == site_quota(f), "two sessions of one account disagree"
    finally:
        close(g)
    users(wharfd_bin, srv.data, "recount", name)
    check("users recount")
    close(f)


# --------------------------------------------------------------------------
# 2. operator changes, open/off policies, reject


def test_quota_change_applies_to_a_running_session_at_its_next_upload(wharfd_factory,
                                                                       wharfd_bin):
    srv = wharfd_factory(["--registration", "open", "--default-quota", "10K"])
    name = "dave"
    home = srv.data / "home" / name
    r = site_register(srv, f"{name} {REG_PASSWORD}")
    assert code_of(r) == "200" and "created" in r.lower(), \
        f"SITE REGISTER under --registration open: got {r!r}, want 200 'Account created...'"
    assert name not in pending(wharfd_bin, srv.data), "an open registration is pending"
    assert "active" in accounts(wharfd_bin, srv.data).get(name, ""), \
        f"`users list` does not show {name} active: {accounts(wharfd_bin, srv.data)}"

    f = login(srv, name)  # active at once
    try:
        q = site_quota(f)
        assert q == {"used": 0, "limit": 10 * KIB, "free": 10 * KIB, "in_flight": 0}, \
            f"--default-quota 10K not applied to an open registration: {q}"
        assert code_of(put(f, "x1", os.urandom(10 * KIB))) == "226"
        r = put(f, "x2", b"y")
        assert code_of(r) == "552", f"upload past a 10K quota: {r!r}"

        users(wharfd_bin, srv.data, "quota", name, "20K")  # session stays logged in
        r = put(f, "x2", os.urandom(10 * KIB))
        assert code_of(r) == "226", \
            f"after `users quota {name} 20K` the running session's next upload got {r!r}"
        q = site_quota(f)
        assert q == {"used": 20 * KIB, "limit": 20 * KIB, "free": 0, "in_flight": 0}, q
        assert code_of(put(f, "x3", b"y")) == "552"

        users(wharfd_bin, srv.data, "quota", name, "15K")  # below what it uses
        q = site_quota(f)
        assert q == {"used": 20 * KIB, "limit": 15 * KIB, "free": 0, "in_flight": 0}, \
            f"SITE QUOTA over a lowered quota: {q}"
        r = put(f, "x3", b"y")
        assert code_of(r) == "552", f"upload while over a lowered quota: {r!r}"
        r = put(f, "x1", os.urandom(5000))  # shrinking a file is always allowed
        assert code_of(r) == "226", f"overwrite with fewer bytes while over quota: {r!r}"
        assert site_quota(f)["used"] == 10 * KIB + 5000

        users(wharfd_bin, srv.data, "quota", name, "none")
        big = os.urandom(2 * MIB)
        r = put(f, "big", big)
        assert code_of(r) == "226", f"upload after `users quota {name} none`: {r!r}"
        q = site_quota(f)
        used = 10 * KIB + 5000 + 2 * MIB
        assert q == {"used": used, "limit": None, "free": None, "in_flight": 0}, q
        assert disk_usage(home) == used
    finally:
        close(f)


def test_registration_off_gives_502(wharfd_factory, wharfd_bin):
    srv = wharfd_factory(["--registration", "off"])
    r = site_register(srv, f"erin {REG_PASSWORD}")
    assert code_of(r) == "502", f"SITE REGISTER with --registration off: got {r!r}, want 502"
    assert "erin" not in accounts(wharfd_bin, srv.data)
    assert code_of(try_login(srv, "erin", REG_PASSWORD)) == "530"


def test_reject_removes_a_pending_registration(wharfd_factory, wharfd_bin):
    srv = wharfd_factory()
    r = site_register(srv, f"frank {REG_PASSWORD}")
    assert code_of(r) == "200", r
    assert "frank" in pending(wharfd_bin, srv.data)
    users(wharfd_bin, srv.data, "reject", "frank")
    assert "frank" not in pending(wharfd_bin, srv.data), "still pending after reject"
    assert "frank" not in accounts(wharfd_bin, srv.data), "the account survived reject"
    r = try_login(srv, "frank", REG_PASSWORD)
    assert code_of(r) == "530" and "approv" not in r.lower(), \
        f"login of a rejected registration: got {r!r}, want a plain 530 'Login incorrect.'"
    # only pending registrations can be rejected or approved
    users(wharfd_bin, srv.data, "reject", "alice", ok=False)
    users(wharfd_bin, srv.data, "approve", "alice", ok=False)
    users(wharfd_bin, srv.data, "approve", "nobody", ok=False)
    f = login(srv, "alice", srv.password)
    close(f)
    # the name is free again
    r = site_register(srv, f"frank {REG_PASSWORD}")
    assert code_of(r) == "200", f"registering a rejected name again: {r!r}"


# --------------------------------------------------------------------------
# 3. several sessions of one account at once


@pytest.mark.time_limit(240)
def test_concurrent_sessions_never_pass_the_quota(wharfd_factory, wharfd_bin):
    srv = wharfd_factory(["--registration", "open", "--default-quota", "1M"])
    name = "gus"
    home = srv.data / "home" / name
    assert code_of(site_register(srv, f"{name} {REG_PASSWORD}")) == "200"
    limit, size, threads, per_thread, rounds = MIB, 300 * KIB, 4, 4, 5

    sessions = [login(srv, name) for _ in range(threads)]
    try:
        # phase 1: 4 sessions store 4 new files of 300 KiB each, all at once;
        # only 3 fit in 1 MiB. Several rounds, emptied in between, since a
        # race shows only in some interleavings.
        errors: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(threads)
        ok: dict[str, bytes] = {}
        for rnd in range(rounds):
            if rnd:
                for n in list(ok):
                    sessions[0].delete(n)
                q = site_quota(sessions[0])
                assert q["used"] == 0 == disk_usage(home), \
                    f"after deleting every file: SITE QUOTA {q}, on disk {disk_usage(home)}"
            results: list[tuple[str, bytes, str]] = []
            done = threading.Event()
            peak = [0]

            def monitor():
                # files only ever appear complete (renamed in place) in this
                # phase, so a sample never over-counts
                while not done.is_set():
                    peak[0] = max(peak[0], disk_usage(home))
                    time.sleep(0.002)

            finished: list[int] = []

            def worker(i: int):
                # every outcome is recorded, whatever ends the thread (put()
                # itself may call pytest.fail, which is no Exception)
                try:
                    barrier.wait(30)
                    for j in range(per_thread):
                        data = os.urandom(size)
                        fname = f"r{rnd}-t{i}-{j}.bin"
                        r = put(sessions[i], fname, data)
                        with lock:
                            results.append((fname, data, r))
                    with lock:
                        finished.append(i)
                except BaseException as e:  # noqa: BLE001 - reported below
                    with lock:
                        errors.append(f"thread {i}: {e!r}")

            mon = threading.Thread(target=monitor, daemon=True)
            mon.start()
            ts = [threading.Thread(target=worker, args=(i,), daemon=True)
                  for i in range(threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            done.set()
            mon.join(10)
            assert not any(t.is_alive() for t in ts), "uploading threads did not finish in 60 s"
            assert not errors, f"uploading threads failed: {errors}"
            assert sorted(finished) == list(range(threads)) and \
                len(results) == threads * per_thread, \
                f"round {rnd + 1}: threads {sorted(finished)} finished, " \
                f"{len(results)} of {threads * per_thread} uploads have an outcome"
            odd = [(n, r) for n, _, r in results if code_of(r) not in ("226", "552")]
            assert not odd, f"uploads answered neither 226 nor 552: {odd}"
            ok = {n: d for n, d, r in results if code_of(r) == "226"}
            assert len(ok) == limit // size and peak[0] <= limit, \
                f"round {rnd + 1}: {len(ok)} concurrent uploads of {size} bytes succeeded " \
                f"against a {limit}-byte quota, want exactly {limit // size}: {sorted(ok)}; " \
                f"files on disk peaked at {peak[0]} bytes, now {disk_usage(home)}; " \
                f"SITE QUOTA says {site_quota(sessions[0])}"
            got = home_files(home)
            assert {k: digest(v) for k, v in got.items()} == \
                {k: digest(v) for k, v in ok.items()}, f"round {rnd + 1}: files on disk"
            q = site_quota(sessions[0])
            assert q["used"] == disk_usage(home) == len(ok) * size and q["in_flight"] == 0, \
                f"round {rnd + 1}: SITE QUOTA {q}, on disk {disk_usage(home)}"
            assert not part_files(home), f"temp files left: {part_files(home)}"

        # phase 2: each session works on its own files with every kind of
        # upload, DELE and RNTO; a reply is 226/250 (done) or 552 (nothing
        # changed), so each thread knows exactly what its files hold
        models: list[dict[str, bytes]] = [
            {n: d for n, d in ok.items() if f"-t{i}-" in n} for i in range(threads)]
        errors.clear()
        finished2: list[int] = []

        def mixed(i: int):
            rng = random.Random(1000 + i)
            f, model = sessions[i], models[i]
            try:
                barrier.wait(30)
                for step in range(14):
                    op = rng.choice(["new", "overwrite", "appe", "rest", "dele", "rnto"])
                    mine = sorted(model)
                    if op in ("overwrite", "appe", "rest", "dele", "rnto") and not mine:
                        op = "new"
                    what = f"thread {i} step {step} {op}"
                    if op == "new":
                        fname, data = f"t{i}-n{step}.bin", os.urandom(rng.randint(1, 400) * KIB)
                        r = put(f, fname, data)
                        new = data
                    elif op == "overwrite":
                        fname, data = rng.choice(mine), os.urandom(rng.randint(0, 400) * KIB)
                        r = put(f, fname, data)
                        new = data
                    elif op == "appe":
                        fname, data = rng.choice(mine), os.urandom(rng.randint(1, 200) * KIB)
                        r = put(f, fname, data, cmd="APPE")
                        new = model[fname] + data
                    elif op == "rest":
                        fname = rng.choice(mine)
                        at = rng.randint(0, len(model[fname]))
                        data = os.urandom(rng.randint(1, 300) * KIB)
                        r = put(f, fname, data, rest=at)
                        new = model[fname][:at] + data
                    elif op == "dele":
                        fname = rng.choice(mine)
                        r = f.delete(fname)
                        assert code_of(r) == "250", f"{what}: {r!r}"
                        del model[fname]
                        continue
                    else:  # rnto: one of my files over another of mine (or a new name)
                        src = rng.choice(mine)
                        dst = rng.choice([m for m in mine if m != src] or [f"t{i}-m{step}.bin"])
                        r = f.rename(src, dst)
                        assert code_of(r) == "250", f"{what}: {r!r}"
                        model[dst] = model.pop(src)
                        continue
                    assert code_of(r) in ("226", "552"), f"{what} {fname}: {r!r}"
                    if code_of(r) == "226":
                        model[fname] = new
                with lock:
                    finished2.append(i)
            except BaseException as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(f"thread {i}: {e!r}")

        ts = [threading.Thread(target=mixed, args=(i,), daemon=True) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(150)
        assert not any(t.is_alive() for t in ts), "phase 2 threads did not finish in 150 s"
        assert not errors, f"phase 2 failed: {errors}"
        assert sorted(finished2) == list(range(threads)), \
            f"phase 2: only threads {sorted(finished2)} ran all their steps"
        want = {}
        for m in models:
            want.update(m)
        got = home_files(home)
        assert {k: digest(v) for k, v in got.items()} == {k: digest(v) for k, v in want.items()}, \
            "files on disk differ from what the sessions were told"
        on_disk = disk_usage(home)
        assert on_disk <= limit, f"{on_disk} bytes on disk, past the {limit}-byte quota"
        q = site_quota(sessions[0])
        assert q["used"] == on_disk and q["in_flight"] == 0, \
            f"after phase 2: SITE QUOTA {q}, but {on_disk} bytes are on disk"
        assert not part_files(home), f"temp files left: {part_files(home)}"
    finally:
        for f in sessions:
            close(f)


def begin_upload(f: ftplib.FTP, cmd: str):
    """Start an upload and return its open data socket (after the 150)."""
    return f.transfercmd(cmd)


def finish_upload(f: ftplib.FTP, conn, data: bytes) -> str:
    with conn:
        conn.sendall(data)
    try:
        return f.voidresp()
    except ftplib.Error as e:
        return str(e)


# Two sessions of one account, one file: whatever the interleaving, usage must
# end equal to the bytes on disk, or the quota can be passed (usage too low)
# or wrongly refuses uploads (usage too high). Each case returns a label.


def same_file_overwrite_vs_dele(a, b, home) -> str:
    assert code_of(put(a, "f.bin", os.urandom(300 * KIB))) == "226"
    conn = begin_upload(a, "STOR f.bin")  # A: 300 KiB -> 100 KiB ...
    r = b.delete("f.bin")                 # ... while B deletes f.bin
    assert code_of(r) == "250", f"DELE during the overwrite: {r!r}"
    r = finish_upload(a, conn, os.urandom(100 * KIB))
    assert code_of(r) == "226", r
    return "A: STOR f.bin (300 KiB -> 100 KiB); B: DELE f.bin before A's upload ends"


def same_file_two_overwrites(a, b, home) -> str:
    assert code_of(put(a, "g.bin", os.urandom(300 * KIB))) == "226"
    ca = begin_upload(a, "STOR g.bin")
    cb = begin_upload(b, "STOR g.bin")
    ra = finish_upload(a, ca, os.urandom(100 * KIB))
    rb = finish_upload(b, cb, os.urandom(100 * KIB))
    assert code_of(ra) == "226" and code_of(rb) == "226", (ra, rb)
    return "A and B: STOR g.bin at once (300 KiB -> 100 KiB each)"


def same_file_two_new(a, b, home) -> str:
    ca = begin_upload(a, "STOR h.bin")
    cb = begin_upload(b, "STOR h.bin")
    ra = finish_upload(a, ca, os.urandom(100 * KIB))
    rb = finish_upload(b, cb, os.urandom(100 * KIB))
    assert code_of(ra) == "226" and code_of(rb) == "226", (ra, rb)
    return "A and B: STOR h.bin (a new name) at once, 100 KiB each"


def same_file_overwrite_vs_rnto(a, b, home) -> str:
    assert code_of(put(a, "k.bin", os.urandom(200 * KIB))) == "226"
    assert code_of(put(a, "src.bin", os.urandom(50 * KIB))) == "226"
    conn = begin_upload(a, "STOR k.bin")   # A: 200 KiB -> 200 KiB ...
    r = b.rename("src.bin", "k.bin")       # ... while B renames src.bin over k.bin
    assert code_of(r) == "250", f"RNTO during the overwrite: {r!r}"
    r = finish_upload(a, conn, os.urandom(200 * KIB))
    assert code_of(r) == "226", r
    return "A: STOR k.bin (200 KiB); B: RNFR src.bin (50 KiB) / RNTO k.bin before A's upload ends"


def same_file_rename_onto_itself(a, b, home) -> str:
    assert code_of(put(a, "same.bin", os.urandom(100 * KIB))) == "226"
    try:
        r = a.rename("same.bin", "same.bin")
    except ftplib.Error as e:
        r = str(e)
    assert (home / "same.bin").is_file(), f"RNFR/RNTO same.bin onto itself lost it: {r!r}"
    return f"RNFR same.bin / RNTO same.bin (100 KiB; reply {r!r})"


@pytest.mark.parametrize("case", [same_file_overwrite_vs_dele, same_file_two_overwrites,
                                  same_file_two_new, same_file_overwrite_vs_rnto,
                                  same_file_rename_onto_itself],
                         ids=lambda c: c.__name__.removeprefix("same_file_"))
def test_usage_stays_exact_when_sessions_touch_the_same_file(wharfd_factory, case):
    srv = wharfd_factory(["--registration", "open", "--default-quota", "10M"])
    name = "hugo"
    home = srv.data / "home" / name
    assert code_of(site_register(srv, f"{name} {REG_PASSWORD}")) == "200"
    a, b = login(srv, name), login(srv, name)
    try:
        what = case(a, b, home)
        q = site_quota(a)
        real = disk_usage(home)
        assert q["used"] == real and q["in_flight"] == 0, \
            f"{what}: SITE QUOTA says used={q['used']} in-flight={q['in_flight']}, but " \
            f"{real} bytes are on disk ({'under' if q['used'] < real else 'over'}-counted " \
            f"by {abs(real - q['used'])})"
        assert not part_files(home), f"temp files left: {part_files(home)}"
    finally:
        close(a)
        close(b)


# --------------------------------------------------------------------------
# 4. kill -9 mid-upload, then restart


class SlowUpload(threading.Thread):
    """Sends `total` bytes (one random 64 KiB chunk, repeated) in 64 KiB
    writes with pauses, after `REST rest` if given, until stopped or until
    the server goes away."""

    def __init__(self, srv, user: str, cmd: str, total: int, rest: int | None = None):
        super().__init__(daemon=True)
        self.srv, self.user, self.cmd, self.total, self.rest = srv, user, cmd, total, rest
        self.chunk = os.urandom(64 * KIB)
        self.sent = 0
        self.started = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        f = None
        try:
            f = ftplib.FTP(timeout=TIMEOUT)
            f.connect(self.srv.host, self.srv.port)
            f.login(self.user, REG_PASSWORD)
            f.voidcmd("TYPE I")
            conn = f.transfercmd(self.cmd, rest=self.rest)
            self.started.set()
            with conn:
                while self.sent < self.total and not self.stop.is_set():
                    conn.sendall(self.chunk)
                    self.sent += len(self.chunk)
                    time.sleep(0.02)
        except (OSError, EOFError, ftplib.Error) as e:
            self.error = e
        finally:
            self.started.set()
            if f is not None:
                f.close()

    def is_prefix_of_sent(self, b: bytes) -> bool:
        """Whether `b` is a prefix of what this upload sends."""
        whole = self.chunk * (len(b) // len(self.chunk) + 1)
        return whole[:len(b)] == b


@dataclass
class CrashCase:
    """One kind of upload the server is killed in the middle of: `cmd` on
    `name`, which holds `old` before (None: does not exist), and what the
    name may hold after the restart."""
    label: str
    name: str
    cmd: str
    old: bytes | None = None
    rest: int | None = None
    in_place: bool = False      # writes into the file itself (APPE, resume at the end)

    def allowed_after(self, got: bytes | None, upload: SlowUpload) -> bool:
        if not self.in_place:
            return got == self.old  # a temporary file: the old content, or still nothing
        base = self.old or b""
        if got is None:
            return self.old is None
        return got.startswith(base) and upload.is_prefix_of_sent(got[len(base):])

    def want(self) -> str:
        if not self.in_place:
            return "the old content" if self.old is not None else "no file"
        return ("the old content, or it followed by a prefix of the appended bytes"
                if self.old is not None else "no file, or a prefix of the appended bytes")


def crash_cases() -> list[CrashCase]:
    keep, app, mid, res = (os.urandom(n * KIB) for n in (200, 100, 120, 80))
    return [
        CrashCase("STOR new", "big.bin", "STOR big.bin"),
        CrashCase("STOR replacing", "keep.bin", "STOR keep.bin", keep),
        CrashCase("APPE existing", "app.bin", "APPE app.bin", app, in_place=True),
        CrashCase("APPE new", "fresh.bin", "APPE fresh.bin", in_place=True),
        CrashCase("REST + STOR mid-file", "mid.bin", "STOR mid.bin", mid, rest=50 * KIB),
        CrashCase("REST + STOR at the end", "res.bin", "STOR res.bin", res, rest=len(res),
                  in_place=True),
        CrashCase("STOU", "uniq.bin", "STOU uniq.bin"),
    ]


@pytest.mark.time_limit(180)
def test_kill_9_mid_upload_then_restart_sweeps_and_recounts(wharfd_bin, tmp_path, request):
    """`kill -9` while one upload of every kind runs (issue 13): after the
    restart no temporary file, every file holds what its kind allows, and
    usage equals the bytes on disk."""
    data = tmp_path / "data"
    data.mkdir()
    name = "hank"
    home = data / "home" / name
    limit = 200 * MIB
    users(wharfd_bin, data, "add", name, "--password-stdin", "--quota", "200M",
          input=REG_PASSWORD + "\n")
    # let conftest attach these servers' logs to a failure report
    servers: list[OwnServer] = report_servers(request.node, [])
    uploads: list[SlowUpload] = []
    cases = crash_cases()
    try:
        s1 = OwnServer(wharfd_bin, data)
        servers.append(s1)
        s1.start()
        f = login(s1, name)
        for c in cases:
            if c.old is not None:
                assert code_of(put(f, c.name, c.old)) == "226", f"STOR {c.name}"
        before = sum(len(c.old) for c in cases if c.old is not None)
        assert site_quota(f)["used"] == before

        # at least 10 s each; the server is killed well before they end
        uploads = [SlowUpload(s1, name, c.cmd, 32 * MIB, rest=c.rest) for c in cases]
        for u in uploads:
            u.start()
        for u in uploads:
            assert u.started.wait(30), f"{u.cmd} did not start"
            assert u.error is None, f"{u.cmd} failed to start: {u.error!r}"

        temps = sum(not c.in_place for c in cases)

        def size_of(c: CrashCase) -> int:
            p = home / c.name
            return p.stat().st_size if p.exists() else -1

        def mid_upload() -> bool:
            parts = part_files(home)
            # a temp file holds more than what it copied (REST mid-file)
            return (len(parts) >= temps and all(os.path.getsize(p) > 64 * KIB for p in parts)
                    and all(size_of(c) > len(c.old or b"") for c in cases if c.in_place))
        assert wait_until(mid_upload, timeout=30), \
            f"the uploads did not reach the disk: parts {part_files(home)}, " + \
            ", ".join(f"{c.name} {size_of(c)} bytes" for c in cases if c.in_place)
        q = site_quota(f)
        assert q["in_flight"] > 0, f"SITE QUOTA during the uploads shows nothing in flight: {q}"
        assert (data / ".wharfd.running").exists(), "no DATA/.wharfd.running while serving"

        s1.kill()
        for u in uploads:
            u.stop.set()
            u.join(30)
        close(f)
        left = part_files(data)
        assert len(left) >= temps, f"kill -9 mid-upload left {left}: the test did not " \
                                   f"catch the server in the middle of {temps} uploads"
        assert (data / ".wharfd.running").exists(), "the crash marker vanished with kill -9"

        s2 = OwnServer(wharfd_bin, data)
        servers.append(s2)
        s2.start()
        assert not part_files(data), f"restart did not sweep the temp files: {part_files(data)}"
        after = home_files(home)
        wrong = []
        for c, u in zip(cases, uploads):
            got = after.get(c.name)
            if not c.allowed_after(got, u):
                wrong.append(f"{c.label} ({c.cmd}): {c.name} holds "
                             f"{'nothing' if got is None else digest(got)}, want {c.want()}"
                             f" ({'none' if c.old is None else digest(c.old)} before)")
        extra = sorted(set(after) - {c.name for c in cases})
        assert not wrong and not extra, \
            "after kill -9 mid-upload and a restart:\n  " + "\n  ".join(wrong) + \
            (f"\n  files nobody acknowledged: {extra}" if extra else "")

        f = login(s2, name)
        try:
            real = disk_usage(home)
            q = site_quota(f)
            assert q == {"used": real, "limit": limit, "free": limit - real, "in_flight": 0}, \
                f"after kill -9 and restart SITE QUOTA says {q}, but {real} bytes are on disk"

            out = users(wharfd_bin, data, "recount", "--all")
            line = next((l for l in out.splitlines() if l.startswith(f"{name}:")), None)
            assert line, f"`users recount --all` says nothing about {name}:\n{out}"
            m = re.match(rf"{name}: (.+) \(was (.+)\)$", line)
            assert m and m.group(1) == m.group(2), \
                f"`users recount --all` had to correct usage after the restart: {line!r}"
            assert site_quota(f)["used"] == real

            # with the quota set to leave exactly 1 MiB free, the account can
            # fill it, and not one byte more
            limit = real + MIB
            users(wharfd_bin, data, "quota", name, str(limit))
            r = put(f, "fill.bin", os.urandom(MIB))
            assert code_of(r) == "226", f"upload of exactly the free {MIB} bytes: {r!r}"
            r = put(f, "one.bin", b"x")
            assert code_of(r) == "552", f"upload past the quota after restart: {r!r}"
            q = site_quota(f)
            assert q["used"] == disk_usage(home) == limit and q["free"] == 0, q
        finally:
            close(f)
        rc = s2.stop()
        assert rc == 0, f"wharfd exited {rc} on SIGTERM"
        assert not (data / ".wharfd.running").exists(), \
            "a clean stop left DATA/.wharfd.running (the next start would recount needlessly)"
        for s in servers:
            assert "panicked" not in s.log(), f"wharfd panicked:\n{s.log_tail()}"
    finally:
        for u in uploads:
            u.stop.set()
        for s in servers:
            if s.alive():
                s.stop()


# --------------------------------------------------------------------------
# 5. abuse


def test_registration_refuses_bad_names_reserved_names_duplicates_weak_passwords(
        wharfd_factory, wharfd_bin):
    srv = wharfd_factory(["--log", "debug"])
    before = accounts(wharfd_bin, srv.data)
    secret = "Zq8-unique-secret-1"

    bad = ["Carol", "../x", ".hidden", "-dash", "a/b", "x" * 33, "caf\u00e9"]
    for n in bad:
        r = site_register(srv, f"{n} {secret}")
        assert code_of(r) == "553", f"SITE REGISTER {n!r} <password>: got {r!r}, want 553"
    # an empty name: the line no longer has a name and a password
    r = site_register(srv, f" {secret}")
    assert code_of(r) in ("501", "553"), f"SITE REGISTER with an empty name: got {r!r}"
    for n in ["root", "ftp", "anonymous", "admin"]:
        r = site_register(srv, f"{n} {secret}")
        assert code_of(r) == "550" and "reserved" in r.lower(), \
            f"SITE REGISTER {n} <password>: got {r!r}, want 550 '...reserved...'"
    for args, what in [("ivan", "no password"), ("ivan ", "an empty password"),
                       ("ivan 1234567", "a 7-character password"), ("", "no arguments")]:
        r = site_register(srv, args)
        assert code_of(r) == "501", f"SITE REGISTER {args!r} ({what}): got {r!r}, want 501"
    r = site_register(srv, "ivan 1234567")
    assert "8" in r, f"the short-password refusal does not say how long: {r!r}"
    assert accounts(wharfd_bin, srv.data) == before, "a refused registration created an account"
    assert not pending(wharfd_bin, srv.data)

    r = site_register(srv, "ivan Zq8-abcd")  # exactly 8 characters
    assert code_of(r) == "200", f"SITE REGISTER ivan with an 8-character password: {r!r}"
    r = site_register(srv, f"ivan {secret}")
    assert code_of(r) == "550" and "taken" in r.lower(), \
        f"registering a pending name again: got {r!r}, want 550 '...taken...'"
    r = site_register(srv, f"alice {secret}")
    assert code_of(r) == "550" and "taken" in r.lower(), \
        f"registering an existing account's name: got {r!r}, want 550 '...taken...'"
    assert set(pending(wharfd_bin, srv.data)) == {"ivan"}
    users(wharfd_bin, srv.data, "approve", "ivan")
    f = login(srv, "ivan", "Zq8-abcd")  # the first registration's password counts
    close(f)
    f = login(srv, "alice", srv.password)  # alice is untouched
    close(f)
    for pw in (secret, "Zq8-abcd"):
        assert pw not in srv.log(), f"the server log shows a registration password {pw!r}"


def test_registration_flood_from_one_address_gets_450(wharfd_factory, wharfd_bin):
    srv = wharfd_factory()
    long_name = "n" + "x" * 31  # 32 characters: the longest allowed
    names = [long_name, "flood2", "flood3"]
    for n in names:  # each on its own connection: the limit is per address
        r = site_register(srv, f"{n} {REG_PASSWORD}")
        assert code_of(r) == "200", f"registration #{names.index(n) + 1} ({n}): got {r!r}"
    r = site_register(srv, f"flood4 {REG_PASSWORD}")
    assert code_of(r) == "450", \
        f"4th registration from 127.0.0.1 within the hour: got {r!r}, want 450"
    f = connect(srv)
    try:  # several on one connection change nothing
        for n in ("flood5", "flood6"):
            r = site_register(srv, f"{n} {REG_PASSWORD}", ftp=f)
            assert code_of(r) == "450", f"registration {n} after the flood: got {r!r}"
    finally:
        close(f)
    assert set(pending(wharfd_bin, srv.data)) == set(names)
    # the server still serves everyone else
    f = login(srv, "alice", srv.password)
    close(f)


def test_too_many_pending_registrations_get_450(wharfd_factory, wharfd_bin, tmp_path):
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text("max_pending = 2\nregistrations_per_ip_per_hour = 100\n")
    srv = wharfd_factory(["--config", str(cfg)])
    for n in ("p1", "p2"):
        r = site_register(srv, f"{n} {REG_PASSWORD}")
        assert code_of(r) == "200", f"SITE REGISTER {n}: {r!r}"
    r = site_register(srv, f"p3 {REG_PASSWORD}")
    assert code_of(r) == "450", f"3rd pending registration with max_pending = 2: got {r!r}"
    users(wharfd_bin, srv.data, "approve", "p1")
    r = site_register(srv, f"p3 {REG_PASSWORD}")
    assert code_of(r) == "200", f"registration once the queue has room again: got {r!r}"
    assert set(pending(wharfd_bin, srv.data)) == {"p2", "p3"}


# --------------------------------------------------------------------------
# 6. a name never inherits an earlier account's files (issue 13, defect 6)


def write_tree(home: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)


def moved_to(out: str, data: Path, name: str) -> Path:
    """The directory `users remove` says it moved the home to."""
    m = re.search(r"moved to (\S+)", out)
    assert m, f"`users remove {name}` does not say where the home went: {out!r}"
    dest = Path(m.group(1))
    assert dest.parent == data / "removed" and dest.name.startswith(f"{name}."), \
        f"home of {name} moved to {dest}, want {data / 'removed'}/{name}.<unix-time>"
    return dest


def assert_usage_is_disk(srv, name: str, password: str = REG_PASSWORD) -> int:
    home = srv.data / "home" / name
    f = login(srv, name, password)
    try:
        q = site_quota(f)
    finally:
        close(f)
    assert q["used"] == disk_usage(home) and q["in_flight"] == 0, \
        f"{name}: SITE QUOTA {q}, but {disk_usage(home)} bytes are on disk"
    return q["used"]


def test_removed_account_home_moves_aside_and_the_name_starts_empty(
        wharfd_factory, wharfd_bin, tmp_path):
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text('registration = "open"\nregistrations_per_ip_per_hour = 100\n')
    srv = wharfd_factory(["--config", str(cfg)])
    home = srv.data / "home" / "zed"
    old = {"old.txt": b"the first zed's file\n", "d/deep.bin": os.urandom(5000)}

    assert code_of(site_register(srv, f"zed {REG_PASSWORD}")) == "200"
    f = login(srv, "zed")
    for rel, content in old.items():
        if "/" in rel:
            f.mkd(rel.rsplit("/", 1)[0])
        assert code_of(put(f, rel, content)) == "226"
    close(f)
    assert assert_usage_is_disk(srv, "zed") == sum(map(len, old.values()))

    out = users(wharfd_bin, srv.data, "remove", "zed")
    dest = moved_to(out, srv.data, "zed")
    assert not home.exists(), f"{home} is still there after `users remove zed`"
    assert {k: digest(v) for k, v in home_files(dest).items()} == \
        {k: digest(v) for k, v in old.items()}, f"the moved home {dest} lost files"
    # nobody reaches the moved files: anonymous sees pub/ only
    anon = connect(srv)
    anon.login()
    assert "removed" not in anon.nlst() and "old.txt" not in " ".join(anon.nlst())
    close(anon)

    # open registration of the same name: a fresh, empty account
    assert code_of(site_register(srv, f"zed {REG_PASSWORD}")) == "200"
    f = login(srv, "zed")
    assert f.nlst() == [], f"the new zed sees {f.nlst()}"
    assert code_of(put(f, "new.txt", b"second zed\n")) == "226"
    close(f)
    assert assert_usage_is_disk(srv, "zed") == len(b"second zed\n")

    # a home that still holds files (restored by hand, or left over) blocks
    # the name: SITE REGISTER answers exactly as for a taken name
    users(wharfd_bin, srv.data, "remove", "zed")
    write_tree(home, old)
    taken = site_register(srv, f"alice {REG_PASSWORD}")
    r = site_register(srv, f"zed {REG_PASSWORD}")
    assert code_of(r) == "550" and r == taken, \
        f"SITE REGISTER of a name whose home holds files: got {r!r}, want {taken!r}"
    assert "zed" not in accounts(wharfd_bin, srv.data)

    # `users add` refuses it and says why and what to do
    out = users(wharfd_bin, srv.data, "add", "zed", "--password-stdin",
                input=REG_PASSWORD + "\n", ok=False)
    assert str(home) in out and "2 files" in out and "--reuse-home" in out, out
    assert "zed" not in accounts(wharfd_bin, srv.data)
    # ... unless the operator says to reuse it: usage recounted from disk
    out = users(wharfd_bin, srv.data, "add", "zed", "--password-stdin", "--reuse-home",
                input=REG_PASSWORD + "\n")
    assert "reuses the 2 files" in out and "recounted" in out, out
    assert assert_usage_is_disk(srv, "zed") == sum(map(len, old.values()))

    # an empty leftover directory is occupied too; removing an account whose
    # home is empty just deletes the directory
    users(wharfd_bin, srv.data, "remove", "zed")
    home.mkdir()
    (home / "empty-dir").mkdir()
    users(wharfd_bin, srv.data, "add", "zed", "--password-stdin",
          input=REG_PASSWORD + "\n", ok=False)
    (home / "empty-dir").rmdir()
    users(wharfd_bin, srv.data, "add", "zed", "--password-stdin", input=REG_PASSWORD + "\n")
    out = users(wharfd_bin, srv.data, "remove", "zed")
    assert "moved to" not in out and "no files" in out and not home.exists(), out


def test_approving_a_name_whose_home_holds_files(wharfd_factory, wharfd_bin):
    srv = wharfd_factory()  # registration = approval
    home = srv.data / "home" / "amy"
    old = {"left.txt": b"left behind\n" * 100}
    assert code_of(site_register(srv, f"amy {REG_PASSWORD}")) == "200"
    write_tree(home, old)  # e.g. a removed account's home put back by hand
    out = users(wharfd_bin, srv.data, "approve", "amy", ok=False)
    assert str(home) in out and "--reuse-home" in out, out
    assert "amy" in pending(wharfd_bin, srv.data), "a refused approval changed the account"
    assert code_of(try_login(srv, "amy", REG_PASSWORD)) == "530"
    out = users(wharfd_bin, srv.data, "approve", "amy", "--reuse-home")
    assert "reuses the 1 file " in out, out
    assert assert_usage_is_disk(srv, "amy") == len(old["left.txt"])

    # a registration waiting for approval cannot claim an occupied home either
    write_tree(srv.data / "home" / "bea", {"x": b"x"})
    r = site_register(srv, f"bea {REG_PASSWORD}")
    assert code_of(r) == "550" and "taken" in r.lower(), r
    assert "bea" not in pending(wharfd_bin, srv.data)


# --------------------------------------------------------------------------
# 7. a damaged account store is refused at start (SECURITY.md rule 9)


def test_serve_refuses_a_corrupt_account_store_naming_it(wharfd_bin, tmp_path):
    import sqlite3

    data = tmp_path / "data"
    users(wharfd_bin, data, "add", "bob", "--password-stdin", input="bob-password\n")
    db = data / "wharf.db"
    c = sqlite3.connect(db)
    c.executemany("INSERT INTO accounts (name, password_hash, status, created_at, used_bytes) "
                  "VALUES (?, ?, 'active', 1, 0)", [(f"u{i}", "h" * 300) for i in range(300)])
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    raw = bytearray(db.read_bytes())
    assert len(raw) > 6 * 4096
    raw[2 * 4096:6 * 4096] = bytes(i * 7 % 251 for i in range(4 * 4096))  # page 1 intact
    db.write_bytes(bytes(raw))
    cp = subprocess.run([str(wharfd_bin), "serve", "--data", str(data),
                         "--listen", "127.0.0.1:0"], capture_output=True, timeout=30,
                        env=admin_env(), stdin=subprocess.DEVNULL)
    err = cp.stderr.decode("utf-8", "replace")
    assert cp.returncode != 0, f"wharfd served from a corrupt store:\n{err}"
    assert str(db) in err and "damaged" in err, err
