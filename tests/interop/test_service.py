"""Issue 18: wharfd as a system service.

Privileges: started as root with `--user`, the real binary binds, drops to
an unprivileged system user (made here with `useradd --system` when
missing; the tests run as root) and holds no capability, which
/proc/PID/status shows for every thread; FTP logins and uploads still work
and the files belong to that user. A data directory the user cannot write,
and a non-root start as another user, are refused with a clear error; a
non-root start with only CAP_NET_BIND_SERVICE (ambient, via setpriv, as
systemd's AmbientCapabilities= does) binds a port below 1024 and then
holds no capability.

Signals: SIGHUP with a new certificate (a fresh FTP_TLS client sees it, a
download begun before completes on the old one), SIGHUP with a broken
config or a key that does not fit (refused with an error line, the old one
kept, still serving), SIGUSR1 after the xferlog was renamed (the next
transfer writes a new file), SIGTERM (new connections refused, idle
sessions told 421, a running download completes within the grace; past the
grace it is cut and the server exits). Logs as JSON lines
(`log_format = "json"`) with the stable fields; under the journal
($JOURNAL_STREAM names stderr) native journal entries (a stand-in journald
socket in a mount namespace of wharfd's own) with a field per event field,
or, with no journald socket, text lines with syslog priorities (`<6>…`)
and no timestamps.

systemd: the binary under `systemd-socket-activate` (the passed socket
serves, the configured address is not used, an `ftps`-named socket serves
implicit FTPS), READY/WATCHDOG/RELOADING/STOPPING notifications on a
stand-in $NOTIFY_SOCKET, `systemd-analyze verify` on the unit files and
their `systemd-analyze security` score (offline) equal to docs/install.md's.

Generated from clap: `wharfd`/`wharf completions bash|zsh|fish` (each
checked by that shell's own syntax check) and the man pages (`man -l`).
The references checked against the code: wharfd.toml(5) and docs/configuration.md
"Configuration" name exactly the config keys (and the `serve` flags).

Packages: `scripts/build-deb.sh` (cargo-deb) from the binaries under test;
lintian without errors; `dpkg -i`, /usr/sbin/wharfd --version, the
conffile, the `wharf` user and its directories, the man pages, the packaged config serving (on 127.0.0.1)
as `wharf`; `dpkg --purge` leaves nothing behind. A package of that name
already installed makes the test fail rather than touch it.

The Containerfile: a non-root USER, the data VOLUME, and CMD flags the
binary accepts (no container runtime here to build it).

The privilege tests run each server in a directory of its own under /tmp
(mode 0755, so the unprivileged user can reach it), removed afterwards.
Every server is stopped by its PID.
"""

from __future__ import annotations

import ftplib
import io
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import Wharfd, add_user, populate
from local_daemons import free_port, free_ports
from test_ftps import ImplicitFTP_TLS, ReusingFTP_TLS
from wharf_helpers import PASSWORD, TIMEOUT, USER, sha256, wait_until
from wharf_runner import wharf_path
from wharfd_process import report_servers

SERVICE_USER = "wharf-test"


@pytest.fixture(scope="module")
def service_user() -> pwd.struct_passwd:
    """The unprivileged system user, created when missing."""
    if os.geteuid() != 0:
        pytest.fail("the service tests start wharfd as root: run them as root", pytrace=False)
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        pytest.fail("useradd not found (Debian package passwd)", pytrace=False)
    subprocess.run([useradd, "--system", "--user-group", "--no-create-home",
                    "--shell", "/usr/sbin/nologin", SERVICE_USER],
                   check=True, timeout=TIMEOUT)
    return pwd.getpwnam(SERVICE_USER)


