#!/usr/bin/env python3
"""Password logins side by side (issue 20): the 200-client password-login
burst, and memory before, during and after a flood of 1,000 password
logins, wharfd against vsftpd, pure-ftpd, ProFTPD and pyftpdlib, on
127.0.0.1, in one run.

Called by `bash bench/run.sh` after bench/bench.py (skip it with
BENCH_SKIP=login), or alone, as root, from the repository root:

    WHARFD=$CARGO_TARGET_DIR/release/wharfd LOADGEN=... python3 bench/login_bench.py
    python3 bench/login_bench.py --render   # report and chart again from the JSON

A script of its own, as sftp_bench.py is: it writes login-report.json,
login-report.md and a chart (login-report.png, or .svg without matplotlib)
beside report.md, and borrows bench.py's servers (wharfd and the peers,
started and stopped by PID), load generator, /proc helpers and summaries.

What it measures:
  - burst: N clients (BENCH_LOGIN_CLIENTS, 200) at once, each logging in
    with the account's password and downloading the 10 MiB file (the
    load generator's `burst` mode, data discarded in the kernel). Each
    round starts every wharfd afresh and runs two bursts back to back:
    the first finds the credential cache empty (every login is an Argon2
    verification: "first login"), the second finds it full ("repeated
    login"). `wharfd-nocache` runs with `credential_cache = false` (every
    login verified, both bursts). The peers run the same two bursts.
    Reported: seconds to the last transfer, logins per second (clients
    over the time to the last 230), p50/p99 of the login, failures.
  - flood: each server started alone; RSS (summed over its process tree,
    from /proc) after one warm-up login ("start"), with 1,000 password
    sessions open ("held", and again 3 s later, after wharfd's verifier
    threads give their memory back), and after they all closed ("after",
    and 3 s later). The goal of issue 20 is shown next to wharfd's
    figures: after 1,000 password logins, RSS at most start + 25 MiB +
    4 KiB per open session.

`WHARFD_BEFORE=/path/to/wharfd` adds `wharfd-before`, another build (the
commit before a change), run exactly as wharfd, so before and after are
measured in the same run.

Environment (all optional):
  BENCH_LOGIN_CLIENTS   burst size (default 200)
  BENCH_LOGIN_FLOOD     sessions of the flood (default 1000; 0 skips it)
  BENCH_LOGIN_RUNS      rounds of the burst (default 3)
  BENCH_LOGIN_SERVERS   contenders (default wharfd,wharfd-nocache,vsftpd,
                        pure-ftpd,proftpd,pyftpdlib, plus wharfd-before
                        when WHARFD_BEFORE is set)
  BENCH_SKIP            `login` skips all of this (run.sh), `login-flood`
                        the memory part, `login-burst` the bursts
  BENCH_OUT, BENCH_WORK, WHARFD, LOADGEN   as for bench.py
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import (  # noqa: E402  (bench/bench.py: servers, load generator, /proc helpers)
    HOST, LOADGEN, OUT, PASSWORD, PER_IP, ROOT, SMALL, SMALL_MB, WHARFD, BenchPeer,
    WharfServer, env_int, loadgen, med_of, proc_tree, read_line_with_timeout, summary, tree_mem)

CLIENTS = env_int("BENCH_LOGIN_CLIENTS", 200)
FLOOD = env_int("BENCH_LOGIN_FLOOD", 1000)
RUNS = env_int("BENCH_LOGIN_RUNS", 3)
BEFORE = os.environ.get("WHARFD_BEFORE", "")
SKIP = set(x for x in os.environ.get("BENCH_SKIP", "").split(",") if x)
PEERS = ["vsftpd", "pure-ftpd", "proftpd", "pyftpdlib"]
DEFAULT = ["wharfd", "wharfd-nocache"] + (["wharfd-before"] if BEFORE else []) + PEERS
SERVERS = [s for s in os.environ.get("BENCH_LOGIN_SERVERS", ",".join(DEFAULT)).split(",") if s]
CAP = max(CLIENTS, FLOOD) + 100
# One account, many sessions: wharfd allows 10 per account by default.
WHARFD_CONFIG = f"max_sessions_per_user = {CAP}\n"
GOAL_MIB, GOAL_KIB_PER_SESSION = 25, 4
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[login-bench {time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def start(kind: str):
    """A contender on a free port: wharfd builds with the account's session
    cap raised (see WHARFD_CONFIG), or a peer from bench.py."""
    if kind.startswith("wharfd"):
        config = WHARFD_CONFIG + ("credential_cache = false\n" if kind == "wharfd-nocache" else "")
        binary = BEFORE if kind == "wharfd-before" else WHARFD
        return WharfServer(CAP, config=config, kind=kind, binary=binary).start()
    srv = BenchPeer(kind, CAP)
    srv.start()
    return srv


def burst(srv) -> dict:
    r = loadgen("burst", srv, user=srv.user, **{"pass": srv.password}, clients=CLIENTS, path=SMALL.name,
                expect_bytes=SMALL.stat().st_size, per_ip=PER_IP, discard=1, timeout=180)
    return r


def phase_burst(R: dict) -> None:
    """Each round: every contender started, two bursts (first, repeated),
    stopped; contenders in the same order every round."""
    raw: dict[str, list[dict]] = {}
    for rnd in range(RUNS):
        for kind in SERVERS:
            try:
                srv = start(kind)
            except Exception as e:  # noqa: BLE001
                R.setdefault("start_errors", {})[kind] = str(e)[:2000]
                log(f"could not start {kind}: {e}")
                continue
            try:
                for which in ("first", "repeated"):
                    r = burst(srv)
                    raw.setdefault(f"{kind}/{which}", []).append(r)
                    log(f"round {rnd + 1} {kind} {which}: {r.get('ok')} ok, {r.get('failed')} failed, "
                        f"{r.get('last_ok_s')} s, {r.get('logins_per_s')} logins/s, "
                        f"server CPU {r.get('server_cpu_pct')}% {r.get('error') or ''}")
                    time.sleep(0.5)
            finally:
                srv.stop()
            time.sleep(1)
    out = {}
    for key, runs in raw.items():
        good = [r for r in runs if "error" not in r]
        out[key] = {"last_ok_s": summary([r.get("last_ok_s") for r in good]),
                    "logins_per_s": summary([r.get("logins_per_s") for r in good]),
                    "login_last_s": summary([r.get("login_last_s") for r in good]),
                    "login_p50_s": summary([r.get("login_p50_s") for r in good]),
                    "login_p99_s": summary([r.get("login_p99_s") for r in good]),
                    "mb_s": summary([r.get("mb_s") for r in good]),
                    "failed": summary([r.get("failed") for r in good]),
                    "reasons": [r.get("reasons") for r in good if r.get("failed")],
                    "server_cpu_pct": med_of(good, "server_cpu_pct"),
                    "loadgen_cpu_pct": med_of(good, "loadgen_cpu_pct"),
                    "errors": [r["error"] for r in runs if "error" in r], "raw": runs}
    R["burst"] = out


def sample(srv, label: str, step: dict) -> None:
    step[label] = tree_mem(srv.pid)
    log(f"  {label}: RSS {step[label]['rss_kib'] / 1024:.1f} MiB over {step[label]['processes']} processes")


class PeakSampler:
    """The largest RSS of a process tree, sampled every 0.1 s on a thread
    until stopped ("during" the flood, while its logins are checked)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.samples = pid, None, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.done.wait(0.1):
            m = tree_mem(self.pid)
            self.samples += 1
            if self.peak is None or m["rss_kib"] > self.peak["rss_kib"]:
                self.peak = m

    def stop(self) -> dict | None:
        self.done.set()
        self.thread.join(5)
        return self.peak


