#!/usr/bin/env python3
"""Many small files (issue 20): a tree of BENCH_TREE_FILES files of 4 KiB
in BENCH_TREE_DIRS directories (default 10,000 in 100), and BENCH_MID_FILES
files of 1 MiB (default 1,000), mirrored by lftp (a client nobody here
wrote) from and to wharfd, vsftpd, pure-ftpd, ProFTPD and pyftpdlib — with
lftp's default (one transfer at a time) and with `--parallel=8` — and by
`wharf mirror -j 8` from wharfd and vsftpd. Plain FTP, and FTPS (explicit
AUTH TLS, PROT P, the peers' TLS settings of bench/ftps/ as ftps_bench.py
applies them) for the small tree; uploads also to wharfd with
`durable_uploads = false` (`wharfd-nosync`), which shows what the fsync of
every upload costs. Files per second and MB/s, medians with [min–max] over
BENCH_TREE_RUNS rounds (default 2), servers interleaved in each round, in
reverse order every other round.
Nothing is asserted.

Called by `bash bench/run.sh` (skip it with BENCH_SKIP=trees), or alone, as
root, from the repository root (after bench.py made its tree; the servers
are bench.py's):

    WHARFD=$CARGO_TARGET_DIR/release/wharfd WHARF=$CARGO_TARGET_DIR/release/wharf \\
        python3 bench/trees_bench.py

BENCH_TREE_FTPS=0 leaves FTPS out; BENCH_TREE_SERVERS picks servers
(`wharfd-nosync` runs the upload cases only); a case not done after
BENCH_TREE_CASE_TIMEOUT seconds (default 180) is stopped and counted as a
failed run.

Every download goes into a fresh local directory that is removed (and
`sync`ed) after it; every upload into a fresh directory under the server's
`up/`, removed after it. Times are the whole client process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import (  # noqa: E402
    HOST, OUT, ROOT, UPDIR, WORK, BenchPeer, WharfServer, env_int, peers, prepare_files, summary)
import ftps_bench  # noqa: E402  (the peers with FTPS on, and wharfd's TLS settings)

RUNS = env_int("BENCH_TREE_RUNS", 2)
FILES = env_int("BENCH_TREE_FILES", 10_000)
DIRS = env_int("BENCH_TREE_DIRS", 100)
MID = env_int("BENCH_MID_FILES", 1_000)
SERVERS = [s for s in os.environ.get(
    "BENCH_TREE_SERVERS", "wharfd,wharfd-nosync,vsftpd,pure-ftpd,proftpd,pyftpdlib").split(",") if s]
# pyftpdlib's bench setup has no TLS; wharfd-nosync differs from wharfd
# only on uploads, measured in plain FTP.
FTPS_SERVERS = [s for s in SERVERS if s not in ("pyftpdlib", "wharfd-nosync")] \
    if os.environ.get("BENCH_TREE_FTPS", "1") != "0" else []
CERTS = WORK / "ftps-certs"
WHARF = os.environ.get("WHARF") or str(
    Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/wharf-target")) / "release" / "wharf")
# A case still running after this is stopped and counted as failed (lftp's
# serial mirror over FTPS from vsftpd took 489 s for the small tree).
CASE_TIMEOUT = env_int("BENCH_TREE_CASE_TIMEOUT", 180)
SMALL_TREE = ROOT / f"small{FILES}"
MID_TREE = ROOT / f"mid{MID}"
LOCAL = WORK / "trees-client"
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[trees-bench {time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def make_trees() -> None:
    """The two trees under the servers' root, made once, owned as bench.py's
    files are (the peers' account reads them)."""
    owner = ROOT.stat()
    if not (SMALL_TREE / "done").exists():
        log(f"making {SMALL_TREE}: {FILES} files of 4 KiB in {DIRS} directories")
        shutil.rmtree(SMALL_TREE, ignore_errors=True)
        for i in range(FILES):
            d = SMALL_TREE / f"d{i % DIRS:03d}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i:05d}.dat").write_bytes(os.urandom(4096))
        (SMALL_TREE / "done").write_bytes(b"")
    if not (MID_TREE / "done").exists():
        log(f"making {MID_TREE}: {MID} files of 1 MiB")
        shutil.rmtree(MID_TREE, ignore_errors=True)
        MID_TREE.mkdir(parents=True)
        block = os.urandom(1 << 20)
        for i in range(MID):
            (MID_TREE / f"m{i:04d}.dat").write_bytes(block[i:] + block[:i])
        (MID_TREE / "done").write_bytes(b"")
    for tree in (SMALL_TREE, MID_TREE):
        for dirpath, dirs, files in os.walk(tree):
            os.chown(dirpath, owner.st_uid, owner.st_gid)
            for f in files:
                os.chown(os.path.join(dirpath, f), owner.st_uid, owner.st_gid)