@pytest.fixture
def service_dir():
    """A directory under /tmp that every user may traverse."""
    d = Path(tempfile.mkdtemp(prefix="wharf-service-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def reachable_bin(wharfd_bin, tmp_path_factory) -> Path:
    """The binary where an unprivileged user can run it (the build lies
    under root's home): a hard link, else a copy, in a 0755 directory."""
    d = Path(tempfile.mkdtemp(prefix="wharf-service-bin-"))
    d.chmod(0o755)
    target = d / "wharfd"
    try:
        os.link(wharfd_bin, target)
    except OSError:
        shutil.copy2(wharfd_bin, target)
    target.chmod(0o755)
    yield target
    shutil.rmtree(d, ignore_errors=True)


def chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def prepared_data(bin: Path, base: Path, owner: pwd.struct_passwd | None) -> Wharfd:
    """A data directory with `alice` and the fixture files, owned by `owner`."""
    data = base / "data"
    data.mkdir()
    srv = Wharfd(bin=bin, data=data)
    add_user(bin, data, USER, PASSWORD)
    populate(srv)
    if owner is not None:
        chown_tree(data, owner.pw_uid, owner.pw_gid)
    return srv


@pytest.fixture
def servers(request):
    """Servers a test started; all stopped by PID at the end."""
    started: list[Wharfd] = report_servers(request.node, [])
    yield started
    for srv in started:
        srv.stop()
        assert "panicked" not in srv.log(), srv.log_tail(60)


def status_fields(pid: int, task: str | None = None) -> dict[str, str]:
    path = f"/proc/{pid}/task/{task}/status" if task else f"/proc/{pid}/status"
    fields = {}
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def run_wharfd(bin: Path, args: list[str], *, user: int | None = None,
               group: int | None = None) -> subprocess.CompletedProcess:
    """`wharfd ARGS` that is expected to exit by itself, bounded in time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    env["NO_COLOR"] = "1"
    return subprocess.run([str(bin), *args], capture_output=True, timeout=TIMEOUT,
                          env=env, user=user, group=group, extra_groups=[] if user else None,
                          cwd="/")


# --------------------------------------------------------------------------
# step 1: privilege drop


def test_root_drops_to_the_user_before_serving(service_user, service_dir, reachable_bin, servers):
    srv = prepared_data(reachable_bin, service_dir, service_user)
    servers.append(srv)
    srv.start(["--user", SERVICE_USER], {})
    srv.wait_log(r"dropped root: running as " + SERVICE_USER)
    uid, gid = str(service_user.pw_uid), str(service_user.pw_gid)
    # every thread: real, effective, saved and filesystem ids; no capability
    tasks = os.listdir(f"/proc/{srv.proc.pid}/task")
    assert len(tasks) > 1, "the runtime's threads should exist by now"
    for task in tasks:
        st = status_fields(srv.proc.pid, task)
        assert st["Uid"].split() == [uid] * 4, st["Uid"]
        assert st["Gid"].split() == [gid] * 4, st["Gid"]
        assert st["Groups"].split() == [gid], st["Groups"]
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[cap], 16) == 0, f"{cap} = {st[cap]} in task {task}"
        assert st["NoNewPrivs"] == "1"

    # FTP still works, and what it writes belongs to the user
    payload = os.urandom(200 * 1024)
    f = srv.ftp()
    f.storbinary("STOR dropped.bin", io.BytesIO(payload))
    got = io.BytesIO()
    f.retrbinary("RETR dropped.bin", got.write)
    f.quit()
    assert sha256(got.getvalue()) == sha256(payload)
    stored = srv.home / "dropped.bin"
    assert stored.read_bytes() == payload
    assert stored.stat().st_uid == service_user.pw_uid


def test_a_data_directory_the_user_cannot_write_is_refused(service_user, service_dir,
                                                           reachable_bin):
    data = prepared_data(reachable_bin, service_dir, None).data  # stays root's
    cp = run_wharfd(reachable_bin, ["serve", "--data", str(data), "--listen", "127.0.0.1:0",
                                    "--user", SERVICE_USER])
    err = cp.stderr.decode(errors="replace")
    assert cp.returncode != 0, err
    assert f"not writable by user {SERVICE_USER}" in err, err
    assert f"chown -R {SERVICE_USER}:" in err, err


def test_a_home_or_store_left_to_root_is_refused(service_user, service_dir, reachable_bin):
    # `wharfd users add` run as root after the directory was given away
    srv = prepared_data(reachable_bin, service_dir, service_user)
    for leftover in (srv.data / "home", srv.data / "wharf.db"):
        os.chown(leftover, 0, 0)
        leftover.chmod(0o755 if leftover.is_dir() else 0o644)
        cp = run_wharfd(reachable_bin, ["serve", "--data", str(srv.data), "--listen",
                                        "127.0.0.1:0", "--user", SERVICE_USER])
        err = cp.stderr.decode(errors="replace")
        assert cp.returncode != 0, err
        assert f"{leftover} is not writable by user {SERVICE_USER}" in err, err
        os.chown(leftover, service_user.pw_uid, service_user.pw_gid)


def test_unknown_user_is_refused(service_dir, reachable_bin):
    cp = run_wharfd(reachable_bin, ["serve", "--data", str(service_dir / "d"),
                                    "--listen", "127.0.0.1:0", "--user", "no-such-wharf-user"])
    err = cp.stderr.decode(errors="replace")
    assert cp.returncode != 0 and "no user \"no-such-wharf-user\"" in err, err


def test_non_root_as_another_user_is_refused(service_user, service_dir, reachable_bin):
    # started as the service user, but configured for `nobody`
    data = service_dir / "d"
    data.mkdir()
    os.chown(data, service_user.pw_uid, service_user.pw_gid)
    cp = run_wharfd(reachable_bin, ["serve", "--data", str(data), "--listen", "127.0.0.1:0",
                                    "--user", "nobody"],
                    user=service_user.pw_uid, group=service_user.pw_gid)
    err = cp.stderr.decode(errors="replace")
    assert cp.returncode != 0, err
    assert "is not root" in err and "nobody" in err, err


def test_non_root_as_the_user_itself_serves(service_user, service_dir, reachable_bin, servers):
    srv = prepared_data(reachable_bin, service_dir, service_user)
    servers.append(srv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    env.update({"NO_COLOR": "1", "WHARF_LOGIN_FAIL_DELAY_MS": "50"})
    srv.serve(["--user", SERVICE_USER], env, user=service_user.pw_uid,
              group=service_user.pw_gid, extra_groups=[])
    st = status_fields(srv.proc.pid)
    assert st["Uid"].split() == [str(service_user.pw_uid)] * 4
    assert int(st["CapEff"], 16) == 0
    f = srv.ftp()
    assert f.nlst() is not None
    f.quit()


def free_low_port() -> int:
    """A port below 1024 that is free on 127.0.0.1 (we are root here)."""
    import random
    candidates = list(range(600, 1024))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.fail("no free port below 1024 on 127.0.0.1", pytrace=False)


def test_non_root_with_ambient_net_bind_service(service_user, service_dir, reachable_bin,
                                                servers):
    # what systemd's User=wharf + AmbientCapabilities=CAP_NET_BIND_SERVICE
    # does, by setpriv (util-linux): no root at all, a port below 1024
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv not found (Debian package util-linux)", pytrace=False)
    srv = prepared_data(reachable_bin, service_dir, service_user)
    servers.append(srv)
    port = free_low_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1",
           "WHARF_LOGIN_FAIL_DELAY_MS": "50"}
    srv.spawn([setpriv, "--reuid", str(service_user.pw_uid), "--regid", str(service_user.pw_gid),
               "--clear-groups", "--inh-caps", "+net_bind_service",
               "--ambient-caps", "+net_bind_service",
               str(reachable_bin), "serve", "--data", str(srv.data),
               "--listen", f"127.0.0.1:{port}"], env)
    srv.wait_log(rf"listening on 127\.0\.0\.1:{port}\b")
    srv.port = port
    # once bound, the capability is given up (with no_new_privs it cannot
    # come back; the bounding set needs CAP_SETPCAP to shrink, so it stays)
    st = status_fields(srv.proc.pid)
    assert st["Uid"].split() == [str(service_user.pw_uid)] * 4
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(st[cap], 16) == 0, f"{cap} = {st[cap]}"
    assert st["NoNewPrivs"] == "1"
    f = srv.ftp()
    f.storbinary("STOR low-port.txt", io.BytesIO(b"bound below 1024 without root\n"))
    f.quit()
    assert (srv.home / "low-port.txt").stat().st_uid == service_user.pw_uid


# --------------------------------------------------------------------------
# step 2: signals (SIGHUP reload, SIGUSR1 log reopen, SIGTERM grace)

SLOW_RATE = "128K"  # the 1 MiB home/data.bin then takes about 7 s


def make_pair(bin: Path, out: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate and key (`wharfd cert self-signed`)."""
    cp = run_wharfd(bin, ["cert", "self-signed", "--out", str(out)])
    assert cp.returncode == 0, (cp.stdout + cp.stderr).decode(errors="replace")
    return out / "cert.pem", out / "key.pem"


def der_sha256(cert_pem: Path) -> str:
    return sha256(ssl.PEM_cert_to_DER_cert(cert_pem.read_text()))


def install_pair(pair: tuple[Path, Path], live: tuple[Path, Path]) -> None:
    """Put a certificate and key in place the way an operator (or certbot)
    does: a new file renamed over the old one."""
    for src, dst in zip(pair, live):
        tmp = dst.with_suffix(".new")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


def tls_client(srv, cafile: Path) -> ReusingFTP_TLS:
    f = ReusingFTP_TLS(context=ssl.create_default_context(cafile=str(cafile)), timeout=TIMEOUT)
    f.connect(srv.host, srv.port)
    f.login(USER, PASSWORD)
    f.prot_p()
    return f


class Download(threading.Thread):
    """A RETR in a thread; `started` is set at its first bytes."""

    def __init__(self, ftp: ftplib.FTP, name: str):
        super().__init__(daemon=True)
        self.ftp, self.name = ftp, name
        self.started = threading.Event()
        self.buf = io.BytesIO()
        self.error: BaseException | None = None
        self.reply = ""

    def run(self) -> None:
        def got(block: bytes) -> None:
            self.buf.write(block)
            self.started.set()
        try:
            self.ftp.voidcmd("TYPE I")
            self.reply = self.ftp.retrbinary(f"RETR {self.name}", got)
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.started.set()

    def result(self, timeout: float = 60) -> bytes:
        self.join(timeout)
        assert not self.is_alive(), "the download did not end"
        if self.error is not None:
            raise AssertionError(f"the download failed: {self.error!r}")
        return self.buf.getvalue()


@pytest.fixture
def pki(wharfd_bin, tmp_path):
    """Two certificate pairs and the live paths the server is configured with."""
    first = make_pair(wharfd_bin, tmp_path / "first")
    second = make_pair(wharfd_bin, tmp_path / "second")
    live_dir = tmp_path / "live"
    live_dir.mkdir()
    live = (live_dir / "cert.pem", live_dir / "key.pem")
    install_pair(first, live)
    return first, second, live


def tls_config(tmp_path: Path, live: tuple[Path, Path], extra: str = "") -> Path:
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text(f'tls_cert = "{live[0]}"\ntls_key = "{live[1]}"\n{extra}')
    return cfg


def test_sighup_new_certificate_for_new_sessions_running_download_completes(
        wharfd_factory, pki, tmp_path):
    first, second, live = pki
    cfg = tls_config(tmp_path, live)
    srv = wharfd_factory(["--config", str(cfg), "--max-download-rate", SLOW_RATE])
    want = sha256((srv.home / "data.bin").read_bytes())

    old = tls_client(srv, first[0])
    assert sha256(old.sock.getpeercert(binary_form=True)) == der_sha256(first[0])
    download = Download(old, "data.bin")
    download.start()
    assert download.started.wait(TIMEOUT)

    install_pair(second, live)
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"configuration reloaded")
    assert download.is_alive(), "the download should still be running after the reload"

    # a fresh client sees the new certificate (and trusts only it)
    new = tls_client(srv, second[0])
    assert sha256(new.sock.getpeercert(binary_form=True)) == der_sha256(second[0])
    assert new.nlst("docs")
    new.quit()
    # a client that trusts only the old certificate is now turned away
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_client(srv, first[0])

    # the download begun before the reload completes, on the old session
    assert sha256(download.result()) == want
    assert download.reply.startswith("226"), download.reply
    assert old.data_reused == [True]
    old.quit()


def test_sighup_broken_config_or_key_keeps_the_running_one(wharfd_factory, pki, tmp_path):
    first, second, live = pki
    cfg = tls_config(tmp_path, live)
    srv = wharfd_factory(["--config", str(cfg)])

    cfg.write_text('tls_cert = "unterminated\n')  # not TOML
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"reload refused: the configuration does not load")
    f = tls_client(srv, first[0])
    assert sha256(f.sock.getpeercert(binary_form=True)) == der_sha256(first[0])
    assert f.nlst("docs")
    f.quit()

    # a valid file, but the key no longer fits the certificate
    cfg.write_text(tls_config(tmp_path, live).read_text())
    shutil.copyfile(second[0], live[0])  # the new certificate with the old key
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"reload refused: the certificate does not load")
    assert "configuration reloaded" not in srv.log()
    f = tls_client(srv, first[0])
    assert sha256(f.sock.getpeercert(binary_form=True)) == der_sha256(first[0])
    got = io.BytesIO()
    f.retrbinary("RETR hello.txt", got.write)
    assert got.getvalue() == (srv.home / "hello.txt").read_bytes()
    f.quit()
    assert srv.alive()


