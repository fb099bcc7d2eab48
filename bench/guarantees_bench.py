#!/usr/bin/env python3
"""What the integrity guarantees cost (issue 20): an APPE while another
session appends to the same file, and a burst of concurrent uploads with
quota metering on SQLite, on PostgreSQL, and on two instances sharing one
PostgreSQL database. (STOR with `durable_uploads` on and off is in
bench.py: name `wharfd-nosync` in BENCH_SERVERS.)

Called by `bash bench/run.sh` (skip it with BENCH_SKIP=guarantees), or
alone, as root, from the repository root:

    WHARFD=$CARGO_TARGET_DIR/release/wharfd LOADGEN=... python3 bench/guarantees_bench.py
    python3 bench/guarantees_bench.py --render   # the report again from the JSON

It writes guarantees-report.json and guarantees-report.md beside
report.md. Every server is started on 127.0.0.1 and stopped by PID.

What it measures:
  - appe: one session appends a CHUNK file to one remote file again and
    again for BENCH_GUAR_APPE_SECS ("alone"), then two sessions of the same
    account do it at once ("two appenders"), each with bytes of its own.
    wharfd serializes in-place writers with a lock (a waiting APPE gets 450
    after 2 s, and the load generator tries again); vsftpd and pure-ftpd
    take both at once. `wharfd-nosync` runs with `durable_uploads = false`
    (no fsync before the 226), to show what the fsync costs. Afterwards the file is read back: its size must be
    the sum of the acknowledged appends, and every CHUNK-sized block must
    be one appender's bytes whole ("torn" counts blocks that mix them).
    For wharfd, the account's usage must equal the bytes on disk.
  - burst: N clients (BENCH_GUAR_CLIENTS) of one account, each storing a
    file of BENCH_GUAR_UPLOAD_MB under a name of its own, all at once
    (the load generator's `burst --upload`), on wharfd with its accounts
    in SQLite, in PostgreSQL, and on two wharfd instances sharing one data
    directory and one PostgreSQL database (clients alternate between
    them). The account's quota is metered in every case: "roomy" has a
    quota twice the burst, "tight" one half of it, so about half the
    uploads are refused with 552 while the rest land. After each burst:
    usage == bytes on disk (the account's usage as the server reports it,
    against the files in its home).

Environment (all optional):
  BENCH_GUAR_RUNS          rounds (default 3)
  BENCH_GUAR_APPE_SECS     seconds per APPE case (default 5)
  BENCH_GUAR_APPE_KB       chunk sizes in KiB (default 64,4096)
  BENCH_GUAR_APPE_SERVERS  default wharfd,wharfd-nosync,vsftpd,pure-ftpd
  BENCH_GUAR_CLIENTS       burst sizes (default 50,200)
  BENCH_GUAR_UPLOAD_MB     each client's file (default 4)
  BENCH_GUAR_STORES        default sqlite,postgres,postgres-2
  BENCH_SKIP               `guarantees` skips all of this (run.sh),
                           `guarantees-appe` / `guarantees-burst` one part
  BENCH_OUT, BENCH_WORK, WHARFD, LOADGEN   as for bench.py
"""

from __future__ import annotations

import contextlib
import ftplib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "common"))
from bench import (  # noqa: E402  (bench/bench.py: peers, load generator, /proc helpers)
    HOST, LOADGEN, NOSYNC, OUT, PASSWORD, PER_IP, ROOT, UPDIR, WHARFD, WORK, BenchPeer, env_int,
    loadgen,
    peers, stop_process, summary, tree_cpu, wait_banner)
from pg_cluster import PgCluster  # noqa: E402  (tests/common/pg_cluster.py)

RUNS = env_int("BENCH_GUAR_RUNS", 3)
APPE_SECS = float(os.environ.get("BENCH_GUAR_APPE_SECS", "5"))
APPE_KB = [int(x) for x in os.environ.get("BENCH_GUAR_APPE_KB", "64,4096").split(",") if x]
APPE_SERVERS = [s for s in os.environ.get("BENCH_GUAR_APPE_SERVERS",
                                          "wharfd,wharfd-nosync,vsftpd,pure-ftpd").split(",") if s]
