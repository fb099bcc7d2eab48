"""Helpers for tests/news (imported by conftest.py and the tests; a distinct
module name, so that it cannot collide with another directory's conftest)."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib  # (removed from the stdlib in Python 3.13)

AUTH_USERS = {"reader": "reader-pw", "odd@user": "p@ss:w/rd%"}


def nntp(srv, **kw):
    return nntplib.NNTP(srv.host, srv.port, timeout=30, **kw)


def wharf_path() -> str:
    return os.environ.get("WHARF") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.environ.get("HOME", "/root"),
                                                           ".cache/wharf-target"),
        "debug/wharf")


class Runner:
    """Runs wharf with an empty HOME (no ~/.netrc of the user), no NETRC unless
    given, stdin closed (or the given bytes), in a session of its own, bounded
    by a timeout (then killed by PID and the test fails)."""

    def __init__(self, path: str, home: Path):
        self.path = path
        self.home = home

    def env(self, extra=None):
        # WHARF_PASSWORD would answer every password question: only a test
        # that means it passes one.
        env = {k: v for k, v in os.environ.items()
               if k not in ("NETRC", "RUST_LOG", "WHARF_PASSWORD")}
        env["HOME"] = str(self.home)
        env["NO_COLOR"] = "1"
        env.setdefault("LANG", "C.UTF-8")
        if extra:
            env.update(extra)
        return env

    def __call__(self, *args, input: bytes | None = None, env=None, timeout: float = 60):
        """Run wharf; returns CompletedProcess with bytes stdout/stderr."""
        import pytest
        argv = [self.path, *map(str, args)]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=self.env(env), start_new_session=True)
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=10)
            pytest.fail(f"wharf {' '.join(map(str, args))} did not finish within {timeout} s\n"
                        f"stderr: {err.decode(errors='replace')[-2000:]}")
        return subprocess.CompletedProcess(argv, p.returncode, out, err)


def describe(r) -> str:
    return (f"exit {r.returncode}\n--- stdout\n{r.stdout.decode(errors='replace')[-3000:]}"
            f"\n--- stderr\n{r.stderr.decode(errors='replace')[-3000:]}")


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_bounded(argv, env, timeout: float, max_rss_mib: int):
    """Run argv, discarding stdout (counted and hashed) and keeping 64 KiB of stderr.

    Kills it (by PID) past `timeout` seconds or `max_rss_mib` of resident memory.
    Returns dict(rc, elapsed, out_bytes, out_sha256, stderr, peak_rss_mib, killed);
    peak_rss_mib is the kernel's ru_maxrss for that child (wait4).
    """
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, start_new_session=True)
    counts = {"out": 0}
    digest = hashlib.sha256()
    errbuf = bytearray()

    def drain_out():
        while True:
            b = p.stdout.read(1 << 16)
            if not b:
                return
            counts["out"] += len(b)
            digest.update(b)

    def drain_err():
        while True:
            b = p.stderr.read(1 << 14)
            if not b:
                return
            if len(errbuf) < 1 << 16:
                errbuf.extend(b)

    ts = [threading.Thread(target=drain_out, daemon=True),
          threading.Thread(target=drain_err, daemon=True)]
    for t in ts:
        t.start()
    peak = 0
    killed = None
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            peak = max(peak, ru.ru_maxrss)  # KiB on Linux
            break
        rss = _rss_kib(p.pid)
        peak = max(peak, rss)
        if rss > max_rss_mib * 1024:
            killed = f"resident memory {rss // 1024} MiB > {max_rss_mib} MiB"
        elif time.monotonic() - t0 > timeout:
            killed = f"still running after {timeout} s"
        if killed:
            os.kill(p.pid, signal.SIGKILL)
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            break
        time.sleep(0.05)
    for t in ts:
        t.join(10)
    return {"rc": p.returncode, "elapsed": time.monotonic() - t0, "out_bytes": counts["out"],
            "out_sha256": digest.hexdigest(),
            "stderr": bytes(errbuf).decode(errors="replace"), "peak_rss_mib": peak // 1024,
            "killed": killed}
