#!/usr/bin/env python3
"""Many small files (issue 20): a tree of BENCH_TREE_FILES files of 4 KiB
in BENCH_TREE_DIRS directories (default 10,000 in 100), and BENCH_MID_FILES
files of 1 MiB (default 1,000), mirrored by lftp (a client nobody here
wrote) from and to wharfd, vsftpd, pure-ftpd, ProFTPD and pyftpdlib — with
lftp's default (one transfer at a time) and with `--parallel=8` — and by
`wharf mirror -j 8` from wharfd and vsftpd. Plain FTP; files per second and
MB/s, medians with [min–max] over BENCH_TREE_RUNS rounds (default 2),
servers interleaved in each round. Nothing is asserted.

Called alone, as root, from the repository root (after bench.py made its
tree; the servers are bench.py's):

    WHARFD=$CARGO_TARGET_DIR/release/wharfd WHARF=$CARGO_TARGET_DIR/release/wharf \\
        python3 bench/trees_bench.py

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
    HOST, OUT, ROOT, UPDIR, WORK, BenchPeer, WharfServer, env_int, prepare_files, summary)

RUNS = env_int("BENCH_TREE_RUNS", 2)
FILES = env_int("BENCH_TREE_FILES", 10_000)
DIRS = env_int("BENCH_TREE_DIRS", 100)
MID = env_int("BENCH_MID_FILES", 1_000)
SERVERS = [s for s in os.environ.get(
    "BENCH_TREE_SERVERS", "wharfd,vsftpd,pure-ftpd,proftpd,pyftpdlib").split(",") if s]
WHARF = os.environ.get("WHARF") or str(
    Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/wharf-target")) / "release" / "wharf")
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


def start(kind: str):
    if kind == "wharfd":
        return WharfServer(None).start()
    srv = BenchPeer(kind, 200)
    srv.start()
    return srv


def lftp(srv, command: str) -> list[str]:
    return ["lftp", "-c",
            "set cmd:fail-exit yes; set net:max-retries 1; set ftp:ssl-allow no; "
            f"set xfer:clobber on; open -u {srv.user},{srv.password} -p {srv.port} {HOST}; {command}"]


def timed(argv: list[str], timeout: float = 900) -> dict:
    t = time.perf_counter()
    cp = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
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


def one_round(kind: str, R: dict) -> None:
    srv = start(kind)
    try:
        cases: list[tuple[str, str, object]] = []
        for tree in (SMALL_TREE, MID_TREE):
            name = tree.name
            for par in (1, 8):
                p = "" if par == 1 else f" --parallel={par}"
                cases.append((f"lftp mirror{p} {name}", "down",
                              lambda d, name=name, p=p: lftp(srv, f"mirror{p} {name} {d}")))
            if tree is SMALL_TREE:
                for par in (1, 8):
                    p = "" if par == 1 else f" --parallel={par}"
                    cases.append((f"lftp mirror -R{p} {name}", "up",
                                  lambda d, name=name, p=p: lftp(
                                      srv, f"mirror -R{p} {SMALL_TREE} up/{d.name}")))
            if kind in ("wharfd", "vsftpd"):
                url = f"ftp://{srv.user}:{srv.password}@{HOST}:{srv.port}/{name}/"
                cases.append((f"wharf mirror -j 8 {name}", "down",
                              lambda d, url=url: [WHARF, "mirror", "-q", "-j", "8", url, str(d)]))
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
             f"interleaved; medians [min–max]; plain FTP on 127.0.0.1. Trees: `{SMALL_TREE.name}` = "
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
        peers = {k: summary([r["seconds"] for r in R.get(k, {}).get(label, []) if "seconds" in r])
                 for k in SERVERS if k != "wharfd"}
        peers = {k: v for k, v in peers.items() if v["median"] is not None}
        if w["median"] is not None and peers:
            best = min(peers, key=lambda k: peers[k]["median"])
            lines.append(f"- {label}: best peer {best} {peers[best]['median']:.2f} s, wharfd "
                         f"{w['median']:.2f} s: ×{peers[best]['median'] / w['median']:.2f}")
    (OUT / "trees-report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> int:
    if os.geteuid() != 0:
        raise SystemExit("trees_bench.py runs the peers as bench.py does: as root")
    prepare_files()
    make_trees()
    R: dict = {}
    for n in range(RUNS):
        log(f"round {n + 1} of {RUNS}")
        for kind in SERVERS:
            one_round(kind, R)
    write(R)
    return 0


if __name__ == "__main__":
    sys.exit(main())
