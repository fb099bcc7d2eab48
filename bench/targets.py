"""The goals of issues 17 (SFTP) and 20 (FTPS, many files, password logins)
measured against the reports of one bench/run.sh: each goal, what this
run measured, and whether it is met. Reported, never asserted.

Reads the JSON files the scripts left in the report directory
(sftp-report.json, ftps-report.json, trees-report.json, login-report.json);
a goal whose figures are missing says so. report.py puts this table into
report.md; alone, `python3 bench/targets.py [bench/out]` prints it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PEERS = ("vsftpd", "pure-ftpd", "proftpd", "pyftpdlib")
SMALL = "small10000"


def load(out: Path, name: str) -> dict | None:
    try:
        return json.loads((out / name).read_text())
    except (OSError, ValueError):
        return None


def median(entry) -> float | None:
    """The median of a summary dict, or of a trees-report run list."""
    if isinstance(entry, dict):
        return entry.get("median")
    if isinstance(entry, list):
        secs = sorted(r["seconds"] for r in entry if "seconds" in r)
        if not secs or len(secs) < len(entry):   # a failed run: no figure
            return None
        mid = len(secs) // 2
        return secs[mid] if len(secs) % 2 else (secs[mid - 1] + secs[mid]) / 2
    return None


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("yes" if ok else "**no**")


def times(x: float | None, base: float | None) -> str:
    return "n/a" if not x or not base else f"×{x / base:.2f}"


class Table:
    def __init__(self) -> None:
        self.rows: list[str] = []

    def row(self, goal: str, measured: str, ok: bool | None) -> None:
        self.rows.append(f"| {goal} | {measured} | {verdict(ok)} |")

    def missing(self, goal: str, why: str) -> None:
        self.rows.append(f"| {goal} | {why} | not measured |")


def sftp_rows(t: Table, S: dict | None) -> None:
    if not S:
        t.missing("SFTP get and put ≥ 1.5× OpenSSH (issue 17)", "no sftp-report.json")
        return
    tr = S.get("transfers", {})
    for way in ("get", "put"):
        w = median(tr.get(f"wharfd/{way}", {}).get("mb_s"))
        o = median(tr.get(f"openssh/{way}", {}).get("mb_s"))
        t.row(f"SFTP {way} of {S['config'].get('mb')} MiB ≥ 1.5× OpenSSH sftp-server (issue 17)",
              f"{w or 0:,.0f} MB/s against {o or 0:,.0f} ({times(w, o)})",
              None if not w or not o else w >= 1.5 * o)
    idle = S.get("idle", {})
    per = {k: max(idle.get(k, {}).get("steps", {}).items(), key=lambda kv: int(kv[0]), default=(None, {}))
           for k in ("wharfd", "openssh")}
    n, wst = per["wharfd"]
    _, ost = per["openssh"]
    if n:
        t.row(f"{int(n):,} idle SFTP sessions measured next to OpenSSH's (issue 17; reported)",
              f"{wst.get('rss_per_session_kib')} KiB RSS per session; OpenSSH "
              f"{ost.get('rss_per_session_kib', 'n/a')} KiB RSS, {ost.get('private_per_session_kib', 'n/a')} "
              f"KiB private", True)


def ftps_rows(t: Table, F: dict | None) -> None:
    if not F:
        t.missing("FTPS RETR and STOR ≥ 1.3× the best peer", "no ftps-report.json")
        return
    tr, lim = F.get("transfers", {}), F.get("limits", {})
    for version in F["config"].get("versions", []):
        # The higher of the limit lines measured: the rustls pair, the
        # Python pipe.
        limits = {name: median(lim.get(f"{key}/{version}")) for key, name in
                  (("rustls", "rustls pair"), ("pipe", "Python pipe"))}
        limits = {k: v for k, v in limits.items() if v}
        line = max(limits, key=limits.get) if limits else None
        pipe = limits.get(line)
        for op in ("retr", "stor"):
            w = median(tr.get(f"wharfd/{op}/{version}", {}).get("mb_s"))
            peers = {p: median(tr.get(f"{p}/{op}/{version}", {}).get("mb_s")) for p in PEERS}
            peers = {p: v for p, v in peers.items() if v}
            best = max(peers, key=peers.get) if peers else None
            t.row(f"FTPS {op.upper()} (TLS {version}) ≥ 1.3× the best peer",
                  f"{w or 0:,.0f} MB/s against {best} {peers.get(best, 0):,.0f} ({times(w, peers.get(best))})",
                  None if not w or not best else w >= 1.3 * peers[best])
            t.row(f"FTPS {op.upper()} (TLS {version}) within 80% of the TLS limit line",
                  f"{w or 0:,.0f} MB/s against the {line}'s {pipe or 0:,.0f} "
                  f"({100 * w / pipe:.0f}%)" if w and pipe else "n/a",
                  None if not w or not pipe else w >= 0.8 * pipe)
    S = F.get("sessions", {})
    if not S:
        t.missing("FTPS sessions per second ≥ 2× the best peer", "not in this ftps-report")
    for version in F["config"].get("versions", []) if S else []:
        w = median(S.get(f"wharfd/{version}", {}).get("per_s"))
        # A peer that failed sessions is not the best.
        peers = {p: S.get(f"{p}/{version}", {}) for p in PEERS}
        peers = {p: median(e.get("per_s")) for p, e in peers.items() if e and not e.get("failed")}
        peers = {p: v for p, v in peers.items() if v}
        best = max(peers, key=peers.get) if peers else None
        t.row(f"FTPS sessions per second (TLS {version}) ≥ 2× the best peer",
              f"{w or 0:,.0f}/s against {best} {peers.get(best, 0):,.0f}/s ({times(w, peers.get(best))})"
              if w and best else "n/a",
              None if not w or not best else w >= 2 * peers[best])


def trees_rows(t: Table, T: dict | None) -> None:
    if not T:
        t.missing("lftp mirror of the 10,000-file tree ≥ 2× the best peer", "no trees-report.json")
        return
    for tag in ("", " ftps"):
        for par in ("", " --parallel=8"):
            label = f"lftp mirror{par} {SMALL}{tag}"
            w = median(T.get("wharfd", {}).get(label))
            peers = {p: median(T.get(p, {}).get(label)) for p in PEERS}
            peers = {p: v for p, v in peers.items() if v}
            if w is None and not peers:
                continue
            best = min(peers, key=peers.get) if peers else None
            stopped = [p for p in PEERS if T.get(p, {}).get(label) and median(T[p][label]) is None]
            if w and not peers and stopped:
                # Every peer's run was stopped at the case's time limit.
                t.row(f"`{label}` from wharfd ≥ 2× as fast as from the best peer",
                      f"{w:.2f} s; {', '.join(stopped)}: stopped unfinished in every run", True)
                continue
            t.row(f"`{label}` from wharfd ≥ 2× as fast as from the best peer",
                  f"{w or 0:.2f} s against {best} {peers.get(best, 0):.2f} s "
                  f"({times(peers.get(best), w)})" if w and best else "n/a",
                  None if not w or not best else peers[best] >= 2 * w)
        mine = median(T.get("wharfd", {}).get(f"wharf mirror -j 8 {SMALL}{tag}"))
        lftp = median(T.get("wharfd", {}).get(f"lftp mirror --parallel=8 {SMALL}{tag}"))
        if mine is not None or lftp is not None:
            t.row(f"`wharf mirror -j 8` ≥ 2× `lftp mirror --parallel=8` from wharfd{tag.replace(' ', ', ')}",
                  f"{mine or 0:.2f} s against {lftp or 0:.2f} s ({times(lftp, mine)})" if mine and lftp else "n/a",
                  None if not mine or not lftp else lftp >= 2 * mine)


def login_rows(t: Table, L: dict | None) -> None:
    if not L:
        t.missing("200-client password-login burst within 1.5× the best peer", "no login-report.json")
        return
    burst = L.get("burst", {})
    n = L.get("config", {}).get("clients")
    for kind in ("first", "repeated"):
        w = burst.get(f"wharfd/{kind}", {})
        wt = median(w.get("last_ok_s"))
        peers = {p: burst.get(f"{p}/{kind}", {}) for p in PEERS}
        # A peer that refused some of the clients is not the best.
        peers = {p: median(b.get("last_ok_s")) for p, b in peers.items()
                 if b and not median(b.get("failed"))}
        peers = {p: v for p, v in peers.items() if v}
        best = min(peers, key=peers.get) if peers else None
        t.row(f"{n}-client password-login burst ({kind} logins) within 1.5× the best peer's time",
              f"{wt or 0:.2f} s against {best} {peers.get(best, 0):.2f} s" if wt and best else "n/a",
              None if not wt or not best else wt <= 1.5 * peers[best])
    f = L.get("flood", {}).get("wharfd", {})
    if "held_3s_within_goal" in f:
        grown = (f.get("held_3s", {}).get("rss_kib", 0) - f.get("start", {}).get("rss_kib", 0)) / 1024
        t.row(f"RSS after {L['config'].get('flood'):,} password logins ≤ start + 25 MiB + 4 KiB per open session",
              f"+{grown:.1f} MiB with the sessions held (goal +{f['goal_kib'] / 1024:.1f} MiB)",
              bool(f["held_3s_within_goal"]))


def lines(out: Path) -> list[str]:
    t = Table()
    sftp_rows(t, load(out, "sftp-report.json"))
    ftps_rows(t, load(out, "ftps-report.json"))
    trees_rows(t, load(out, "trees-report.json"))
    login_rows(t, load(out, "login-report.json"))
    return ["## wharfd against the targets of issues 17 and 20 (reported, not asserted)", "",
            "From the reports beside this one (sftp-report, ftps-report, trees-report, login-report), "
            "each with its own date and settings.", "",
            "| target | measured | met |", "|---|---|---|", *t.rows, ""]


if __name__ == "__main__":
    print("\n".join(lines(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out"))))
