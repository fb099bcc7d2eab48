#!/usr/bin/env python3
"""Wharf's benchmark: wharfd and wharf side by side with the FTP servers and
clients people use today, all on 127.0.0.1, measured in one run.

Run it through `bash bench/run.sh` (which builds the binaries, installs the
peers and matplotlib, and then calls this script). Standard library only;
the peers (vsftpd, pure-ftpd, ProFTPD, pyftpdlib) are started through
tests/peers/peers.py.

Environment (all optional):
  BENCH_BIG_MB      size of the big file for single-stream RETR/STOR and the
                    clients (default 1024)
  BENCH_QUICK=1     smoke run: small sizes, 1 run each
  BENCH_RUNS        runs per figure for the fast figures (default 5; quick 1)
  BENCH_HEAVY_RUNS  runs per figure for bursts and client transfers (default 3; quick 1)
  BENCH_SERVERS     comma list of servers (default wharfd,vsftpd,pure-ftpd,proftpd,pyftpdlib)
  BENCH_BURSTS      client counts of the burst (default 50,200,1000)
  BENCH_IDLE        idle-connection counts (default 1000,10000)
  BENCH_LIST_N      entries in the LIST directory (default 10000)
  BENCH_RATE_SECS   seconds per connection-rate run (default 2)
  BENCH_SKIP        comma list of phases to skip: single,list,rate,burst,memory,clients
  BENCH_WORK        scratch directory for the files (default /var/tmp/wharf-bench)
  BENCH_OUT         report directory (default bench/out)
  WHARFD, WHARF, LOADGEN  paths of the binaries (run.sh sets them)
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "peers"))
import peers  # noqa: E402  (tests/peers/peers.py)

HOST = "127.0.0.1"
USER = "benchftp"            # system account the peers map their user onto
PASSWORD = "bench-Pw-7419"
ANON_PASS = "bench@example.org"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ALL_SERVERS = ["wharfd", "vsftpd", "pure-ftpd", "proftpd", "pyftpdlib"]
# wharfd with `durable_uploads = false` (no fsync before the 226): not in the
# default run; name it in BENCH_SERVERS to measure what durability costs.
NOSYNC = "wharfd-nosync"


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "").strip()
    return int(v) if v else default


QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
BIG_MB = env_int("BENCH_BIG_MB", 64 if QUICK else 1024)
RUNS = env_int("BENCH_RUNS", 1 if QUICK else 5)
HEAVY_RUNS = env_int("BENCH_HEAVY_RUNS", 1 if QUICK else 3)
BURSTS = [int(x) for x in os.environ.get("BENCH_BURSTS", "20,50" if QUICK else "50,200,1000").split(",") if x]
IDLE = [int(x) for x in os.environ.get("BENCH_IDLE", "100,300" if QUICK else "1000,10000").split(",") if x]
LIST_N = env_int("BENCH_LIST_N", 10000)
RATE_SECS = float(os.environ.get("BENCH_RATE_SECS", "1" if QUICK else "2"))
FLOOD_SECS = 4 if QUICK else 10   # length of the login flood a download runs in
SKIP = set(x for x in os.environ.get("BENCH_SKIP", "").split(",") if x)
SERVERS = [s for s in os.environ.get("BENCH_SERVERS", ",".join(ALL_SERVERS)).split(",") if s]
WORK = Path(os.environ.get("BENCH_WORK", "/var/tmp/wharf-bench"))
OUT = Path(os.environ.get("BENCH_OUT", str(HERE / "out")))
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/wharf-target")))
WHARFD = os.environ.get("WHARFD", str(TARGET_DIR / "release/wharfd"))
WHARF = os.environ.get("WHARF", str(TARGET_DIR / "release/wharf"))
LOADGEN = os.environ.get("LOADGEN", str(TARGET_DIR / "release/wharf-bench-loadgen"))
SMALL_MB = 10
PER_IP = 16          # clients per source address in bursts and idle runs (wharfd allows 20)
RATE_WORKERS = 8     # parallel clients of the connection-rate test (wharfd: 10 sessions per account)

ROOT = WORK / "root"
BIG = ROOT / "big.bin"
SMALL = ROOT / "f10m.bin"
LISTDIR = ROOT / "list10k"
UPDIR = ROOT / "up"
CLIENT_DIR = WORK / "client"

T_START = time.monotonic()


def log(msg: str) -> None:
    print(f"[bench {time.monotonic() - T_START:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- files

def prepare_files() -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    os.chmod(WORK, 0o755)
    os.chmod(ROOT, 0o755)
    want = BIG_MB << 20
    if not BIG.exists() or BIG.stat().st_size != want:
        log(f"writing {BIG} ({BIG_MB} MiB of random bytes)")
        chunk = os.urandom(1 << 20)
        with open(BIG, "wb") as f:
            for _ in range(BIG_MB):
                f.write(chunk)
    if not SMALL.exists() or SMALL.stat().st_size != SMALL_MB << 20:
        with open(SMALL, "wb") as f:
            f.write(os.urandom(SMALL_MB << 20))
    if not LISTDIR.is_dir() or len(os.listdir(LISTDIR)) != LIST_N:
        log(f"making {LISTDIR} with {LIST_N} entries")
        shutil.rmtree(LISTDIR, ignore_errors=True)
        LISTDIR.mkdir()
        for i in range(LIST_N):
            with open(LISTDIR / f"file-{i:05d}.dat", "wb") as f:
                f.write(b"x" * (i % 100))
    UPDIR.mkdir(exist_ok=True)
    os.chmod(UPDIR, 0o755)
    clean_uploads()
    CLIENT_DIR.mkdir(exist_ok=True)
    # Warm the page cache: every server reads the same cached bytes.
    with open(BIG, "rb") as f:
        while f.read(8 << 20):
            pass


def clean_uploads() -> None:
    for p in UPDIR.iterdir() if UPDIR.exists() else []:
        with contextlib.suppress(OSError):
            p.unlink()
    for p in CLIENT_DIR.iterdir() if CLIENT_DIR.exists() else []:
        with contextlib.suppress(OSError):
            p.unlink()
    # Deleted files have nothing left to write back; sync so that the next
    # run starts without write-back of an earlier one.
    with contextlib.suppress(Exception):
        subprocess.run(["sync"], timeout=120)


# ---------------------------------------------------------------- /proc

def proc_tree(root_pid: int) -> list[int]:
    """root_pid and all its descendants (by ppid)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                s = f.read().decode("latin-1")
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root_pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu(root_pid: int | None) -> float:
    """CPU seconds of the tree: utime+stime+cutime+cstime of every live
    process (children that exited are in their reaper's c-times)."""
    if not root_pid:
        return 0.0
    total = 0
    for p in proc_tree(root_pid):
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                s = f.read().decode("latin-1")
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15])
    return total / CLK_TCK


