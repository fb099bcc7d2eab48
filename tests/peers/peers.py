"""Real third-party FTP servers on 127.0.0.1, for testing Wharf's FTP client.

    from peers import PeerServer

    with PeerServer("vsftpd", root_dir, tls=True) as srv:
        ftp = ReusingFTP_TLS(context=ssl.create_default_context(cafile=srv.cafile))
        ftp.connect(srv.host, srv.port)
        ftp.login(srv.user, srv.password)
        ...
        print(srv.log_text())

Kinds: "vsftpd", "pure-ftpd", "proftpd", "pyftpdlib" (see KINDS). Install them
first with tests/peers/install.sh (root). Standard library only.

Each server:

* listens on 127.0.0.1 only, on a free control port (`.port`) and a small
  passive range of its own (`.pasv_ports`), picked outside the kernel's
  ephemeral range where possible;
* runs in the FOREGROUND as a child of this process, with a private config
  and its logs in a private temp dir (`.workdir`; `log_text()` reads them, and
  keeps working after `stop()`, which removes the dir);
* has one account, `.user` / `.password`, whose root is `root_dir` (seen by
  the client as "/"), with write access;
* with tls=True speaks explicit FTPS (AUTH TLS) with a throw-away CA and a
  leaf certificate for IP:127.0.0.1 and DNS:localhost (`.cafile` is what a
  client should trust; `.certfile` / `.keyfile` are the server's). TLS is then
  required for the login and for data connections (PROT P). vsftpd and
  ProFTPD also require every data connection to resume the control
  connection's TLS session; see ReusingFTP_TLS. pyftpdlib's TLS needs
  pyOpenSSL, which install.sh does not install.
* is stopped by PID on exit (SIGTERM, then SIGKILL), and then whatever is
  left of the process group it was started in (its own session children).

Accounts. vsftpd authenticates through PAM, so its user must be a real system
account: PeerServer creates one (useradd --system, GECOS marker
"wharf-peers test account", shell nologin), sets its password with chpasswd
and points its home at the served directory; it refuses to touch an existing
account without the marker. pure-ftpd (a PureDB built with its own pure-pw
from a SHA-512-crypt line) and ProFTPD (AuthUserFile/AuthGroupFile with
mod_auth_file only) use virtual users, but map them onto the uid/gid of that
same system account (created locked, without a password), because neither
runs sessions as root. For those three, root_dir (recursively) is chowned to
the account so that the FTP user may write there. pyftpdlib runs as the
calling user and touches no account. Because an account has one home and one
password, two vsftpd servers with the same user name cannot run at once (a
lock says so); other kinds may share a user name freely.

Private mount namespaces (`unshare --mount`, root only; nothing outside sees
the mounts, and unshare and sh exec() the server, so the pid is the server's):

* vsftpd and ProFTPD reach the home with the user's euid, so every directory
  above root_dir must be searchable by the account. pytest's tmp_path lives
  under /tmp/pytest-of-root (mode 0700); when root_dir is not reachable, it
  is bind-mounted onto workdir/home (workdir is 0711) and served from there,
  and the caller's directories keep their modes.
* pure-ftpd writes a per-session scoreboard to /var/run/pure-ftpd (a
  compile-time path, left behind when a session is killed); it gets a private
  empty tmpfs on /run.

Leftovers: an atexit hook stops servers that were never stopped, and a small
watchdog process per server stops its process group and removes its temp dir
if the test process dies without stop() (SIGKILL, a CI timeout).

Environment: WHARF_PEERS_DIR (default ~/.cache/wharf-peers) is where
install.sh unpacked vsftpd and pure-ftpd; WHARF_PEERS_KEEP=1 keeps the temp
dirs after stop() for inspection.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import json
import os
import pwd
import grp
import random
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

__all__ = ["PeerServer", "PeerError", "KINDS", "TLS_KINDS", "peers_dir", "require_peer"]

KINDS = ("vsftpd", "pure-ftpd", "proftpd", "pyftpdlib")
#: kinds whose tls=True is expected to work after install.sh
TLS_KINDS = ("vsftpd", "pure-ftpd", "proftpd")

HOST = "127.0.0.1"
ACCOUNT_MARKER = "wharf-peers test account"
INSTALL_HINT = "run `bash tests/peers/install.sh` as root"
PROFTPD_MODULES = Path("/usr/lib/proftpd")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")


class PeerError(RuntimeError):
    """A peer server could not be found, configured or started."""


def peers_dir() -> Path:
    env = os.environ.get("WHARF_PEERS_DIR")
    if env:
        return Path(env)
    return Path(os.path.expanduser("~")) / ".cache" / "wharf-peers"


# --------------------------------------------------------------------------
# binaries


def _binary(kind: str) -> list[str]:
    """The argv prefix that runs `kind`; PeerError naming the fix when absent."""
    if kind == "vsftpd":
        p = peers_dir() / "root/usr/sbin/vsftpd"
    elif kind == "pure-ftpd":
        p = peers_dir() / "root/usr/sbin/pure-ftpd"
    elif kind == "proftpd":
        found = shutil.which("proftpd") or shutil.which("proftpd", path="/usr/sbin:/usr/bin")
        if not found:
            raise PeerError(f"proftpd is not installed (Debian package proftpd-basic); {INSTALL_HINT}")
        return [found]
    elif kind == "pyftpdlib":
        cp = subprocess.run([sys.executable, "-c", "import pyftpdlib"], capture_output=True,
                            timeout=30, stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise PeerError(f"pyftpdlib is not importable by {sys.executable}; {INSTALL_HINT} "
                            f"(or `{sys.executable} -m pip install pyftpdlib`)")
        return [sys.executable]
    else:
        raise PeerError(f"unknown peer kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not os.access(p, os.X_OK):
        raise PeerError(f"{kind} is not unpacked at {p}; {INSTALL_HINT} "
                        f"(it unpacks Debian's {kind} there, since it conflicts with proftpd)")
    return [str(p)]


def require_peer(kind: str, tls: bool = False) -> None:
    """Raise PeerError (with the fix) unless `kind` can be started here."""
    _binary(kind)
    if kind in ("vsftpd", "pure-ftpd", "proftpd") and os.geteuid() != 0:
        raise PeerError(f"{kind} peers need root (they run sessions as a system account)")
    if kind == "vsftpd":
        for tool in ("useradd", "chpasswd", "usermod"):
            if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
                raise PeerError(f"{tool} not found (Debian package passwd)")
    if kind == "pure-ftpd" and not os.access(peers_dir() / "root/usr/bin/pure-pw", os.X_OK):
        raise PeerError(f"pure-pw is not unpacked under {peers_dir()}; {INSTALL_HINT}")
    if (tls or kind in ("pure-ftpd", "proftpd")) and not shutil.which("openssl"):
        raise PeerError("openssl not found (Debian package openssl)")
    if tls:
        if kind == "proftpd" and not (PROFTPD_MODULES / "mod_tls.so").exists():
            raise PeerError(f"{PROFTPD_MODULES}/mod_tls.so is missing (Debian package "
                            f"proftpd-mod-crypto); {INSTALL_HINT}")
        if kind == "pyftpdlib":
            cp = subprocess.run([sys.executable, "-c", "import OpenSSL"], capture_output=True,
                                timeout=30, stdin=subprocess.DEVNULL)
            if cp.returncode != 0:
                raise PeerError("pyftpdlib's FTPS needs pyOpenSSL "
                                f"(`{sys.executable} -m pip install pyopenssl`); install.sh "
                                "does not install it")


def _sbin(tool: str) -> str:
    found = shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise PeerError(f"{tool} not found")
    return found


# --------------------------------------------------------------------------
# ports


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR as the servers set it: a port in TIME_WAIT counts as
        # free, a bound or listening one does not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def pick_ports(count: int, avoid: set[int] = frozenset()) -> list[int]:
    """`count` consecutive free TCP ports on 127.0.0.1, none in `avoid`,
    outside the kernel's ephemeral range when there is room below it (so that
    no outgoing connection of this machine is handed one of them meanwhile)."""
    eph_lo, eph_hi = _ephemeral_range()
    if eph_lo - 10000 > count + 1:
        lo, hi = 10000, eph_lo - count - 1
    else:
        lo, hi = max(1024, eph_hi + 1), 65535 - count
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randrange(lo, hi)
        ports = list(range(base, base + count))
        if not avoid.intersection(ports) and all(_port_free(p) for p in ports):
            return ports
    raise PeerError(f"no {count} consecutive free ports on {HOST} in {lo}-{hi + count}")


def reserve_ports(count: int):
    """(ports, lock file): like pick_ports, but also away from the ports of
    every other running PeerServer, in this process or another (a passive
    range is not bound until a client asks for it, so "free" is not enough).
    Each server holds an flock on locks/ports-FIRST-LAST.lock while it runs;
    closing the file releases the reservation."""
    with _flock("ports.lock"):
        taken: set[int] = set()
        for f in _lock_path("ports.lock").parent.glob("ports-*-*.lock"):
            m = re.fullmatch(r"ports-(\d+)-(\d+)\.lock", f.name)
            if not m:
                continue
            try:
                held = _try_lock(f.name)
            except OSError:
                taken.update(range(int(m.group(1)), int(m.group(2)) + 1))
                continue
            with contextlib.suppress(OSError):
                f.unlink()  # stale: its server is gone
            held.close()
        ports = pick_ports(count, taken)
        lock = _try_lock(f"ports-{ports[0]}-{ports[-1]}.lock")
        return ports, lock


# --------------------------------------------------------------------------
# accounts (vsftpd, pure-ftpd, proftpd)


def _lock_path(name: str) -> Path:
    d = peers_dir() / "locks"
    d.mkdir(parents=True, exist_ok=True)
    return d / name


def _try_lock(name: str):
    """An open file holding an exclusive flock on locks/NAME; OSError when
    another process holds it. Closing the file releases the lock."""
    f = open(_lock_path(name), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise
    return f


@contextlib.contextmanager
def _flock(name: str, timeout: float = 60.0):
    """Hold an exclusive flock on locks/NAME, waiting at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            f = _try_lock(name)
            break
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                raise PeerError(f"could not lock {_lock_path(name)}: {e}") from e
            time.sleep(0.05)
    try:
        yield f
    finally:
        f.close()