CLIENTS = [int(x) for x in os.environ.get("BENCH_GUAR_CLIENTS", "50,200").split(",") if x]
UPLOAD_MB = env_int("BENCH_GUAR_UPLOAD_MB", 4)
STORES = [s for s in os.environ.get("BENCH_GUAR_STORES", "sqlite,postgres,postgres-2").split(",") if s]
SKIP = set(x for x in os.environ.get("BENCH_SKIP", "").split(",") if x)
ACCOUNT = "guar"
GDIR = WORK / "guarantees"
PARTIAL = ".wharf-part-"
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[guarantees-bench {time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- wharfd

class Wharfd:
    """One wharfd instance: its own data directory (or one shared with
    another instance), accounts in SQLite or at a postgres:// URL, a
    config raising the account's session cap to the burst."""

    def __init__(self, data: Path, accounts: str | None, name: str, sessions: int,
                 durable: bool = True):
        self.data, self.accounts, self.name = data, accounts, name
        self.sessions, self.durable = sessions, durable
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.user, self.password = ACCOUNT, PASSWORD

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def admin(self, *args: str, stdin: str | None = None) -> str:
        argv = [WHARFD, *args, "--data", str(self.data)]
        if self.accounts:
            argv += ["--accounts", self.accounts]
        cp = subprocess.run(argv, input=stdin.encode() if stdin else None, capture_output=True,
                            timeout=120)
        if cp.returncode != 0:
            raise RuntimeError(f"wharfd {' '.join(args)}: {cp.stderr.decode(errors='replace')}")
        return cp.stdout.decode(errors="replace")

    def start(self) -> "Wharfd":
        self.data.mkdir(parents=True, exist_ok=True)
        config = self.data.parent / f"{self.name}.toml"
        config.write_text(f"max_sessions_per_user = {self.sessions}\n"
                          + ("" if self.durable else "durable_uploads = false\n"))
        logfile = self.data.parent / f"{self.name}.log"
        for _ in range(5):
            self.port = peers.pick_ports(1)[0]
            argv = [WHARFD, "serve", "--data", str(self.data), "--listen", f"{HOST}:{self.port}",
                    "--config", str(config), "--max-sessions", str(self.sessions + 100)]
            if self.accounts:
                argv += ["--accounts", self.accounts]
            with open(logfile, "ab") as out:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=out, start_new_session=True)
            if wait_banner(self.port, self.proc, 30):
                return self
            self.stop()
        raise RuntimeError(f"wharfd did not start; see {logfile}")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def ftp(self) -> ftplib.FTP:
        f = ftplib.FTP()
        f.connect(HOST, self.port, timeout=30)
        f.login(ACCOUNT, PASSWORD)
        return f

    def used(self) -> int:
        """The account's usage as the server reports it (SITE QUOTA)."""
        with contextlib.closing(self.ftp()) as f:
            reply = f.sendcmd("SITE QUOTA").replace("\r\n", " ")
        m = re.search(r"used=(\d+);", reply)
        if not m:
            raise RuntimeError(f"SITE QUOTA said {reply!r}")
        return int(m.group(1))

    def delete(self, name: str) -> None:
        """DELE through the server, so the account's usage follows."""
        with contextlib.closing(self.ftp()) as f, contextlib.suppress(ftplib.error_perm):
            f.delete(name)


def home_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.rglob("*")
               if p.is_file() and not p.name.startswith(PARTIAL))


def add_account(w: Wharfd, quota: int) -> Path:
    home = w.data / "home" / ACCOUNT
    w.admin("users", "add", ACCOUNT, "--password-stdin", "--quota", str(quota),
            stdin=PASSWORD + "\n")
    return home


# ---------------------------------------------------------------- APPE

def chunk_file(kb: int, fill: int) -> Path:
    p = GDIR / f"chunk-{kb}k-{fill:02x}.bin"
    if not p.exists() or p.stat().st_size != kb << 10:
        p.write_bytes(bytes([fill]) * (kb << 10))
    return p


def check_appended(path: Path, kb: int, acked: int) -> dict:
    """The file against what the appenders were told landed: its size, and
    how many chunk-sized blocks hold bytes of both appenders (torn)."""
    size = path.stat().st_size if path.exists() else 0
    torn = 0
    block = kb << 10
    with open(path, "rb") if path.exists() else open(os.devnull, "rb") as f:
        while True:
            b = f.read(block)
            if not b:
                break
            if b.count(b[0]) != len(b):
                torn += 1
    return {"size": size, "acked": acked, "size_ok": size == acked, "torn_blocks": torn}