def start(kind: str, certs: dict | None):
    """`kind` started plain, or with FTPS when `certs` are given."""
    if certs is not None:
        return ftps_bench.start(kind, certs)
    if kind in ("wharfd", "wharfd-nosync"):
        return WharfServer(None, durable=kind == "wharfd").start()
    srv = BenchPeer(kind, 200)
    srv.start()
    return srv


def lftp(srv, command: str, ca: Path | None) -> list[str]:
    """lftp running `command` on `srv`; FTPS (AUTH TLS, PROT P, the
    server's certificate checked against `ca`) when `ca` is given."""
    tls = ("set ftp:ssl-allow no; " if ca is None else
           f"set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:ca-file {ca}; ")
    return ["lftp", "-c",
            f"set cmd:fail-exit yes; set net:max-retries 1; {tls}"
            f"set xfer:clobber on; open -u {srv.user},{srv.password} -p {srv.port} {HOST}; {command}"]


def timed(argv: list[str], timeout: float = CASE_TIMEOUT) -> dict:
    t = time.perf_counter()
    try:
        cp = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"error": f"not done after {timeout:.0f} s (stopped)"}
    secs = time.perf_counter() - t
    if cp.returncode != 0:
        return {"error": (cp.stderr or cp.stdout).decode(errors="replace")[-300:]}
    return {"seconds": secs}


def count(tree: Path) -> tuple[int, int]:
    files = n = 0
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            if name != "done":
                files += 1
                n += os.path.getsize(os.path.join(dirpath, name))
    return files, n


def fresh_local(tag: str) -> Path:
    dest = LOCAL / tag
    shutil.rmtree(dest, ignore_errors=True)
    LOCAL.mkdir(parents=True, exist_ok=True)
    return dest


def clean(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["sync"], timeout=300)


def cases_for(kind: str, srv, ca: Path | None) -> list[tuple[str, str, object]]:
    """(label, direction, argv for a destination) of every case `kind`
    runs: plain FTP on both trees, FTPS (labels ending ` ftps`) on the
    small one; uploads only for wharfd-nosync."""
    tag = "" if ca is None else " ftps"
    trees = (SMALL_TREE,) if ca is not None else (SMALL_TREE, MID_TREE)
    uploads_only = kind == "wharfd-nosync"
    cases: list[tuple[str, str, object]] = []
    for tree in trees:
        name = tree.name
        for par in (1, 8):
            p = "" if par == 1 else f" --parallel={par}"
            if not uploads_only:
                cases.append((f"lftp mirror{p} {name}{tag}", "down",
                              lambda d, name=name, p=p: lftp(srv, f"mirror{p} {name} {d}", ca)))
            if tree is SMALL_TREE:
                cases.append((f"lftp mirror -R{p} {name}{tag}", "up",
                              lambda d, p=p: lftp(srv, f"mirror -R{p} {SMALL_TREE} up/{d.name}", ca)))
        if kind in ("wharfd", "vsftpd"):
            url = f"ftp://{srv.user}:{srv.password}@{HOST}:{srv.port}/{name}/"
            tls = [] if ca is None else ["--tls", "--cacert", str(ca)]
            cases.append((f"wharf mirror -j 8 {name}{tag}", "down",
                          lambda d, url=url, tls=tls: [WHARF, "mirror", "-q", "-j", "8", *tls, url, str(d)]))
    return cases


def one_round(kind: str, R: dict, certs: dict | None = None) -> None:
    srv = start(kind, certs)
    try:
        # Each peer made its own throw-away CA (peers.py); wharfd uses ours.
        ca = None if certs is None else Path(getattr(srv, "cafile", None) or certs["ca"])
        cases = cases_for(kind, srv, ca)
        for label, way, argv in cases:
            tag = f"{kind}-{len(R.get(kind, {}).get(label, []))}-{abs(hash(label)) % 10_000}"
            dest = fresh_local(tag)
            r = timed(argv(dest))
            tree = SMALL_TREE if SMALL_TREE.name in label else MID_TREE
            want_files, want_bytes = count(tree)
            got = dest if way == "down" else UPDIR / dest.name
            if "error" not in r:
                files, n = count(got)
                if (files, n) != (want_files, want_bytes):
                    r = {"error": f"{files} files / {n} bytes arrived, not {want_files} / {want_bytes}"}
                else:
                    r.update(files=files, bytes=n)
            log(f"{kind:10} {label:36} {r.get('seconds', 0):7.2f} s {r.get('error', '')}")
            R.setdefault(kind, {}).setdefault(label, []).append(r)
            clean(got)
    finally:
        srv.stop()