def _run(argv: list[str], *, input: bytes | None = None, what: str = "") -> None:
    cp = subprocess.run(argv, input=input, capture_output=True, timeout=60,
                        stdin=None if input is not None else subprocess.DEVNULL)
    if cp.returncode != 0:
        raise PeerError(f"{what or argv[0]} failed ({cp.returncode}): "
                        f"{(cp.stdout + cp.stderr).decode(errors='replace').strip()}")


def ensure_account(user: str) -> pwd.struct_passwd:
    """The system account `user`, created (locked, nologin, no home) when
    absent; PeerError when it exists but is not one of ours."""
    if not _USER_RE.match(user):
        raise PeerError(f"user name {user!r} is not a valid system account name "
                        f"({_USER_RE.pattern}); vsftpd, pure-ftpd and proftpd peers map "
                        "the FTP user onto a system account of that name")
    with _flock("accounts.lock"):
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            _run([_sbin("useradd"), "--system", "--user-group", "--no-create-home",
                  "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                  "--comment", ACCOUNT_MARKER, user], what=f"useradd {user}")
            pw = pwd.getpwnam(user)
    if pw.pw_gecos.split(",")[0] != ACCOUNT_MARKER:
        raise PeerError(f"system account {user!r} exists and was not made by peers.py "
                        f"(GECOS {pw.pw_gecos!r}, expected {ACCOUNT_MARKER!r}); "
                        "pass another user= to PeerServer")
    if pw.pw_uid == 0:
        raise PeerError(f"system account {user!r} has uid 0")
    return pw


def _set_account(user: str, *, password: str | None = None, home: str | None = None) -> None:
    with _flock("accounts.lock"):
        if password is not None:
            if "\n" in password or "\r" in password:
                raise PeerError("password must not contain a line break")
            _run([_sbin("chpasswd")], input=f"{user}:{password}\n".encode(),
                 what=f"chpasswd for {user}")
        if home is not None:
            _run([_sbin("usermod"), "--home", home, user], what=f"usermod --home for {user}")


def _sha512_crypt(password: str) -> str:
    """A crypt(3) SHA-512 hash ($6$) of `password`, by `openssl passwd -6`
    (Python's crypt module is deprecated and gone in 3.13)."""
    if "\n" in password or "\r" in password:
        raise PeerError("password must not contain a line break")
    cp = subprocess.run([shutil.which("openssl") or "openssl", "passwd", "-6", "-stdin"],
                        input=password.encode(), capture_output=True, timeout=60)
    out = cp.stdout.decode(errors="replace").strip()
    if cp.returncode != 0 or not out.startswith("$6$"):
        raise PeerError(f"openssl passwd -6 failed: {cp.stderr.decode(errors='replace')}")
    return out


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def _reachable_by(path: Path, uid: int, gids: set[int]) -> bool:
    """Whether every directory above `path` (and `path` itself) is searchable
    by uid/gids, by mode bits (ACLs aside)."""
    p = path
    while True:
        st = p.stat()
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in gids:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
        if p.parent == p:
            return True
        p = p.parent


# --------------------------------------------------------------------------
# certificates


_CA_CNF = """\
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = wharf-peers throw-away test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

_LEAF_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def make_certs(d: Path) -> dict[str, Path]:
    """A throw-away CA and a leaf for 127.0.0.1/localhost signed by it, in `d`.

    The leaf is CA:FALSE with serverAuth: rustls/webpki refuses a CA:TRUE
    certificate as a server's, so the usual one-certificate self-signed
    setup would not do for Wharf's client."""
    d.mkdir(parents=True, exist_ok=True)
    openssl = shutil.which("openssl")
    if not openssl:
        raise PeerError("openssl not found (Debian package openssl)")
    (d / "ca.cnf").write_text(_CA_CNF)
    (d / "leaf.cnf").write_text(_LEAF_CNF)
    env = dict(os.environ, OPENSSL_CONF=str(d / "ca.cnf"))
    serial = str(random.SystemRandom().randrange(1 << 62, 1 << 63))
    steps = [
        [openssl, "req", "-x509", "-config", str(d / "ca.cnf"), "-newkey", "rsa:2048",
         "-nodes", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "7",
         "-sha256"],
        [openssl, "req", "-new", "-config", str(d / "leaf.cnf"), "-newkey", "rsa:2048",
         "-nodes", "-keyout", str(d / "key.pem"), "-out", str(d / "leaf.csr"), "-sha256"],
        [openssl, "x509", "-req", "-in", str(d / "leaf.csr"), "-CA", str(d / "ca.pem"),
         "-CAkey", str(d / "ca.key"), "-set_serial", serial, "-days", "7", "-sha256",
         "-extfile", str(d / "leaf.cnf"), "-extensions", "v3_leaf", "-out", str(d / "cert.pem")],
    ]
    for argv in steps:
        cp = subprocess.run(argv, capture_output=True, timeout=60, env=env,
                            stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise PeerError(f"openssl failed: {' '.join(argv)}\n"
                            f"{(cp.stdout + cp.stderr).decode(errors='replace')}")
    # key + certificate in one file (pure-ftpd's format), and the chain.
    (d / "key+cert.pem").write_text((d / "key.pem").read_text() + (d / "cert.pem").read_text())
    (d / "chain.pem").write_text((d / "cert.pem").read_text() + (d / "ca.pem").read_text())
    for name in ("ca.key", "key.pem", "key+cert.pem"):
        os.chmod(d / name, 0o600)
    return {"ca": d / "ca.pem", "cert": d / "cert.pem", "key": d / "key.pem",
            "key+cert": d / "key+cert.pem", "chain": d / "chain.pem"}


# --------------------------------------------------------------------------
# private mount namespaces


_NS_OK: bool | None = None


def namespaces_work() -> bool:
    """Whether `unshare --mount` (a private mount namespace) works here:
    root with CAP_SYS_ADMIN, as on this project's machines."""
    global _NS_OK
    if _NS_OK is None:
        unshare = shutil.which("unshare", path=os.environ.get("PATH", "") + ":/usr/bin:/bin")
        if not unshare or os.geteuid() != 0:
            _NS_OK = False
        else:
            with tempfile.TemporaryDirectory(prefix="wharf-peer-nscheck-") as d:
                cp = subprocess.run([unshare, "--mount", "--propagation", "private", "--",
                                     "/bin/sh", "-c", 'mount -t tmpfs wharf-peers "$1"', "sh", d],
                                    capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
                _NS_OK = cp.returncode == 0
    return _NS_OK


def ns_prefix(*, binds: list[tuple[Path, Path]] = (), tmpfs: list[str] = ()) -> list[str]:
    """argv prefix that runs a command in a private mount namespace after
    mounting a tmpfs on each of `tmpfs` and bind-mounting each (src, dst) of
    `binds`. Nothing outside the namespace sees these mounts, and they go
    away with the process. unshare and sh exec() the command: same pid."""
    cmds = ["set -e"]
    cmds += [f"mount -t tmpfs -o mode=0755,size=16m wharf-peers {shlex.quote(str(t))}"
             for t in tmpfs]
    cmds += [f"mount --bind {shlex.quote(str(a))} {shlex.quote(str(b))}" for a, b in binds]
    cmds.append('exec "$@"')
    return [_sbin("unshare"), "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", "; ".join(cmds), "sh"]


def _set_pdeathsig() -> None:
    """In the child before exec: SIGTERM it when the test process dies, so
    that a killed pytest leaves no server behind. Best effort (ctypes)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:  # noqa: BLE001 - never fail the start for this
        pass


# Started beside each server: when the test process dies without stop()
# (SIGKILL, a CI timeout), it stops the server's process group and removes
# its temp dir. PR_SET_PDEATHSIG alone is not enough: ProFTPD changes its
# credentials (User nobody), which clears it.
_WATCHDOG = r'''
import os, shutil, signal, sys, time
parent, pgid, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
def group_alive():
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
while os.getppid() == parent:
    if not group_alive():
        sys.exit(0)
    time.sleep(0.5)
for sig in (signal.SIGTERM, signal.SIGKILL):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        break
    end = time.monotonic() + 3
    while time.monotonic() < end and group_alive():
        time.sleep(0.1)
    if not group_alive():
        break
if os.environ.get("WHARF_PEERS_KEEP") != "1":
    shutil.rmtree(workdir, ignore_errors=True)
'''


_LIVE: "weakref.WeakSet[PeerServer]" = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for srv in list(_LIVE):
        with contextlib.suppress(Exception):
            srv.stop()


# --------------------------------------------------------------------------
# the server


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return True
        time.sleep(0.05)
    return False


_PYFTPDLIB_SCRIPT = r'''
import json, logging, sys
cfg = json.load(open(sys.argv[1]))
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG,
                    format="%(asctime)s %(levelname)s %(message)s")
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.servers import FTPServer
if cfg["tls"]:
    from pyftpdlib.handlers import TLS_FTPHandler as Handler
    Handler.certfile = cfg["certfile"]
    Handler.keyfile = cfg["keyfile"]
    Handler.tls_control_required = True
    Handler.tls_data_required = True
else:
    from pyftpdlib.handlers import FTPHandler as Handler
auth = DummyAuthorizer()
auth.add_user(cfg["user"], cfg["password"], cfg["root"], perm="elradfmwMT")
Handler.authorizer = auth
Handler.passive_ports = range(cfg["pasv_lo"], cfg["pasv_hi"] + 1)
Handler.banner = "wharf-peers pyftpdlib ready"
server = FTPServer((cfg["host"], cfg["port"]), Handler)
server.serve_forever()
'''


class PeerServer:
    """One third-party FTP server on 127.0.0.1 serving `root_dir`.

    Use as a context manager, or call start() and stop(). Attributes: kind,
    host, port, pasv_ports (first, last), user, password, root, tls, cafile,
    certfile, keyfile (None without TLS), pid, workdir, argv."""

    PASSIVE_PORTS = 64

    def __init__(self, kind: str, root_dir: str | os.PathLike, user: str = "alice",
                 password: str = "alice-secret-pw", tls: bool = False, *,
                 start_timeout: float = 20.0, stop_timeout: float = 10.0):
        if kind not in KINDS:
            raise PeerError(f"unknown peer kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind = kind
        self.host = HOST
        self.root = Path(root_dir).resolve()
        self.user = user
        self.password = password
        self.tls = bool(tls)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port: int | None = None
        self.pasv_ports: tuple[int, int] | None = None
        self.cafile: Path | None = None
        self.certfile: Path | None = None
        self.keyfile: Path | None = None
        self.workdir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.argv: list[str] = []
        self.banner: str = ""
        self._final_log: str | None = None
        self._out = None
        self._lock_file = None
        self._account: pwd.struct_passwd | None = None
        self._watchdog: subprocess.Popen | None = None
        self._certs: dict[str, Path] = {}
        self._ports_lock = None

    # ---------------------------------------------------------------- public

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> "PeerServer":
        if self.proc is None:  # PeerServer(...).start() may already have run
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"<PeerServer {self.kind} {self.host}:{self.port} tls={self.tls} "
                f"root={self.root} pid={self.pid}>")

    def start(self) -> "PeerServer":
        if self.proc is not None:
            raise PeerError("already started")
        if not self.root.is_dir():
            raise PeerError(f"root_dir {self.root} is not a directory")
        if self.root == Path("/"):
            raise PeerError("refusing to serve / (it would be chowned)")
        require_peer(self.kind, self.tls)
        self._final_log = None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"wharf-peer-{self.kind}-"))
        # 0711: reachable (not listable) by the session processes, which run
        # as the test account; nothing in it is writable by anyone but root.
        os.chmod(self.workdir, 0o711)
        try:
            if self.kind in ("vsftpd", "pure-ftpd", "proftpd"):
                self._account = ensure_account(self.user)
                _chown_tree(self.root, self._account.pw_uid, self._account.pw_gid)
            if self.tls:
                certs = make_certs(self.workdir / "tls")
                self.cafile, self.certfile, self.keyfile = certs["ca"], certs["cert"], certs["key"]
                self._certs = certs
            last_error: Exception | None = None
            for attempt in range(3):
                self._release_ports()
                ports, self._ports_lock = reserve_ports(1 + self.PASSIVE_PORTS)
                self.port = ports[0]
                self.pasv_ports = (ports[1], ports[-1])
                try:
                    self._launch()
                    self._wait_ready()
                    return self
                except PeerError as e:
                    last_error = e
                    self._terminate()
                    log = "\n".join(line for line in self._read_logs().splitlines()
                                     if not line.startswith("$ "))
                    if not (re.search(r"in use|could not bind|cannot bind|unable to bind",
                                      log, re.I) or not _port_free(self.port)):
                        break  # not a port race: retrying would not help
            raise PeerError(f"{self.kind} did not start: {last_error}\n--- logs ---\n"
                            f"{self._read_logs()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL), keep its logs, remove the temp dir."""
        self._terminate()
        _LIVE.discard(self)
        if self.workdir is not None and self._final_log is None:
            self._final_log = self._read_logs()
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        self._release_ports()
        if self.workdir is not None and os.environ.get("WHARF_PEERS_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self) -> str:
        """Everything the server logged: its stdout/stderr and its log files."""
        if self._final_log is not None:
            return self._final_log
        return self._read_logs()

    # ---------------------------------------------------------------- internals

    def _release_ports(self) -> None:
        lock, self._ports_lock = self._ports_lock, None
        if lock is not None:
            with contextlib.suppress(OSError):
                os.unlink(lock.name)
            lock.close()

    def _read_logs(self) -> str:
        if self.workdir is None or not self.workdir.exists():
            return self._final_log or ""
        parts = []
        for p in sorted(self.workdir.glob("*.log")):
            try:
                parts.append(f"==> {p.name} <==\n{p.read_text(errors='replace')}")
            except OSError as e:
                parts.append(f"==> {p.name} <== ({e})")
        return "\n".join(parts)

    def _launch(self) -> None:
        assert self.workdir is not None
        builder = {"vsftpd": self._vsftpd, "pure-ftpd": self._pure_ftpd,
                   "proftpd": self._proftpd, "pyftpdlib": self._pyftpdlib}[self.kind]
        self.argv = builder()
        if self._out is not None:
            self._out.close()
        self._out = open(self.workdir / "server-output.log", "ab")
        self._out.write(f"$ {' '.join(self.argv)}\n".encode())
        self._out.flush()
        # vsftpd writes its fatal "500 OOPS: ..." to fd 0 (the control
        # connection, in a session): give it the log, not /dev/null.
        stdin = self._out if self.kind == "vsftpd" else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=self._out,
                                     stderr=subprocess.STDOUT, cwd=self.workdir,
                                     start_new_session=True, preexec_fn=_set_pdeathsig)
        _LIVE.add(self)
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(self.proc.pid),
             str(self.workdir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def _wait_ready(self) -> None:
        """Until the control port answers 220 (bounded by start_timeout)."""
        assert self.proc is not None and self.port is not None
        deadline = time.monotonic() + self.start_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise PeerError(f"{self.kind} exited with status {rc} before answering")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as s:
                    # Short: whatever else may hold the port (a race) accepts
                    # but never greets, and the server's exit must be seen.
                    s.settimeout(1.0)
                    f = s.makefile("rb")
                    lines = []
                    while True:
                        line = f.readline(4096)
                        if not line:
                            break
                        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
                        if re.match(r"^\d{3} ", lines[-1]):
                            break
                    if lines and lines[-1].startswith("220 "):
                        self.banner = "\n".join(lines)
                        with contextlib.suppress(OSError):
                            s.sendall(b"QUIT\r\n")
                            f.readline(4096)
                        return
                    last = "answered " + " | ".join(lines) if lines else "closed at once"
            except OSError as e:
                last = str(e)
            time.sleep(0.05)
        raise PeerError(f"{self.kind} did not answer 220 on {self.host}:{self.port} within "
                        f"{self.start_timeout} s ({last})")

    def _terminate(self) -> None:
        wd, self._watchdog = self._watchdog, None
        if wd is not None and wd.poll() is None:
            wd.terminate()
            try:
                wd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                wd.kill()
                wd.wait(timeout=5)
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=self.stop_timeout)
        # Session processes the server forked stay in the process group it
        # was started in (its own, by start_new_session; the group id is the
        # server's pid, which Linux does not reuse while the group exists).
        pgid = proc.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                break
            if _wait_group_gone(pgid, 2.0):
                break
        self.proc = None

    def _reachable_root(self) -> tuple[Path, list[tuple[Path, Path]]]:
        """(path under which the account reaches root_dir, bind mounts needed).

        vsftpd and ProFTPD resolve the home with the user's euid, so every
        directory above it must be searchable by the account. When root_dir
        is not (pytest's tmp_path is under /tmp/pytest-of-root, mode 0700),
        the server runs in a private mount namespace where root_dir is
        bind-mounted onto workdir/home (workdir is 0711), and the caller's
        directories keep their modes."""
        assert self.workdir is not None and self._account is not None
        acct = self._account
        gids = {acct.pw_gid} | {g.gr_gid for g in grp.getgrall() if self.user in g.gr_mem}
        if _reachable_by(self.root, acct.pw_uid, gids):
            return self.root, []
        if not namespaces_work():
            raise PeerError(
                f"{self.kind} reaches the home as {self.user!r}, which cannot search every "
                f"directory above {self.root}, and private mount namespaces (unshare --mount) "
                "do not work here to bind-mount it elsewhere; use a root_dir whose parent "
                "directories are world-searchable (o+x)")
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        return home, [(self.root, home)]

    # ---------------------------------------------------------------- vsftpd

    def _vsftpd(self) -> list[str]:
        assert self.workdir is not None and self._account is not None
        w = self.workdir
        acct = self._account
        if self._lock_file is None:
            try:
                self._lock_file = _try_lock(f"vsftpd-{self.user}.lock")
            except OSError as e:
                raise PeerError(f"another vsftpd peer with user {self.user!r} is running "
                                "(the account has one home and one password); use another "
                                "user=") from e
        (w / "empty").mkdir(exist_ok=True)  # secure_chroot_dir: empty, root-owned
        os.chmod(w / "empty", 0o755)
        home, binds = self._reachable_root()
        prefix = ns_prefix(binds=binds) if binds else []
        _set_account(self.user, password=self.password, home=str(home))
        lo, hi = self.pasv_ports
        conf = {
            "listen": "YES",
            "listen_ipv6": "NO",
            "listen_address": self.host,
            "listen_port": self.port,
            "background": "NO",
            "anonymous_enable": "NO",
            "local_enable": "YES",
            "write_enable": "YES",
            "local_umask": "022",
            "chroot_local_user": "YES",
            "allow_writeable_chroot": "YES",  # root_dir is the user's, and writable
            "pasv_enable": "YES",
            "pasv_min_port": lo,
            "pasv_max_port": hi,
            "pasv_address": self.host,
            "connect_from_port_20": "NO",
            "secure_chroot_dir": w / "empty",
            # No /etc/pam.d/wharf-peers-vsftpd: PAM falls back to "other",
            # which on Debian is common-auth (pam_unix) -- the system account.
            "pam_service_name": "wharf-peers-vsftpd",
            "userlist_enable": "NO",
            "tcp_wrappers": "NO",
            "syslog_enable": "NO",
            "xferlog_enable": "YES",
            "xferlog_std_format": "NO",
            "vsftpd_log_file": w / "vsftpd.log",
            "log_ftp_protocol": "YES",
            "dirmessage_enable": "NO",
            "use_localtime": "NO",
            "ftpd_banner": "wharf-peers vsftpd ready",
        }
        if self.tls:
            conf.update({
                "ssl_enable": "YES",
                "rsa_cert_file": self._certs["chain"],
                "rsa_private_key_file": self._certs["key"],
                "allow_anon_ssl": "NO",
                "force_local_logins_ssl": "YES",
                "force_local_data_ssl": "YES",
                "require_ssl_reuse": "YES",
                "ssl_sslv2": "NO",
                "ssl_sslv3": "NO",
                "ssl_tlsv1": "YES",
                "debug_ssl": "YES",  # TLS versions/reuse in vsftpd.log
            })
        path = w / "vsftpd.conf"
        path.write_text("".join(f"{k}={v}\n" for k, v in conf.items()))
        os.chmod(path, 0o600)
        return prefix + _binary("vsftpd") + [str(path)]

    # ---------------------------------------------------------------- pure-ftpd

    def _pure_ftpd(self) -> list[str]:
        assert self.workdir is not None and self._account is not None
        w = self.workdir
        acct = self._account
        passwd, pdb = w / "pureftpd.passwd", w / "pureftpd.pdb"
        if not pdb.exists():
            # pure-pw useradd would hash with argon2id tuned to ~2 s of CPU,
            # paid again at every login; pure-ftpd checks any crypt(3) hash
            # too, so write the line with SHA-512-crypt and build the PureDB.
            # Home ending in "/./": chroot there (also forced by --chrooteveryone).
            passwd.write_text(f"{self.user}:{_sha512_crypt(self.password)}:{acct.pw_uid}:"
                              f"{acct.pw_gid}::{self.root}/./::::::::::::\n")
            os.chmod(passwd, 0o600)
            _run([str(peers_dir() / "root/usr/bin/pure-pw"), "mkdb", str(pdb), "-f", str(passwd)],
                 what="pure-pw mkdb")
        lo, hi = self.pasv_ports
        # pure-ftpd keeps a per-session scoreboard in /var/run/pure-ftpd, a
        # compile-time path (and leaves files there when a session is
        # killed): give it a private, empty /run when namespaces work.
        prefix = ns_prefix(tmpfs=["/run"]) if namespaces_work() else []
        argv = prefix + _binary("pure-ftpd") + [
            "--bind", f"{self.host},{self.port}",
            "--login", f"puredb:{pdb}",
            "--noanonymous",
            "--chrooteveryone",
            "--dontresolve",
            "--ipv4only",
            "--minuid", "1",  # the account is a --system one (uid < 1000)
            "--passiveportrange", f"{lo}:{hi}",
            "--umask", "133:022",
            "--altlog", f"clf:{w / 'transfer.log'}",
            "--pidfile", str(w / "pure-ftpd.pid"),
            "--verboselog",
            "--maxclientsperip", "50",
            "--maxclientsnumber", "50",
        ]
        if self.tls:
            # 3: TLS required for the control connection and PROT P for data.
            argv += ["--tls", "3", "--certfile", str(self._certs["key+cert"])]
        return argv

    # ---------------------------------------------------------------- proftpd

    def _proftpd(self) -> list[str]:
        assert self.workdir is not None and self._account is not None
        w = self.workdir
        acct = self._account
        group = grp.getgrgid(acct.pw_gid).gr_name
        crypted = _sha512_crypt(self.password)
        home, binds = self._reachable_root()
        prefix = ns_prefix(binds=binds) if binds else []
        (w / "ftpd.passwd").write_text(
            f"{self.user}:{crypted}:{acct.pw_uid}:{acct.pw_gid}:{ACCOUNT_MARKER}:"
            f"{home}:/bin/sh\n")
        (w / "ftpd.group").write_text(f"{group}:x:{acct.pw_gid}:{self.user}\n")
        for name in ("ftpd.passwd", "ftpd.group"):
            os.chmod(w / name, 0o600)
        lo, hi = self.pasv_ports
        lines = [
            'ServerName "wharf-peers proftpd"',
            "ServerType standalone",
            f"DefaultAddress {self.host}",
            "SocketBindTight on",
            "UseIPv6 off",
            f"Port {self.port}",
            f"PassivePorts {lo} {hi}",
            "User nobody",
            "Group nogroup",
            "Umask 022 022",
            "MaxInstances 50",
            "UseReverseDNS off",
            "WtmpLog off",
            f"PidFile {w / 'proftpd.pid'}",
            f"ScoreboardFile {w / 'proftpd.scoreboard'}",
            f"DelayTable {w / 'proftpd.delay'}",
            f"SystemLog {w / 'proftpd.log'}",
            f"TransferLog {w / 'xfer.log'}",
            f"ExtendedLog {w / 'commands.log'} ALL",
            "ControlsEngine off",
            "AuthOrder mod_auth_file.c",
            f"AuthUserFile {w / 'ftpd.passwd'}",
            f"AuthGroupFile {w / 'ftpd.group'}",
            "RequireValidShell off",
            "UseFtpUsers off",
            "DefaultRoot ~",
            "AllowOverwrite on",
            # Off by default in ProFTPD: REST + STOR and APPE resume uploads.
            "AllowStoreRestart on",
            "<Directory />",
            "  AllowOverwrite on",
            "</Directory>",
        ]
        if self.tls:
            lines += [
                f"ModulePath {PROFTPD_MODULES}",
                "<IfModule !mod_tls.c>",
                "  LoadModule mod_tls.c",
                "</IfModule>",
                "TLSEngine on",
                f"TLSLog {w / 'tls.log'}",
                "TLSProtocol TLSv1.2 TLSv1.3",
                f"TLSRSACertificateFile {self._certs['cert']}",
                f"TLSRSACertificateKeyFile {self._certs['key']}",
                f"TLSCertificateChainFile {self._certs['ca']}",
                "TLSVerifyClient off",
                "TLSRequired on",  # control and data; data must resume the session
                "TLSRenegotiate none",
            ]
        path = w / "proftpd.conf"
        path.write_text("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return prefix + _binary("proftpd") + ["--nodaemon", "--config", str(path)]

    # ---------------------------------------------------------------- pyftpdlib

    def _pyftpdlib(self) -> list[str]:
        assert self.workdir is not None
        w = self.workdir
        lo, hi = self.pasv_ports
        cfg = {"host": self.host, "port": self.port, "user": self.user,
               "password": self.password, "root": str(self.root), "pasv_lo": lo,
               "pasv_hi": hi, "tls": self.tls,
               "certfile": str(self._certs["chain"]) if self.tls else None,
               "keyfile": str(self._certs["key"]) if self.tls else None}
        (w / "pyftpdlib.json").write_text(json.dumps(cfg))
        os.chmod(w / "pyftpdlib.json", 0o600)
        (w / "pyftpdlib_server.py").write_text(_PYFTPDLIB_SCRIPT)
        return _binary("pyftpdlib") + ["-u", str(w / "pyftpdlib_server.py"),
                                       str(w / "pyftpdlib.json")]