def flood_one(kind: str) -> dict:
    step: dict = {}
    srv = start(kind)
    try:
        # One login first, so that lazily loaded code counts in the start.
        loadgen("rate", srv, user=srv.user, **{"pass": srv.password}, workers=1, secs=0.2, max_cycles=1,
                timeout=30)
        time.sleep(2)
        sample(srv, "start", step)
        argv = [LOADGEN, "idle", "--host", HOST, "--port", str(srv.port), "--user", srv.user,
                "--pass", srv.password, "--clients", str(FLOOD), "--per-ip", str(PER_IP),
                "--concurrency", "64", "--hold-secs", "300", "--open-secs", "240", "--max-secs", "400"]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peak = PeakSampler(srv.pid)
        try:
            line = read_line_with_timeout(p, 300)
            step["peak_opening"] = peak.stop()
            if not line:
                step["error"] = "load generator gave no ready line"
                return step
            ready = json.loads(line)
            step.update({"ok": ready.get("ok"), "failed": ready.get("failed"),
                         "reasons": ready.get("reasons"), "open_s": ready.get("wall_s"),
                         "logins_per_s": round((ready.get("ok") or 0) / ready["wall_s"], 1)
                         if ready.get("wall_s") else None})
            log(f"  {step['ok']} sessions open in {step['open_s']:.2f} s ({step['failed']} failed)")
            time.sleep(1)
            sample(srv, "held", step)
            time.sleep(3)
            sample(srv, "held_3s", step)
            p.stdin.write(b"done\n")
            p.stdin.flush()
            read_line_with_timeout(p, 60)
        finally:
            with contextlib.suppress(Exception):
                p.stdin.close()
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        end = time.monotonic() + 60
        while time.monotonic() < end and len(proc_tree(srv.pid)) > max(step["start"]["processes"], 1):
            time.sleep(0.5)
        time.sleep(1)
        sample(srv, "after", step)
        time.sleep(3)
        sample(srv, "after_3s", step)
    finally:
        srv.stop()
    base = step["start"]["rss_kib"]
    ok = step.get("ok") or 0
    for label in ("peak_opening", "held", "held_3s", "after", "after_3s"):
        if step.get(label):
            step[f"{label}_growth_mib"] = round((step[label]["rss_kib"] - base) / 1024, 1)
    if ok:
        step["held_per_session_kib"] = round((step["held_3s"]["rss_kib"] - base) / ok, 2)
        step["goal_kib"] = GOAL_MIB * 1024 + GOAL_KIB_PER_SESSION * ok
        step["held_3s_within_goal"] = step["held_3s"]["rss_kib"] - base <= step["goal_kib"]
    return step


