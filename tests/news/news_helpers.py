"""Helpers for tests/news (imported by conftest.py and the tests; a distinct
module name, so that it cannot collide with another directory's conftest).
Running wharf itself is tests/common/wharf_runner.py's (re-exported here)."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
import warnings
from pathlib import Path

from wharf_runner import Runner, describe, wharf_path  # noqa: F401 (re-exported)

HERE = Path(__file__).resolve().parent

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib  # (removed from the stdlib in Python 3.13)

AUTH_USERS = {"reader": "reader-pw", "odd@user": "p@ss:w/rd%"}


def nntp(srv, **kw):
    return nntplib.NNTP(srv.host, srv.port, timeout=30, **kw)


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
