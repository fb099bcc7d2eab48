#!/usr/bin/env python3
"""FTPS side by side (issue 20): explicit AUTH TLS + PROT P RETR and STOR of
the big file against wharfd, vsftpd, pure-ftpd and ProFTPD with TLS
configured, TLS 1.3 and 1.2 (AES-GCM), and the reference lines: the same
bytes through one TLS connection between two processes (a sender of its
own, in Python on OpenSSL, and this script receiving as its FTPS client
does; a reference, not a ceiling: see the report), and one core's
AES-128-GCM (`openssl speed -evp aes-128-gcm`).

Called by `bash bench/run.sh` (skip it with BENCH_SKIP=ftps), or alone, as
root, from the repository root (after bench.py made the big file):

    WHARFD=$CARGO_TARGET_DIR/release/wharfd python3 bench/ftps_bench.py

The client is Python's ftplib.FTP_TLS (OpenSSL underneath), its data
connections resuming the control connection's TLS session (vsftpd and
ProFTPD require it, wharfd too, under TLS 1.2 and 1.3): a client nobody
here wrote. RETR reads
into a 1 MiB buffer (`recv_into`, a copy, as a client writing a file
must); STOR sends the cached file in 1 MiB blocks. Times run from the
RETR/STOR command to the server's final reply. The client is one Python
thread: its CPU is reported beside each figure, since it may set the pace.

The peers' TLS settings are in bench/ftps/ (vsftpd.conf, pure-ftpd.args,
proftpd.conf), each line commented with what it sets and why; they are
applied over the plain settings bench.py starts the peers with. wharfd
runs with `tls_cert`/`tls_key` and its defaults (TLS 1.2 and 1.3, data
connections must resume the session, PROT P required for accounts), and
once more as `wharfd-nosync` with `durable_uploads = false`: by default
wharfd's STOR answers 226 only once the file is on disk (fsync), which no
peer does, so its STOR figure holds a disk flush the others skip.

Environment (all optional):
  BENCH_FTPS_RUNS     rounds (default 3), servers interleaved in each
  BENCH_FTPS_SERVERS  default wharfd,wharfd-nosync,vsftpd,pure-ftpd,proftpd
  BENCH_FTPS_TLS      versions (default 1.3,1.2)
  BENCH_SKIP          `ftps` skips all of this
  BENCH_OUT, BENCH_WORK, BENCH_BIG_MB, WHARFD   as for bench.py
"""

from __future__ import annotations

import ftplib
import json
import os
import platform
import re
import resource
import ssl
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import (  # noqa: E402  (bench/bench.py: servers, files, /proc helpers, summaries)
    BIG, HOST, NOSYNC, OUT, UPDIR, WORK, BenchPeer, WharfServer, env_int, peers, summary, tree_cpu)

RUNS = env_int("BENCH_FTPS_RUNS", 3)
SERVERS = [s for s in os.environ.get("BENCH_FTPS_SERVERS",
                                      f"wharfd,{NOSYNC},vsftpd,pure-ftpd,proftpd").split(",") if s]
