#!/usr/bin/env python3
"""SFTP side by side: wharfd's SFTP listener (`--sftp-listen`) against
OpenSSH's sshd + sftp-server, with the same OpenSSH `sftp` client, on
127.0.0.1, in one run (issue 17, performance part).

Called by `bash bench/run.sh` after bench/bench.py (skip it with
BENCH_SKIP=sftp), or alone, as root, from the repository root:

    WHARFD=$CARGO_TARGET_DIR/release/wharfd python3 bench/sftp_bench.py

A script of its own rather than a phase of bench.py: bench.py needs the FTP
peers, `wharf` and the load generator built and installed and writes
report.json/report.md as a whole; this one needs only wharfd and OpenSSH
(openssh-server is installed by run.sh) and writes its own
sftp-report.json / sftp-report.md beside them. It borrows bench.py's
/proc helpers (process-tree CPU and memory) and its median [min-max]
summaries.

What it does:
  - makes a system account (`wharfsftp`, home under BENCH_SFTP_WORK) with an
    ed25519 key in its authorized_keys; the same public key is added to a
    wharfd account (`wharfd users keys add`), so both sides use public-key
    authentication;
  - starts sshd itself (`/usr/sbin/sshd -D -e -f CONFIG`, its own host key,
    127.0.0.1 and a free port, `Subsystem sftp /usr/lib/openssh/sftp-server`)
    and wharfd (`wharfd serve --sftp-listen 127.0.0.1:0`), stops both by PID;
  - transfers: `sftp -b` (batch mode) `get` and `put` of the big file, the
    same cipher forced on both (`-c`, BENCH_SFTP_CIPHER), interleaved in
    rounds; MB/s over the whole `sftp` process (connect + login + transfer;
    the login-only time is measured too and shown), and the CPU seconds of
    each server's processes (utime+stime from /proc: before/after for the
    root, and sshd's per-connection processes polled while they live,
    since their times never reach the listener's; see CpuSampler);
  - memory: N idle sessions (paramiko: connect, authenticate by the key,
    open the sftp subsystem, then hold), each server started alone; RSS
    summed over all the server's processes (sshd forks per connection), plus
    PSS and private memory.

Environment (all optional):
  BENCH_SFTP_MB       size of the file (default 1024; e.g. 64 for a quick run)
  BENCH_SFTP_RUNS     rounds of get+put (default 3)
  BENCH_SFTP_SERVERS  contenders (default wharfd,openssh; add wharfd-nosync,
                      wharfd with `durable_uploads = false`)
  BENCH_SFTP_CIPHER   cipher given to `sftp -c` (default aes256-gcm@openssh.com)
  BENCH_SFTP_IDLE     idle session counts (default 1000; "" or 0 skips)
  BENCH_SFTP_WORK     scratch directory (default /var/tmp/wharf-bench-sftp),
                      removed at the end unless BENCH_SFTP_KEEP=1
  BENCH_SKIP          `sftp` skips all of this (run.sh), `sftp-idle` the memory part
  BENCH_OUT           report directory (default bench/out)
  WHARFD              the wharfd binary (default $CARGO_TARGET_DIR/release/wharfd)
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import platform
import pwd
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import (  # noqa: E402  (bench/bench.py: the /proc helpers and summaries)
    HOST, OUT, WHARFD, mem_available_kib, proc_tree, stop_process, summary, tree_cpu, tree_mem)


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "").strip()
    return int(v) if v else default


MB = env_int("BENCH_SFTP_MB", 1024)
RUNS = env_int("BENCH_SFTP_RUNS", 3)
SERVERS = [s for s in os.environ.get("BENCH_SFTP_SERVERS", "wharfd,openssh").split(",") if s]
# aes128-gcm is not offered by wharfd (russh): aes256-gcm is the AES-GCM both
# offer (chacha20-poly1305, OpenSSH's default choice, is the other one).
CIPHER = os.environ.get("BENCH_SFTP_CIPHER", "aes256-gcm@openssh.com")
IDLE = [int(x) for x in os.environ.get("BENCH_SFTP_IDLE", "1000").split(",") if x.strip() and int(x)]
SKIP = set(x for x in os.environ.get("BENCH_SKIP", "").split(",") if x)
WORK = Path(os.environ.get("BENCH_SFTP_WORK", "/var/tmp/wharf-bench-sftp"))
KEEP = os.environ.get("BENCH_SFTP_KEEP", "") not in ("", "0")
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"

ACCOUNT = "wharfsftp"          # the system account sshd serves, and the wharfd account's name
HOME = WORK / "home"           # both servers serve this directory
BIG = HOME / "big.bin"
UPDIR = HOME / "up"
CLIENT = WORK / "client"       # the sftp client's side: key, batch files, downloads
KEY = CLIENT / "id_ed25519"
OPEN_CONCURRENCY = 8           # idle sessions opened at once (sshd's MaxStartups default starts dropping at 10)
OPEN_SECS = 420                # bound on opening the idle sessions
HOLD_SECS = 3                  # idle sessions held this long before memory is read

T_START = time.monotonic()
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[sftp-bench {time.monotonic() - T_START:7.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 120)
    cp = subprocess.run(argv, **kw)
    if cp.returncode != 0:
        err = cp.stderr.decode(errors="replace") if isinstance(cp.stderr, bytes) else cp.stderr
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {cp.returncode}: {err[-500:]}")
    return cp


# ---------------------------------------------------------------- setup

def prepare() -> None:
    for d in (WORK, HOME, CLIENT):
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(WORK, 0o755)
    try:
        pw = pwd.getpwnam(ACCOUNT)
    except KeyError:
        log(f"useradd --system {ACCOUNT} (home {HOME})")
        run(["useradd", "--system", "--home-dir", str(HOME), "--no-create-home", "--shell", "/bin/sh", ACCOUNT])
        pw = pwd.getpwnam(ACCOUNT)
    # sshd refuses a locked account ("!" in shadow) even for public keys
    # when PAM is off: "*" is no usable password and not a lock.
    run(["usermod", "-p", "*", "-d", str(HOME), ACCOUNT])
    if not KEY.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wharf-bench-sftp", "-f", str(KEY)])
    ssh_dir = HOME / ".ssh"
    ssh_dir.mkdir(exist_ok=True)
    shutil.copy(KEY.with_suffix(".pub"), ssh_dir / "authorized_keys")
    UPDIR.mkdir(exist_ok=True)
    for p in (HOME, ssh_dir, ssh_dir / "authorized_keys", UPDIR):
        os.chown(p, pw.pw_uid, pw.pw_gid)
    os.chmod(HOME, 0o755)
    os.chmod(ssh_dir, 0o700)
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    os.chmod(UPDIR, 0o777)   # wharfd writes as root, sftp-server as the account
    want = MB << 20
    if not BIG.exists() or BIG.stat().st_size != want:
        log(f"writing {BIG} ({MB} MiB of random bytes)")
        chunk = os.urandom(1 << 20)
        with open(BIG, "wb") as f:
            for _ in range(MB):
                f.write(chunk)
    os.chown(BIG, pw.pw_uid, pw.pw_gid)
    os.chmod(BIG, 0o644)
    clean()
    with open(BIG, "rb") as f:    # both servers read the same cached bytes
        while f.read(8 << 20):
            pass


def clean() -> None:
    for d in (UPDIR, CLIENT):
        for p in d.iterdir() if d.exists() else []:
            if p.name.endswith(".bin"):
                with contextlib.suppress(OSError):
                    p.unlink()
    with contextlib.suppress(Exception):
        subprocess.run(["sync"], timeout=120)


# ---------------------------------------------------------------- servers

class Wharfd:
    def __init__(self, kind: str, idle_cap: int | None = None):
        self.kind = kind
        self.data = WORK / "wharfd-data"
        self.logfile = WORK / f"{kind}.log"
        self.idle_cap = idle_cap
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def setup(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        listed = subprocess.run([WHARFD, "users", "list", "--data", str(self.data)], capture_output=True, timeout=60)
        if ACCOUNT.encode() not in listed.stdout:
            run([WHARFD, "users", "add", ACCOUNT, "--password-stdin", "--quota", "none", "--home", str(HOME),
                 "--reuse-home", "--data", str(self.data)], input=b"bench-Sftp-7419\n")
            run([WHARFD, "users", "keys", "add", ACCOUNT, "--data", str(self.data)],
                input=KEY.with_suffix(".pub").read_bytes())

    def start(self) -> "Wharfd":
        self.setup()
        config = WORK / f"{self.kind}.toml"
        lines = []
        if self.kind == "wharfd-nosync":
            lines.append("durable_uploads = false")
        if self.idle_cap:
            # The default caps (1000 sessions, 20 per address, 10 per
            # account) would stop N idle sessions of one account from one
            # address; sshd has no such caps by default.
            lines += [f"max_sessions = {self.idle_cap}", f"max_sessions_per_ip = {self.idle_cap}",
                      f"max_sessions_per_user = {self.idle_cap}"]
        config.write_text("".join(line + "\n" for line in lines))
        argv = [WHARFD, "serve", "--data", str(self.data), "--listen", f"{HOST}:0",
                "--sftp-listen", f"{HOST}:0", "--config", str(config)]
        out = open(self.logfile, "ab")
        start_at = self.logfile.stat().st_size
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        out.close()
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            text = self.logfile.read_bytes()[start_at:].decode(errors="replace")
            m = re.search(r"listening on 127\.0\.0\.1:(\d+) \(SFTP\)", text)
            if m and re.search(r"SSH host key .*ssh_host_rsa_key", text):
                self.port = int(m.group(1))
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"wharfd did not start; see {self.logfile}")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


class Sshd:
    kind = "openssh"

    def __init__(self, idle_cap: int | None = None):
        self.dir = WORK / "sshd"
        self.logfile = WORK / "sshd.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self) -> "Sshd":
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        hostkey = self.dir / "ssh_host_ed25519_key"
        if not hostkey.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)])
        # The privilege-separation directory Debian's unit would make.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.port = free_port()
        conf = self.dir / "sshd_config"
        conf.write_text("\n".join([
            f"ListenAddress {HOST}",
            f"Port {self.port}",
            f"HostKey {hostkey}",
            "PidFile none",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "AuthorizedKeysFile .ssh/authorized_keys",
            f"AllowUsers {ACCOUNT}",
            "X11Forwarding no",
            "PrintMotd no",
            f"Subsystem sftp {SFTP_SERVER}",
            "LogLevel INFO",
        ]) + "\n")
        run([SSHD, "-t", "-f", str(conf)])
        out = open(self.logfile, "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(conf)], stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=out, start_new_session=True)
        out.close()
        end = time.monotonic() + 30
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                with socket.create_connection((HOST, self.port), timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(256).startswith(b"SSH-2.0-"):
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sshd did not start; see {self.logfile}")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def start(kind: str, idle_cap: int | None = None):
    return Sshd(idle_cap).start() if kind == "openssh" else Wharfd(kind, idle_cap).start()


def settle(srv, timeout: float = 20) -> None:
    """Wait (bounded) until the server has no session processes left (sshd's
    per-connection children; their CPU then shows in its reaped times)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(proc_tree(srv.pid)) > 1:
        time.sleep(0.05)