def tree_mem(root_pid: int) -> dict:
    """RSS summed over every process of the tree, and PSS / private (USS)
    from smaps_rollup, in KiB."""
    rss = pss = priv = 0
    n = 0
    for p in proc_tree(root_pid):
        try:
            with open(f"/proc/{p}/statm") as f:
                rss += int(f.read().split()[1]) * PAGE // 1024
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                        priv += int(line.split()[1])
            n += 1
        except (OSError, ValueError, IndexError):
            continue
    return {"processes": n, "rss_kib": rss, "pss_kib": pss, "private_kib": priv}


# ---------------------------------------------------------------- servers

class BenchPeer(peers.PeerServer):
    """A peer from tests/peers/peers.py, turned from its test settings back
    towards the package's production defaults, with only what the benchmark
    needs to run at all changed (see CHANGES)."""

    def __init__(self, kind: str, max_clients: int):
        super().__init__(kind, ROOT, user=USER, password=PASSWORD, start_timeout=60.0)
        self.max_clients = max_clients

    def _vsftpd(self) -> list[str]:
        argv = super()._vsftpd()
        path = self.workdir / "vsftpd.conf"
        conf = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        for k in ("pasv_min_port", "pasv_max_port"):   # default: any port
            conf.pop(k, None)
        conf["log_ftp_protocol"] = "NO"                 # the default
        conf["anonymous_enable"] = "YES"
        conf["anon_root"] = str(ROOT)
        conf["max_clients"] = str(self.max_clients)
        path.write_text("".join(f"{k}={v}\n" for k, v in conf.items()))
        return argv

    def _pure_ftpd(self) -> list[str]:
        argv = super()._pure_ftpd()
        i = next(i for i, a in enumerate(argv) if a.endswith("/pure-ftpd"))
        prefix, args = argv[:i], argv[i:]
        out = [args[0]]
        skip_next = False
        for j, a in enumerate(args[1:], 1):
            if skip_next:
                skip_next = False
                continue
            if a in ("--passiveportrange", "--maxclientsperip", "--maxclientsnumber"):
                skip_next = True
                continue
            if a in ("--noanonymous", "--verboselog"):
                continue
            out.append(a)
        out += ["--maxclientsnumber", str(self.max_clients)]
        # Anonymous users land in the `ftp` account's home: show it the
        # benchmark files there, inside the server's private mount namespace.
        # pure-ftpd keeps one scoreboard file (a 4 KiB tmpfs page) per session
        # in /run/pure-ftpd: peers.py's private 16 MiB /run holds 4096 of
        # them, too few for 10,000 sessions, so the tmpfs here is larger.
        if prefix:
            ftp_home = Path(peers.pwd.getpwnam("ftp").pw_dir)
            cmds = ["set -e", "mount -t tmpfs -o mode=0755,size=256m wharf-bench /run",
                    f"mount --bind {shlex.quote(str(ROOT))} {shlex.quote(str(ftp_home))}", 'exec "$@"']
            prefix = [shutil.which("unshare") or "/usr/bin/unshare", "--mount", "--propagation", "private", "--",
                      "/bin/sh", "-c", "; ".join(cmds), "sh"]
        return prefix + out

    def _proftpd(self) -> list[str]:
        argv = super()._proftpd()
        w = self.workdir
        path = w / "proftpd.conf"
        lines = []
        for line in path.read_text().splitlines():
            if line.startswith(("PassivePorts", "ExtendedLog")):
                continue
            if line.startswith("MaxInstances"):
                line = f"MaxInstances {self.max_clients}"
            lines.append(line)
        ftp = peers.pwd.getpwnam("ftp")
        group = peers.grp.getgrgid(ftp.pw_gid).gr_name
        with open(w / "ftpd.passwd", "a") as f:
            f.write(f"ftp:*:{ftp.pw_uid}:{ftp.pw_gid}::{ftp.pw_dir}:/usr/sbin/nologin\n")
        with open(w / "ftpd.group", "a") as f:
            f.write(f"{group}:x:{ftp.pw_gid}:\n")
        home, _ = self._reachable_root()
        lines += [
            f"<Anonymous {home}>",
            "  User ftp",
            f"  Group {group}",
            "  UserAlias anonymous ftp",
            "  RequireValidShell off",
            "  <Limit WRITE>",
            "    DenyAll",
            "  </Limit>",
            "</Anonymous>",
        ]
        path.write_text("\n".join(lines) + "\n")
        return argv

    def _pyftpdlib(self) -> list[str]:
        argv = super()._pyftpdlib()
        # pyftpdlib's max_cons counts every socket, data connections and
        # passive listeners too: three per downloading client.
        (self.workdir / "pyftpdlib_server.py").write_text(PYFTPDLIB_SCRIPT.replace(
            "MAX_CONS", str(3 * self.max_clients)))
        return argv