def appe_target(kind: str):
    """(server, remote path, local path of the file it appends to, home)."""
    if kind in ("wharfd", NOSYNC):
        GDIR.mkdir(parents=True, exist_ok=True)
        data = GDIR / "appe-data"
        shutil.rmtree(data, ignore_errors=True)
        w = Wharfd(data, None, kind, 20, durable=kind == "wharfd")
        home = add_account(w, 1 << 40)
        w.start()
        return w, "appe.bin", home / "appe.bin", home
    srv = BenchPeer(kind, 50)
    srv.start()
    return srv, "up/appe.bin", UPDIR / "appe.bin", None


def appe_case(srv, remote: str, local: Path, kb: int, writers: int) -> dict:
    if isinstance(srv, Wharfd):
        srv.delete(remote)
    with contextlib.suppress(OSError):
        local.unlink()
    files = [chunk_file(kb, 0x41 + i) for i in range(writers)]
    results: list[dict] = [{} for _ in files]
    c0 = tree_cpu(srv.pid)

    def one(i: int) -> None:
        results[i] = loadgen("appe", srv, user=srv.user, **{"pass": srv.password}, path=remote,
                             file=files[i], secs=APPE_SECS, repeat=100_000,
                             timeout=APPE_SECS + 60)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(writers)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.monotonic() - t
    cpu = tree_cpu(srv.pid) - c0
    acked = sum(r.get("bytes", 0) for r in results)
    out = {"sessions": results, "mb_s": acked / wall / 1e6, "server_cpu_s": round(cpu, 3),
           "appends": sum(r.get("appends", 0) for r in results),
           "busy": sum(r.get("busy", 0) for r in results),
           "errors": [r["error"] for r in results if r.get("error")],
           **check_appended(local, kb, acked)}
    return out


def phase_appe(R: dict) -> None:
    raw: dict[str, list[dict]] = {}
    for rnd in range(RUNS):
        for kind in APPE_SERVERS:
            try:
                srv, remote, local, home = appe_target(kind)
            except Exception as e:  # noqa: BLE001
                R.setdefault("start_errors", {})[kind] = str(e)[:2000]
                log(f"could not start {kind}: {e}")
                continue
            try:
                for kb in APPE_KB:
                    for writers in (1, 2):
                        r = appe_case(srv, remote, local, kb, writers)
                        if home is not None:
                            r["usage"] = srv.used()
                            r["on_disk"] = home_bytes(home)
                            r["usage_ok"] = r["usage"] == r["on_disk"]
                        raw.setdefault(f"{kind}/{kb}/{writers}", []).append(r)
                        log(f"round {rnd + 1} {kind} {kb} KiB x{writers}: {r['mb_s']:.1f} MB/s, "
                            f"{r['appends']} appends, {r['busy']} busy, size_ok {r['size_ok']}, "
                            f"torn {r['torn_blocks']}, usage_ok {r.get('usage_ok')} {r['errors']}")
            finally:
                srv.stop()
                with contextlib.suppress(OSError):
                    local.unlink()
    R["appe"] = raw


# ---------------------------------------------------------------- burst

def burst_store(store: str, pg: PgCluster | None, n: int, quota: int):
    """The instances of one store configuration, an account with `quota`,
    and its home."""
    data = GDIR / f"burst-{store}"
    shutil.rmtree(data, ignore_errors=True)
    url = None
    if store.startswith("postgres"):
        assert pg is not None
        db = "b_" + store.replace("-", "_")
        pg.psql("postgres", f'DROP DATABASE IF EXISTS "{db}"')
        pg.psql("postgres", f'CREATE DATABASE "{db}"')
        url = pg.url(db)
    count = 2 if store == "postgres-2" else 1
    first = Wharfd(data, url, f"wharfd-{store}-a", n + 10)
    home = add_account(first, quota)
    insts = [first.start()]
    if count == 2:
        insts.append(Wharfd(data, url, f"wharfd-{store}-b", n + 10).start())
    return insts, home