# ---------------------------------------------------------------- transfers

def sftp_argv(port: int, batch: Path) -> list[str]:
    return ["sftp", "-q", "-b", str(batch), "-P", str(port), "-c", CIPHER, "-i", str(KEY),
            "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20",
            f"{ACCOUNT}@{HOST}"]


def own_cpu(pid: int) -> tuple[int, int]:
    """(utime+stime, cutime+cstime) of one process, in ticks."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        s = f.read().decode("latin-1")
    x = [int(v) for v in s[s.rindex(")") + 2:].split()[11:15]]
    return x[0] + x[1], x[2] + x[3]


class CpuSampler:
    """The server's CPU while a transfer runs, two ways: (1) the root's
    utime+stime+cutime+cstime before/after (children count once their
    parent reaped them; sshd's session processes are reaped up the chain
    only if every parent waits for its child), and (2) every descendant's
    own utime+stime as last seen by polling /proc every 20 ms, plus the
    root's own delta (misses at most the last 20 ms of each child and
    children that live less than 20 ms). The larger is reported."""

    def __init__(self, pid: int):
        self.pid = pid
        self.seen: dict[int, int] = {}
        self.stop = threading.Event()
        self.root0 = own_cpu(pid)
        self.tree0 = tree_cpu(pid)
        self.th = threading.Thread(target=self._poll, daemon=True)
        self.th.start()

    def _poll(self) -> None:
        while True:
            for p in proc_tree(self.pid):
                if p != self.pid:
                    with contextlib.suppress(OSError, ValueError, IndexError):
                        self.seen[p] = own_cpu(p)[0]
            if self.stop.wait(0.02):
                return

    def finish(self) -> dict:
        self.stop.set()
        self.th.join()
        settle_pid(self.pid)
        reaped = tree_cpu(self.pid) - self.tree0
        sampled = (own_cpu(self.pid)[0] - self.root0[0] + sum(self.seen.values())) / CLK_TCK
        return {"server_cpu_s": round(max(reaped, sampled), 3), "server_cpu_reaped_s": round(reaped, 3),
                "server_cpu_sampled_s": round(sampled, 3)}


def settle_pid(pid: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(proc_tree(pid)) > 1:
        time.sleep(0.05)


def sftp_run(srv, commands: str, timeout: float = 600) -> dict:
    batch = CLIENT / "batch"
    batch.write_text(commands)
    settle(srv)
    cpu = CpuSampler(srv.pid)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        cp = subprocess.run(sftp_argv(srv.port, batch), capture_output=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, cwd=CLIENT)
    except subprocess.TimeoutExpired:
        cpu.finish()
        return {"error": "timeout"}
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"wall_s": round(wall, 4), **cpu.finish(),
           "client_cpu_s": round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 3)}
    if cp.returncode != 0:
        msg = (cp.stderr or cp.stdout).decode(errors="replace")[-300:]
        out["error"] = f"exit {cp.returncode}: " + " ".join(msg.split())
    return out


def negotiated_cipher(srv) -> str:
    """What `ssh -vv` says was agreed with the server (for the report)."""
    cp = subprocess.run(["ssh", "-vv", "-p", str(srv.port), "-c", CIPHER, "-i", str(KEY), "-o", "IdentitiesOnly=yes",
                         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                         "-s", f"{ACCOUNT}@{HOST}", "sftp"], capture_output=True, timeout=30,
                        stdin=subprocess.DEVNULL)
    err = cp.stderr.decode(errors="replace")
    kex = re.search(r"kex: algorithm: (\S+)", err)
    c = re.search(r"kex: server->client cipher: (\S+) MAC: (\S+)", err)
    offered = re.search(r"peer server KEXINIT proposal.*?ciphers ctos: (\S+)", err, re.S)
    return {"kex": kex.group(1) if kex else None, "cipher": c.group(1) if c else None,
            "mac": c.group(2) if c else None, "server_ciphers": offered.group(1) if offered else None}


def phase_transfers(servers: dict, R: dict) -> None:
    size = BIG.stat().st_size
    raw: dict[str, list[dict]] = {}
    kinds = list(servers)
    for kind in kinds:   # login-only time (connect, key exchange, auth, subsystem, exit)
        for _ in range(3):
            raw.setdefault(f"{kind}/login", []).append(sftp_run(servers[kind], "pwd\n", timeout=60))
    for rnd in range(RUNS):
        log(f"sftp round {rnd + 1}/{RUNS}")
        order = kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]
        for kind in order:
            srv = servers[kind]
            down = CLIENT / "down.bin"
            r = sftp_run(srv, f"get big.bin {down}\n")
            if "error" not in r and (not down.exists() or down.stat().st_size != size):
                r["error"] = f"downloaded {down.stat().st_size if down.exists() else 'no'} bytes"
            raw.setdefault(f"{kind}/get", []).append(r)
            log(f"  {kind} get: {r}")
            clean()
            up = UPDIR / f"put-{kind}.bin"
            r = sftp_run(srv, f"put {BIG} up/{up.name}\n")
            if "error" not in r and (not up.exists() or up.stat().st_size != size):
                r["error"] = f"uploaded {up.stat().st_size if up.exists() else 'no'} bytes"
            raw.setdefault(f"{kind}/put", []).append(r)
            log(f"  {kind} put: {r}")
            clean()
    out = {}
    for key, runs in raw.items():
        good = [r for r in runs if "error" not in r]
        secs = summary([r["wall_s"] for r in good])
        mbs = summary([size / r["wall_s"] / 1e6 for r in good])
        cpu = summary([r["server_cpu_s"] for r in good])
        ccpu = summary([r["client_cpu_s"] for r in good])
        out[key] = {"seconds": secs, "mb_s": mbs, "server_cpu_s": cpu, "client_cpu_s": ccpu,
                    "errors": [r["error"] for r in runs if "error" in r], "raw": runs}
    R["transfers"] = out


# ---------------------------------------------------------------- idle sessions

def phase_idle(kinds: list[str], R: dict) -> None:
    import paramiko
    key = paramiko.Ed25519Key.from_private_key_file(str(KEY))
    R["idle"] = {}
    for kind in kinds:
        res: dict = {"steps": {}}
        R["idle"][kind] = res
        for n in IDLE:
            avail = mem_available_kib()
            srv = None
            try:
                srv = start(kind, idle_cap=n + 100)
                # One session first: lazily loaded code counts in the baseline.
                s = open_session(srv.port, key)
                close_session(s)
                settle(srv)
                time.sleep(1)
                base = tree_mem(srv.pid)
                res["baseline"] = base
                step = idle_step(srv, key, n, avail)
                res["steps"][str(n)] = step
                log(f"idle {kind} {n}: {step.get('ok')} open, RSS sum {step.get('mem', {}).get('rss_kib')} KiB "
                    f"({step.get('processes')} processes), {step.get('rss_per_session_kib')} KiB/session RSS, "
                    f"{step.get('private_per_session_kib')} KiB/session private {step.get('error') or ''}")
            except Exception as e:  # noqa: BLE001
                res["steps"][str(n)] = {"error": f"{type(e).__name__}: {e}"}
                log(f"idle {kind} {n}: {e}")
            finally:
                if srv is not None:
                    srv.stop()


def open_session(port: int, key):
    import paramiko
    sock = socket.create_connection((HOST, port), timeout=60)
    t = paramiko.Transport(sock)
    t.banner_timeout = t.auth_timeout = 60
    try:
        t.connect(username=ACCOUNT, pkey=key)
        sftp = paramiko.SFTPClient.from_transport(t)   # session channel + sftp subsystem + version exchange
        return (t, sftp)
    except Exception:
        t.close()
        raise


def close_session(s) -> None:
    t, sftp = s
    with contextlib.suppress(Exception):
        sftp.close()
    with contextlib.suppress(Exception):
        t.close()


def idle_step(srv, key, n: int, avail_kib: int) -> dict:
    base = tree_mem(srv.pid)
    sessions = []
    failures: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + OPEN_SECS
    stop = threading.Event()

    def one(_i: int) -> None:
        if stop.is_set() or time.monotonic() > deadline:
            return
        try:
            s = open_session(srv.port, key)
            with lock:
                sessions.append(s)
        except Exception as e:  # noqa: BLE001
            with lock:
                failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1
                if sum(failures.values()) > max(20, n // 10):
                    stop.set()

    step: dict = {}
    t0 = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(OPEN_CONCURRENCY) as ex:
            for i in range(n):
                ex.submit(one, i)
                # Bound memory: stop early if the machine runs short.
                if i % 100 == 99 and mem_available_kib() < 0.2 * avail_kib:
                    stop.set()
                    step["stopped"] = "memory available fell below 20% of what it was"
                    break
        step["open_s"] = round(time.monotonic() - t0, 1)
        step["ok"], step["failed"], step["failures"] = len(sessions), sum(failures.values()), failures
        if stop.is_set() and "stopped" not in step:
            step["stopped"] = "too many failures"
        if time.monotonic() > deadline:
            step["stopped"] = f"opening took more than {OPEN_SECS} s"
        time.sleep(HOLD_SECS)
        # Are they still alive? (a few: an SFTP request each)
        alive = 0
        for t, sftp in sessions[:: max(1, len(sessions) // 20)]:
            with contextlib.suppress(Exception):
                sftp.normalize(".")
                alive += 1
        step["checked_alive"] = f"{alive} of {len(sessions[:: max(1, len(sessions) // 20)])}"
        mem = tree_mem(srv.pid)
        step["mem"], step["processes"] = mem, mem["processes"]
        ok = len(sessions)
        if ok:
            step["rss_per_session_kib"] = round((mem["rss_kib"] - base["rss_kib"]) / ok, 1)
            step["pss_per_session_kib"] = round((mem["pss_kib"] - base["pss_kib"]) / ok, 1)
            step["private_per_session_kib"] = round((mem["private_kib"] - base["private_kib"]) / ok, 1)
    finally:
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            list(ex.map(close_session, sessions))
        settle(srv, timeout=60)
    return step


# ---------------------------------------------------------------- report

def fmt_s(s: dict, digits: int = 0) -> str:
    if not s or s.get("median") is None:
        return "—"
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'])} [{f.format(s['min'])}–{f.format(s['max'])}]"


def write_report(R: dict) -> Path:
    T = R.get("transfers", {})
    kinds = [k for k in R["config"]["servers"] if f"{k}/get" in T]
    lines = [f"# SFTP: wharfd against OpenSSH sshd + sftp-server ({R['started']})", "",
             f"{R['config']['mb']} MiB file, {R['config']['runs']} runs each, medians [min–max]; "
             f"client `sftp -b` ({R['versions'].get('sftp client', '?')}), "
             f"cipher forced with `-c {R['config']['cipher']}` on both sides. "
             f"Machine: {R['machine']['nproc']} cores, load at start {R['machine']['loadavg_start']}.", ""]
    for kind, neg in R.get("negotiated", {}).items():
        lines.append(f"- {kind}: kex {neg.get('kex')}, cipher {neg.get('cipher')} (MAC {neg.get('mac')}); "
                     f"server offers ciphers {neg.get('server_ciphers')}")
    lines.append("")
    if T:
        lines += ["| server | direction | MB/s | ×OpenSSH (median MB/s) | seconds | MB/s without the login (median) | "
                  "server CPU s | server CPU s per GB | client CPU s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        size_gb = R["config"]["mb"] * 1048576 / 1e9
        for d in ("get", "put"):
            ref = T.get(f"openssh/{d}", {}).get("mb_s", {}).get("median")
            for kind in kinds:
                e = T.get(f"{kind}/{d}")
                if not e:
                    continue
                m = e["mb_s"]["median"]
                cpu = e["server_cpu_s"]["median"]
                if m is None or cpu is None:
                    lines.append(f"| {kind} | {d} | — | — | — | — | — | — | — |")
                else:
                    ratio = f"×{m / ref:.2f}" if ref else "—"
                    login = T.get(f"{kind}/login", {}).get("seconds", {}).get("median") or 0.0
                    net = size_gb * 1e3 / (e["seconds"]["median"] - login) if e["seconds"]["median"] > login else None
                    lines.append(f"| {kind} | {d} | {fmt_s(e['mb_s'])} | {ratio} | {fmt_s(e['seconds'], 2)} | "
                                 f"{f'{net:,.0f}' if net else '—'} | {fmt_s(e['server_cpu_s'], 2)} | "
                                 f"{cpu / size_gb:.2f} | {fmt_s(e['client_cpu_s'], 2)} |")
                if e["errors"]:
                    lines.append(f"| | errors | {'; '.join(e['errors'])[:300]} | | | | | | |")
        lines += ["", "Login only (`sftp -b` with `pwd`: connect, key exchange, public-key auth, subsystem, exit), "
                  "included in every transfer's time above:", ""]
        for kind in kinds:
            e = T.get(f"{kind}/login")
            if e:
                lines.append(f"- {kind}: {fmt_s(e['seconds'], 3)} s, server CPU {fmt_s(e['server_cpu_s'], 3)} s")
        lines.append("")
    if R.get("idle"):
        lines += ["## Idle SFTP sessions (paramiko: connect, public-key auth, sftp subsystem open, held)", "",
                  "| server | sessions | open in s | processes | RSS sum MiB | RSS KiB/session | PSS KiB/session | private KiB/session | notes |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for kind, res in R["idle"].items():
            for n, st in res["steps"].items():
                mem = st.get("mem", {})
                note = "; ".join(x for x in [st.get("error"), st.get("stopped"),
                                             f"alive {st['checked_alive']}" if st.get("checked_alive") else None,
                                             f"failed {st['failed']} {st.get('failures')}" if st.get("failed") else None] if x)
                lines.append(f"| {kind} | {st.get('ok', 0)} of {n} | {st.get('open_s', '—')} | {st.get('processes', '—')} | "
                             f"{mem.get('rss_kib', 0) / 1024:,.1f} | {st.get('rss_per_session_kib', '—')} | "
                             f"{st.get('pss_per_session_kib', '—')} | {st.get('private_per_session_kib', '—')} | {note} |")
        lines.append("")
    lines += ["## Settings", ""] + [f"- {k}: {v}" for k, v in R["settings"].items()] + [""]
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in R["versions"].items()), ""]
    path = OUT / "sftp-report.md"
    path.write_text("\n".join(lines))
    return path


def versions() -> dict:
    v = {}
    with contextlib.suppress(Exception):
        v["wharfd"] = subprocess.run([WHARFD, "--version"], capture_output=True,
                                     timeout=10).stdout.decode().strip().splitlines()[0]
    with contextlib.suppress(Exception):
        v["openssh-server"] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "openssh-server"],
                                             capture_output=True, timeout=10).stdout.decode().strip()
    with contextlib.suppress(Exception):
        v["sftp client"] = subprocess.run(["ssh", "-V"], capture_output=True, timeout=10).stderr.decode().strip()
    with contextlib.suppress(Exception):
        import paramiko
        v["paramiko"] = paramiko.__version__
    with contextlib.suppress(Exception):
        v["git"] = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
                                  capture_output=True, timeout=10).stdout.decode().strip()
    return v


def main() -> int:
    if "sftp" in SKIP:
        return 0
    if os.geteuid() != 0:
        print("sftp_bench: run as root (it makes a system account and starts sshd)", file=sys.stderr)
        return 1
    for b in (WHARFD, SSHD, SFTP_SERVER, shutil.which("sftp") or "/nonexistent"):
        if not os.access(b, os.X_OK):
            print(f"sftp_bench: {b} is missing (openssh-server / wharfd build: run `bash bench/run.sh`)",
                  file=sys.stderr)
            return 1
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    OUT.mkdir(parents=True, exist_ok=True)
    R: dict = {"config": {"mb": MB, "runs": RUNS, "servers": SERVERS, "cipher": CIPHER, "idle": IDLE,
                          "work": str(WORK)},
               "machine": {"nproc": os.cpu_count(), "kernel": platform.release(),
                           "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
               "versions": versions(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
               "settings": {
                   "client": "OpenSSH `sftp -b BATCH -c CIPHER -i KEY` (its defaults: requests as large as the server's limits@openssh.com allows, 255 KiB with both servers, 64 in flight), "
                             "a fresh process per transfer; time = the whole process",
                   "openssh": f"`{SSHD} -D -e -f CONFIG`: 127.0.0.1, own ed25519 host key, `UsePAM no`, public key only, "
                              f"`Subsystem sftp {SFTP_SERVER}` (no flags), everything else sshd's defaults; "
                              f"account `{ACCOUNT}` (useradd --system, shell /bin/sh)",
                   "wharfd": "`wharfd serve --sftp-listen 127.0.0.1:0` with the defaults (`durable_uploads = true`: "
                             "an upload is committed at its CLOSE); account with `--quota none` and the same public key; idle phase only: "
                             "max_sessions, max_sessions_per_ip, max_sessions_per_user raised to N+100",
                   "wharfd-nosync": "as wharfd with `durable_uploads = false` (when listed)",
                   "files": f"{BIG} served by both (page cache warm), uploads into {UPDIR}, downloads into {CLIENT}; "
                            "each file deleted and `sync` run after each transfer",
               }}
    log(f"config: {json.dumps(R['config'])}")
    prepare()
    servers: dict = {}
    try:
        for kind in SERVERS:
            servers[kind] = start(kind)
            log(f"started {kind} on port {servers[kind].port} (pid {servers[kind].pid})")
        R["negotiated"] = {k: negotiated_cipher(s) for k, s in servers.items()}
        log(f"negotiated: {R['negotiated']}")
        phase_transfers(servers, R)
        save(R)
    finally:
        for s in servers.values():
            s.stop()
        clean()
    if IDLE and "sftp-idle" not in SKIP:
        phase_idle([k for k in SERVERS if k != "wharfd-nosync"], R)
    R["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    R["elapsed_s"] = round(time.monotonic() - T_START, 1)
    save(R)
    path = write_report(R)
    log(f"done in {R['elapsed_s']} s: {path}")
    if not KEEP:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


def save(R: dict) -> None:
    tmp = OUT / "sftp-report.json.tmp"
    tmp.write_text(json.dumps(R, indent=1, default=str))
    tmp.replace(OUT / "sftp-report.json")


if __name__ == "__main__":
    sys.exit(main())
