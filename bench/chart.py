"""Draws bench/out/report.png from report.json with matplotlib; without
matplotlib (or with --svg) writes report.svg with the standard library.

    python3 bench/chart.py [OUT_DIR] [--svg]
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

NAMES = {"proftpd": "ProFTPD"}


def panels(R: dict) -> list[dict]:
    """Each panel: title, unit, groups (x labels), series {label: [values per group]}, log, lines."""
    servers = [s for s in R["config"]["servers"] if s not in R.get("start_errors", {})]
    labels = [NAMES.get(s, s) for s in servers]
    S = R.get("single", {})
    med = lambda d: (d or {}).get("median")  # noqa: E731
    out = []
    if S:
        out.append({"title": f"Single stream, {R['config']['big_mb']} MiB (higher is better)", "unit": "MB/s",
                    "groups": labels,
                    "series": {k: [med(S.get(f"{s}/{key}", {}).get("summary")) for s in servers]
                               for k, key in (("RETR copy", "retr"), ("RETR discard", "retr_discard"),
                                              ("STOR", "stor"))},
                    "lines": {"limit copy": med(S.get("limit_copy", {}).get("summary")),
                              "limit discard": med(S.get("limit_discard", {}).get("summary"))}})
    B = R.get("burst", {})
    if B:
        out.append({"title": "Burst: N clients × 10 MiB, seconds to the last transfer (lower is better)",
                    "unit": "s", "groups": labels,
                    "series": {f"N={n}": [med(B.get(f"{s}/{n}", {}).get("last_ok_s")) for s in servers]
                               for n in R["config"]["bursts"]}})
        out.append({"title": "Burst: p99 per transfer (lower is better)", "unit": "s", "groups": labels,
                    "series": {f"N={n}": [med(B.get(f"{s}/{n}", {}).get("p99_s")) for s in servers]
                               for n in R["config"]["bursts"]}})
        out.append({"title": "Burst: failed transfers (lower is better)", "unit": "failures", "groups": labels,
                    "series": {f"N={n}": [med(B.get(f"{s}/{n}", {}).get("failed")) for s in servers]
                               for n in R["config"]["bursts"]}})
    RT = R.get("rate", {})
    if RT:
        out.append({"title": "login + QUIT cycles per second (higher is better)", "unit": "per s", "log": True,
                    "groups": labels,
                    "series": {k: [med(RT.get(f"{s}/{key}", {}).get("summary")) for s in servers]
                               for k, key in (("anonymous", "anon"), ("password", "user"))}})
    LS = R.get("list", {})
    if LS:
        out.append({"title": f"LIST of {R['config']['list_n']:,} entries (lower is better)", "unit": "ms",
                    "groups": labels,
                    "series": {"LIST": [med(LS.get(s, {}).get("summary")) for s in servers]}})
    M = R.get("memory", {})
    if M:
        out.append({"title": "Idle sessions: server RSS per connection (lower is better)", "unit": "KiB",
                    "log": True, "groups": labels,
                    "series": {f"N={n}": [M.get(s, {}).get("steps", {}).get(str(n), {}).get("rss_per_conn_kib")
                                          for s in servers] for n in R["config"]["idle"]}})
    C = R.get("clients", {})
    if C:
        names = [k.split("/", 1)[1] for k in C if k.startswith("down/")]
        ups = [k.split("/", 1)[1] for k in C if k.startswith("up/")]
        out.append({"title": f"Clients vs vsftpd, {R['config']['big_mb']} MiB, seconds (lower is better)",
                    "unit": "s", "groups": [n.replace("python ", "") for n in names],
                    "series": {"down": [med(C.get(f"down/{n}", {}).get("seconds")) for n in names],
                               "up": [med(C.get(f"up/{u}", {}).get("seconds")) for u in ups[:len(names)]]},
                    "lines": {"dd plain": med(C.get("limit/disk write (dd bs=1M, no sync)", {}).get("seconds")),
                              "dd fsync": med(C.get("limit/disk write (dd bs=1M conv=fsync)", {}).get("seconds"))}})
    return out


def draw_png(R: dict, path: Path, ps: list[dict] | None = None, title: str | None = None) -> None:
    """The panels of report.json (or `ps`, drawn by another script)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = panels(R) if ps is None else ps
    cols = 2
    rows = (len(ps) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(15, 4.2 * rows), squeeze=False)
    for ax, p in zip(axes.flat, ps):
        groups = p["groups"]
        series = p["series"]
        width = 0.8 / max(len(series), 1)
        for i, (name, vals) in enumerate(series.items()):
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            ys = [v if v is not None else 0 for v in vals]
            bars = ax.bar(xs, ys, width, label=name)
            for b, v in zip(bars, vals):
                if v is None:
                    ax.annotate("n/a", (b.get_x() + b.get_width() / 2, 0), ha="center", va="bottom", fontsize=7)
        for j, (name, v) in enumerate((p.get("lines") or {}).items()):
            if v:
                ax.axhline(v, linestyle="--", color=f"C{len(series) + j}", label=f"{name} {v:,.0f}" if v > 10 else f"{name} {v:.2f}")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, fontsize=9)
        ax.set_title(p["title"], fontsize=10)
        ax.set_ylabel(p["unit"])
        if p.get("log"):
            ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(ps):]:
        ax.axis("off")
    if title is None:
        title = "Wharf benchmark" + (" (QUICK smoke run)" if R["config"]["quick"] else "") + f" — {R.get('started', '')}"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def draw_svg(R: dict, path: Path, ps: list[dict] | None = None) -> None:
    """Horizontal bars, one block per panel; standard library only."""
    ps = panels(R) if ps is None else ps
    y = 40
    parts = []
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    for p in ps:
        parts.append(f'<text x="10" y="{y}" font-size="14" font-weight="bold">{html.escape(p["title"])}</text>')
        y += 8
        vals = [v for vs in p["series"].values() for v in vs if v is not None] + \
               [v for v in (p.get("lines") or {}).values() if v]
        top = max(vals) if vals else 1
        for gi, g in enumerate(p["groups"]):
            for si, (name, vs) in enumerate(p["series"].items()):
                v = vs[gi] if gi < len(vs) else None
                y += 14
                wpx = 0 if not v else 500 * v / top
                parts.append(f'<text x="10" y="{y + 10}" font-size="10">{html.escape(g)} {html.escape(name)}</text>')
                parts.append(f'<rect x="200" y="{y}" width="{wpx:.1f}" height="11" fill="{colors[si % 5]}"/>')
                txt = "n/a" if v is None else (f"{v:,.0f}" if v >= 10 else f"{v:.2f}")
                parts.append(f'<text x="{205 + wpx:.1f}" y="{y + 10}" font-size="10">{txt} {html.escape(p["unit"])}</text>')
        for name, v in (p.get("lines") or {}).items():
            if v:
                y += 14
                parts.append(f'<text x="10" y="{y + 10}" font-size="10">{html.escape(name)}: {v:,.2f} {html.escape(p["unit"])}</text>')
        y += 30
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{y}" font-family="sans-serif">'
           f'<rect width="100%" height="100%" fill="white"/>{"".join(parts)}</svg>\n')
    path.write_text(svg)


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = Path(args[0]) if args else Path(__file__).resolve().parent / "out"
    R = json.loads((out / "report.json").read_text())
    if "--svg" not in sys.argv:
        try:
            draw_png(R, out / "report.png")
            (out / "report.svg").unlink(missing_ok=True)
            print(out / "report.png")
            return 0
        except ImportError as e:
            print(f"chart: matplotlib not available ({e}); writing an SVG instead", file=sys.stderr)
    draw_svg(R, out / "report.svg")
    (out / "report.png").unlink(missing_ok=True)
    print(out / "report.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
