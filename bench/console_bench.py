#!/usr/bin/env python3
"""The admin console under load (issue 16): how long each console page and
API call takes on a server with BENCH_CONSOLE_ACCOUNTS accounts (default
1000) and BENCH_CONSOLE_SESSIONS logged-in FTP sessions (default 200), and
BENCH_CONSOLE_HISTORY transfers in the history (default 100,000, over 30 days).
Nothing is asserted: the figures are reported, as every benchmark here.

Called by `bash bench/run.sh` after the SFTP comparison (skip it with
BENCH_SKIP=console), or alone, from the repository root:

    WHARFD=$CARGO_TARGET_DIR/release/wharfd python3 bench/console_bench.py

It starts wharfd itself on 127.0.0.1 (kernel-chosen ports, `--admin-listen
127.0.0.1:0`, a fresh data directory under BENCH_CONSOLE_WORK, default
/var/tmp/wharf-bench-console), adds an admin and an `admin` API token with
`wharfd admins`, creates the accounts through the API, opens the sessions
with ftplib (spread over 40 accounts, within the per-account limit), logs in
to the console for a cookie, then times BENCH_CONSOLE_RUNS (default 20)
sequential requests per page, and stops wharfd by PID. It writes
bench/out/console-report.md and console-report.json (BENCH_OUT).
"""

from __future__ import annotations

import ftplib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = ["/console/", "/console/accounts", "/console/accounts?q=u00",
         "/console/pending", "/console/sessions", "/console/audit", "/console/groups",
         "/console/transfers", "/console/transfers?account=u0007&direction=upload"]
API = ["/api/status", "/api/accounts?limit=500", "/api/sessions", "/api/usage",
       "/api/audit?limit=200", "/api/transfers?limit=500", "/api/transfers/hourly?hours=720",
       "/api/groups", "/api/folders"]


def seed_history(db: Path, rows: int, accounts: int) -> None:
    """`rows` finished transfers over the last 30 days in the store's
    history, as a month of a busy server leaves (the dashboard's chart and
    the Transfers page read them)."""
    import random
    import sqlite3
    now = int(time.time())
    rng = random.Random(16)
    with sqlite3.connect(db) as c:
        c.executemany(
            "INSERT INTO transfers (at, instance, account, protocol, client, path, direction,"
            " bytes, millis, error) VALUES (?, 'bench', ?, ?, '127.0.0.1', ?, ?, ?, ?, ?)",
            ((now - rng.randrange(30 * 86400), f"u{rng.randrange(accounts):04}",
              rng.choice(("ftp", "ftps", "sftp")), f"/data/f{i}.bin",
              rng.choice(("upload", "download")), rng.randrange(1 << 24), rng.randrange(5000),
              None if rng.random() > 0.02 else "Quota exceeded") for i in range(rows)))


def main() -> int:
    if "console" in os.environ.get("BENCH_SKIP", "").split(","):
        print("console_bench: skipped (BENCH_SKIP)")
        return 0
    wharfd = os.environ.get("WHARFD") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/wharf-target"))
        / "release" / "wharfd")
    accounts = int(os.environ.get("BENCH_CONSOLE_ACCOUNTS", "1000"))
    sessions = int(os.environ.get("BENCH_CONSOLE_SESSIONS", "200"))
    runs = int(os.environ.get("BENCH_CONSOLE_RUNS", "20"))
    history = int(os.environ.get("BENCH_CONSOLE_HISTORY", "100000"))
    work = Path(os.environ.get("BENCH_CONSOLE_WORK", "/var/tmp/wharf-bench-console"))
    out = Path(os.environ.get("BENCH_OUT", REPO / "bench" / "out"))
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    data.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}

    def admins(*args: str, stdin: bytes | None = None) -> str:
        return subprocess.run([wharfd, "admins", *args, "--data", str(data)], input=stdin,
                              check=True, capture_output=True, env=env).stdout.decode()

    admins("add", "bench", "--password-stdin", stdin=b"bench-admin-pw\n")
    token = admins("token", "bench", "--scope", "admin").strip()
    seed_history(data / "wharf.db", history, accounts)
    proc = subprocess.Popen([wharfd, "serve", "--data", str(data), "--listen", "127.0.0.1:0",
                             "--admin-listen", "127.0.0.1:0",
                             "--max-sessions-per-ip", str(sessions + 10)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    conns: list[ftplib.FTP] = []
    try:
        log = b""
        ftp_port = base = None
        deadline = time.monotonic() + 30
        while not (ftp_port and base):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"wharfd did not start:\n{log.decode(errors='replace')}")
            log += proc.stdout.readline()
            m = re.search(rb"listening on 127\.0\.0\.1:(\d+)\n", log)
            ftp_port = int(m.group(1)) if m else None
            m = re.search(rb"admin console on (http://[^/]+)/console/", log)
            base = m.group(1).decode() if m else None

        def call(method: str, path: str, body: object = None, headers: dict | None = None) -> bytes:
            req = urllib.request.Request(
                base + path, data=json.dumps(body).encode() if body is not None else None,
                method=method, headers={"Content-Type": "application/json", **(headers or {})})
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.read()

        bearer = {"Authorization": f"Bearer {token}"}
        t = time.monotonic()
        for i in range(accounts):
            call("POST", "/api/accounts", {"name": f"u{i:04}", "password": "bench-pw-1"}, bearer)
        made = time.monotonic() - t
        for i in range(sessions):
            f = ftplib.FTP(timeout=60)
            f.connect("127.0.0.1", ftp_port)
            f.login(f"u{i % 40:04}", "bench-pw-1")
            conns.append(f)
        live = len(json.loads(call("GET", "/api/sessions", headers=bearer))["sessions"])
        login = urllib.request.Request(
            base + "/api/login", method="POST",
            data=json.dumps({"name": "bench", "password": "bench-admin-pw"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(login, timeout=60) as r:
            cookie = {"Cookie": r.headers["Set-Cookie"].split(";")[0]}

        results = {}
        pages = [*PAGES, f"/console/accounts/u{accounts // 2:04}"]
        for path, headers in [*((p, cookie) for p in pages), *((p, bearer) for p in API)]:
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                call("GET", path, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
            results[path] = {"median_ms": statistics.median(times), "min_ms": min(times),
                             "max_ms": max(times)}
    finally:
        for f in conns:
            f.close()
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)

    out.mkdir(parents=True, exist_ok=True)
    report = {"accounts": accounts, "sessions": live, "runs": runs, "history_rows": history,
              "accounts_created_s": made, "requests": results}
    (out / "console-report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Admin console: {accounts} accounts, {live} live sessions, "
             f"{history} transfers in the history", "",
             f"wharfd `{wharfd}`; {runs} sequential requests per row, on 127.0.0.1; "
             f"{accounts} accounts created through the API in {made:.1f} s "
             "(one Argon2 hash each).", "",
             "| request | median ms | min | max |", "|---|---:|---:|---:|"]
    lines += [f"| `{p}` | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['max_ms']:.1f} |"
              for p, r in results.items()]
    (out / "console-report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