def phase_flood(R: dict) -> None:
    R["flood"] = {}
    for kind in SERVERS:
        log(f"flood {kind}: {FLOOD} password sessions")
        try:
            R["flood"][kind] = flood_one(kind)
        except Exception as e:  # noqa: BLE001
            R["flood"][kind] = {"error": str(e)[:2000]}
            log(f"flood {kind}: {e}")
        time.sleep(2)


# ---------------------------------------------------------------- report

def fmt(s: dict | None, digits: int = 2) -> str:
    if not s or s.get("median") is None:
        return "n/a"
    f = f"{{:,.{digits}f}}"
    if s["n"] == 1:
        return f.format(s["median"])
    return f"{f.format(s['median'])} [{f.format(s['min'])}–{f.format(s['max'])}]"


def write_report(R: dict) -> None:
    L = ["# Password logins: burst and memory (issue 20)", "",
         f"Run {R['started']} on {R['machine']['nproc']} cores, Linux {R['machine']['kernel']}; "
         f"load average {R['machine']['loadavg_start'][0]:.2f} at the start, "
         f"{R['machine'].get('loadavg_end', [0])[0]:.2f} at the end."
         + (" **The CPU was shared** with other work (builds and tests of other engineers) during this run: "
            "compare contenders within the run, not absolute figures across runs."
            if R["machine"]["loadavg_start"][0] > 0.5 else ""), "",
         f"Each figure is the median of {RUNS} rounds with [min–max]. Produced by `bench/login_bench.py`; "
         "raw numbers in `login-report.json`.", ""]
    B = R.get("burst", {})
    if B:
        L += [f"## {CLIENTS} clients at once, each: password login + RETR of {SMALL_MB} MiB", "",
              "\"first\": the first burst after the server started (wharfd's credential cache is empty: "
              "every login is an Argon2 verification); \"repeated\": the same burst again right after "
              "(every login a cache hit). `wharfd-nocache` verifies every login (`credential_cache = false`)."
              + (" `wharfd-before` is the build of the commit before this work." if BEFORE else ""), "",
              "| server | burst | logins/s | last login (s) | login p99 (s) | last transfer (s) | failed | server CPU |",
              "|---|---|---|---|---|---|---|---|"]
        for kind in SERVERS:
            for which in ("first", "repeated"):
                b = B.get(f"{kind}/{which}")
                if not b:
                    continue
                L.append(f"| {kind} | {which} | {fmt(b['logins_per_s'], 0)} | {fmt(b['login_last_s'])} | "
                         f"{fmt(b['login_p99_s'])} | {fmt(b['last_ok_s'])} | {fmt(b['failed'], 0)} | "
                         f"{b['server_cpu_pct'] or 'n/a'}% |")
        L.append("")
        best = best_peer(B)
        if best:
            L += [f"Best peer by time to the last transfer: {best[0]} ({best[1]:.2f} s). "
                  + "; ".join(f"{k} {w}: ×{(B[f'{k}/{w}']['last_ok_s']['median'] or 0) / best[1]:.2f} of it"
                              for k in SERVERS if k.startswith("wharfd") for w in ("first", "repeated")
                              if B.get(f"{k}/{w}", {}).get("last_ok_s", {}).get("median"))
                  + " (issue 20's goal: within 1.5×).", ""]
    F = R.get("flood", {})
    if F:
        L += [f"## RSS before, during and after {FLOOD} password sessions", ""]
        if R.get("flood_started"):
            L += [f"Measured by a second invocation at {R['flood_started']} (`BENCH_SKIP=login-burst`, load "
                  f"average {R.get('flood_loadavg', ['?'])[0]} at its start) and merged into this report.", ""]
        L += [
              "RSS summed over the server's processes (the forking servers have one or two per session, "
              "so their sum counts shared pages once per process; PSS shares them out). "
              "\"peak while opening\": the largest RSS sampled every 0.1 s while the logins were checked; "
              "\"held +3 s\": the sessions still open, 3 s later (wharfd's verifier threads give their "
              "Argon2 memory back after 1 s without work). Goal (issue 20): RSS with the sessions open "
              f"at most start + {GOAL_MIB} MiB + {GOAL_KIB_PER_SESSION} KiB per session.", "",
              "| server | sessions | opened in (s) | start (MiB) | peak while opening | held | held +3 s | after close | after +3 s | per held session (KiB) | PSS per held session (KiB) | goal |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for kind in SERVERS:
            f = F.get(kind)
            if not f:
                continue
            if "error" in f or "start" not in f:
                L.append(f"| {kind} | error: {f.get('error', '?')[:120]} | | | | | | | | | | |")
                continue
            mib = lambda k: f"+{f[k + '_growth_mib']:.1f}" if k + "_growth_mib" in f else "n/a"  # noqa: E731
            goal = ("met" if f.get("held_3s_within_goal") else "missed") if kind.startswith("wharfd") else ""
            pss = "n/a"
            if f.get("ok") and "held_3s" in f:
                pss = round((f["held_3s"]["pss_kib"] - f["start"]["pss_kib"]) / f["ok"], 2)
            L.append(f"| {kind} | {f.get('ok')} ({f.get('failed')} failed) | {f.get('open_s', 0):.2f} | "
                     f"{f['start']['rss_kib'] / 1024:.1f} | {mib('peak_opening')} | {mib('held')} | {mib('held_3s')} | {mib('after')} | "
                     f"{mib('after_3s')} | {f.get('held_per_session_kib', 'n/a')} | {pss} | {goal} |")
        L.append("")
    L += ["## Settings", "",
          "- What each server verifies: wharfd an Argon2id hash (19 MiB, 2 passes: tens of ms of one core, "
          "on purpose); vsftpd and ProFTPD a SHA-512-crypt (`$6$`, 5,000 rounds, about a millisecond) through "
          "PAM / their AuthUserFile, pure-ftpd the same hash from its PureDB (tests/peers/peers.py writes them "
          "so); pyftpdlib compares the plain text its DummyAuthorizer keeps.",
          f"- wharfd (every build): `max_sessions_per_user = {CAP}` and `--max-sessions {CAP}` (one account, "
          "many sessions), otherwise as in report.md; `wharfd-nocache`: `credential_cache = false`.",
          f"- peers: as bench.py starts them (see report.md's settings), client cap {CAP}.",
          f"- clients spread over source addresses 127.1.x.y, {PER_IP} per address.", ""]
    (OUT / "login-report.md").write_text("\n".join(L))


def best_peer(B: dict) -> tuple[str, float] | None:
    best = None
    for kind in PEERS:
        for which in ("first", "repeated"):
            m = B.get(f"{kind}/{which}", {}).get("last_ok_s", {}).get("median")
            if m and (best is None or m < best[1]) and not B[f"{kind}/{which}"]["failed"].get("median"):
                best = (kind, m)
    return best


def chart(R: dict) -> None:
    import chart as ch
    B, F = R.get("burst", {}), R.get("flood", {})
    kinds = [k for k in SERVERS if f"{k}/first" in B or k in F]
    med = lambda d: (d or {}).get("median")  # noqa: E731
    ps = []
    if B:
        ps.append({"title": f"{CLIENTS} password logins at once: logins per second (higher is better)",
                   "unit": "per s", "log": True, "groups": kinds,
                   "series": {w: [med(B.get(f"{k}/{w}", {}).get("logins_per_s")) for k in kinds]
                              for w in ("first", "repeated")}})
        ps.append({"title": f"{CLIENTS} × (password login + {SMALL_MB} MiB): seconds to the last transfer",
                   "unit": "s", "groups": kinds,
                   "series": {w: [med(B.get(f"{k}/{w}", {}).get("last_ok_s")) for k in kinds]
                              for w in ("first", "repeated")}})
    if F:
        ps.append({"title": f"RSS over start, {FLOOD} password sessions (lower is better; forks summed)",
                   "unit": "MiB", "log": True, "groups": kinds,
                   "series": {lab: [F.get(k, {}).get(f"{key}_growth_mib") for k in kinds]
                              for lab, key in (("peak while opening", "peak_opening"), ("held", "held"),
                                               ("held +3 s", "held_3s"),
                                               ("after close +3 s", "after_3s"))},
                   "lines": {f"goal: {GOAL_MIB} MiB + {GOAL_KIB_PER_SESSION} KiB × {FLOOD}":
                             GOAL_MIB + GOAL_KIB_PER_SESSION * FLOOD / 1024}})
    try:
        ch.draw_png(R, OUT / "login-report.png", ps=ps, title=f"Password logins — {R['started']}")
        (OUT / "login-report.svg").unlink(missing_ok=True)
    except ImportError:
        ch.draw_svg(R, OUT / "login-report.svg", ps=ps)
        (OUT / "login-report.png").unlink(missing_ok=True)


def render() -> int:
    """login-report.md and the chart again from login-report.json (run.sh
    measures with python3, whose peers' modules are installed, then draws
    with the interpreter that has matplotlib)."""
    R = json.loads((OUT / "login-report.json").read_text())
    cfg = R["config"]
    globals().update(SERVERS=cfg["servers"], CLIENTS=cfg["clients"], FLOOD=cfg["flood"],
                     RUNS=cfg["runs"], BEFORE=cfg["before"])
    write_report(R)
    chart(R)
    return 0


def main() -> int:
    if "login" in SKIP:
        return 0
    if "--render" in sys.argv:
        return render()
    for b in (WHARFD, LOADGEN) + ((BEFORE,) if BEFORE else ()):
        if not os.access(b, os.X_OK):
            print(f"login-bench: {b} is missing; run `bash bench/run.sh`", file=sys.stderr)
            return 1
    if not SMALL.exists() or SMALL.stat().st_size != SMALL_MB << 20:
        ROOT.mkdir(parents=True, exist_ok=True)
        SMALL.write_bytes(os.urandom(SMALL_MB << 20))
    R: dict = {"config": {"clients": CLIENTS, "flood": FLOOD, "runs": RUNS, "servers": SERVERS,
                          "before": BEFORE, "skip": sorted(SKIP)},
               "machine": {"nproc": os.cpu_count(), "kernel": platform.release(),
                           "loadavg_start": os.getloadavg()},
               "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    log(f"config: {json.dumps(R['config'])}")
    if "login-burst" not in SKIP:
        phase_burst(R)
        save(R)
    if "login-flood" not in SKIP and FLOOD:
        phase_flood(R)
    R["machine"]["loadavg_end"] = os.getloadavg()
    R["elapsed_s"] = round(time.monotonic() - T0, 1)
    save(R)
    write_report(R)
    chart(R)
    log(f"done in {R['elapsed_s']} s: {OUT / 'login-report.md'}")
    return 0


def save(R: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "login-report.json.tmp"
    tmp.write_text(json.dumps(R, indent=1, default=str))
    tmp.replace(OUT / "login-report.json")


if __name__ == "__main__":
    sys.exit(main())