def burst_case(insts: list, home: Path, n: int, upload: Path) -> dict:
    c0 = sum(tree_cpu(i.pid) for i in insts)
    a = insts[0]
    opts = dict(user=ACCOUNT, **{"pass": PASSWORD}, clients=n, path="b-{i}.bin", upload=upload,
                per_ip=PER_IP, timeout=180)
    if len(insts) == 2:
        opts["port2"] = insts[1].port
    r = loadgen("burst", a, **opts)
    r["server_cpu_s"] = round(sum(tree_cpu(i.pid) for i in insts) - c0, 3)
    r.pop("server_cpu_pct", None)
    if r.get("wall_s"):
        r["server_cpu_pct"] = round(100 * r["server_cpu_s"] / r["wall_s"], 1)
    # Let the last sessions end before reading the usage.
    time.sleep(0.5)
    r["usage"] = a.used()
    r["on_disk"] = home_bytes(home)
    r["usage_ok"] = r["usage"] == r["on_disk"]
    landed = sum(1 for p in home.glob("b-*.bin"))
    r["files_landed"] = landed
    r["landed_ok"] = landed == r.get("ok")
    return r


def clear_home(insts: list, home: Path) -> None:
    for p in home.glob("b-*.bin"):
        p.unlink()
    insts[0].admin("users", "recount", ACCOUNT)


def phase_burst(R: dict) -> None:
    GDIR.mkdir(parents=True, exist_ok=True)
    upload = GDIR / f"upload-{UPLOAD_MB}m.bin"
    if not upload.exists() or upload.stat().st_size != UPLOAD_MB << 20:
        upload.write_bytes(os.urandom(UPLOAD_MB << 20))
    pg = PgCluster(max_connections=200) if any(s.startswith("postgres") for s in STORES) else None
    raw: dict[str, list[dict]] = {}
    try:
        for rnd in range(RUNS):
            for n in CLIENTS:
                total = n * (UPLOAD_MB << 20)
                for store in STORES:
                    insts, home = burst_store(store, pg, n, 2 * total)
                    try:
                        for label, quota in (("roomy", 2 * total), ("tight", total // 2)):
                            insts[0].admin("users", "quota", ACCOUNT, str(quota))
                            r = burst_case(insts, home, n, upload)
                            raw.setdefault(f"{store}/{n}/{label}", []).append(r)
                            log(f"round {rnd + 1} {store} {n} {label}: {r.get('ok')} ok, "
                                f"{r.get('failed')} refused/failed {r.get('reasons')}, "
                                f"{r.get('last_ok_s')} s, server CPU {r.get('server_cpu_s')} s, "
                                f"usage_ok {r['usage_ok']} landed_ok {r['landed_ok']} "
                                f"{r.get('error') or ''}")
                            clear_home(insts, home)
                    finally:
                        for i in insts:
                            i.stop()
    finally:
        if pg is not None:
            pg.remove()
    R["burst"] = raw


# ---------------------------------------------------------------- report

def med(runs: list[dict], key: str):
    return summary([r.get(key) for r in runs if isinstance(r.get(key), (int, float))])


def fmt(s: dict, digits: int = 1) -> str:
    if not s or s.get("median") is None:
        return "–"
    if s["n"] == 1:
        return f"{s['median']:,.{digits}f}"
    return f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}–{s['max']:,.{digits}f}]"


def all_ok(runs: list[dict], key: str) -> str:
    vals = [r.get(key) for r in runs if key in r]
    if not vals:
        return "–"
    return "yes" if all(vals) else f"**no** ({vals.count(False)} of {len(vals)})"