# pyftpdlib as its docs start it, with its own default logging (INFO), any
# passive port, an anonymous user and max_cons raised.
PYFTPDLIB_SCRIPT = r'''
import json, sys
cfg = json.load(open(sys.argv[1]))
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
auth = DummyAuthorizer()
auth.add_user(cfg["user"], cfg["password"], cfg["root"], perm="elradfmwMT")
auth.add_anonymous(cfg["root"])
FTPHandler.authorizer = auth
FTPHandler.banner = "pyftpdlib ready"
server = FTPServer((cfg["host"], cfg["port"]), FTPHandler)
server.max_cons = MAX_CONS
server.serve_forever()
'''

CHANGES = {
    "wharfd": [
        "`--anon-root` set to the benchmark's file tree (default DATA/pub), so anonymous clients see the same files",
        "account `bench` added with `wharfd users add bench --password-stdin --quota none --home ROOT` (quota none: 1 GiB uploads repeated)",
        "memory phase only: `--max-sessions` raised from 1000 to {idle_cap} (10,000 idle sessions)",
        "everything else default: max 20 sessions per address (the load generator uses 16 per source address 127.1.x.y), "
        "10 per account, `--login-fail-delay-ms` default, info logging to a file",
    ],
    NOSYNC: [
        "as wharfd, with `durable_uploads = false` in a config file: uploads are not fsynced before the 226 "
        "(the other servers do not fsync either)",
    ],
    "vsftpd": [
        "from peers.py's test config back to defaults: no passive port range (peers.py pins 8 ports), `log_ftp_protocol=NO`",
        "`anonymous_enable=YES` with `anon_root` = the file tree (read-only; anonymous bursts and idle sessions)",
        "`max_clients` set to the phase's cap ({std_cap} / {idle_cap}; vsftpd's default 0 means unlimited, so this limits nothing the test reaches)",
        "kept from peers.py: listen on 127.0.0.1:PORT in the foreground, chroot_local_user + allow_writeable_chroot, PAM with a local system account, xferlog to a file",
    ],
    "pure-ftpd": [
        "from peers.py's test config back to defaults: no passive port range, no `--verboselog`, no per-address cap (peers.py sets 50)",
        "`--maxclientsnumber` raised from the default 50 to the phase's cap ({std_cap} / {idle_cap})",
        "anonymous enabled (no `--noanonymous`): the file tree is bind-mounted on the `ftp` account's home in the server's private mount namespace",
        "kept from peers.py: PureDB virtual user (SHA-512-crypt hash), `--chrooteveryone`, `--dontresolve` (no DNS here), `--minuid 1`, "
        "a private /run (made 256 MiB instead of peers.py's 16 MiB: pure-ftpd keeps a 4 KiB scoreboard file per session there, "
        "and 16 MiB stops it at 4096 sessions)",
    ],
    "proftpd": [
        "from peers.py's test config back to defaults: no `PassivePorts`, no `ExtendedLog ... ALL`",
        "`MaxInstances` raised from peers.py's 50 (Debian's proftpd.conf: 30) to the phase's cap ({std_cap} / {idle_cap})",
        "an `<Anonymous ROOT>` block (User ftp, read-only), the usual anonymous setup",
        "kept from peers.py: standalone, `--nodaemon`, mod_auth_file virtual user (SHA-512-crypt), `DefaultRoot ~`, `UseReverseDNS off`",
    ],
    "pyftpdlib": [
        "started as its docs show (FTPServer + FTPHandler + DummyAuthorizer) with its own default INFO logging "
        "(peers.py logs at DEBUG) and any passive port",
        "`max_cons` raised from 512 to 3× the phase's cap ({std_cap} / {idle_cap}; it counts data sockets and passive "
        "listeners too); anonymous user added (read-only)",
    ],
}


