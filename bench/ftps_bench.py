#!/usr/bin/env python3
"""FTPS side by side (issue 20): explicit AUTH TLS + PROT P RETR and STOR of
the big file against wharfd, vsftpd, pure-ftpd and ProFTPD with TLS
configured, TLS 1.3 and 1.2 (AES-GCM), and the limit lines, run in every
round beside the transfers: the same bytes through one TLS connection
between two processes, twice over,

* the rustls pair: the load generator's `tls-send` and `tls-recv`
  (bench/loadgen/src/tls_pipe.rs), rustls on ring at both ends; the
  ceiling for a server and a client both on rustls;
* the Python pipe: a sender of its own in Python on OpenSSL, and this
  script receiving exactly as its FTPS client does; it bounds what the
  Python client can take (its sender is slower than the servers, so it
  is no ceiling for them);

with the CPU of sender and receiver, and one core's AES-128-GCM
(`openssl speed -evp aes-128-gcm`).

Called by `bash bench/run.sh` (skip it with BENCH_SKIP=ftps), or alone, as
root, from the repository root (after bench.py made the big file):

    WHARFD=$CARGO_TARGET_DIR/release/wharfd \
    LOADGEN=$CARGO_TARGET_DIR/release/wharf-bench-loadgen python3 bench/ftps_bench.py

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
  BENCH_FTPS_RUST13   the rustls pair's TLS 1.3 suite (default
                      TLS13_AES_256_GCM_SHA384, what the transfers negotiate;
                      or TLS13_AES_128_GCM_SHA256)
  BENCH_FTPS_SESSION_SECS, BENCH_FTPS_SESSION_WORKERS
                      the sessions-per-second figure: the load generator's
                      `ftps-rate` with W clients (8) for S seconds (5) per
                      server, version and round; 0 seconds skips it
  BENCH_FTPS_IDLE, BENCH_FTPS_BURST, BENCH_FTPS_MANY_SERVERS
                      many FTPS sessions (ftps-many-report.md): idle ones
                      (1000; the load generator's `idle --ca`: AUTH TLS,
                      TLS 1.3, password login; RSS per connection) and a
                      burst (1000 clients, each a PROT P RETR of the 10 MiB
                      file; `burst --ca`), each server alone (wharfd,
                      vsftpd, pure-ftpd, proftpd).
                      Alone: `python3 bench/ftps_bench.py --many`
  BENCH_SKIP          `ftps` skips all of this, `ftps-many` that part
  BENCH_OUT, BENCH_WORK, BENCH_BIG_MB, WHARFD, LOADGEN   as for bench.py
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
    BIG, HOST, LOADGEN, NOSYNC, OUT, PER_IP, SMALL, SMALL_MB, UPDIR, WORK, BenchPeer, WharfServer, env_int,
    idle_step, loadgen, peers, summary, tree_cpu)

RUNS = env_int("BENCH_FTPS_RUNS", 3)
SERVERS = [s for s in os.environ.get("BENCH_FTPS_SERVERS",
                                      f"wharfd,{NOSYNC},vsftpd,pure-ftpd,proftpd").split(",") if s]
VERSIONS = [v for v in os.environ.get("BENCH_FTPS_TLS", "1.3,1.2").split(",") if v]
SKIP = set(x for x in os.environ.get("BENCH_SKIP", "").split(",") if x)
# Under TLS 1.3 Python's ssl and every server here negotiate AES-256-GCM
# (Python cannot narrow TLS 1.3 suites), so the rustls pair runs it too.
RUST13_SUITE = os.environ.get("BENCH_FTPS_RUST13", "TLS13_AES_256_GCM_SHA384")
CONF = HERE / "ftps"
CERTS = WORK / "ftps-certs"
BLOCK = 1 << 20
# TLS 1.2's AES-128-GCM suite with the RSA certificate; TLS 1.3's is the
# default first choice of every side.
TLS12_CIPHER = "ECDHE-RSA-AES128-GCM-SHA256"
# Many sessions over FTPS (issue 20: "the 1000-client burst and the
# idle-memory figures again, now also with TLS on the control connection").
IDLE = [int(x) for x in os.environ.get("BENCH_FTPS_IDLE", "1000").split(",") if x]
BURST = env_int("BENCH_FTPS_BURST", 1000)
MANY_SERVERS = [s for s in os.environ.get("BENCH_FTPS_MANY_SERVERS",
                                           "wharfd,vsftpd,pure-ftpd,proftpd").split(",") if s]
SESSION_SECS = env_int("BENCH_FTPS_SESSION_SECS", 5)
SESSION_WORKERS = env_int("BENCH_FTPS_SESSION_WORKERS", 8)
# The one small file each FTPS session downloads (issue 20: 4 KiB).
SMALL_FILE = BIG.parent / "ftps-4k.bin"
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

    def __init__(self, kind: str, max_clients: int = 100):
        super().__init__(kind, max_clients)
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


def start(kind: str, certs: dict, cap: int | None = None):
    """A contender with FTPS on; `cap`: sessions it must take at once, of
    one account (the idle phase)."""
    if kind in ("wharfd", NOSYNC):
        config = f'tls_cert = "{certs["chain"]}"\ntls_key = "{certs["key"]}"\n'
        if cap:
            config += f"max_sessions_per_user = {cap}\n"
        return WharfServer(cap, durable=kind == "wharfd", config=config, kind=f"{kind}-ftps").start()
    srv = TlsPeer(kind, cap or 100)
    srv.start()
    return srv


def phase_many(certs: dict) -> dict:
    """Each server alone, its cap raised, with FTPS as configured: a few
    sessions first (code and caches loaded); then IDLE sessions that each
    AUTH TLS (TLS 1.3) and log in with the account's password, held while
    the RSS of the server's process tree is read (bench.py's idle_step);
    then a burst of BURST clients at once, each AUTH TLS, password login,
    PBSZ 0, PROT P, RETR of the 10 MiB file on a data connection resuming
    its session (the load generator's `burst --ca`), each given 120 s."""
    out: dict = {"idle": {}, "burst": {}}
    for kind in MANY_SERVERS:
        try:
            srv = start(kind, certs, max(IDLE + [BURST]) + 100)
        except Exception as e:  # noqa: BLE001
            out["idle"][kind] = {"error": f"start failed: {e}"[:2000]}
            log(f"many FTPS {kind}: {out['idle'][kind]['error']}")
            continue
        try:
            ca = getattr(srv, "cafile", None) or certs["ca"]
            tls = ("--ca", str(ca), "--tls", "1.3")
            idle_step(srv, 10, (srv.user, srv.password), tls)
            time.sleep(1)
            for n in IDLE:
                step = idle_step(srv, n, (srv.user, srv.password), tls)
                out["idle"][f"{kind}/{n}"] = step
                log(f"idle FTPS {kind} {n}: {step.get('ok')} sessions, {step.get('rss_per_conn_kib')} KiB RSS, "
                    f"{step.get('private_per_conn_kib')} KiB private per connection "
                    f"{step.get('error') or step.get('reasons') or ''}")
                time.sleep(2)
            if BURST:
                r = loadgen("burst", srv, user=srv.user, **{"pass": srv.password}, clients=BURST,
                            path=SMALL.name, expect_bytes=SMALL.stat().st_size, per_ip=PER_IP, ca=ca,
                            tls="1.3", client_timeout=120, timeout=400)
                out["burst"][f"{kind}/{BURST}"] = r
                log(f"burst FTPS {kind} {BURST}: {r.get('ok')} ok, {r.get('failed')} failed, "
                    f"{r.get('last_ok_s')} s, server CPU {r.get('server_cpu_s')} s, "
                    f"loadgen CPU {r.get('loadgen_cpu_pct')}% {r.get('reasons') or r.get('error') or ''}")
        finally:
            srv.stop()
    return out


def write_many_report(many: dict, started: str) -> None:
    L = ["# Many FTPS sessions: idle, and a burst", "",
         f"Run {started}. Each server alone, with its TLS settings from `bench/ftps/`, its session cap "
         "raised. Made by `python3 bench/ftps_bench.py --many` (also part of the whole FTPS run).", "",
         "## Idle sessions with TLS on the control connection", "",
         "The load generator opens the sessions (`idle --ca`: AUTH TLS, TLS 1.3, then a password login "
         "to the bench account) and holds them; RSS and private memory are summed over the server's "
         "process tree (`/proc/PID/smaps_rollup`) and divided by the sessions held.", "",
         "| server | sessions | held | RSS KiB per connection | private KiB per connection | failures |",
         "|---|---|---|---|---|---|"]
    for key, step in many["idle"].items():
        if "/" not in key:
            L.append(f"| {key} | – | – | – | – | {step.get('error', '')[:120]} |")
            continue
        kind, n = key.split("/")
        fails = step.get("failed") or 0
        why = f" {step.get('reasons')}" if fails else ""
        L.append(f"| {kind} | {int(n):,} | {step.get('ok')} | {step.get('rss_per_conn_kib')} | "
                 f"{step.get('private_per_conn_kib')} | {fails}{why} {step.get('error') or ''} |")
    L += ["", "## A burst of FTPS clients", "",
          "All at once, each: AUTH TLS (TLS 1.3), password login, PBSZ 0, PROT P, TYPE I, EPSV, RETR of "
          f"the {SMALL_MB} MiB file on a data connection resuming its own control connection's TLS "
          "session, QUIT (the load generator's `burst --ca`; it decrypts every byte, so its CPU is shown); "
          "each client is given 120 s.",
          "", "| server | clients | ok | failed | s to the last transfer | p99 s | server CPU s | "
          "load generator CPU % | failures |", "|---|---|---|---|---|---|---|---|---|"]
    for key, r in many["burst"].items():
        kind, n = key.split("/")
        def num(k: str, digits: int = 2) -> str:
            v = r.get(k)
            return f"{v:,.{digits}f}" if isinstance(v, (int, float)) else "–"
        L.append(f"| {kind} | {int(n):,} | {r.get('ok')} | {r.get('failed')} | {num('last_ok_s')} | "
                 f"{num('p99_s')} | {num('server_cpu_s')} | {num('loadgen_cpu_pct', 0)} | "
                 f"{r.get('reasons') or r.get('error') or ''} |")
    (OUT / "ftps-many-report.md").write_text("\n".join(L) + "\n")


def run_many(certs: dict) -> None:
    if not SMALL.exists() or SMALL.stat().st_size != SMALL_MB << 20:
        SMALL.parent.mkdir(parents=True, exist_ok=True)
        SMALL.write_bytes(os.urandom(SMALL_MB << 20))
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    many = phase_many(certs)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ftps-many-report.json").write_text(json.dumps({"started": started, **many}, indent=1,
                                                          default=str))
    write_many_report(many, started)


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


