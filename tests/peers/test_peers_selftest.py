"""Self-test of tests/peers/peers.py: every third-party FTP server it can start
answers a real session from Python's ftplib (login, upload, list, download
with equal sha256, mkdir/rmdir), plain and -- for vsftpd, pure-ftpd and
ProFTPD -- over explicit FTPS with the throw-away CA verified.

Nothing is skipped: a server that is not installed fails its test with a
message that says how to install it (bash tests/peers/install.sh, as root).
Every server listens on 127.0.0.1 only and is stopped by its PID.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import shutil
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import KINDS, TLS_KINDS, PeerError, PeerServer  # noqa: E402

TIMEOUT = 15  # seconds, for every socket operation of the clients


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """ftplib.FTP_TLS whose data connections resume the control connection's
    TLS session (vsftpd's require_ssl_reuse, ProFTPD's default); see the
    docs/ftps.md of the repository."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    (r / "seed.txt").write_bytes(b"seeded by the test\n")
    return r


def start(kind: str, root: Path, **kw) -> PeerServer:
    try:
        return PeerServer(kind, root, **kw).start()
    except PeerError as e:
        pytest.fail(f"cannot start the {kind} peer: {e}", pytrace=False)


def plain_client(srv: PeerServer) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=TIMEOUT)
    ftp.connect(srv.host, srv.port)
    ftp.login(srv.user, srv.password)
    return ftp


def tls_client(srv: PeerServer, cls=ReusingFTP_TLS) -> ftplib.FTP_TLS:
    ctx = ssl.create_default_context(cafile=str(srv.cafile))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    ftp = cls(context=ctx, timeout=TIMEOUT)
    ftp.connect(srv.host, srv.port)
    ftp.auth()
    ftp.login(srv.user, srv.password)
    ftp.prot_p()
    return ftp


def exercise(ftp: ftplib.FTP, root: Path) -> None:
    """Upload, list, download, mkdir, rmdir; checks both ends by sha256."""
    assert ftp.pwd() == "/", "the account's root should be the served directory"
    data = os.urandom(256 * 1024 + 123)
    resp = ftp.storbinary("STOR upload.bin", io.BytesIO(data))
    assert resp.startswith("226"), resp
    on_disk = root / "upload.bin"
    assert on_disk.is_file(), f"upload did not land in root_dir {root}"
    assert sha256(on_disk.read_bytes()) == sha256(data)

    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    assert any(line.endswith(" upload.bin") for line in lines), lines
    assert any(line.endswith(" seed.txt") for line in lines), lines
    names = [n for n in ftp.nlst() if n not in (".", "..")]
    assert sorted(os.path.basename(n) for n in names) == ["seed.txt", "upload.bin"], names
    ftp.voidcmd("TYPE I")  # ProFTPD and pyftpdlib refuse SIZE in ASCII mode (550)
    assert ftp.size("upload.bin") == len(data)

    got = io.BytesIO()
    ftp.retrbinary("RETR upload.bin", got.write)
    assert sha256(got.getvalue()) == sha256(data)
    seed = io.BytesIO()
    ftp.retrbinary("RETR seed.txt", seed.write)
    assert seed.getvalue() == b"seeded by the test\n"

    made = ftp.mkd("newdir")
    assert made.rstrip("/").endswith("newdir"), made
    assert (root / "newdir").is_dir()
    ftp.cwd("newdir")
    ftp.storbinary("STOR inner.bin", io.BytesIO(b"inner"))
    assert (root / "newdir" / "inner.bin").read_bytes() == b"inner"
    ftp.delete("inner.bin")
    ftp.cwd("/")
    ftp.rmd("newdir")
    assert not (root / "newdir").exists()
    ftp.delete("upload.bin")
    assert not on_disk.exists()
    ftp.quit()


def assert_stopped(srv: PeerServer, pid: int, port: int) -> None:
    assert srv.proc is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_plain_session(kind: str, root: Path) -> None:
    srv = start(kind, root)
    pid, port = srv.pid, srv.port
    try:
        assert srv.host == "127.0.0.1" and srv.user == "alice"
        assert srv.cafile is None
        assert srv.banner.splitlines()[-1].startswith("220 ")
        exercise(plain_client(srv), root)
        log = srv.log_text()
        assert log.strip(), "the server logged nothing"
    finally:
        srv.stop()
    assert_stopped(srv, pid, port)
    assert srv.log_text(), "log_text() should survive stop()"


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_password_is_refused(kind: str, root: Path) -> None:
    with start(kind, root) as srv:
        ftp = ftplib.FTP(timeout=TIMEOUT)
        ftp.connect(srv.host, srv.port)
        with pytest.raises(ftplib.error_perm, match=r"^530"):
            ftp.login(srv.user, "not-" + srv.password)
        ftp.close()


@pytest.mark.parametrize("kind", TLS_KINDS)
def test_ftps_session(kind: str, root: Path) -> None:
    with start(kind, root, tls=True) as srv:
        assert srv.cafile is not None and srv.cafile.is_file()
        ftp = tls_client(srv)
        assert isinstance(ftp.sock, ssl.SSLSocket)
        cert = ftp.sock.getpeercert()
        assert ("IP Address", "127.0.0.1") in cert["subjectAltName"], cert
        exercise(ftp, root)