def test_sigusr1_reopens_the_xferlog(wharfd_factory, tmp_path):
    xferlog = tmp_path / "xferlog"
    srv = wharfd_factory(["--xferlog", str(xferlog)])

    def fetch(name: str) -> None:
        f = srv.ftp()
        f.retrbinary(f"RETR {name}", lambda b: None)
        f.quit()

    def lines(p: Path) -> list[str]:
        return p.read_text().splitlines() if p.exists() else []

    fetch("hello.txt")
    assert wait_until(lambda: len(lines(xferlog)) == 1, 10), lines(xferlog)
    rotated = tmp_path / "xferlog.1"
    os.rename(xferlog, rotated)
    os.kill(srv.proc.pid, signal.SIGUSR1)
    srv.wait_log(r"SIGUSR1: reopened the transfer log")
    assert xferlog.exists(), "the reopened log should be created at once"
    fetch("docs/a.txt")
    assert wait_until(lambda: len(lines(xferlog)) == 1, 10), lines(xferlog)
    assert "/docs/a.txt" in lines(xferlog)[0]
    assert len(lines(rotated)) == 1 and "/hello.txt" in lines(rotated)[0]


def connection_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def stopping_server(bin: Path, base: Path, servers: list, args: list[str]) -> Wharfd:
    """A server the test itself stops (the factory would count its exit as
    a death)."""
    srv = prepared_data(bin, base, None)
    servers.append(srv)
    srv.start(args, {})
    return srv