class WharfServer:
    """wharfd from the release build, on a free port, stopped by PID."""

    def __init__(self, max_sessions: int | None, durable: bool = True, *, config: str = "",
                 kind: str | None = None, binary: str | None = None):
        self.max_sessions = max_sessions
        self.durable = durable
        self.kind = kind or ("wharfd" if durable else NOSYNC)
        # Config file lines beyond durable_uploads, and another build of
        # wharfd (login_bench.py runs the previous commit's beside this one).
        self.config = config
        self.binary = binary or WHARFD
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.data = WORK / "wharfd-data"
        self.logfile = WORK / f"{self.kind}.log"
        self.user, self.password = "bench", PASSWORD

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> "WharfServer":
        if not (self.data / "wharf.db").exists() or b"bench" not in subprocess.run(
                [WHARFD, "users", "list", "--data", str(self.data)], capture_output=True,
                timeout=60).stdout:
            self.data.mkdir(parents=True, exist_ok=True)
            cp = subprocess.run([WHARFD, "users", "add", "bench", "--password-stdin", "--quota", "none",
                                 "--home", str(ROOT), "--reuse-home", "--data", str(self.data)],
                                input=(PASSWORD + "\n").encode(), capture_output=True, timeout=120)
            if cp.returncode != 0:
                raise RuntimeError(f"wharfd users add failed: {cp.stderr.decode(errors='replace')}")
        for _ in range(5):
            self.port = peers.pick_ports(1)[0]
            argv = [self.binary, "serve", "--data", str(self.data), "--listen", f"{HOST}:{self.port}",
                    "--anon-root", str(ROOT)]
            if self.max_sessions:
                argv += ["--max-sessions", str(self.max_sessions)]
            config_text = ("" if self.durable else "durable_uploads = false\n") + self.config
            if config_text:
                config = WORK / f"{self.kind}.toml"
                config.write_text(config_text)
                argv += ["--config", str(config)]
            out = open(self.logfile, "ab")
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True)
            out.close()
            if wait_banner(self.port, self.proc, 30):
                return self
            self.stop()
        raise RuntimeError(f"wharfd did not start; see {self.logfile}")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def stop_process(proc: subprocess.Popen | None) -> None:
    """SIGTERM to a server this script started, SIGKILL if it has not
    ended 40 s later."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_banner(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                s.settimeout(5)
                if s.recv(4096).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def start_server(kind: str, cap: int):
    if kind in ("wharfd", NOSYNC):
        return WharfServer(None if cap <= 1000 else cap, durable=kind == "wharfd").start()
    srv = BenchPeer(kind, cap)
    srv.start()
    return srv


def creds(srv) -> tuple[str, str]:
    return (srv.user, srv.password)


# ---------------------------------------------------------------- load generator

def loadgen(mode: str, srv=None, timeout: float = 600, **opts) -> dict:
    argv = [LOADGEN, mode]
    if srv is not None:
        argv += ["--host", HOST, "--port", str(srv.port)]
    for k, v in opts.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    argv += ["--max-secs", str(int(timeout))]
    c0 = tree_cpu(srv.pid) if srv is not None else 0.0
    try:
        cp = subprocess.run(argv, capture_output=True, timeout=timeout + 30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"error": f"loadgen {mode} timed out"}
    c1 = tree_cpu(srv.pid) if srv is not None else 0.0
    line = cp.stdout.decode(errors="replace").strip().splitlines()
    try:
        r = json.loads(line[-1]) if line else {"error": cp.stderr.decode(errors="replace")[-300:]}
    except json.JSONDecodeError:
        r = {"error": f"bad loadgen output: {line[-1][:200]}"}
    if srv is not None:
        r["server_cpu_s"] = round(c1 - c0, 3)
        if r.get("wall_s"):
            r["server_cpu_pct"] = round(100 * (c1 - c0) / r["wall_s"], 1)
    return r


def summary(values: list[float]) -> dict:
    v = [x for x in values if x is not None]
    if not v:
        return {"median": None, "min": None, "max": None, "n": 0, "spread_pct": None, "runs": []}
    med = statistics.median(v)
    return {"median": med, "min": min(v), "max": max(v), "n": len(v), "runs": v,
            "spread_pct": round(100 * (max(v) - min(v)) / med, 1) if med else None}


def med_of(runs: list[dict], key: str):
    v = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
    return statistics.median(v) if v else None


# ---------------------------------------------------------------- phases

def note_load(R: dict, phase: str) -> None:
    R.setdefault("loadavg", {})[phase] = [round(x, 2) for x in os.getloadavg()]


def phase_single(servers: dict, R: dict) -> None:
    """RETR (copying and discarding receiver), STOR, and the loopback limits,
    interleaved in rounds so that slow drifts of the machine hit all alike."""
    big = BIG.stat().st_size
    raw: dict[str, list[dict]] = {}
    for rnd in range(RUNS):
        log(f"single-stream round {rnd + 1}/{RUNS}")
        raw.setdefault("limit_copy", []).append(loadgen("sendfile-limit", file=BIG, timeout=120))
        raw.setdefault("limit_discard", []).append(loadgen("sendfile-limit", file=BIG, discard=1, timeout=120))
        kinds = list(servers)
        kinds = kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]   # rotate: no one always goes first
        for kind in kinds:
            srv = servers[kind]
            u, p = creds(srv)
            raw.setdefault(f"{kind}/retr", []).append(
                loadgen("retr", srv, user=u, **{"pass": p}, path="big.bin", expect_bytes=big, timeout=300))
            raw.setdefault(f"{kind}/retr_discard", []).append(
                loadgen("retr", srv, user=u, **{"pass": p}, path="big.bin", expect_bytes=big, discard=1,
                        timeout=300))
            r = loadgen("stor", srv, user=u, **{"pass": p}, path=f"up/stor-{kind}.bin", file=BIG, timeout=300)
            got = UPDIR / f"stor-{kind}.bin"
            if "error" not in r and (not got.exists() or got.stat().st_size != big):
                r["error"] = f"uploaded file has {got.stat().st_size if got.exists() else 'no'} bytes"
            raw.setdefault(f"{kind}/stor", []).append(r)
            clean_uploads()
    R["single"] = {k: {"summary": summary([r.get("mb_s") for r in v if "error" not in r]),
                       "errors": [r["error"] for r in v if "error" in r],
                       "loadgen_cpu_pct": med_of(v, "loadgen_cpu_pct"),
                       "server_cpu_pct": med_of(v, "sender_cpu_pct" if k.startswith("limit") else "server_cpu_pct"),
                       "server_cpu_s": med_of(v, "server_cpu_s"),
                       "raw": v} for k, v in raw.items()}


def phase_list(servers: dict, R: dict) -> None:
    R["list"] = {}
    for kind, srv in servers.items():
        u, p = creds(srv)
        r = loadgen("list", srv, user=u, **{"pass": p}, path="list10k", repeat=max(RUNS, 1) + 1, timeout=120)
        ms = r.get("ms", [])[1:] if "error" not in r else []   # the first one warms the server up
        R["list"][kind] = {"summary": summary(ms), "lines": r.get("lines"), "bytes": r.get("bytes"),
                           "error": r.get("error"), "loadgen_cpu_pct": r.get("loadgen_cpu_pct"),
                           "server_cpu_pct": r.get("server_cpu_pct"), "raw": r}
        log(f"LIST {kind}: {R['list'][kind]['summary']['median']} ms, {r.get('lines')} lines {r.get('error') or ''}")


def phase_rate(servers: dict, R: dict) -> None:
    R["rate"] = {}
    for kind, srv in servers.items():
        u, p = creds(srv)
        for login, (user, pw) in (("anon", ("anonymous", ANON_PASS)), ("user", (u, p))):
            runs = [loadgen("rate", srv, user=user, **{"pass": pw}, workers=RATE_WORKERS, secs=RATE_SECS,
                            max_cycles=200000, timeout=RATE_SECS + 60) for _ in range(HEAVY_RUNS)]
            R["rate"][f"{kind}/{login}"] = {
                "summary": summary([r.get("per_s") for r in runs if "error" not in r]),
                "failed": sum(r.get("failed", 0) for r in runs),
                "reasons": [r.get("reasons") for r in runs if r.get("failed")],
                "p99_ms": med_of(runs, "p99_ms"),
                "loadgen_cpu_pct": med_of(runs, "loadgen_cpu_pct"),
                "server_cpu_pct": med_of(runs, "server_cpu_pct"),
                "errors": [r["error"] for r in runs if "error" in r], "raw": runs}
            log(f"rate {kind}/{login}: {R['rate'][f'{kind}/{login}']['summary']['median']}/s")
            time.sleep(1)
        runs = [retr_during_flood(srv) for _ in range(HEAVY_RUNS)]
        good = [r for r in runs if "error" not in r]
        R.setdefault("flood", {})[kind] = {
            "mb_s": summary([r.get("mb_s") for r in good]),
            "logins_per_s": med_of(good, "flood_per_s"),
            "server_cpu_pct": med_of(good, "server_cpu_pct"),
            "errors": [r["error"] for r in runs if "error" in r], "raw": runs}
        log(f"retr during a login flood {kind}: {R['flood'][kind]['mb_s']['median']} MB/s")
        time.sleep(1)


def retr_during_flood(srv) -> dict:
    """A copying RETR of the big file while RATE_WORKERS clients log in with
    a password as fast as they can: does a login flood starve transfers?"""
    u, p = creds(srv)
    argv = [LOADGEN, "rate", "--host", HOST, "--port", str(srv.port), "--user", u, "--pass", p,
            "--workers", str(RATE_WORKERS), "--secs", str(FLOOD_SECS), "--max-cycles", "200000",
            "--max-secs", str(FLOOD_SECS + 60)]
    flood = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        time.sleep(1.0)    # the flood is under way
        r = loadgen("retr", srv, user=u, **{"pass": p}, path="big.bin", expect_bytes=BIG.stat().st_size,
                    timeout=120)
        out, _ = flood.communicate(timeout=FLOOD_SECS + 90)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        f = json.loads(lines[-1])
        r["flood_per_s"] = f.get("per_s")
    except (IndexError, json.JSONDecodeError):
        r.setdefault("error", "the login flood printed no result")
    if "error" not in r and r.get("wall_s", 0) + 1.0 > FLOOD_SECS:
        r["error"] = f"the download outlasted the {FLOOD_SECS} s flood"
    return r


def phase_burst(servers: dict, R: dict) -> None:
    R["burst"] = {}
    small = SMALL.stat().st_size
    for n in BURSTS:
        for rnd in range(HEAVY_RUNS):
            for kind, srv in servers.items():
                r = loadgen("burst", srv, user="anonymous", **{"pass": ANON_PASS}, clients=n, path="f10m.bin",
                            expect_bytes=small, per_ip=PER_IP, discard=1, timeout=120)
                R["burst"].setdefault(f"{kind}/{n}", []).append(r)
                log(f"burst {n} {kind}: {r.get('ok')} ok, {r.get('failed')} failed, "
                    f"{r.get('last_ok_s')} s, {r.get('mb_s')} MB/s {r.get('error') or ''}")
                time.sleep(2 if n >= 1000 else 0.5)    # let the sessions of this burst end
    out = {}
    for key, runs in R["burst"].items():
        good = [r for r in runs if "error" not in r]
        out[key] = {"mb_s": summary([r.get("mb_s") for r in good]),
                    "last_ok_s": summary([r.get("last_ok_s") for r in good]),
                    "failed": summary([r.get("failed") for r in good]),
                    "p50_s": summary([r.get("p50_s") for r in good]),
                    "p99_s": summary([r.get("p99_s") for r in good]),
                    "reasons": [r.get("reasons") for r in good if r.get("failed")],
                    "loadgen_cpu_pct": med_of(good, "loadgen_cpu_pct"),
                    "server_cpu_pct": med_of(good, "server_cpu_pct"),
                    "errors": [r["error"] for r in runs if "error" in r], "raw": runs}
    R["burst"] = out


def phase_memory(kinds: list[str], R: dict) -> None:
    """Each server alone, with its client cap raised; anonymous sessions held
    open by the load generator, memory of the whole process tree sampled."""
    R["memory"] = {}
    cap = max(IDLE) + 100
    for kind in kinds:
        res = {"steps": {}}
        R["memory"][kind] = res
        try:
            srv = start_server(kind, cap)
        except Exception as e:  # noqa: BLE001
            res["error"] = f"start failed: {e}"
            log(f"memory {kind}: {res['error']}")
            continue
        try:
            # One session first, so that lazily loaded code and caches count
            # in the baseline rather than in the first connections.
            loadgen("rate", srv, user="anonymous", **{"pass": ANON_PASS}, workers=1, secs=0.2, max_cycles=5,
                    timeout=30)
            time.sleep(1)
            base = tree_mem(srv.pid)
            res["baseline"] = base
            per_conn_estimate = None
            for n in IDLE:
                avail = mem_available_kib()
                if per_conn_estimate and per_conn_estimate * n > 0.6 * avail:
                    res["steps"][str(n)] = {"skipped": f"would need about {per_conn_estimate * n / 1048576:.1f} GiB "
                                                       f"of {avail / 1048576:.1f} GiB available"}
                    log(f"memory {kind} {n}: skipped ({res['steps'][str(n)]['skipped']})")
                    continue
                step = idle_step(srv, n)
                res["steps"][str(n)] = step
                if step.get("ok"):
                    d = step["mem"]["private_kib"] - base["private_kib"]
                    per_conn_estimate = max(d / step["ok"], 1) * 1.2
                log(f"memory {kind} {n}: {step.get('ok')} sessions, RSS sum {step.get('mem', {}).get('rss_kib')} KiB, "
                    f"{step.get('rss_per_conn_kib')} KiB/conn {step.get('error') or ''}")
                time.sleep(2)
        finally:
            srv.stop()


def mem_available_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def idle_step(srv, n: int, login: tuple[str, str] = ("anonymous", ANON_PASS),
              extra: tuple[str, ...] = ()) -> dict:
    """N idle logged-in sessions held by the load generator (`extra`: more
    of its options, e.g. `--ca` for TLS); RSS of the server's process tree
    per session."""
    base = tree_mem(srv.pid)
    argv = [LOADGEN, "idle", "--host", HOST, "--port", str(srv.port), "--user", login[0], "--pass", login[1],
            "--clients", str(n), "--per-ip", str(PER_IP), "--concurrency", "12", "--hold-secs", "120",
            "--open-secs", "240", "--max-secs", "400", *extra]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    step: dict = {}
    try:
        line = read_line_with_timeout(p, 300)
        if not line:
            step["error"] = "load generator gave no ready line"
            return step
        ready = json.loads(line)
        step.update({"ok": ready.get("ok"), "failed": ready.get("failed"), "reasons": ready.get("reasons"),
                     "stopped": ready.get("stopped"), "open_s": ready.get("wall_s"),
                     "loadgen_cpu_pct": ready.get("loadgen_cpu_pct")})
        time.sleep(2)     # let the server settle (vsftpd, ProFTPD fork after login)
        mem = tree_mem(srv.pid)
        step["mem"] = mem
        ok = ready.get("ok") or 0
        if ok:
            step["rss_per_conn_kib"] = round((mem["rss_kib"] - base["rss_kib"]) / ok, 1)
            step["pss_per_conn_kib"] = round((mem["pss_kib"] - base["pss_kib"]) / ok, 1)
            step["private_per_conn_kib"] = round((mem["private_kib"] - base["private_kib"]) / ok, 1)
        p.stdin.write(b"done\n")
        p.stdin.flush()
        done = read_line_with_timeout(p, 60)
        if done:
            d = json.loads(done)
            step["noop_checked"], step["noop_ok"] = d.get("noop_checked"), d.get("noop_ok")
    except Exception as e:  # noqa: BLE001
        step["error"] = str(e)
    finally:
        with contextlib.suppress(Exception):
            p.stdin.close()
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
    # Wait (bounded) until the server's sessions are gone.
    end = time.monotonic() + 60
    while time.monotonic() < end and len(proc_tree(srv.pid)) > max(base["processes"], 1) + 1:
        time.sleep(0.5)
    return step


def read_line_with_timeout(p: subprocess.Popen, timeout: float) -> str:
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    end = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < end:
        if not sel.select(timeout=max(0.1, end - time.monotonic())):
            continue
        ch = os.read(p.stdout.fileno(), 65536)
        if not ch:
            break
        buf += ch
        if b"\n" in buf:
            return buf.split(b"\n", 1)[0].decode(errors="replace")
    return ""


# ---------------------------------------------------------------- clients

FTPLIB_SCRIPT = r'''
import ftplib, sys
mode, port, user, pw, remote, local = sys.argv[1:7]
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(port), timeout=120)
ftp.login(user, pw)
if mode == "get":
    with open(local, "wb") as f:
        ftp.retrbinary("RETR " + remote, f.write, blocksize=1 << 20)
else:
    with open(local, "rb") as f:
        ftp.storbinary("STOR " + remote, f, blocksize=1 << 20)
ftp.quit()
'''


def run_timed(argv: list[str], timeout: float = 300) -> dict:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        cp = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    out = {"wall_s": wall, "cpu_s": cpu}
    if cp.returncode != 0:
        out["error"] = f"exit {cp.returncode}: {(cp.stderr or cp.stdout).decode(errors='replace')[-300:]}"
    return out


def phase_clients(vs, R: dict) -> None:
    """wharf get/put, curl, lftp and ftplib against the same vsftpd, the big
    file down (into a file on the work disk) and up; plus the disk's write
    limit for the same bytes."""
    big = BIG.stat().st_size
    script = WORK / "ftplib_client.py"
    script.write_text(FTPLIB_SCRIPT)
    url = f"ftp://{vs.user}:{vs.password}@{HOST}:{vs.port}"
    dest = CLIENT_DIR / "down.bin"
    lftp_open = f"set cmd:fail-exit yes; set net:max-retries 1; set xfer:clobber on; open -u {vs.user},{vs.password} -p {vs.port} {HOST}"
    down = {
        "wharf get": [WHARF, "get", "-q", "-o", str(dest), f"{url}/big.bin"],
        "curl": ["curl", "-sS", "-o", str(dest), f"{url}/big.bin"],
        "lftp get": ["lftp", "-c", f"{lftp_open}; get big.bin -o {dest}"],
        "python ftplib": [sys.executable, str(script), "get", str(vs.port), vs.user, vs.password, "big.bin", str(dest)],
    }
    up = {
        "wharf put": lambda n: [WHARF, "put", "-q", str(BIG), f"{url}/up/{n}"],
        "curl -T": lambda n: ["curl", "-sS", "-T", str(BIG), f"{url}/up/{n}"],
        "lftp put": lambda n: ["lftp", "-c", f"{lftp_open}; put {BIG} -o up/{n}"],
        "python ftplib": lambda n: [sys.executable, str(script), "put", str(vs.port), vs.user, vs.password,
                                    f"up/{n}", str(BIG)],
    }
    raw: dict[str, list[dict]] = {}
    for rnd in range(HEAVY_RUNS):
        log(f"clients round {rnd + 1}/{HEAVY_RUNS}")
        ddf = CLIENT_DIR / "dd.bin"
        jobs = []
        for label, extra in (("disk write (dd bs=1M, no sync)", []), ("disk write (dd bs=1M conv=fsync)", ["conv=fsync"])):
            jobs.append((f"limit/{label}",
                         ["dd", "if=/dev/zero", f"of={ddf}", "bs=1M", f"count={BIG_MB}", "status=none"] + extra, None))
        for name, argv in down.items():
            jobs.append((f"down/{name}", argv, dest))
        for i, (name, mk) in enumerate(up.items()):
            jobs.append((f"up/{name}", mk(f"client-{i}.bin"), UPDIR / f"client-{i}.bin"))
        # Rotate the order each round: a first write into memory the machine
        # has just freed is slower here, and no one should always pay it.
        k = (rnd * 3) % len(jobs)
        for key, argv, check in jobs[k:] + jobs[:k]:
            r = run_timed(argv)
            if check is not None and "error" not in r and (not check.exists() or check.stat().st_size != big):
                r["error"] = f"transferred {check.stat().st_size if check.exists() else 'no'} bytes"
            raw.setdefault(key, []).append(r)
            clean_uploads()
    R["clients"] = {}
    for k, runs in raw.items():
        good = [r for r in runs if "error" not in r]
        s = summary([r["wall_s"] for r in good])
        R["clients"][k] = {"seconds": s, "mb_s": big / s["median"] / 1e6 if s["median"] else None,
                           "cpu_s": med_of(good, "cpu_s"),
                           "errors": [r["error"] for r in runs if "error" in r], "raw": runs}
        log(f"client {k}: {s['median']} s {R['clients'][k]['errors'] or ''}")


# ---------------------------------------------------------------- main

def versions() -> dict:
    v = {}
    with contextlib.suppress(Exception):
        v["wharfd"] = subprocess.run([WHARFD, "--version"], capture_output=True, timeout=10).stdout.decode().strip()
    with contextlib.suppress(Exception):
        v["wharf"] = subprocess.run([WHARF, "--version"], capture_output=True, timeout=10).stdout.decode().strip()
    with contextlib.suppress(Exception):
        for line in (peers.peers_dir() / "installed.txt").read_text().splitlines():
            name, ver = line.split()
            v[name] = ver
    with contextlib.suppress(Exception):
        v["proftpd"] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "proftpd-core"],
                                      capture_output=True, timeout=10).stdout.decode().strip()
    with contextlib.suppress(Exception):
        v["pyftpdlib"] = subprocess.run([sys.executable, "-c", "import pyftpdlib; print(pyftpdlib.__ver__)"],
                                        capture_output=True, timeout=30).stdout.decode().strip()
    for tool, args in (("curl", ["--version"]), ("lftp", ["--version"])):
        with contextlib.suppress(Exception):
            v[tool] = subprocess.run([tool] + args, capture_output=True, timeout=10).stdout.decode().splitlines()[0]
    v["python"] = platform.python_version()
    with contextlib.suppress(Exception):
        v["git"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                  timeout=10).stdout.decode().strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "crates"],
                               capture_output=True, timeout=10).stdout.decode().strip()
        if dirty:
            v["git"] += " (crates/ has uncommitted changes)"
    return v


def main() -> int:
    for b in (WHARFD, WHARF, LOADGEN):
        if not os.access(b, os.X_OK):
            print(f"bench: {b} is missing; run `bash bench/run.sh`", file=sys.stderr)
            return 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    OUT.mkdir(parents=True, exist_ok=True)
    R: dict = {
        "config": {"quick": QUICK, "big_mb": BIG_MB, "runs": RUNS, "heavy_runs": HEAVY_RUNS, "bursts": BURSTS,
                   "idle": IDLE, "list_n": LIST_N, "rate_secs": RATE_SECS, "rate_workers": RATE_WORKERS,
                   "per_ip": PER_IP, "servers": SERVERS, "skip": sorted(SKIP), "work": str(WORK),
                   "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]},
        "machine": {"nproc": os.cpu_count(), "kernel": platform.release(),
                    "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
                    "loadavg_start": os.getloadavg()},
        "versions": versions(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    std_cap = max(BURSTS + [100])
    idle_cap = max(IDLE) + 100
    R["changes"] = {k: [c.format(std_cap=std_cap, idle_cap=idle_cap) for c in v]
                    for k, v in CHANGES.items() if k in SERVERS}
    log(f"config: {json.dumps(R['config'])}")
    prepare_files()

    servers: dict = {}
    try:
        for kind in SERVERS:
            try:
                servers[kind] = start_server(kind, std_cap)
                log(f"started {kind} on port {servers[kind].port} (pid {servers[kind].pid})")
            except Exception as e:  # noqa: BLE001
                log(f"could not start {kind}: {e}")
                R.setdefault("start_errors", {})[kind] = str(e)[:2000]
        if "single" not in SKIP:
            note_load(R, "single")
            phase_single(servers, R)
            save(R)
        if "list" not in SKIP:
            note_load(R, "list")
            phase_list(servers, R)
            save(R)
        if "rate" not in SKIP:
            note_load(R, "rate")
            phase_rate(servers, R)
            save(R)
        if "burst" not in SKIP:
            note_load(R, "burst")
            phase_burst(servers, R)
            save(R)
        if "clients" not in SKIP and "vsftpd" in servers:
            # vsftpd alone for the clients: the other servers stop first.
            for kind in list(servers):
                if kind != "vsftpd":
                    servers.pop(kind).stop()
            note_load(R, "clients")
            phase_clients(servers["vsftpd"], R)
            save(R)
    finally:
        for srv in servers.values():
            with contextlib.suppress(Exception):
                srv.stop()
        clean_uploads()
    if "memory" not in SKIP:
        note_load(R, "memory")
        phase_memory([k for k in SERVERS if k not in R.get("start_errors", {})], R)
    R["machine"]["loadavg_end"] = os.getloadavg()
    R["elapsed_s"] = round(time.monotonic() - T_START, 1)
    save(R)
    import report
    report.write(R, OUT)
    log(f"done in {R['elapsed_s']} s: {OUT / 'report.md'}")
    return 0


def save(R: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "report.json.tmp"
    tmp.write_text(json.dumps(R, indent=1, default=str))
    tmp.replace(OUT / "report.json")


if __name__ == "__main__":
    sys.exit(main())