@pytest.mark.parametrize("kind", TLS_KINDS)
def test_ftps_is_required(kind: str, root: Path) -> None:
    """With tls=True a plaintext login is refused, and so is an unverified
    certificate (a client trusting only the system CAs)."""
    with start(kind, root, tls=True) as srv:
        ftp = ftplib.FTP(timeout=TIMEOUT)
        ftp.connect(srv.host, srv.port)
        # USER in plaintext: vsftpd "530 Non-anonymous sessions must use
        # encryption.", ProFTPD "550 SSL/TLS required on the control channel",
        # pure-ftpd --tls 3 "421 Sorry, cleartext sessions ... are not
        # accepted" (and it hangs up).
        with pytest.raises((ftplib.error_perm, ftplib.error_temp), match=r"^(5\d\d|421)"):
            ftp.login(srv.user, srv.password)
        ftp.close()

        ftp = ftplib.FTP_TLS(context=ssl.create_default_context(), timeout=TIMEOUT)
        ftp.connect(srv.host, srv.port)
        with pytest.raises(ssl.SSLCertVerificationError):
            ftp.auth()
        ftp.close()


@pytest.mark.parametrize("kind", ["vsftpd", "proftpd"])
def test_ftps_data_must_resume_session(kind: str, root: Path) -> None:
    """vsftpd (require_ssl_reuse=YES) and ProFTPD (its default) refuse a
    protected data connection that does not resume the control connection's
    TLS session, which stock ftplib.FTP_TLS does not."""
    with start(kind, root, tls=True) as srv:
        ftp = tls_client(srv, cls=ftplib.FTP_TLS)
        with pytest.raises((ftplib.Error, ssl.SSLError, OSError, EOFError)):
            ftp.storbinary("STOR x.bin", io.BytesIO(b"x" * 1000))
        ftp.close()
        # The same server takes the reusing client.
        ftp = tls_client(srv)
        ftp.storbinary("STOR y.bin", io.BytesIO(b"y" * 1000))
        assert (root / "y.bin").read_bytes() == b"y" * 1000
        ftp.quit()


def test_two_peers_at_once(tmp_path: Path) -> None:
    roots = [tmp_path / k for k in KINDS]
    servers = []
    try:
        for kind, r in zip(KINDS, roots):
            r.mkdir()
            (r / "seed.txt").write_bytes(b"seeded by the test\n")
            servers.append(start(kind, r))
        assert len({s.port for s in servers}) == len(servers)
        ranges = [set(range(s.pasv_ports[0], s.pasv_ports[1] + 1)) for s in servers]
        assert all(not (a & b) for i, a in enumerate(ranges) for b in ranges[i + 1:])
        for srv, r in zip(servers, roots):
            ftp = plain_client(srv)
            ftp.storbinary("STOR who.txt", io.BytesIO(srv.kind.encode()))
            ftp.quit()
            assert (r / "who.txt").read_bytes() == srv.kind.encode()
    finally:
        for srv in servers:
            srv.stop()


def test_missing_install_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WHARF_PEERS_DIR", str(tmp_path / "nothing-here"))
    (tmp_path / "root").mkdir()
    with pytest.raises(PeerError, match=r"install\.sh"):
        PeerServer("vsftpd", tmp_path / "root").start()
    with pytest.raises(PeerError, match=r"unknown peer kind"):
        PeerServer("wu-ftpd", tmp_path / "root")


def test_start_and_stop_are_quick(root: Path) -> None:
    t0 = time.monotonic()
    with start("pure-ftpd", root) as srv:
        started = time.monotonic() - t0
        pid = srv.pid
    assert started < 10, f"pure-ftpd took {started:.1f} s to answer"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_vsftpd_same_user_twice_is_refused(tmp_path: Path) -> None:
    """One system account has one home and one password: a second vsftpd with
    the same user is refused with a clear error, one with another user runs."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with start("vsftpd", tmp_path / "a") as first:
        with pytest.raises(PeerError, match="another vsftpd peer"):
            PeerServer("vsftpd", tmp_path / "b").start()
        with start("vsftpd", tmp_path / "b", user="bob", password="bob-secret-pw") as second:
            for srv in (first, second):
                ftp = plain_client(srv)
                ftp.storbinary("STOR who.txt", io.BytesIO(srv.user.encode()))
                ftp.quit()
    assert (tmp_path / "a" / "who.txt").read_bytes() == b"alice"
    assert (tmp_path / "b" / "who.txt").read_bytes() == b"bob"


@pytest.mark.parametrize("kind", ["vsftpd", "proftpd"])
def test_reachable_root_is_served_directly(kind: str) -> None:
    """A root_dir whose parents the account can search is served without the
    bind mount (the other path of PeerServer._reachable_root)."""
    d = Path(tempfile.mkdtemp(prefix="wharf-peers-selftest-"))
    try:
        os.chmod(d, 0o755)
        with start(kind, d) as srv:
            assert "unshare" not in srv.argv[0], srv.argv
            ftp = plain_client(srv)
            ftp.storbinary("STOR direct.txt", io.BytesIO(b"direct"))
            ftp.quit()
        assert (d / "direct.txt").read_bytes() == b"direct"
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("kind", KINDS)
def test_busy_port_is_retried(kind: str, root: Path, monkeypatch) -> None:
    """When the picked control port is taken before the server binds it (a
    race with another process), start() picks new ports and tries again."""
    import peers
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    busy_port = busy.getsockname()[1]
    real = peers.pick_ports
    calls = []

    def fake(count: int, avoid=frozenset()) -> list[int]:
        calls.append(count)
        if len(calls) == 1:
            return [busy_port] + real(count, avoid)[1:]
        return real(count, avoid)

    monkeypatch.setattr(peers, "pick_ports", fake)
    try:
        with start(kind, root) as srv:
            assert srv.port != busy_port and len(calls) == 2
            plain_client(srv).quit()
    finally:
        busy.close()