def test_sigterm_lets_a_running_download_finish_and_refuses_new_connections(
        wharfd_bin, tmp_path, servers):
    srv = stopping_server(wharfd_bin, tmp_path, servers,
                          ["--shutdown-grace", "20", "--max-download-rate", SLOW_RATE])
    want = sha256((srv.home / "data.bin").read_bytes())
    idle = srv.ftp()
    download = Download(srv.ftp(), "data.bin")
    download.start()
    assert download.started.wait(TIMEOUT)

    os.kill(srv.proc.pid, signal.SIGTERM)
    srv.wait_log(r"stop signal received")
    assert wait_until(lambda: connection_refused(srv.port), 5), "still accepting"
    # an idle session is told 421 and closed
    with pytest.raises((ftplib.error_temp, EOFError, OSError)) as told:
        idle.voidcmd("NOOP")
    if isinstance(told.value, ftplib.error_temp):
        assert str(told.value).startswith("421"), told.value
    assert srv.alive(), "the server should wait for the running download"

    assert sha256(download.result()) == want
    assert download.reply.startswith("226"), download.reply
    srv.proc.wait(15)
    assert srv.proc.returncode == 0, srv.log_tail()
    assert "wharfd stopped" in srv.log()


def test_sigterm_grace_over_cuts_the_transfer_and_exits(wharfd_bin, tmp_path, servers):
    srv = stopping_server(wharfd_bin, tmp_path, servers,
                          ["--shutdown-grace", "1", "--max-download-rate", "64K"])
    download = Download(srv.ftp(), "data.bin")  # about 16 s at 64K
    download.start()
    assert download.started.wait(TIMEOUT)
    stopped_at = time.monotonic()
    os.kill(srv.proc.pid, signal.SIGTERM)
    srv.proc.wait(15)
    assert time.monotonic() - stopped_at < 10
    assert srv.proc.returncode == 0, srv.log_tail()
    srv.wait_log(r"grace period over")
    download.join(TIMEOUT)
    assert download.error is not None or not download.reply.startswith("226")
    assert len(download.buf.getvalue()) < (srv.home / "data.bin").stat().st_size


def test_json_log_lines_for_log_shippers(wharfd_factory, tmp_path):
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text('log_format = "json"\n')
    srv = wharfd_factory(["--config", str(cfg)])
    f = srv.ftp()
    f.retrbinary("RETR hello.txt", lambda b: None)
    f.quit()
    line = srv.wait_log(r'"message":"transfer complete"')
    records = [json.loads(l) for l in srv.log().splitlines() if l.strip()]
    for r in records:  # every line is one object with the stable fields
        assert {"timestamp", "level", "message"} <= r.keys(), r
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r["timestamp"]), r
    done = json.loads(line)
    assert done["level"] == "INFO" and done["user"] == USER and done["path"] == "/hello.txt"
    assert int(done["bytes"]) == len((srv.home / "hello.txt").read_bytes())
    assert done["peer"].startswith("127.0.0.1:"), done
    assert any(r["message"] == "login" and r.get("user") == USER for r in records)