def fmt(values: list[float], digits: int = 1) -> str:
    s = summary(values)
    if s["median"] is None:
        return "-"
    return f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}–{s['max']:,.{digits}f}]"


def write(R: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "trees-report.json").write_text(json.dumps(R, indent=2) + "\n")
    labels = sorted({label for kind in R for label in R[kind]})
    lines = [f"# Many files: lftp and wharf mirror against each server (issue 20)", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {RUNS} rounds, servers "
             f"interleaved (in reverse every other round); medians [min–max]; plain FTP on 127.0.0.1, FTPS (AUTH TLS, PROT P, "
             "bench/ftps/ settings) where the label ends in `ftps`; `wharfd-nosync` is wharfd "
             f"with `durable_uploads = false` (no fsync per upload). Trees: `{SMALL_TREE.name}` = "
             f"{FILES:,} files of 4 KiB in {DIRS} directories, `{MID_TREE.name}` = {MID:,} files of "
             "1 MiB. The whole client process is timed; every copy is checked by file count and "
             "bytes. Load average at the end: "
             f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}.", "",
             "| client, tree | server | seconds | files/s | MB/s | failed runs |",
             "|---|---|---:|---:|---:|---:|"]
    for label in labels:
        for kind in SERVERS:
            runs = R.get(kind, {}).get(label)
            if not runs:
                continue
            ok = [r for r in runs if "seconds" in r]
            secs = [r["seconds"] for r in ok]
            fps = [r["files"] / r["seconds"] for r in ok]
            mbs = [r["bytes"] / r["seconds"] / 1e6 for r in ok]
            lines.append(f"| {label} | {kind} | {fmt(secs, 2)} | {fmt(fps, 0)} | {fmt(mbs, 1)} | "
                         f"{len(runs) - len(ok)} |")
    lines += ["", "Ratios (median seconds of the best peer / wharfd's; above 1: wharfd faster):", ""]
    for label in labels:
        w = summary([r["seconds"] for r in R.get("wharfd", {}).get(label, []) if "seconds" in r])
        others = {k: summary([r["seconds"] for r in R.get(k, {}).get(label, []) if "seconds" in r])
                  for k in SERVERS if not k.startswith("wharfd")}
        others = {k: v for k, v in others.items() if v["median"] is not None}
        if w["median"] is not None and others:
            best = min(others, key=lambda k: others[k]["median"])
            lines.append(f"- {label}: best peer {best} {others[best]['median']:.2f} s, wharfd "
                         f"{w['median']:.2f} s: ×{others[best]['median'] / w['median']:.2f}")
    def seconds(kind: str, label: str) -> dict:
        return summary([r["seconds"] for r in R.get(kind, {}).get(label, []) if "seconds" in r])

    durable = [(label, (seconds("wharfd", label), seconds("wharfd-nosync", label)))
               for label in labels if label in R.get("wharfd-nosync", {})]
    if durable:
        lines += ["", "What durable uploads cost (wharfd's default fsyncs every upload and its "
                  "directory before the 226; `wharfd-nosync` does not):", ""]
    for label, (on, off) in durable:
        if on["median"] is not None and off["median"] is not None:
            lines.append(f"- {label}: {on['median']:.2f} s durable, {off['median']:.2f} s without: "
                         f"×{on['median'] / off['median']:.2f} the time")
    (OUT / "trees-report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> int:
    if "trees" in set(os.environ.get("BENCH_SKIP", "").split(",")):
        log("skipped (BENCH_SKIP=trees)")
        return 0
    if os.geteuid() != 0:
        raise SystemExit("trees_bench.py runs the peers as bench.py does: as root")
    prepare_files()
    make_trees()
    certs = peers.make_certs(CERTS) if FTPS_SERVERS else None
    R: dict = {}
    for n in range(RUNS):
        log(f"round {n + 1} of {RUNS}")
        # Every other round in reverse: a server run just after another
        # starts with that one's data connections in TIME_WAIT.
        turn = 1 if n % 2 == 0 else -1
        for kind in SERVERS[::turn]:
            one_round(kind, R)
        for kind in FTPS_SERVERS[::turn]:
            one_round(kind, R, certs)
    write(R)
    return 0


if __name__ == "__main__":
    sys.exit(main())