def children_cpu() -> float:
    """CPU of this process's reaped children (a sender once waited for)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
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


def sessions(srv, version: str, ca: Path) -> dict:
    """FTPS sessions per second (issue 20): SESSION_WORKERS clients of the
    load generator (`ftps-rate`), each running whole sessions back to back
    for SESSION_SECS: connect, AUTH TLS, login, PBSZ/PROT P, a 4 KiB RETR on
    a data connection that resumes the control connection's session, QUIT;
    every session a new client (nothing cached from the one before)."""
    argv = [LOADGEN, "ftps-rate", "--port", str(srv.port), "--user", srv.user, "--pass", srv.password,
            "--path", SMALL_FILE.name, "--ca", str(ca), "--tls", version, "--workers", str(SESSION_WORKERS),
            "--secs", str(SESSION_SECS)]
    s0 = tree_cpu(srv.pid)
    try:
        cp = subprocess.run(argv, capture_output=True, timeout=SESSION_SECS + 120)
    except subprocess.TimeoutExpired:
        return {"error": "ftps-rate did not finish"}
    r = last_json(cp.stdout)
    if cp.returncode != 0 or "per_s" not in r:
        return {"error": (r.get("error") or cp.stderr.decode(errors="replace"))[-300:]}
    r["server_cpu_s"] = round(tree_cpu(srv.pid) - s0, 3)
    if r.get("failed"):
        r["note"] = f"{r['failed']} failed: {r.get('reasons')}"[:300]
    return r


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
    """The Python pipe: the big file through one TLS connection between two
    processes (a Python sender on OpenSSL, and this process receiving as
    the FTPS client does). It bounds what the Python client can take."""
    s0 = children_cpu()
    sender = subprocess.Popen([sys.executable, "-c", PIPE_SENDER, str(certs["chain"]), str(certs["key"]),
                               str(BIG), version, TLS12_CIPHER], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        port = int(sender.stdout.readline())
        ctx = context(version, certs["ca"])
        buf = bytearray(BLOCK)
        got = 0
        c0, t0 = own_cpu(), time.monotonic()
        with ctx.wrap_socket(__import__("socket").create_connection((HOST, port), timeout=60),
                             server_hostname="localhost") as tls:
            negotiated = f"{tls.version()} {tls.cipher()[0]}"
            while n := tls.recv_into(buf):
                got += n
        wall, cpu = time.monotonic() - t0, own_cpu() - c0
        sender.wait(timeout=60)
        # The whole child, its interpreter's start-up included (a few
        # hundredths of a second); the rustls sender counts from accept().
        sender_cpu = children_cpu() - s0
    except (OSError, ValueError, ssl.SSLError, subprocess.TimeoutExpired) as e:
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait(timeout=10)
    size = BIG.stat().st_size
    if got != size:
        return {"error": f"received {got} of {size} bytes"}
    return {"mb_s": round(size / wall / 1e6, 1), "wall_s": round(wall, 3), "negotiated": negotiated,
            "sender_cpu_s": round(sender_cpu, 3), "receiver_cpu_s": round(cpu, 3)}


def last_json(out: bytes) -> dict:
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {"error": "no output"}
    except json.JSONDecodeError:
        return {"error": f"not JSON: {lines[-1][:200]}"}


def rust_pipe(version: str, certs: dict) -> dict:
    """The rustls pair: the same bytes through one TLS connection between
    two processes of the load generator, `tls-send` (a rustls server
    reading the file in 64 KiB blocks) and `tls-recv` (a rustls client
    copying into a 1 MiB buffer): the ceiling for a server and a client
    both on rustls. Each side reports its own CPU (getrusage)."""
    if not os.access(LOADGEN, os.X_OK):
        return {"error": f"{LOADGEN} is missing: build bench/loadgen (bash bench/run.sh)"}
    suite = ["--suite", RUST13_SUITE] if version == "1.3" else []
    size = BIG.stat().st_size
    sender = subprocess.Popen([LOADGEN, "tls-send", "--cert", str(certs["chain"]), "--key", str(certs["key"]),
                               "--file", str(BIG), "--tls", version, *suite],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = sender.stdout.readline()
        if not first.strip().isdigit():
            return {"error": f"tls-send: {last_json(first + sender.stdout.read()).get('error')}"[:300]}
        cp = subprocess.run([LOADGEN, "tls-recv", "--port", first.strip().decode(), "--ca", str(certs["ca"]),
                             "--tls", version, *suite, "--expect-bytes", str(size)],
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        recv = last_json(cp.stdout)
        if "error" in recv:
            return {"error": f"tls-recv: {recv['error']}"[:300]}
        out, _ = sender.communicate(timeout=60)
        send = last_json(out)
        if "error" in send:
            return {"error": f"tls-send: {send['error']}"[:300]}
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait(timeout=10)
    return {"mb_s": round(recv["mb_s"], 1), "wall_s": round(recv["wall_s"], 3),
            "negotiated": f"{recv['version']} {recv['suite']}",
            "sender_cpu_s": round(send["cpu_s"], 3), "receiver_cpu_s": round(recv["cpu_s"], 3)}


# ---------------------------------------------------------------- report

# The limit lines by their key in R["limits"] and R["negotiated"].
LIMIT_NAMES = {"rustls": "rustls pair", "pipe": "Python pipe"}


def median_of(runs: list[dict], k: str) -> float | None:
    vals = sorted(r[k] for r in runs if r.get(k) is not None)
    return vals[len(vals) // 2] if vals else None


def limit_cell(lim: dict, key: str) -> str:
    cpu = lim.get(f"{key}/cpu") or {}
    extra = ""
    if cpu.get("sender_cpu_s") is not None and cpu.get("receiver_cpu_s") is not None:
        extra = f" (CPU sender {cpu['sender_cpu_s']:.2f} s, receiver {cpu['receiver_cpu_s']:.2f} s)"
    errors = [r["error"] for r in lim.get(f"{key}/raw", []) if "error" in r]
    err = f" {len(errors)} failed: {errors[0][:80]}" if errors else ""
    return fmt(lim.get(key)) + extra + err

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
    L.append("| limit, rustls pair: one TLS connection between two processes, rustls (ring) at both ends "
             "(load generator `tls-send`, 64 KiB blocks, and `tls-recv`, copying): the ceiling for a server "
             "and a client both on rustls | " + " | ".join(limit_cell(lim, f"rustls/{v}") for v in VERSIONS) + " |")
    L.append("| limit, Python pipe: the same, a Python sender on OpenSSL (1 MiB blocks) and the FTPS client's "
             "own receiving code: what the Python client can take | "
             + " | ".join(limit_cell(lim, f"pipe/{v}") for v in VERSIONS) + " |")
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
    S = R.get("sessions", {})
    if S:
        L += ["", f"FTPS sessions per second: {SESSION_WORKERS} clients of the load generator (`ftps-rate`, "
              "rustls), each running whole sessions back to back (connect, AUTH TLS, login, PBSZ 0, PROT P, "
              "a 4 KiB RETR on a data connection resuming the control connection's TLS session, QUIT), every "
              "session a new client. Median of the rounds [min–max]; failed sessions, data connections that "
              "resumed, p99 per session, server CPU per round.", "",
              "| server | " + " | ".join(f"TLS {v}" for v in VERSIONS) + " |", "|---|" + "---|" * len(VERSIONS)]
        for kind in SERVERS:
            cells = []
            for v in VERSIONS:
                e = S.get(f"{kind}/{v}")
                if not e or not e["per_s"] or e["per_s"].get("median") is None:
                    cells.append("n/a" + (f" ({e['errors'][0][:80]})" if e and e.get("errors") else ""))
                    continue
                cells.append(f"{fmt(e['per_s'])}/s; {e['failed']} failed; resumed {e['resumed']} of {e['ok']}; "
                             f"p99 {e['p99_ms'] or 0:.1f} ms; server CPU {e['server_cpu_s'] or 0:.2f} s")
            L.append(f"| {kind} | " + " | ".join(cells) + " |")
    L += ["", "Negotiated (control / data): " + "; ".join(
        f"{k}: {v}" for k, v in sorted(R.get("negotiated", {}).items())), "",
        "CPU: seconds of the whole transfer, the server's process tree (from /proc) and the client's own; "
        "for the limit lines, the sender's and the receiver's own (getrusage).", "",
        "Read with care: (1) there are two limit lines, both the big file through one TLS connection "
        "between two processes on this machine. The rustls pair (rustls on ring at both ends, the load "
        "generator's `tls-send`/`tls-recv`) is the ceiling for a server and a client both on rustls "
        "(wharfd is; this benchmark's client is Python on OpenSSL), not for the OpenSSL peers or this client. The "
        "Python pipe's receiver is the same Python/OpenSSL code as the FTPS client's RETR, so it bounds what "
        "the Python client can take: a RETR near it is held back by the client, not the server; its sender "
        "is Python's ssl module, slower at sending than the servers, so it is no ceiling for them. "
        "(2) under TLS 1.3 the client and every server chose TLS_AES_256_GCM_SHA384 (Python's ssl cannot narrow "
        "TLS 1.3 suites), and so does the rustls pair (`BENCH_FTPS_RUST13`); under TLS 1.2 AES-128-GCM; (3) "
        "every server, wharfd included, requires data connections to resume the control connection's TLS "
        "session; (4) the client is one Python thread, and its CPU is close to the wall time of the fastest "
        "transfers: it may set their pace.", ""]
    (OUT / "ftps-report.md").write_text("\n".join(L))


def main() -> int:
    if "ftps" in SKIP:
        return 0
    if "--many" in sys.argv:
        run_many(peers.make_certs(CERTS))
        log(f"done: {OUT / 'ftps-many-report.md'}")
        return 0
    if not BIG.exists():
        print(f"ftps-bench: {BIG} is missing: run bench.py first (bash bench/run.sh)", file=sys.stderr)
        return 1
    UPDIR.mkdir(parents=True, exist_ok=True)
    if not SMALL_FILE.exists() or SMALL_FILE.stat().st_size != 4096:
        SMALL_FILE.write_bytes(os.urandom(4096))
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
                for name, pipe in (("rustls", rust_pipe), ("pipe", tls_pipe)):
                    r = pipe(v, certs)
                    raw.setdefault(f"{name}/{v}", []).append(r)
                    if "negotiated" in r:
                        R["negotiated"][f"limit {LIMIT_NAMES[name]} TLS {v}"] = r["negotiated"]
                    log(f"round {rnd + 1} TLS {v} {LIMIT_NAMES[name]}: {r.get('mb_s')} MB/s (sender CPU "
                        f"{r.get('sender_cpu_s')} s, receiver {r.get('receiver_cpu_s')} s) {r.get('error') or ''}")
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
                    if SESSION_SECS > 0:
                        ca = getattr(srv, "cafile", None) or certs["ca"]
                        r = sessions(srv, v, ca)
                        R.setdefault("sessions", {}).setdefault(f"{kind}/{v}", []).append(r)
                        log(f"round {rnd + 1} {kind} sessions TLS {v}: {r.get('per_s')}/s "
                            f"(resumed {r.get('data_resumed')} of {r.get('ok')}) {r.get('error') or r.get('note') or ''}")
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
        if key.startswith(("pipe/", "rustls/")):
            R["limits"][key] = entry["mb_s"]
            R["limits"][key + "/raw"] = runs
            R["limits"][key + "/cpu"] = {k: median_of(good, k) for k in ("sender_cpu_s", "receiver_cpu_s")}
            continue
        for k in ("server_cpu_s", "client_cpu_s"):
            entry[k] = median_of(good, k)
        R["transfers"][key] = entry
    for key, runs in R.get("sessions", {}).items():
        good = [r for r in runs if "error" not in r]
        R["sessions"][key] = {"per_s": summary([r["per_s"] for r in good]),
                              "p99_ms": median_of(good, "p99_ms"), "server_cpu_s": median_of(good, "server_cpu_s"),
                              "failed": sum(r.get("failed", 0) for r in good),
                              "resumed": sum(r.get("data_resumed", 0) for r in good),
                              "ok": sum(r.get("ok", 0) for r in good),
                              "errors": [r["error"] for r in runs if "error" in r], "raw": runs}
    R["machine"]["loadavg_end"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ftps-report.json").write_text(json.dumps(R, indent=1, default=str))
    write_report(R)
    if "ftps-many" not in SKIP:
        run_many(certs)
    log(f"done: {OUT / 'ftps-report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
