"""Writes bench/out/report.md from the results dict of bench.py (report.json).

Also usable alone: `python3 bench/report.py [bench/out]` re-renders the
Markdown from an existing report.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets  # noqa: E402  (the goals of issues 17 and 20, from the other reports)

NAMES = {"wharfd": "wharfd", "wharfd-nosync": "wharfd (no fsync)", "vsftpd": "vsftpd", "pure-ftpd": "pure-ftpd", "proftpd": "ProFTPD",
         "pyftpdlib": "pyftpdlib"}


def fmt(x, digits=0, unit=""):
    if x is None:
        return "n/a"
    if isinstance(x, float) and digits == 0 and abs(x) < 10:
        digits = 2 if abs(x) < 1 else 1
    return f"{x:,.{digits}f}{unit}"


def rng(s: dict | None, digits=0) -> str:
    """median [min–max] (n runs)"""
    if not s or s.get("median") is None:
        return "n/a"
    if s.get("n", 0) <= 1:
        return fmt(s["median"], digits)
    return f"{fmt(s['median'], digits)} [{fmt(s['min'], digits)}–{fmt(s['max'], digits)}]"


def ratio(x, base) -> str:
    if x is None or not base:
        return ""
    return f" (×{x / base:.2f})"


def write_limit(C: dict):
    """The disk write limit: the faster of the two dd runs (plain write,
    conv=fsync) — both put the same bytes on the same disk."""
    v = [C.get(k, {}).get("seconds", {}).get("median")
         for k in ("limit/disk write (dd bs=1M, no sync)", "limit/disk write (dd bs=1M conv=fsync)")]
    v = [x for x in v if x]
    return min(v) if v else None


def p99_eff(b: dict, n: int):
    """p99 over all N transfers, a failed one counting as infinitely slow."""
    p99 = (b.get("p99_s") or {}).get("median")
    failed = (b.get("failed") or {}).get("median")
    if p99 is None or failed is None:
        return None
    return float("inf") if failed > 0.01 * n else p99


def write(R: dict, out: Path) -> None:
    out = Path(out)
    servers = [s for s in R["config"]["servers"] if s not in R.get("start_errors", {})]
    S = R.get("single", {})
    L = []
    w = L.append
    quick = R["config"]["quick"]
    big_mb = R["config"]["big_mb"]
    w("# Wharf benchmark report")
    w("")
    w(f"Run {R.get('started')} on {R['machine']['nproc']} cores, {R['machine']['mem_gib']} GiB, Linux "
      f"{R['machine']['kernel']}; took {R.get('elapsed_s')} s. "
      f"{'**QUICK smoke run (BENCH_QUICK=1): small sizes, 1 run each — not for comparison.** ' if quick else ''}"
      f"Big file {big_mb} MiB; {R['config']['runs']} runs per fast figure, {R['config']['heavy_runs']} per "
      f"burst / client figure; every figure is the median, with [min–max] over the runs.")
    w("")
    w("Command: `bash bench/run.sh` (sizes from `BENCH_BIG_MB`, `BENCH_QUICK=1`, ... — see bench/README.md). "
      "Everything on 127.0.0.1; each contender was started by the benchmark and stopped by PID.")
    w("")
    v = R.get("versions", {})
    w("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".")
    w("")
    la = R.get("loadavg", {})
    w("Load average (1, 5, 15 min) when each phase began: "
      + "; ".join(f"{ph} {', '.join(f'{x:.2f}' for x in v)}" for ph, v in la.items())
      + ". Other work on the machine adds noise (see the [min–max] ranges); the memory phase's own thousands of "
      "server processes raise it at the end.")
    if R.get("start_errors"):
        w("")
        for k, e in R["start_errors"].items():
            w(f"- **{k} did not start**: `{e.splitlines()[0][:300]}`")
    w("")
    w("![chart](report.png)" if (out / "report.png").exists() else "![chart](report.svg)")
    w("")

    lim_copy = S.get("limit_copy", {}).get("summary", {}).get("median")
    lim_disc = S.get("limit_discard", {}).get("summary", {}).get("median")

    def single(kind, what):
        return S.get(f"{kind}/{what}", {}).get("summary", {}).get("median")

    B = R.get("burst", {})
    bursts = R["config"]["bursts"]
    nmax = max(bursts) if bursts else None
    RT = R.get("rate", {})
    LS = R.get("list", {})
    M = R.get("memory", {})
    idle = R["config"]["idle"]

    def mem_per_conn(kind, n, key="rss_per_conn_kib"):
        return M.get(kind, {}).get("steps", {}).get(str(n), {}).get(key)

    # ------------------------------------------------------------ headline
    w("## Headline figures")
    w("")
    w("Cells: median (×ratio = this server's figure ÷ wharfd's). Transfers also as % of the loopback "
      "sendfile limit measured in the same run.")
    w("")
    w("| figure | " + " | ".join(NAMES.get(s, s) for s in servers) + " |")
    w("|---|" + "---|" * len(servers))

    def row(label, getter, digits=0, pct_of=None, unit=""):
        base = getter("wharfd") if "wharfd" in servers else None
        cells = []
        for s in servers:
            x = getter(s)
            c = fmt(x, digits, unit)
            if pct_of and x is not None:
                c += f" ({100 * x / pct_of:.0f}%)"
            if s != "wharfd":
                c += ratio(x, base)
            cells.append(c)
        w(f"| {label} | " + " | ".join(cells) + " |")

    row(f"RETR {big_mb} MiB, MB/s (client copies; % of {fmt(lim_copy)} MB/s limit)",
        lambda s: single(s, "retr"), pct_of=lim_copy)
    row(f"RETR {big_mb} MiB, MB/s (client discards; % of {fmt(lim_disc)} MB/s limit)",
        lambda s: single(s, "retr_discard"), pct_of=lim_disc)
    row(f"STOR {big_mb} MiB, MB/s (% of copy limit)", lambda s: single(s, "stor"), pct_of=lim_copy)
    row(f"LIST of {R['config']['list_n']:,} entries, ms", lambda s: LS.get(s, {}).get("summary", {}).get("median"), 1)
    for n in bursts:
        base = B.get(f"wharfd/{n}", {}).get("last_ok_s", {}).get("median")
        cells = []
        for s in servers:
            b = B.get(f"{s}/{n}", {})
            t, f = b.get("last_ok_s", {}).get("median"), b.get("failed", {}).get("median")
            c = f"{fmt(t, 2)} s, **{fmt(f)} failed**" if f else f"{fmt(t, 2)} s, 0 failed"
            if s != "wharfd" and not f:
                c += ratio(t, base)
            cells.append(c)
        w(f"| burst {n} × 10 MiB: time to the last successful transfer, failures | " + " | ".join(cells) + " |")
        base = p99_eff(B.get(f"wharfd/{n}", {}), n)
        cells = []
        for s in servers:
            x = p99_eff(B.get(f"{s}/{n}", {}), n)
            c = "failed >1%" if x == float("inf") else fmt(x, 2)
            if s != "wharfd" and x not in (None, float("inf")):
                c += ratio(x, base)
            cells.append(c)
        w(f"| burst {n}: p99 per transfer, s (a failure counts as infinitely slow) | " + " | ".join(cells) + " |")
    row("anonymous login+QUIT per s", lambda s: RT.get(f"{s}/anon", {}).get("summary", {}).get("median"))
    row("password login+QUIT per s", lambda s: RT.get(f"{s}/user", {}).get("summary", {}).get("median"))
    for n in idle:
        row(f"idle sessions: RSS KiB per connection at {n:,}", lambda s, n=n: mem_per_conn(s, n), 1)
    w("")

    # ------------------------------------------------------------ targets
    if "wharfd" in servers:
        w("## wharfd against the targets of issue 9 (reported, not asserted)")
        w("")
        w("| target | measured | met |")
        w("|---|---|---|")

        def yn(ok):
            return "n/a" if ok is None else ("yes" if ok else "**no**")
        r = single("wharfd", "retr")
        rd = single("wharfd", "retr_discard")
        w(f"| RETR ≥ 95% of the loopback limit | {fmt(r)} MB/s = {fmt(100 * r / lim_copy if r and lim_copy else None)}% "
          f"(copying client); {fmt(rd)} MB/s = {fmt(100 * rd / lim_disc if rd and lim_disc else None)}% (discarding) | "
          f"{yn(r / lim_copy >= 0.95 if r and lim_copy else None)} |")
        st, pst = single("wharfd", "stor"), single("pure-ftpd", "stor")
        w(f"| STOR ≥ 1.2× pure-ftpd | {fmt(st)} MB/s vs pure-ftpd {fmt(pst)} MB/s (×{st / pst:.2f}) | "
          f"{yn(st >= 1.2 * pst)} |" if st and pst else "| STOR ≥ 1.2× pure-ftpd | n/a | n/a |")
        lm = LS.get("wharfd", {}).get("summary", {}).get("median")
        w(f"| LIST of 10,000 entries ≤ 20 ms | {fmt(lm, 1)} ms | {yn(lm <= 20 if lm is not None else None)} |")
        if nmax:
            b = B.get(f"wharfd/{nmax}", {})
            t = b.get("last_ok_s", {}).get("median")
            f = b.get("failed", {}).get("median")
            ideal = nmax * 10 * 1048576 / (lim_disc * 1e6) if lim_disc else None
            p99 = p99_eff(b, nmax)
            peers_p99 = [p99_eff(B.get(f"{s}/{nmax}", {}), nmax) for s in servers if s != "wharfd"]
            peers_p99 = [x for x in peers_p99 if x is not None]
            w(f"| {nmax}-client burst: no failures | {fmt(f)} failed | {yn(f == 0 if f is not None else None)} |")
            w(f"| {nmax}-client burst within 10% of the loopback limit's time | {fmt(t, 2)} s vs "
              f"{fmt(ideal, 2)} s at the discard limit ({fmt(100 * t / ideal - 100 if t and ideal else None)}% over) | "
              f"{yn(t <= 1.1 * ideal if t and ideal else None)} |")
            best = min(peers_p99) if peers_p99 else None
            w(f"| {nmax}-client burst: p99 below every peer's (a peer losing >1% has an infinite p99) | {fmt(p99, 2)} s; peers' best "
              f"{'all lost >1%' if best == float('inf') else fmt(best, 2) + ' s'} | "
              f"{yn(p99 < min(peers_p99) if p99 is not None and peers_p99 else None)} |")
        for n in idle:
            x = mem_per_conn("wharfd", n)
            w(f"| idle: ≤ 4 KiB per connection ({n:,}) | {fmt(x, 1)} KiB RSS, "
              f"{fmt(mem_per_conn('wharfd', n, 'private_per_conn_kib'), 1)} KiB private | "
              f"{yn(x <= 4 if x is not None else None)} |")
        a = RT.get("wharfd/anon", {}).get("summary", {}).get("median")
        u = RT.get("wharfd/user", {}).get("summary", {}).get("median")
        w(f"| anonymous login+QUIT ≥ 5,000/s | {fmt(a)}/s | {yn(a >= 5000 if a is not None else None)} |")
        w(f"| password logins (reported) | {fmt(u)}/s with {R['config']['rate_workers']} clients; "
          f"p99 {fmt(RT.get('wharfd/user', {}).get('p99_ms'), 1)} ms | — |")
        fl = R.get("flood", {}).get("wharfd", {}).get("mb_s", {}).get("median")
        alone = single("wharfd", "retr")
        w(f"| a download during a password-login flood (reported) | {fmt(fl)} MB/s, "
          f"{fmt(100 * fl / alone if fl and alone else None)}% of the same download alone | — |")
        C = R.get("clients", {})
        lim = write_limit(C)
        g = C.get("down/wharf get", {}).get("seconds", {}).get("median")
        w(f"| `wharf get` ≥ 90% of the disk write limit (the faster dd) | {fmt(g, 2)} s vs {fmt(lim, 2)} s "
          f"({fmt(100 * lim / g if g and lim else None)}%) | {yn(lim / g >= 0.9 if g and lim else None)} |")
        p = C.get("up/wharf put", {}).get("seconds", {}).get("median")
        best = [C.get(k, {}).get("seconds", {}).get("median") for k in ("up/curl -T", "up/lftp put")]
        best = [x for x in best if x]
        w(f"| `wharf put` matches the best of curl -T and lftp put | {fmt(p, 2)} s vs {fmt(min(best) if best else None, 2)} s | "
          f"{yn(p <= 1.05 * min(best) if p and best else None)} |")
        w("")

    # ------------------------------------------------------------ issues 17 and 20
    for line in targets.lines(out):
        w(line)

    # ------------------------------------------------------------ the peer figures
    w("## The peers: issue 9's reference figures beside this run")
    w("")
    w("The issue quotes where the peers stood when it was written (same kind of machine, another day). "
      "This run's figures for the same things:")
    w("")
    w("| issue 9 says | this run |")
    w("|---|---|")
    w(f"| loopback sendfile limit ~3.5 GB/s | {fmt(lim_copy)} MB/s (client copies), {fmt(lim_disc)} MB/s (client discards) |")
    w(f"| RETR near the limit for vsftpd and pyftpdlib | vsftpd {fmt(single('vsftpd', 'retr'))}, pyftpdlib "
      f"{fmt(single('pyftpdlib', 'retr'))} MB/s (copying client) |")
    w(f"| STOR about 1.5–1.8 GB/s for pure-ftpd | {fmt(single('pure-ftpd', 'stor'))} MB/s |")
    w(f"| LIST of 10,000 entries in 45 ms (vsftpd, pure-ftpd) | vsftpd "
      f"{fmt(LS.get('vsftpd', {}).get('summary', {}).get('median'), 1)} ms, pure-ftpd "
      f"{fmt(LS.get('pure-ftpd', {}).get('summary', {}).get('median'), 1)} ms |")
    if nmax:
        cells = []
        for s in ("vsftpd", "pure-ftpd", "proftpd"):
            b = B.get(f"{s}/{nmax}", {})
            cells.append(f"{NAMES[s]} {fmt(b.get('failed', {}).get('median'))} failed")
        pb = B.get(f"pyftpdlib/{nmax}", {})
        w(f"| a 1000-client burst loses about half on vsftpd, pure-ftpd, ProFTPD | {nmax} clients: {', '.join(cells)} |")
        w(f"| pyftpdlib serves all 1000 × 10 MiB in about 4 s | {nmax} clients: "
          f"{fmt(pb.get('failed', {}).get('median'))} failed, {fmt(pb.get('last_ok_s', {}).get('median'), 2)} s |")
    if idle:
        w(f"| an idle session costs pyftpdlib about 4 KiB (unFTP about 16 KiB; not run here) | pyftpdlib "
          f"{fmt(mem_per_conn('pyftpdlib', max(idle)), 1)} KiB RSS per connection at {max(idle):,} |")
    C0 = R.get("clients", {})
    if C0:
        def cs(k):
            return fmt(C0.get(k, {}).get("seconds", {}).get("median"), 2)
        w(f"| 1 GiB from vsftpd: curl 2.8 s, ftplib 2.5 s, lftp 1.5 s; plain write 1.0 s | {big_mb} MiB: curl "
          f"{cs('down/curl')} s, ftplib {cs('down/python ftplib')} s, lftp {cs('down/lftp get')} s, wharf get "
          f"{cs('down/wharf get')} s; dd {cs('limit/disk write (dd bs=1M, no sync)')} s plain, "
          f"{cs('limit/disk write (dd bs=1M conv=fsync)')} s with fsync |")
    w("")

    # ------------------------------------------------------------ details
    w("## Single-stream transfers")
    w("")
    w("MB/s (10^6 bytes/s), median [min–max]; `spread` = (max−min)/median. CPU columns: the load generator's "
      "own CPU (getrusage, all threads) and the server's (its whole process tree from /proc), as % of one core "
      "over the transfer. *Copy*: the client reads into a 1 MiB buffer, as any client writing a file must. "
      "*Discard*: recv(MSG_TRUNC), the kernel drops the bytes — the cheapest possible client. The limits are the same "
      "bytes through one loopback TCP connection, sent by sendfile(2) (blocking 8 MiB calls) from a process of its "
      "own, as a server would be, to the same receive loop; their server-CPU column is that sender's.")
    w("")
    w("| what | MB/s | spread | % of limit | loadgen CPU | server CPU | errors |")
    w("|---|---|---|---|---|---|---|")
    for key, label, lim in (("limit_copy", "loopback sendfile limit (copy)", None),
                            ("limit_discard", "loopback sendfile limit (discard)", None)):
        d = S.get(key)
        if d:
            w(f"| {label} | {rng(d['summary'])} | {fmt(d['summary'].get('spread_pct'))}% | 100% | "
              f"{fmt(d.get('loadgen_cpu_pct'))}% | {fmt(d.get('server_cpu_pct'))}% (sender) | {len(d['errors'])} |")
    for what, label, lim in (("retr", "RETR, copy", lim_copy), ("retr_discard", "RETR, discard", lim_disc),
                             ("stor", "STOR", lim_copy)):
        for s in servers:
            d = S.get(f"{s}/{what}")
            if not d:
                continue
            m = d["summary"].get("median")
            w(f"| {label}: {NAMES.get(s, s)} | {rng(d['summary'])} | {fmt(d['summary'].get('spread_pct'))}% | "
              f"{fmt(100 * m / lim if m and lim else None)}% | {fmt(d.get('loadgen_cpu_pct'))}% | "
              f"{fmt(d.get('server_cpu_pct'))}% | {len(d['errors'])}{': ' + d['errors'][0][:80] if d['errors'] else ''} |")
    w("")
    w("STOR is timed from the STOR command to the server's final reply (the server has closed the file; no fsync); "
      "the client sends the cached file with sendfile(2).")
    w("")

    if LS:
        w(f"## LIST of a directory with {R['config']['list_n']:,} entries")
        w("")
        w("Milliseconds from EPSV to the final reply (data connection included), one session, "
          "the first listing discarded as warm-up.")
        w("")
        w("| server | ms | lines | bytes | server CPU | error |")
        w("|---|---|---|---|---|---|")
        for s in servers:
            d = LS.get(s, {})
            w(f"| {NAMES.get(s, s)} | {rng(d.get('summary'), 1)} | {fmt(d.get('lines'))} | {fmt(d.get('bytes'))} | "
              f"{fmt(d.get('server_cpu_pct'))}% | {d.get('error') or ''} |")
        w("")

    if B:
        w("## Concurrency: N clients at once, each logging in and downloading a 10 MiB file")
        w("")
        w(f"All N clients start together (anonymous logins; {R['config']['per_ip']} clients per source address "
          "127.1.x.y; the client discards the bytes; a transfer not done 15 s after its start counts as failed). Seconds = start to the last successful transfer; "
          "MB/s = bytes of successful transfers over that time; p50/p99 = per transfer, connect to final reply. "
          f"An ideal run at the discard limit ({fmt(lim_disc)} MB/s) moves N × 10 MiB in N × {fmt(10 * 1048576 / (lim_disc * 1e6) if lim_disc else None, 4)} s.")
        w("")
        w("| N | server | seconds | MB/s | % of discard limit | failed | p50 s | p99 s | loadgen CPU | server CPU | failure reasons, all runs together (stage: error) |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for n in bursts:
            for s in servers:
                d = B.get(f"{s}/{n}")
                if not d:
                    continue
                reasons = {}
                for rr in d.get("reasons") or []:
                    for k, c in (rr or {}).items():
                        reasons[k] = reasons.get(k, 0) + c
                rs = ", ".join(f"{k}: {c}" for k, c in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
                mbs = d["mb_s"].get("median")
                w(f"| {n} | {NAMES.get(s, s)} | {rng(d['last_ok_s'], 2)} | {rng(d['mb_s'])} | "
                  f"{fmt(100 * mbs / lim_disc if mbs and lim_disc else None)}% | {rng(d['failed'])} | "
                  f"{rng(d['p50_s'], 2)} | {rng(d['p99_s'], 2)} | {fmt(d.get('loadgen_cpu_pct'))}% | "
                  f"{fmt(d.get('server_cpu_pct'))}% | {rs}{' ' + d['errors'][0][:60] if d.get('errors') else ''} |")
        w("")

    if RT:
        w("## Connection rate: connect + USER/PASS + QUIT cycles")
        w("")
        w(f"{R['config']['rate_workers']} parallel clients for {R['config']['rate_secs']} s per run, "
          "from 127.0.0.1. Anonymous and password logins separately.")
        w("")
        w("| server | login | cycles/s | p99 ms | failed | loadgen CPU | server CPU |")
        w("|---|---|---|---|---|---|---|")
        for s in servers:
            for login in ("anon", "user"):
                d = RT.get(f"{s}/{login}")
                if not d:
                    continue
                w(f"| {NAMES.get(s, s)} | {'anonymous' if login == 'anon' else 'password'} | {rng(d['summary'])} | "
                  f"{fmt(d.get('p99_ms'), 1)} | {d.get('failed')} | {fmt(d.get('loadgen_cpu_pct'))}% | "
                  f"{fmt(d.get('server_cpu_pct'))}% |")
        w("")

    FL = R.get("flood", {})
    if FL:
        w("## A download during a password-login flood")
        w("")
        w(f"{R['config']['rate_workers']} clients log in with the account's password as fast as they can "
          "(as in the rate table) while one client downloads the big file (copying, as in the single-stream "
          "table). *Alone* is the copying RETR figure of the single-stream table. wharfd runs at most one "
          "Argon2 check per two cores at a time; the forking servers check each password in the session's "
          "own process.")
        w("")
        w("| server | RETR alone MB/s | RETR during the flood MB/s | during / alone | password logins/s during | server CPU | errors |")
        w("|---|---|---|---|---|---|---|")
        for s in servers:
            d = FL.get(s)
            if not d:
                continue
            alone = single(s, "retr")
            during = d["mb_s"].get("median")
            w(f"| {NAMES.get(s, s)} | {fmt(alone)} | {rng(d['mb_s'])} | "
              f"{fmt(100 * during / alone if during and alone else None)}% | {fmt(d.get('logins_per_s'))} | "
              f"{fmt(d.get('server_cpu_pct'))}% | {'; '.join(e[:80] for e in d['errors'])} |")
        w("")

    if M:
        w("## Memory of idle logged-in sessions")
        w("")
        w("Each server alone, its client cap raised; the load generator opens N anonymous sessions "
          "(8 logins in flight at a time, so that small listen backlogs do not drop them; up to 3 tries of 10 s each) and holds them. Memory of the server's whole process tree from /proc: "
          "*RSS sum* adds every process's VmRSS (fork-per-session servers count each child, shared pages again and "
          "again); *PSS* shares shared pages out; *private* is what each process alone holds. "
          "Per connection = (at N − before) ÷ sessions open. One measurement per N.")
        w("")
        w("| server | N | open | processes | RSS sum MiB | RSS KiB/conn | PSS KiB/conn | private KiB/conn | seconds to open | note |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for s in servers:
            d = M.get(s, {})
            if d.get("error"):
                w(f"| {NAMES.get(s, s)} | | | | | | | | | {d['error'][:120]} |")
                continue
            base = d.get("baseline", {})
            w(f"| {NAMES.get(s, s)} | 0 | | {base.get('processes')} | {fmt((base.get('rss_kib') or 0) / 1024, 1)} | | | | | baseline |")
            for n in idle:
                st = d.get("steps", {}).get(str(n), {})
                note = st.get("skipped") or st.get("error") or st.get("stopped") or ""
                if st.get("failed"):
                    note += f" {st['failed']} failed {st.get('reasons')}"
                if st.get("noop_checked") is not None:
                    note += f" NOOP ok on {st.get('noop_ok')}/{st.get('noop_checked')} sampled"
                mem = st.get("mem", {})
                w(f"| {NAMES.get(s, s)} | {n:,} | {fmt(st.get('ok'))} | {fmt(mem.get('processes'))} | "
                  f"{fmt(mem['rss_kib'] / 1024 if mem.get('rss_kib') else None, 1)} | {fmt(st.get('rss_per_conn_kib'), 1)} | "
                  f"{fmt(st.get('pss_per_conn_kib'), 1)} | {fmt(st.get('private_per_conn_kib'), 1)} | "
                  f"{fmt(st.get('open_s'), 1)} | {note.strip()} |")
        w("")

    C = R.get("clients", {})
    if C:
        w(f"## Clients: {big_mb} MiB down and up against the same vsftpd")
        w("")
        w("Wall time of the whole client process (start, login, transfer, exit), median [min–max]; downloads go "
          "into a file on the same disk as the server's files; every client, `wharf get` included (without "
          "`--fsync`), is done when the kernel has the bytes. "
          "The disk write limit is measured in the same run with `dd if=/dev/zero bs=1M count=N` into the same "
          "directory, once as a plain write (no sync) and once with `conv=fsync` (data on the disk); the write limit the "
          "downloads are compared with is the faster of the two. On this machine the plain write is repeatedly the "
          "*slower* one (its time is system CPU in dd: the first touch of page-cache memory the VM has just freed "
          "is expensive here), so the limit may be the fsync figure. Uploads: `wharf put` and the others send from "
          "the page cache with write(2). Client CPU = user+system of the client process.")
        w("")
        lim = write_limit(C)
        w("| direction | client | seconds | MB/s | vs limit / best | client CPU s | errors |")
        w("|---|---|---|---|---|---|---|")
        for k, d in C.items():
            if k.startswith("limit/"):
                w(f"| limit | {k[6:]} | {rng(d['seconds'], 2)} | {fmt(d.get('mb_s'))} | — | {fmt(d.get('cpu_s'), 2)} | "
                  f"{len(d['errors'])} |")
        best_up = [C.get(k, {}).get("seconds", {}).get("median") for k in C if k.startswith("up/") and "wharf" not in k]
        best_up = min([x for x in best_up if x] or [0]) or None
        for k, d in C.items():
            if k.startswith("limit/"):
                continue
            direction, name = k.split("/", 1)
            m = d["seconds"].get("median")
            if direction == "down":
                rel = f"{100 * lim / m:.0f}% of the write limit" if m and lim else "n/a"
            else:
                rel = f"×{m / best_up:.2f} the best peer's time" if m and best_up else "n/a"
            w(f"| {direction} | {name} | {rng(d['seconds'], 2)} | {fmt(d.get('mb_s'))} | {rel} | {fmt(d.get('cpu_s'), 2)} | "
              f"{len(d['errors'])}{': ' + d['errors'][0][:80] if d['errors'] else ''} |")
        w("")

    # ------------------------------------------------------------ settings
    w("## How each server ran: every change from its usual production settings")
    w("")
    w("The peers are started through tests/peers/peers.py (foreground, 127.0.0.1, a free port, a private temp "
      "dir, one local account `benchftp` mapped on a system account, stopped by PID). bench/bench.py then undoes "
      "peers.py's test-only settings and changes only what the benchmark needs to run at all:")
    w("")
    for k, changes in R.get("changes", {}).items():
        w(f"- **{NAMES.get(k, k)}**")
        for c in changes:
            w(f"  - {c}")
    w("")
    w("Phases: single-stream, LIST, connection rate and bursts run with all servers up at once (idle ones cost "
      "nothing) and interleaved in rounds; the clients run against vsftpd alone; the memory phase starts each "
      "server alone with its cap raised.")
    w("")
    w("## Method and caveats")
    w("")
    w("- The load generator (bench/loadgen, Rust + tokio, raw FTP, EPSV) reports its own CPU next to every "
      "figure; on 2 cores it shares the machine with the server, so a server that needs less CPU leaves more to the "
      "client, as on any single box.")
    w("- Only 127.0.0.0/8 is used; every load loop is bounded in count and time.")
    w("- The issue's reference figures (e.g. ~3.5 GB/s loopback, vsftpd LIST 45 ms) were measured on another "
      "day; compare the columns of this run with each other, not with them.")
    w("- Burst and idle sessions use anonymous logins: wharfd allows 10 sessions per account by default and "
      "hashes passwords with Argon2 on purpose; password logins are measured on their own in the rate table.")
    (out / "report.md").write_text("\n".join(L) + "\n")


if __name__ == "__main__":
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "out"
    write(json.loads((d / "report.json").read_text()), d)
    print(d / "report.md")