def under_journal(journal_dir: Path | None) -> list[str]:
    """The command prefix that runs wharfd as systemd would with its output
    to the journal: JOURNAL_STREAM names the stderr pipe (DEVICE:INODE), and
    in a mount namespace of its own /run is empty but for journald's socket
    directory when `journal_dir` is given (so no real journald is reached)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare not found (Debian package util-linux)", pytrace=False)
    script = ('mount -t tmpfs tmpfs /run && '
              'if [ -n "$1" ]; then mkdir -p /run/systemd/journal && '
              'mount --bind "$1" /run/systemd/journal; fi && shift && '
              'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/2) exec "$@"')
    return [unshare, "--mount", "sh", "-c", script, "sh", str(journal_dir or "")]


def test_text_log_lines_for_the_journal_carry_syslog_priorities(wharfd_bin, tmp_path, servers):
    # no journald socket to reach: the stream to the journal gets priorities
    srv = prepared_data(wharfd_bin, tmp_path, None)
    servers.append(srv)
    srv.spawn([*under_journal(None), str(wharfd_bin), "serve", "--data", str(srv.data),
               "--listen", "127.0.0.1:0"],
              {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1"})
    line = srv.wait_log(r"^<6>listening on 127\.0\.0\.1:\d+$")
    srv.port = int(line.rsplit(":", 1)[1])
    f = srv.ftp(user=None)
    with pytest.raises(ftplib.error_perm):
        f.login(USER, "wrong password")
    f.close()
    srv.wait_log(r"^<6>login failed peer=127\.0\.0\.1:\d+ user=alice")
    srv.wait_log(r"^<4>running as root")  # a warning
    for line in srv.log().splitlines():  # a priority, no timestamp, no colour
        assert re.match(r"<[3-7]>", line) and "\x1b" not in line, line
        assert not re.match(r"<\d>\d{4}-\d\d-\d\dT", line), line


def journal_fields(datagram: bytes) -> dict[str, str]:
    """One entry of the journal's native protocol: FIELD=value lines, or
    FIELD, newline, 64-bit little-endian length, bytes, newline."""
    fields, i = {}, 0
    while i < len(datagram):
        end = datagram.index(b"\n", i)
        line = datagram[i:end]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            i = end + 1
        else:
            name = line
            size = int.from_bytes(datagram[end + 1:end + 9], "little")
            value = datagram[end + 9:end + 9 + size]
            i = end + 9 + size + 1
        fields[name.decode()] = value.decode()
    return fields


def test_native_journal_entries(wharfd_bin, tmp_path, servers):
    # journald's socket, stood in for by ours (see under_journal)
    jdir = Path(tempfile.mkdtemp(prefix="wharf-journal-"))
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind(str(jdir / "socket"))
    entries: list[dict[str, str]] = []

    def wait_entry(pred, timeout: float = 10) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            for e in entries:
                if pred(e):
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such journal entry in {entries!r}")
            journal.settimeout(left)
            try:
                entries.append(journal_fields(journal.recv(65536)))
            except socket.timeout:
                pass

    try:
        srv = prepared_data(wharfd_bin, tmp_path, None)
        servers.append(srv)
        srv.spawn([*under_journal(jdir), str(wharfd_bin),
                   "serve", "--data", str(srv.data), "--listen", "127.0.0.1:0"],
                  {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1"})
        listening = wait_entry(lambda e: e.get("MESSAGE", "").startswith("listening on "))
        assert listening["PRIORITY"] == "6" and listening["SYSLOG_IDENTIFIER"] == "wharfd"
        srv.port = int(listening["MESSAGE"].rsplit(":", 1)[1])
        warning = wait_entry(lambda e: e.get("MESSAGE", "").startswith("running as root"))
        assert warning["PRIORITY"] == "4"
        f = srv.ftp()
        f.retrbinary("RETR hello.txt", lambda b: None)
        f.quit()
        done = wait_entry(lambda e: e.get("MESSAGE", "").startswith("transfer complete"))
        assert (done["USER"], done["PATH"]) == (USER, "/hello.txt"), done
        assert int(done["BYTES"]) == len((srv.home / "hello.txt").read_bytes())
        assert done["PEER"].startswith("127.0.0.1:") and "user=alice" in done["MESSAGE"]
        assert "listening on" not in srv.log(), "native entries should not be on stderr too"
        assert srv.stop() == 0, srv.log_tail()
    finally:
        journal.close()
        shutil.rmtree(jdir, ignore_errors=True)


def test_journal_stream_naming_another_file_changes_nothing(wharfd_factory):
    srv = wharfd_factory([], {"JOURNAL_STREAM": "1:1"})
    line = srv.wait_log(r"listening on 127\.0\.0\.1:")
    assert re.match(r"\d{4}-\d\d-\d\dT", line) and not line.startswith("<"), line


# --------------------------------------------------------------------------
# step 3: systemd (socket activation, sd_notify, the unit files)

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "packaging" / "systemd"


def require(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        pytest.fail(f"{tool} not found: install the Debian package systemd "
                    f"(bash scripts/install-test-deps.sh)", pytrace=False)
    return exe


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, directory: Path):
        self.path = directory / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.messages: list[str] = []

    def wait_for(self, line: str, timeout: float = 10) -> str:
        """The first message (old or new) holding `line` as one of its lines."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if line in m.split("\n"):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {line!r} notification; got {self.messages!r}")
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self) -> None:
        self.sock.close()