def write_report(R: dict) -> None:
    L = ["# What the guarantees cost", "",
         f"Run {R['started']}, {R['machine']['nproc']} cores, kernel {R['machine']['kernel']}; "
         f"{R['config']['runs']} rounds; medians with [min–max]. Made by `bench/guarantees_bench.py` "
         "(what each case does is in its docstring).", ""]
    appe = R.get("appe", {})
    if appe:
        L += ["## APPE, alone and with a second appender", "",
              f"Each case runs {R['config']['appe_secs']} s. MB/s is every session's acknowledged "
              "bytes over the case's time. *busy*: APPEs answered 450 after waiting 2 s for the "
              "other session's (tried again). *torn*: chunk-sized blocks of the file that mix both "
              "appenders' bytes. *size*: the file's size equals the acknowledged bytes.", "",
              "| server | chunk | sessions | MB/s | appends | p50 / p99 ms per APPE | busy | size | torn | usage == disk | server CPU s |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, runs in appe.items():
            kind, kb, writers = key.split("/")
            p50 = summary([s.get("p50_ms") for r in runs for s in r["sessions"]
                           if isinstance(s.get("p50_ms"), (int, float))])
            p99 = summary([s.get("p99_ms") for r in runs for s in r["sessions"]
                           if isinstance(s.get("p99_ms"), (int, float))])
            errs = sorted({e[:80] for r in runs for e in r["errors"]})
            L.append(f"| {kind} | {int(kb):,} KiB | {writers} | {fmt(med(runs, 'mb_s'))} | "
                     f"{fmt(med(runs, 'appends'), 0)} | {fmt(p50, 2)} / {fmt(p99, 2)} | "
                     f"{fmt(med(runs, 'busy'), 0)} | {all_ok(runs, 'size_ok')} | "
                     f"{fmt(med(runs, 'torn_blocks'), 0)} | {all_ok(runs, 'usage_ok')} | "
                     f"{fmt(med(runs, 'server_cpu_s'), 2)} |" + (f" errors: {errs}" if errs else ""))
        L.append("")
    burst = R.get("burst", {})
    if burst:
        L += ["## Concurrent uploads with quota metering, by account store", "",
              f"N clients of one account each store {R['config']['upload_mb']} MiB under a name of "
              "their own, all at once. *roomy*: quota twice the burst; *tight*: half of it, so "
              "about half are refused (552). `postgres-2`: two wharfd instances on one data "
              "directory and one PostgreSQL database, clients alternating. *usage == disk*: the "
              "account's usage as the server reports it equals the bytes in its home; *landed*: "
              "the files on disk are exactly the acknowledged uploads.", "",
              "| store | clients | quota | s to the last 226 | MB/s | acknowledged | refused (552) | other failures | server CPU s | usage == disk | landed |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, runs in burst.items():
            store, n, label = key.split("/")
            refused = [sum(v for k, v in r.get("reasons", {}).items() if "552" in k) for r in runs]
            other = [r.get("failed", 0) - x for r, x in zip(runs, refused)]
            L.append(f"| {store} | {n} | {label} | {fmt(med(runs, 'last_ok_s'), 2)} | "
                     f"{fmt(med(runs, 'mb_s'))} | {fmt(med(runs, 'ok'), 0)} | "
                     f"{fmt(summary(refused), 0)} | {fmt(summary(other), 0)} | "
                     f"{fmt(med(runs, 'server_cpu_s'), 2)} | {all_ok(runs, 'usage_ok')} | "
                     f"{all_ok(runs, 'landed_ok')} |")
        reasons = sorted({k for runs in burst.values() for r in runs for k in r.get("reasons", {})
                          if "552" not in k})
        if reasons:
            L += ["", "Other failures seen: " + "; ".join(f"`{k}`" for k in reasons)]
        L.append("")
    if R.get("start_errors"):
        L += ["Could not start: " + ", ".join(R["start_errors"]), ""]
    (OUT / "guarantees-report.md").write_text("\n".join(L))


def save(R: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "guarantees-report.json").write_text(json.dumps(R, indent=1))


def main() -> int:
    if "guarantees" in SKIP:
        return 0
    if "--render" in sys.argv:
        write_report(json.loads((OUT / "guarantees-report.json").read_text()))
        return 0
    for b in (WHARFD, LOADGEN):
        if not os.access(b, os.X_OK):
            print(f"guarantees-bench: {b} is missing; run `bash bench/run.sh`", file=sys.stderr)
            return 1
    R: dict = {"config": {"runs": RUNS, "appe_secs": APPE_SECS, "appe_kb": APPE_KB,
                          "appe_servers": APPE_SERVERS, "clients": CLIENTS,
                          "upload_mb": UPLOAD_MB, "stores": STORES},
               "machine": {"nproc": os.cpu_count(), "kernel": platform.release(),
                           "loadavg_start": os.getloadavg()},
               "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    log(f"config: {json.dumps(R['config'])}")
    # The peers' upload folder, as bench.py makes it (peers.py chowns it).
    UPDIR.mkdir(parents=True, exist_ok=True)
    os.chmod(WORK, 0o755)
    os.chmod(ROOT, 0o755)
    if "guarantees-appe" not in SKIP:
        phase_appe(R)
        save(R)
    if "guarantees-burst" not in SKIP:
        phase_burst(R)
    R["machine"]["loadavg_end"] = os.getloadavg()
    R["elapsed_s"] = round(time.monotonic() - T0, 1)
    save(R)
    write_report(R)
    log(f"done in {R['elapsed_s']} s: {OUT / 'guarantees-report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