VERSIONS = [v for v in os.environ.get("BENCH_FTPS_TLS", "1.3,1.2").split(",") if v]
SKIP = set(x for x in os.environ.get("BENCH_SKIP", "").split(",") if x)
CONF = HERE / "ftps"
CERTS = WORK / "ftps-certs"
BLOCK = 1 << 20
# TLS 1.2's AES-128-GCM suite with the RSA certificate; TLS 1.3's is the
# default first choice of every side.
TLS12_CIPHER = "ECDHE-RSA-AES128-GCM-SHA256"
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[ftps-bench {time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def settings(name: str, certs: dict) -> list[str]:
    """The non-comment lines of bench/ftps/NAME, certificate paths filled in."""
    lines = []
    for line in (CONF / name).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line.strip().format(**{k: str(v) for k, v in certs.items()}))
    return lines


class TlsPeer(BenchPeer):
    """A peer from bench.py with FTPS on, its TLS settings from bench/ftps/."""

    def __init__(self, kind: str):
        super().__init__(kind, 100)
        self.tls = True

    def _vsftpd(self) -> list[str]:
        argv = super()._vsftpd()
        path = self.workdir / "vsftpd.conf"
        conf = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        conf.update(dict(line.split("=", 1) for line in settings("vsftpd.conf", self._certs)))
        path.write_text("".join(f"{k}={v}\n" for k, v in conf.items()))
        return argv

    def _pure_ftpd(self) -> list[str]:
        argv = super()._pure_ftpd()
        out, skip = [], False
        for a in argv:
            if skip:
                skip = False
                continue
            if a in ("--tls", "--certfile"):
                skip = True
                continue
            out.append(a)
        return out + settings("pure-ftpd.args", self._certs)

    def _proftpd(self) -> list[str]:
        argv = super()._proftpd()
        path = self.workdir / "proftpd.conf"
        kept = [line for line in path.read_text().splitlines() if not line.strip().startswith("TLS")]
        path.write_text("\n".join(kept + settings("proftpd.conf", self._certs)) + "\n")
        return argv


def start(kind: str, certs: dict):
    if kind in ("wharfd", NOSYNC):
        config = f'tls_cert = "{certs["chain"]}"\ntls_key = "{certs["key"]}"\n'
        return WharfServer(None, durable=kind == "wharfd", config=config, kind=f"{kind}-ftps").start()
    srv = TlsPeer(kind)
    srv.start()
    return srv


class Client(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS
    session."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


def context(version: str, ca: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(TLS12_CIPHER)
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def login(srv, version: str, ca: Path) -> Client:
    f = Client(context=context(version, ca), timeout=120)
    f.connect(HOST, srv.port)
    f.login(srv.user, srv.password)   # AUTH TLS first (FTP_TLS.login)
    f.prot_p()
    f.voidcmd("TYPE I")
    return f


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def transfer(srv, version: str, ca: Path, up: bool) -> dict:
    try:
        f = login(srv, version, ca)
    except (OSError, ftplib.Error, ssl.SSLError, EOFError) as e:
        return {"error": f"login: {type(e).__name__}: {e}"[:300]}
    size = BIG.stat().st_size
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    try:
        c0, s0, t0 = own_cpu(), tree_cpu(srv.pid), time.monotonic()
        if up:
            name = f"ftps-{srv.port}.bin"
            conn = f.transfercmd(f"STOR up/{name}")
            with open(BIG, "rb", buffering=0) as src:
                while n := src.readinto(buf):
                    conn.sendall(view[:n])
            conn.unwrap()
            conn.close()
        else:
            conn, _ = f.ntransfercmd("RETR big.bin")
            got = 0
            while n := conn.recv_into(buf):
                got += n
            cipher = conn.cipher()
            conn.close()
            if got != size:
                return {"error": f"short RETR: {got} of {size}"}
        reply = f.voidresp()
        wall = time.monotonic() - t0
        r = {"mb_s": round(size / wall / 1e6, 1), "wall_s": round(wall, 3),
             "client_cpu_s": round(own_cpu() - c0, 3), "server_cpu_s": round(tree_cpu(srv.pid) - s0, 3),
             "reply": reply[:3], "version": f.sock.version(), "cipher": f.sock.cipher()[0]}
        if not up:
            r["data_cipher"] = cipher[0] if cipher else None
        return r
    except (OSError, ftplib.Error, ssl.SSLError) as e:
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    finally:
        try:
            f.quit()
        except (OSError, ftplib.Error, EOFError):
            f.close()
        for p in UPDIR.glob("ftps-*.bin"):
            p.unlink(missing_ok=True)


# ---------------------------------------------------------------- limits

def aes_speed() -> dict:
    cp = subprocess.run(["openssl", "speed", "-evp", "aes-128-gcm", "-seconds", "2", "-bytes", "16384"],
                        capture_output=True, timeout=60)
    m = re.search(rb"AES-128-GCM\s+([\d.]+)k", cp.stdout)
    return {"mb_s": round(float(m.group(1)) * 1000 / 1e6, 1) if m else None,
            "raw": cp.stdout.decode(errors="replace")[-300:]}


# The sending side of the limit line: a process of its own that accepts one
# TLS connection and sends the file over it in 1 MiB blocks.
PIPE_SENDER = r'''
import socket, ssl, sys
cert, key, path, version, cipher = sys.argv[1:6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if version == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
else:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ls = socket.create_server(("127.0.0.1", 0))
print(ls.getsockname()[1], flush=True)
conn, _ = ls.accept()
tls = ctx.wrap_socket(conn, server_side=True)
buf = bytearray(1 << 20)
view = memoryview(buf)
with open(path, "rb", buffering=0) as f:
    while n := f.readinto(buf):
        tls.sendall(view[:n])
tls.unwrap()
tls.close()
'''


def tls_pipe(version: str, certs: dict) -> dict:
    """The limit line: the big file through one TLS connection between two
    processes (a Python sender on OpenSSL, and this process receiving as
    the FTPS client does), AES-128-GCM."""
    sender = subprocess.Popen([sys.executable, "-c", PIPE_SENDER, str(certs["chain"]), str(certs["key"]),
                               str(BIG), version, TLS12_CIPHER], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        port = int(sender.stdout.readline())
        ctx = context(version, certs["ca"])
        buf = bytearray(BLOCK)
        got = 0
        t0 = time.monotonic()
        with ctx.wrap_socket(__import__("socket").create_connection((HOST, port), timeout=60),
                             server_hostname="localhost") as tls:
            negotiated = f"{tls.version()} {tls.cipher()[0]}"
            while n := tls.recv_into(buf):
                got += n
        wall = time.monotonic() - t0
        sender.wait(timeout=60)
    except (OSError, ValueError, ssl.SSLError, subprocess.TimeoutExpired) as e:
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait(timeout=10)
    size = BIG.stat().st_size
    if got != size:
        return {"error": f"received {got} of {size} bytes"}
    return {"mb_s": round(size / wall / 1e6, 1), "wall_s": round(wall, 3), "negotiated": negotiated}


# ---------------------------------------------------------------- report

def fmt(s: dict | None) -> str:
    if not s or s.get("median") is None:
        return "n/a"
    if s["n"] == 1:
        return f"{s['median']:,.0f}"
    return f"{s['median']:,.0f} [{s['min']:,.0f}–{s['max']:,.0f}]"


def write_report(R: dict) -> None:
    size_mib = R["config"]["size_mib"]
    L = ["# FTPS: RETR and STOR with TLS (issue 20)", "",
         f"Run {R['started']} on {R['machine']['nproc']} cores; load average "
         f"{R['machine']['loadavg_start'][0]:.2f} at the start, {R['machine'].get('loadavg_end', [0])[0]:.2f} "
         "at the end." + (" **The CPU was shared** with other work during this run: compare within the run."
                          if R['machine']['loadavg_start'][0] > 0.5 else ""), "",
         f"{size_mib} MiB each way, explicit AUTH TLS, PROT P, data connections resuming the control "
         f"connection's session; client Python ftplib (OpenSSL {ssl.OPENSSL_VERSION.split()[1]}), one thread. "
         f"Median of {R['config']['runs']} rounds [min–max], MB/s (10^6 bytes/s). Produced by "
         "`bench/ftps_bench.py`; the peers' TLS settings are in `bench/ftps/`.", "",
         "| figure | " + " | ".join(f"TLS {v}" for v in VERSIONS) + " |",
         "|---|" + "---|" * len(VERSIONS)]
    lim = R.get("limits", {})
    L.append("| limit: one TLS connection between two processes (Python on OpenSSL, 1 MiB blocks) | "
             + " | ".join(fmt(lim.get(f"pipe/{v}")) for v in VERSIONS) + " |")
    L.append(f"| limit: one core's AES-128-GCM (`openssl speed`, 16 KiB blocks) | {lim.get('aes', {}).get('mb_s')} | |"
             if len(VERSIONS) == 2 else f"| AES-128-GCM one core | {lim.get('aes', {}).get('mb_s')} |")
    T = R.get("transfers", {})
    for op in ("retr", "stor"):
        for kind in SERVERS:
            cells = []
            for v in VERSIONS:
                t = T.get(f"{kind}/{op}/{v}")
                if not t:
                    cells.append("n/a")
                    continue
                extra = ""
                if t.get("server_cpu_s") and t.get("client_cpu_s"):
                    extra = f" (CPU server {t['server_cpu_s']:.2f} s, client {t['client_cpu_s']:.2f} s)"
                err = f" {len(t['errors'])} failed: {t['errors'][0][:80]}" if t.get("errors") else ""
                cells.append(fmt(t["mb_s"]) + extra + err)
            L.append(f"| {op.upper()} {kind} | " + " | ".join(cells) + " |")
    L += ["", "Negotiated (control / data): " + "; ".join(
        f"{k}: {v}" for k, v in sorted(R.get("negotiated", {}).items())), "",
        "CPU: seconds of the whole transfer, the server's process tree (from /proc) and the client's own.", "",
        "Read with care: (1) the \"limit\" line's sender is Python's ssl module, slower at sending than "
        "the servers, so it is a reference, not a ceiling (a sender in C or Rust is still to be written: "
        "`openssl s_server` reading the file on standard input stalled after its first record here); "
        "(2) under TLS 1.3 the client and every server chose TLS_AES_256_GCM_SHA384 (Python's ssl cannot narrow "
        "TLS 1.3 suites), under TLS 1.2 AES-128-GCM; (3) "
        "every server, wharfd included, requires data connections to resume the control connection's TLS "
        "session; (4) the client is one Python thread, and its CPU is close to the wall time of the fastest "
        "transfers: it may set their pace.", ""]
    (OUT / "ftps-report.md").write_text("\n".join(L))


def main() -> int:
    if "ftps" in SKIP:
        return 0
    if not BIG.exists():
        print(f"ftps-bench: {BIG} is missing: run bench.py first (bash bench/run.sh)", file=sys.stderr)
        return 1
    UPDIR.mkdir(parents=True, exist_ok=True)
    certs = peers.make_certs(CERTS)
    R: dict = {"config": {"runs": RUNS, "servers": SERVERS, "versions": VERSIONS,
                          "size_mib": BIG.stat().st_size >> 20},
               "machine": {"nproc": os.cpu_count(), "kernel": platform.release(),
                           "loadavg_start": os.getloadavg()},
               "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "limits": {}, "transfers": {},
               "negotiated": {}}
    R["limits"]["aes"] = aes_speed()
    log(f"AES-128-GCM one core: {R['limits']['aes']['mb_s']} MB/s")
    servers = {}
    try:
        for kind in SERVERS:
            try:
                servers[kind] = start(kind, certs)
                log(f"started {kind} (FTPS) on port {servers[kind].port}")
            except Exception as e:  # noqa: BLE001
                R.setdefault("start_errors", {})[kind] = str(e)[:2000]
                log(f"could not start {kind}: {e}")
        raw: dict[str, list[dict]] = {}
        for rnd in range(RUNS):
            for v in VERSIONS:
                r = tls_pipe(v, certs)
                raw.setdefault(f"pipe/{v}", []).append(r)
                log(f"round {rnd + 1} TLS {v} pipe: {r.get('mb_s')} MB/s {r.get('error') or ''}")
                for kind, srv in servers.items():
                    for op in ("retr", "stor"):
                        # Each peer made its own throw-away CA (peers.py); wharfd uses ours.
                        ca = getattr(srv, "cafile", None) or certs["ca"]
                        r = transfer(srv, v, ca, op == "stor")
                        raw.setdefault(f"{kind}/{op}/{v}", []).append(r)
                        if "version" in r:
                            R["negotiated"][f"{kind} TLS {v}"] = (f"{r['version']} {r['cipher']} / "
                                                                   f"{r.get('data_cipher', r['cipher'])}")
                        log(f"round {rnd + 1} {kind} {op} TLS {v}: {r.get('mb_s')} MB/s "
                            f"(server CPU {r.get('server_cpu_s')} s, client {r.get('client_cpu_s')} s) "
                            f"{r.get('error') or ''}")
    finally:
        for srv in servers.values():
            try:
                srv.stop()
            except Exception:  # noqa: BLE001
                pass
    for key, runs in raw.items():
        good = [r for r in runs if "error" not in r]
        entry = {"mb_s": summary([r["mb_s"] for r in good]), "errors": [r["error"] for r in runs if "error" in r],
                 "raw": runs}
        if key.startswith("pipe/"):
            R["limits"][key] = entry["mb_s"]
            R["limits"][key + "/raw"] = runs
            continue
        for k in ("server_cpu_s", "client_cpu_s"):
            vals = sorted(r[k] for r in good if k in r)
            entry[k] = vals[len(vals) // 2] if vals else None
        R["transfers"][key] = entry
    R["machine"]["loadavg_end"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ftps-report.json").write_text(json.dumps(R, indent=1, default=str))
    write_report(R)
    log(f"done: {OUT / 'ftps-report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