def activated(bin: Path, base: Path, servers: list, listen: list[tuple[int, str]],
              extra_env: dict[str, str], args: list[str]) -> Wharfd:
    """wharfd under `systemd-socket-activate -l 127.0.0.1:PORT --fdname=NAME...`
    (which binds, waits for the first connection, then execs wharfd with
    LISTEN_FDS; so the PID stays the same). Returns once the ports are
    bound; wharfd itself starts at the first connection."""
    launcher = require("systemd-socket-activate")
    srv = prepared_data(bin, base, None)
    servers.append(srv)
    env = {"NO_COLOR": "1", "WHARF_LOGIN_FAIL_DELAY_MS": "50", "RUST_BACKTRACE": "1",
           **extra_env}
    cmd = [launcher]
    for port, _ in listen:
        cmd += ["-l", f"127.0.0.1:{port}"]
    cmd.append("--fdname=" + ":".join(name for _, name in listen))
    for k, v in env.items():
        cmd += ["-E", f"{k}={v}"]
    cmd += [str(bin), "serve", "--data", str(srv.data), *args]
    srv.spawn(cmd, {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")})
    srv.port = listen[0][0]
    for port, _ in listen:  # the launcher's own words, once it has bound
        srv.wait_log(rf"Listening on 127\.0\.0\.1:{port} as \d+")
    return srv


def test_socket_activation_and_notifications(wharfd_bin, tmp_path, servers):
    short = Path(tempfile.mkdtemp(prefix="wharf-notify-"))  # sun_path is short
    notify = NotifySocket(short)
    try:
        port = free_port()
        srv = activated(wharfd_bin, tmp_path, servers, [(port, "ftp")],
                        {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "400000"},
                        ["--listen", "127.0.0.1:1"])  # ignored: the socket is passed
        launcher_pid = srv.proc.pid
        f = srv.ftp()  # this first connection makes the launcher exec wharfd
        srv.wait_log(r"socket activation: serving on the sockets systemd passed")
        srv.wait_log(rf"listening on 127\.0\.0\.1:{port}\b")
        assert os.path.realpath(f"/proc/{launcher_pid}/exe") == os.path.realpath(wharfd_bin)
        payload = os.urandom(64 * 1024)
        f.storbinary("STOR activated.bin", io.BytesIO(payload))
        f.quit()
        assert (srv.home / "activated.bin").read_bytes() == payload
        g = srv.ftp()  # the passed socket keeps accepting
        assert g.nlst("docs")
        g.quit()

        ready = notify.wait_for("READY=1")
        assert "STATUS=accepting clients" in ready.split("\n")
        notify.wait_for("WATCHDOG=1", timeout=3)
        notify.messages.clear()
        os.kill(srv.proc.pid, signal.SIGHUP)
        reloading = notify.wait_for("RELOADING=1")
        assert any(l.startswith("MONOTONIC_USEC=") for l in reloading.split("\n"))
        notify.wait_for("READY=1")
        os.kill(srv.proc.pid, signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        srv.proc.wait(15)
        assert srv.proc.returncode == 0, srv.log_tail()
    finally:
        notify.close()
        shutil.rmtree(short, ignore_errors=True)


def test_socket_activation_with_an_implicit_ftps_socket(wharfd_bin, tmp_path, servers):
    cert, key = make_pair(wharfd_bin, tmp_path / "pki")
    plain, implicit = free_ports(2)
    srv = activated(wharfd_bin, tmp_path, servers, [(plain, "ftp"), (implicit, "ftps")], {},
                    ["--tls-cert", str(cert), "--tls-key", str(key)])
    f = ImplicitFTP_TLS(context=ssl.create_default_context(cafile=str(cert)), timeout=TIMEOUT)
    f.connect("127.0.0.1", implicit)
    f.login(USER, PASSWORD)
    f.prot_p()
    got = io.BytesIO()
    f.retrbinary("RETR hello.txt", got.write)
    assert got.getvalue() == (srv.home / "hello.txt").read_bytes()
    f.quit()
    srv.wait_log(rf"listening on 127\.0\.0\.1:{implicit} \(implicit FTPS\)")
    g = srv.ftp()  # the plain one answers plain FTP
    g.quit()


def test_socket_activation_with_an_sftp_socket(wharfd_bin, tmp_path, servers):
    import paramiko
    plain, sftp = free_ports(2)
    srv = activated(wharfd_bin, tmp_path, servers, [(plain, "ftp"), (sftp, "sftp")], {}, [])
    g = srv.ftp()  # the first connection makes the launcher exec wharfd
    g.quit()
    srv.wait_log(rf"listening on 127\.0\.0\.1:{sftp} \(SFTP\)")
    srv.wait_log(r"SSH host key .*ssh_host_rsa_key", timeout=30)
    t = paramiko.Transport(("127.0.0.1", sftp))
    t.connect(username=USER, password=PASSWORD)
    client = paramiko.SFTPClient.from_transport(t)
    assert client.open("hello.txt").read() == (srv.home / "hello.txt").read_bytes()
    t.close()


def test_unit_files_verify(wharfd_bin, tmp_path):
    analyze = require("systemd-analyze")
    # The units name /usr/sbin/wharfd, which verify wants to exist: check
    # copies that point at the built binary instead, otherwise unchanged.
    units = ("wharfd.service", "wharfd.socket", "wharfd-ftps.socket", "wharfd-sftp.socket")
    for unit in units:
        text = (UNITS / unit).read_text()
        (tmp_path / unit).write_text(text.replace("/usr/sbin/wharfd", str(wharfd_bin)))
    # Documentation=man:wharfd(8) is checked too: the generated page, found
    # through MANPATH (as the package installs it)
    require("man")
    man8 = tmp_path / "man" / "man8"
    man8.mkdir(parents=True)
    page = run_wharfd(wharfd_bin, ["manpage"])
    assert page.returncode == 0, page.stderr
    (man8 / "wharfd.8").write_bytes(page.stdout)
    cp = subprocess.run([analyze, "verify", *(str(tmp_path / u) for u in units)],
                        capture_output=True, timeout=TIMEOUT,
                        env={**os.environ, "MANPATH": str(tmp_path / "man")})
    out = (cp.stdout + cp.stderr).decode(errors="replace")
    assert cp.returncode == 0 and not out.strip(), out
    service = (UNITS / "wharfd.service").read_text()
    for line in ("Type=notify", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                 "NoNewPrivileges=yes", "ReadWritePaths=/var/lib/wharf /var/log/wharf",
                 "SystemCallFilter=@system-service", "LockPersonality=yes",
                 "MemoryDenyWriteExecute=yes", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in service.splitlines(), line
    # the exposure score docs/install.md reports (systemd-analyze reads the unit
    # file offline; no running systemd needed)
    cp = subprocess.run([analyze, "security", "--offline=true", "--no-pager",
                         str(tmp_path / "wharfd.service")], capture_output=True, timeout=TIMEOUT)
    out = cp.stdout.decode(errors="replace")
    m = re.search(r"Overall exposure level for wharfd\.service: ([0-9.]+) (\w+)", out)
    assert m, out[-2000:]
    install = (REPO / "docs" / "install.md").read_text()
    assert f"`systemd-analyze security`: {m.group(1)} {m.group(2)}" in install, m.group(0)
    assert float(m.group(1)) <= 2.0, out[-3000:]


# --------------------------------------------------------------------------
# step 4: shell completions and man pages, generated from the clap definitions

SHELL_CHECK = {  # a syntax check by the shell itself, and a line it must hold
    "bash": (["bash", "-n"], "complete -F _{bin}"),
    "zsh": (["zsh", "-n"], "#compdef {bin}"),
    "fish": (["fish", "--no-execute"], "complete -c {bin}"),
}


def binaries(wharfd_bin) -> dict[str, Path]:
    wharf = Path(wharf_path())
    if not wharf.is_file():
        pytest.fail(f"wharf binary not found at {wharf}; build it with `cargo build -p wharf` "
                    f"or set WHARF", pytrace=False)
    return {"wharfd": wharfd_bin, "wharf": wharf}


@pytest.mark.parametrize("shell", sorted(SHELL_CHECK))
def test_completions(wharfd_bin, tmp_path, shell):
    check, marker = SHELL_CHECK[shell]
    require(check[0])
    for name, bin in binaries(wharfd_bin).items():
        cp = run_wharfd(bin, ["completions", shell])
        assert cp.returncode == 0, cp.stderr.decode(errors="replace")
        script = tmp_path / f"{name}.{shell}"
        script.write_bytes(cp.stdout)
        text = cp.stdout.decode()
        assert marker.format(bin=name) in text, text[:500]
        # the subcommands are offered
        for sub in (["serve", "users", "cert"] if name == "wharfd" else ["get", "put", "mirror"]):
            assert sub in text, sub
        syntax = subprocess.run([*check, str(script)], capture_output=True, timeout=TIMEOUT)
        assert syntax.returncode == 0, syntax.stderr.decode(errors="replace")


def test_unknown_shell_is_a_usage_error(wharfd_bin):
    cp = run_wharfd(wharfd_bin, ["completions", "tcsh"])
    assert cp.returncode == 2 and b"possible values" in cp.stderr, cp.stderr


def test_wharfd_toml_5_names_every_config_key():
    """wharfd.toml(5) is written by hand: its key entries (the .TP items) must
    be exactly the keys FileConfig accepts."""
    keys = file_config_keys()
    assert len(keys) > 40, keys
    page = (REPO / "packaging" / "man" / "wharfd.toml.5").read_text().splitlines()
    documented = set()
    for i, line in enumerate(page[:-1]):
        if line == ".TP" and page[i + 1].startswith(".B "):
            item = page[i + 1][3:]
            documented |= {k.strip() for k in re.split(r"\\fR, \\fB", item)}
    assert documented - keys == set(), "documented but not in the code"
    assert keys - documented == set(), "in the code but not in wharfd.toml(5)"


def file_config_keys() -> set[str]:
    code = (REPO / "crates" / "wharfd" / "src" / "config.rs").read_text()
    struct = code[code.index("pub struct FileConfig {"):]
    struct = struct[:struct.index("\n}\n")]
    return set(re.findall(r"^\s+pub (\w+): Option<", struct, re.M))


def test_configuration_reference_matches_the_code(wharfd_bin):
    """Every config key and `serve` flag is in docs/configuration.md, and
    the table names nothing the code does not have."""
    readme = (REPO / "docs" / "configuration.md").read_text()
    section = readme[readme.index("# Configuration\n"):]
    section = section[:section.index("An unknown key")]
    rows = [l for l in section.splitlines() if l.startswith("| ")][1:]  # no header
    keys, flags = set(), set()
    for row in rows:
        key_col, flag_col = row.split(" | ")[:2]
        keys |= set(re.findall(r"`(\w+)`", key_col))
        flags |= set(re.findall(r"(--[a-z0-9-]+)", flag_col))
    code = file_config_keys()
    assert keys - code == set(), "in the reference table but not a config key"
    assert code - keys == set(), "a config key missing from the reference table"
    helped = run_wharfd(wharfd_bin, ["serve", "--help"]).stdout.decode()
    cli = set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", helped, re.M)) - {"--help"}
    assert flags - cli == set(), "in the reference table but not a flag"
    assert cli - flags == set(), "a flag missing from the reference table"


@pytest.mark.parametrize("name,section,title", [("wharfd", "8", "wharfd - Wharf FTP server"),
                                                ("wharf", "1", "wharf - Wharf: FTP and FTPS")])
def test_man_pages_render(wharfd_bin, tmp_path, name, section, title):
    man = require("man")
    cp = run_wharfd(binaries(wharfd_bin)[name], ["manpage"])
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    page = tmp_path / f"{name}.{section}"
    page.write_bytes(cp.stdout)
    env = {**os.environ, "MANWIDTH": "100", "PAGER": "cat"}
    shown = subprocess.run([man, "-l", str(page)], capture_output=True, timeout=TIMEOUT,
                           env=env)
    text = re.sub(r".\x08", "", shown.stdout.decode(errors="replace"))  # overstrike bold
    assert shown.returncode == 0, shown.stderr.decode(errors="replace")
    assert not shown.stderr.strip(), shown.stderr.decode(errors="replace")  # no roff warnings
    assert f"{name}({section})" in text and title in text, text[:800]
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"):
        assert heading in text.splitlines(), heading
    if name == "wharfd":  # the service flags are documented there
        for flag in ("--user", "--group", "--shutdown-grace"):
            assert flag in text, flag
    # the subcommand is for packaging, not for --help
    helped = run_wharfd(binaries(wharfd_bin)[name], ["--help"]).stdout.decode()
    assert "manpage" not in helped and "completions" in helped


# --------------------------------------------------------------------------
# step 5: the Debian packages (cargo-deb), installed and purged on this machine

PACKAGES = ("wharfd", "wharf")
INSTALLED_PATHS = ["/usr/sbin/wharfd", "/usr/bin/wharf", "/etc/wharf/wharfd.toml",
                   "/etc/logrotate.d/wharfd", "/lib/systemd/system/wharfd.service",
                   "/lib/systemd/system/wharfd.socket", "/lib/systemd/system/wharfd-ftps.socket",
                   "/lib/systemd/system/wharfd-sftp.socket", "/usr/share/man/man8/wharfd.8.gz",
                   "/usr/share/man/man5/wharfd.toml.5.gz", "/usr/share/man/man1/wharf.1.gz",
                   "/usr/share/bash-completion/completions/wharfd",
                   "/usr/share/zsh/vendor-completions/_wharf",
                   "/usr/share/fish/vendor_completions.d/wharfd.fish"]
CREATED_DIRS = ["/var/lib/wharf", "/var/log/wharf", "/etc/wharf"]


def installed(pkg: str) -> bool:
    cp = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg],
                        capture_output=True, timeout=TIMEOUT)
    return cp.returncode == 0 and cp.stdout.decode().strip() not in ("", "not-installed")


def dpkg(*args: str) -> str:
    """dpkg ARGS, waiting (up to 5 minutes) while another dpkg/apt holds the lock."""
    deadline = time.monotonic() + 300
    while True:
        cp = subprocess.run(["dpkg", *args], capture_output=True, timeout=300,
                            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        out = (cp.stdout + cp.stderr).decode(errors="replace")
        if cp.returncode == 0:
            return out
        if "lock" in out and time.monotonic() < deadline:
            time.sleep(5)
            continue
        raise AssertionError(f"dpkg {' '.join(args)} exited {cp.returncode}:\n{out}")


def man_renders(page: str, title: str) -> None:
    shown = subprocess.run([require("man"), "-l", page], capture_output=True, timeout=TIMEOUT,
                           env={**os.environ, "MANWIDTH": "100", "PAGER": "cat"})
    text = re.sub(r".\x08", "", shown.stdout.decode(errors="replace"))
    assert shown.returncode == 0 and not shown.stderr.strip(), shown.stderr
    assert title in text, text[:600]


@pytest.mark.time_limit(600)
def test_debian_packages_install_run_and_purge(wharfd_bin, servers):
    if shutil.which("cargo-deb") is None:
        pytest.fail("cargo-deb not found: install it with `bash scripts/install-test-deps.sh` "
                    "(cargo install --locked cargo-deb)", pytrace=False)
    for pkg in PACKAGES:
        if installed(pkg):
            pytest.fail(f"the {pkg} package is installed on this machine already; this test "
                        f"installs and purges its own and leaves that one alone", pytrace=False)
    # Build from the binaries under test: their target directory, dev profile.
    target = Path(wharfd_bin).resolve().parents[1]
    env = {**os.environ, "CARGO_TARGET_DIR": str(target), "WHARF_DEB_PROFILE": "dev"}
    cp = subprocess.run(["bash", str(REPO / "scripts" / "build-deb.sh")], capture_output=True,
                        timeout=540, env=env, cwd=REPO)
    out = (cp.stdout + cp.stderr).decode(errors="replace")
    assert cp.returncode == 0, out
    debs = [Path(p) for p in cp.stdout.decode().split()]
    assert sorted(p.name.split("_")[0] for p in debs) == sorted(PACKAGES), out

    # lintian: no errors (warnings such as "initial-upload-closes-no-bugs"
    # concern the Debian archive, not these packages)
    lintian = shutil.which("lintian")
    if lintian is None:
        pytest.fail("lintian not found: bash scripts/install-test-deps.sh installs it",
                    pytrace=False)
    cp = subprocess.run([lintian, "--tag-display-limit", "0", *map(str, debs)],
                        capture_output=True, timeout=300)
    report = cp.stdout.decode(errors="replace")
    assert not [l for l in report.splitlines() if l.startswith("E:")], report

    try:
        dpkg("-i", *map(str, debs))
        # the binaries, at their Debian places
        version = subprocess.run(["/usr/sbin/wharfd", "--version"], capture_output=True,
                                 timeout=TIMEOUT).stdout.decode()
        assert re.fullmatch(r"wharfd \d+\.\d+\.\d+\s*", version), version
        version = subprocess.run(["/usr/bin/wharf", "--version"], capture_output=True,
                                 timeout=TIMEOUT).stdout.decode()
        assert version.startswith("wharf "), version
        for path in INSTALLED_PATHS:
            assert os.path.exists(path), path
        # the conffile, the user and its directories
        conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "wharfd"],
                                   capture_output=True, timeout=TIMEOUT).stdout.decode()
        assert "/etc/wharf/wharfd.toml" in conffiles and "/etc/logrotate.d/wharfd" in conffiles
        wharf_user = pwd.getpwnam("wharf")
        assert wharf_user.pw_uid != 0 and wharf_user.pw_shell == "/usr/sbin/nologin"
        for d in ("/var/lib/wharf", "/var/log/wharf"):
            st = os.stat(d)
            assert (st.st_uid, st.st_mode & 0o777) == (wharf_user.pw_uid, 0o750), d
        # the man pages
        man_renders("/usr/share/man/man8/wharfd.8.gz", "wharfd - Wharf FTP server")
        man_renders("/usr/share/man/man5/wharfd.toml.5.gz", "wharfd.toml - configuration file")
        man_renders("/usr/share/man/man1/wharf.1.gz", "wharf - Wharf")
        # the packaged configuration runs: as root it drops to `wharf` and
        # serves /var/lib/wharf (here on 127.0.0.1 instead of port 21)
        srv = Wharfd(bin=Path("/usr/sbin/wharfd"), data=Path("/var/lib/wharf"))
        servers.append(srv)
        srv.serve(["--config", "/etc/wharf/wharfd.toml"],
                  {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1"})
        srv.wait_log(r"dropped root: running as wharf")
        f = ftplib.FTP(timeout=TIMEOUT)
        assert f.connect(srv.host, srv.port).startswith("220")
        f.quit()
        assert srv.stop() == 0, srv.log_tail()
        assert os.stat("/var/lib/wharf/wharf.db").st_uid == wharf_user.pw_uid
    finally:
        installed_now = [p for p in PACKAGES if installed(p)]
        if installed_now:
            dpkg("--purge", *installed_now)
    for pkg in PACKAGES:
        assert not installed(pkg), pkg
    for path in INSTALLED_PATHS + CREATED_DIRS:
        assert not os.path.exists(path), f"{path} is left after the purge"


# --------------------------------------------------------------------------
# the container recipe (no container runtime here: checked, not built)


def test_containerfile_runs_unprivileged_with_existing_flags(wharfd_bin):
    text = (REPO / "Containerfile").read_text().replace("\\\n", " ")
    final = text[text.rindex("\nFROM "):]  # the runtime stage
    user = re.search(r"^USER (\S+)", final, re.M)
    assert user and user.group(1).split(":")[0] not in ("root", "0"), user
    assert re.search(r'^VOLUME \["/var/lib/wharf"\]', final, re.M)
    assert "install -d -o wharf -g wharf -m 0750 /var/lib/wharf" in final
    cmd = json.loads(re.search(r"^CMD (\[.*\])", final, re.M).group(1))
    assert cmd[0] == "serve", cmd
    helped = run_wharfd(wharfd_bin, ["serve", "--help"]).stdout.decode()
    for flag in (a for a in cmd if a.startswith("--")):
        assert re.search(rf"^\s+{re.escape(flag)}\b", helped, re.M), flag
    # and the binary accepts them together (here on 127.0.0.1, into a
    # throwaway directory, stopped at once by an unusable data path)
    args = [a.replace("0.0.0.0:2121", "127.0.0.1:0") for a in cmd]
    args[args.index("--data") + 1] = "/dev/null/wharf"
    cp = run_wharfd(wharfd_bin, args)
    assert b"cannot create the data directory /dev/null/wharf" in cp.stderr, cp.stderr
