"""wharfd's FTPS (RFC 4217) against curl, lftp and Python's ftplib: explicit
(AUTH TLS) and implicit TLS, PROT P data connections that must resume the
control connection's TLS session (TLS 1.2 and 1.3 both; never another
session's), the --require-tls policies, plaintext
pipelined after AUTH TLS, FEAT, CCC and a server without a certificate; and
the TLS details of issue 13: session reuse on by default, ALPN (ALPACA),
PBSZ before PROT, and passive listeners that expire and are capped per
address.

Every transfer is checked by sha256, and every client verifies the server's
certificate (made by `wharfd cert self-signed`) instead of ignoring it.
"""

from __future__ import annotations

import ftplib
import io
import os
import random
import re
import select
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from conftest import HOME_FILES, PUB_FILES
from wharf_helpers import (PASSWORD, TIMEOUT, USER, RawFtp, build_tree, connect_from,
                           diff_manifests, file_sha256, part_files, recv_all,
                           require_tool, run, sha256, tree_manifest, utf8_env,
                           wait_until, write_random)

IMPLICIT_RE = re.compile(r"listening on \[?127\.0\.0\.1\]?:(\d+) \(implicit FTPS\)")
PLAIN_RE = re.compile(r"listening on \[?127\.0\.0\.1\]?:(\d+)\s*$")


# --------------------------------------------------------------------------
# certificates and servers


@pytest.fixture
def certs(wharfd_bin, tmp_path) -> tuple[Path, Path]:
    """`wharfd cert self-signed` into a directory of its own: (cert, key)."""
    pki = tmp_path / "pki"
    pki.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    cp = subprocess.run([str(wharfd_bin), "cert", "self-signed", "--data", str(pki)],
                        capture_output=True, timeout=60, env=env,
                        stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, (cp.stdout + cp.stderr).decode(errors="replace")
    cert, key = pki / "tls" / "cert.pem", pki / "tls" / "key.pem"
    assert cert.is_file() and key.is_file(), list(pki.rglob("*"))
    return cert, key


def write_config(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def start_ftps(factory, certs, *, require: bool = False, implicit: bool = True,
               config: Path | None = None, extra: list[str] | None = None):
    """A server with a certificate; `srv.implicit_port` is set when `implicit`."""
    cert, key = certs
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    if implicit:
        args += ["--implicit-listen", "127.0.0.1:0"]
    if require:
        args.append("--require-tls")
    if config is not None:
        args += ["--config", str(config)]
    srv = factory(args + (extra or []))
    srv.cert = cert
    if implicit:
        found: dict[str, int] = {}

        def ports() -> bool:
            for line in srv.log().splitlines():
                m = IMPLICIT_RE.search(line)
                if m:
                    found["implicit"] = int(m.group(1))
                    continue
                m = PLAIN_RE.search(line)
                if m:
                    found.setdefault("plain", int(m.group(1)))
            return "implicit" in found and "plain" in found

        assert wait_until(ports, 10), \
            f"no 'listening on ... (implicit FTPS)' line:\n{srv.log_tail()}"
        srv.implicit_port = found["implicit"]
        srv.port = found["plain"]  # never the implicit listener
        assert srv.port != srv.implicit_port
    return srv


@pytest.fixture
def ftps(wharfd_factory, certs):
    """--require-tls, so every client below must really resume TLS sessions."""
    return start_ftps(wharfd_factory, certs, require=True)


TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@pytest.fixture(params=["1.2", "1.3"], ids=["tls12", "tls13"])
def tls_version(request) -> str:
    """The one TLS version a client is held to: wharfd offers both, with
    data connections resuming the control connection's session either way."""
    return request.param


def tls_context(cert: Path, version: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = TLS_VERSIONS[version]
    return ctx


def curl_version_args(version: str) -> list[str]:
    """curl options that allow exactly this TLS version."""
    return ["--tlsv" + version, "--tls-max", version]


def curl_negotiated(verbose: str) -> set[str]:
    """The TLS versions curl reports for its connections ("SSL connection
    using TLSv1.3 / ...")."""
    return set(re.findall(r"SSL connection using TLSv(1\.\d)", verbose))


# --------------------------------------------------------------------------
# Python clients


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """The subclass docs/ftps.md shows: each data connection resumes the control
    connection's TLS session. Records whether each one did."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.data_reused: list[bool] = []
        self.data_versions: list[str | None] = []

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
            self.data_reused.append(conn.session_reused)
            self.data_versions.append(conn.version())
        return conn, size


class ImplicitFTP_TLS(ReusingFTP_TLS):
    """Implicit FTPS: TLS from the first byte, wrapped at connect."""

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        if host:
            self.host = host
        if port > 0:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.af = raw.family
        self.sock = self.context.wrap_socket(raw, server_hostname=self.host)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


def reusing(srv, *, login: bool = True, prot_p: bool = True,
            version: str | None = None) -> ReusingFTP_TLS:
    f = ReusingFTP_TLS(context=tls_context(srv.cert, version), timeout=TIMEOUT)
    f.connect(srv.host, srv.port)
    if login:
        f.login(USER, PASSWORD)  # sends AUTH TLS first
        assert isinstance(f.sock, ssl.SSLSocket)
        if prot_p:
            assert f.prot_p().startswith("200")
    return f


def retr_bytes(ftp: ftplib.FTP, name: str) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write)
    return buf.getvalue()


def assert_fresh_handshakes_refused(f: ftplib.FTP, home, upload_name: str) -> None:
    """A RETR and a STOR whose data connections do not resume the control
    connection's TLS session both get 522, and move nothing."""
    got = []
    reply = refused_transfer(f, lambda: f.retrbinary("RETR hello.txt", got.append))
    assert reply.startswith("522"), reply
    assert re.search(r"resum\w*.*TLS session", reply, re.I), reply
    assert b"".join(got) == b""
    reply = refused_transfer(
        f, lambda: f.storbinary(f"STOR {upload_name}", io.BytesIO(os.urandom(4096))))
    assert reply.startswith("522"), reply
    assert not (home / upload_name).exists()


def refused_transfer(ftp: ftplib.FTP, fn) -> str:
    """Run a transfer that the server must refuse; return its final reply.

    The refusal may come as the reply to the command (ftplib raises
    error_perm), or after the data connection's TLS handshake, in which case
    the client sees the data connection torn down first and the reply is
    read afterwards."""
    try:
        fn()
    except ftplib.error_perm as e:
        return str(e)
    except (ssl.SSLError, OSError, EOFError):
        try:
            return ftp.getresp()
        except ftplib.error_perm as e:
            return str(e)
    pytest.fail("the transfer succeeded, but the server should have refused it")


# --------------------------------------------------------------------------
# curl


@pytest.fixture
def curl():
    exe = require_tool("curl")

    def go(*args: str, timeout: float = 60) -> tuple[bytes, str]:
        cp = run([exe, "--silent", "--show-error", "--verbose", "--max-time", "45",
                  "--connect-timeout", "10", "--noproxy", "*", *args],
                 timeout=timeout, env=utf8_env())
        return cp.stdout, cp.stderr.decode("utf-8", "replace")

    return go


def sent(verbose: str) -> list[str]:
    """The commands curl sent, from its --verbose output ('> CMD')."""
    return [l[2:].strip() for l in verbose.splitlines() if l.startswith("> ")]


def test_curl_explicit_upload_and_download(ftps, curl, tls_version, tmp_path):
    src = tmp_path / "up.bin"
    sha = write_random(src, 2 * 1024 * 1024 + 7)
    base = f"ftp://{USER}:{PASSWORD}@127.0.0.1:{ftps.port}"
    tls = ["--ssl-reqd", "--cacert", str(ftps.cert), *curl_version_args(tls_version)]
    _, v = curl(*tls, "-T", str(src), f"{base}/up.bin")
    cmds = sent(v)
    assert any(c.startswith("AUTH ") for c in cmds), cmds
    assert "PROT P" in cmds, cmds
    assert curl_negotiated(v) == {tls_version}, v
    assert file_sha256(ftps.home / "up.bin") == sha
    assert part_files(ftps.home) == []

    out = tmp_path / "down.bin"
    _, v = curl(*tls, "-o", str(out), f"{base}/up.bin")
    assert "PROT P" in sent(v)
    assert curl_negotiated(v) == {tls_version}, v
    assert file_sha256(out) == sha
    out2 = tmp_path / "data.bin"
    curl(*tls, "-o", str(out2), f"{base}/data.bin")
    assert file_sha256(out2) == file_sha256(ftps.home / "data.bin")


def test_curl_repeated_uploads_arrive_whole(ftps, curl, tls_version, tmp_path):
    # curl never reads from an upload's data connection; anything the server
    # leaves unread there (e.g. TLS 1.3 session tickets) turns curl's close
    # into a TCP reset that can destroy the end of the upload (curl/curl#6149).
    base = f"ftp://{USER}:{PASSWORD}@127.0.0.1:{ftps.port}"
    for i in range(8):
        src = tmp_path / f"many{i}.bin"
        sha = write_random(src, 1024 * 1024 + i)
        curl("--ssl-reqd", "--cacert", str(ftps.cert), *curl_version_args(tls_version),
             "-T", str(src), f"{base}/many/{src.name}", "--ftp-create-dirs")
        assert file_sha256(ftps.home / "many" / src.name) == sha, src.name
    assert part_files(ftps.home) == []


@pytest.mark.parametrize("held_to", [None, "1.3"], ids=["curl-default", "tls13"])
def test_curl_several_transfers_on_one_connection(ftps, curl, held_to, tmp_path):
    # One curl run, one control connection, several data connections, each
    # resuming the control connection's TLS session. curl on OpenSSL offers
    # TLS 1.2 and 1.3; wharfd chooses TLS 1.2 for it, whose session curl
    # resumes any number of times. Held to TLS 1.3, curl offers each ticket
    # once and gets new ones only from data connections it reads (downloads,
    # listings), so there a run may hold any number of downloads and ends
    # with at most one upload (docs/ftps.md).
    base = f"ftp://{USER}:{PASSWORD}@127.0.0.1:{ftps.port}"
    names = [f"multi{i}.bin" for i in range(4)]
    tls = ["--ssl-reqd", "--cacert", str(ftps.cert)]
    if held_to:
        tls += curl_version_args(held_to)
    negotiated = {held_to or "1.2"}

    # downloads
    want = {n: write_random(ftps.home / "down" / n, 256 * 1024 + i)
            for i, n in enumerate(names)}
    args = []
    for n in names:
        args += [f"{base}/down/{n}", "-o", str(tmp_path / f"down-{n}")]
    _, v = curl(*tls, *args)
    assert curl_negotiated(v) == negotiated, v
    for n in names:
        assert file_sha256(tmp_path / f"down-{n}") == want[n], n

    # downloads, then one upload
    shas = {n: write_random(tmp_path / n, 128 * 1024 + i) for i, n in enumerate(names)}
    args = []
    for n in names:
        args += ["--next", *tls, "-o", str(tmp_path / f"again-{n}"), f"{base}/down/{n}"]
    args += ["--next", *tls, "--ftp-create-dirs", "-T", str(tmp_path / names[0]),
             f"{base}/last/{names[0]}"]
    _, v = curl(*args[1:])
    assert sum(1 for c in sent(v) if c.startswith("USER ")) == 1, sent(v)
    assert curl_negotiated(v) == negotiated, v
    for n in names:
        assert file_sha256(tmp_path / f"again-{n}") == want[n], n
    assert file_sha256(ftps.home / "last" / names[0]) == shas[names[0]]
    if held_to:
        return

    # uploads, and uploads and downloads in turn (--next starts a transfer
    # with options of its own; the connection is reused)
    _, v = curl(*tls, "-T", "{" + ",".join(str(tmp_path / n) for n in names) + "}",
                f"{base}/up/", "--ftp-create-dirs")
    assert sum(1 for c in sent(v) if c.startswith("STOR ")) == len(names), sent(v)
    for n in names:
        assert file_sha256(ftps.home / "up" / n) == shas[n], n
    args = []
    for n in names:
        args += ["--next", *tls, "--ftp-create-dirs", "-T", str(tmp_path / n),
                 f"{base}/mixed/{n}",
                 "--next", *tls, "-o", str(tmp_path / f"mixed-{n}"), f"{base}/down/{n}"]
    _, v = curl(*args[1:])
    assert sum(1 for c in sent(v) if c.startswith("USER ")) == 1, sent(v)
    for n in names:
        assert file_sha256(ftps.home / "mixed" / n) == shas[n], n
        assert file_sha256(tmp_path / f"mixed-{n}") == want[n], n
    assert part_files(ftps.home) == []


def test_curl_explicit_refuses_untrusted_certificate(ftps, tmp_path):
    # the --cacert in the other tests is doing real work: without it, curl
    # does not trust the self-signed certificate
    exe = require_tool("curl")
    cp = run([exe, "--silent", "--show-error", "--max-time", "30", "--noproxy", "*",
              "--ssl-reqd", "-o", str(tmp_path / "x"),
              f"ftp://{USER}:{PASSWORD}@127.0.0.1:{ftps.port}/hello.txt"],
             check=False, timeout=60)
    assert cp.returncode != 0, "curl trusted an unknown self-signed certificate"
    assert not (tmp_path / "x").exists() or (tmp_path / "x").read_bytes() == b""


def test_curl_implicit_download_and_listing(ftps, curl, tmp_path):
    base = f"ftps://{USER}:{PASSWORD}@127.0.0.1:{ftps.implicit_port}"
    out = tmp_path / "data.bin"
    _, v = curl("--cacert", str(ftps.cert), "-o", str(out), f"{base}/data.bin")
    assert file_sha256(out) == file_sha256(ftps.home / "data.bin")
    assert not any(c.startswith("AUTH ") for c in sent(v)), \
        "curl sent AUTH on an implicit FTPS connection"

    listing, _ = curl("--cacert", str(ftps.cert), f"{base}/")
    text = listing.decode("utf-8", "replace")
    for name in ("hello.txt", "data.bin", "docs"):
        assert re.search(rf"\s{re.escape(name)}$", text, re.M), text
    names, _ = curl("--cacert", str(ftps.cert), "--list-only", f"{base}/docs/")
    assert sorted(names.decode().split()) == ["a.txt", "b.txt"], names

    small, _ = curl("--cacert", str(ftps.cert), f"{base}/docs/b.txt")
    assert sha256(small) == sha256(HOME_FILES["docs/b.txt"])


# --------------------------------------------------------------------------
# lftp


def q(path) -> str:
    """Quote a local path for lftp's command line."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def lftp_tls(srv, commands: str, *, timeout: float = 120, version: str | None = None) -> str:
    exe = require_tool("lftp")
    # GnuTLS priority string: exactly this version when one is asked for
    only = f'set ssl:priority "NORMAL:-VERS-ALL:+VERS-TLS{version}"; ' if version else ""
    script = (
        only +
        "set ftp:passive-mode on; set net:max-retries 1; set net:timeout 20; "
        "set net:reconnect-interval-base 1; set cmd:fail-exit yes; "
        "set file:charset utf-8; "
        f"set ssl:ca-file {q(srv.cert)}; set ssl:verify-certificate yes; "
        "set ftp:ssl-allow yes; set ftp:ssl-force true; set ftp:ssl-protect-data true; "
        "set ftp:ssl-protect-list true; debug 5; "
        f"open -u {USER},{PASSWORD} ftp://{srv.host}:{srv.port}; {commands}"
    )
    cp = run([exe, "-c", script], timeout=timeout, env=utf8_env())
    out = cp.stdout.decode("utf-8", "replace")
    err = cp.stderr.decode("utf-8", "replace")
    assert "---> AUTH TLS" in err, f"lftp did not send AUTH TLS:\n{err[-3000:]}"
    assert "---> PROT P" in err, f"lftp did not send PROT P:\n{err[-3000:]}"
    return out


def test_lftp_ls_get_put(ftps, tls_version, tmp_path):
    out = lftp_tls(ftps, "cls -1 /docs", version=tls_version)
    assert sorted(n.rsplit("/", 1)[-1] for n in out.split()) == ["a.txt", "b.txt"], out
    out = lftp_tls(ftps, "ls /", version=tls_version)
    for name in ("hello.txt", "data.bin", "docs"):
        assert re.search(rf"\s{re.escape(name)}$", out, re.M), out

    src = tmp_path / "put.bin"
    sha = write_random(src, 1024 * 1024 + 1)
    lftp_tls(ftps, f"lcd {q(tmp_path)}; put put.bin -o /docs/put.bin; "
                   f"put put.bin -o /docs/put2.bin; get /data.bin -o got.bin; "
                   f"put put.bin -o /docs/put3.bin", version=tls_version)
    assert file_sha256(ftps.home / "docs" / "put2.bin") == sha
    assert file_sha256(ftps.home / "docs" / "put3.bin") == sha
    assert file_sha256(ftps.home / "docs" / "put.bin") == sha
    assert file_sha256(tmp_path / "got.bin") == file_sha256(ftps.home / "data.bin")
    assert part_files(ftps.home) == []


def test_lftp_mirror_both_ways(ftps, tls_version, tmp_path):
    local = tmp_path / "local"
    want = build_tree(local, big_size=2 * 1024 * 1024)
    lftp_tls(ftps, f"mirror -R --no-perms {q(local)} /tree", version=tls_version)
    got = tree_manifest(ftps.home / "tree")
    assert got == want, "mirror -R over TLS differs:\n" + diff_manifests(want, got)
    assert part_files(ftps.home) == []

    back = tmp_path / "back"
    lftp_tls(ftps, f"mirror --no-perms /tree {q(back)}", version=tls_version)
    got = tree_manifest(back)
    assert got == want, "mirror over TLS differs:\n" + diff_manifests(want, got)


# --------------------------------------------------------------------------
# Python ftplib


def checked(f: ReusingFTP_TLS, what: str, fn):
    """Run one transfer; if it fails, say which one and what the server said."""
    try:
        return fn()
    except (ftplib.Error, ssl.SSLError, OSError, EOFError) as e:
        reply = ""
        if not isinstance(e, ftplib.Error):
            try:
                reply = f.getresp()
            except (ftplib.Error, OSError, EOFError) as e2:
                reply = str(e2)
        pytest.fail(f"{what} failed: {e!r}; server reply: {reply!r}; whether each "
                    f"TLS data connection of this session resumed the control "
                    f"connection's session, as the client saw it: {f.data_reused}",
                    pytrace=False)


def test_python_reusing_ftp_tls_many_transfers_one_session(ftps, tls_version, tmp_path):
    f = reusing(ftps, version=tls_version)
    try:
        assert f.sock.version() == f"TLSv{tls_version}", f.sock.version()
        names = checked(f, "NLST", f.nlst)
        assert sorted(names) == ["data.bin", "docs", "hello.txt"]
        facts = dict(checked(f, "MLSD docs", lambda: list(f.mlsd("docs"))))
        assert facts["a.txt"]["type"] == "file"
        assert int(facts["b.txt"]["size"]) == len(HOME_FILES["docs/b.txt"])

        want = file_sha256(ftps.home / "data.bin")
        assert sha256(checked(f, "RETR data.bin", lambda: retr_bytes(f, "data.bin"))) == want
        assert checked(f, "RETR hello.txt",
                       lambda: retr_bytes(f, "hello.txt")) == HOME_FILES["hello.txt"]

        # a session that moves many files (a mirror does hundreds) keeps
        # resuming the control connection's session on every data connection
        uploads = {}
        for i, size in enumerate((0, 1, 65_537, 3 * 1024 * 1024 + 11, 10, 20, 30)):
            payload = os.urandom(size)
            name = f"up{i}.bin"
            reply = checked(f, f"STOR {name}",
                            lambda: f.storbinary(f"STOR {name}", io.BytesIO(payload)))
            assert reply.startswith("226"), reply
            uploads[name] = sha256(payload)
        for name, sha in uploads.items():
            assert file_sha256(ftps.home / name) == sha, name
            assert sha256(checked(f, f"RETR {name}", lambda: retr_bytes(f, name))) == sha
        assert set(uploads) <= set(checked(f, "NLST", f.nlst))

        n_transfers = 2 + 2 + len(uploads) * 2 + 1
        assert len(f.data_reused) == n_transfers, f.data_reused
        assert all(f.data_reused), \
            f"some data connections did not resume the TLS session: {f.data_reused}"
        assert set(f.data_versions) == {f"TLSv{tls_version}"}, f.data_versions
        assert f.quit().startswith("221")
    finally:
        f.close()
    assert part_files(ftps.home) == []


class ProbingFTP_TLS(ReusingFTP_TLS):
    """Notes, for each protected upload, whether the server sent anything on
    the data connection right after the TLS handshake."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.unsolicited: list[tuple[str, int]] = []

    def ntransfercmd(self, cmd, rest=None):
        conn, size = super().ntransfercmd(cmd, rest)
        if cmd.startswith(("STOR", "APPE", "STOU")):
            readable, _, _ = select.select([conn], [], [], 0.5)
            pending = 0
            if readable:
                peek = socket.socket(fileno=os.dup(conn.fileno()))
                try:
                    pending = len(peek.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT))
                except BlockingIOError:
                    pending = 0
                finally:
                    peek.close()
            self.unsolicited.append((cmd, pending))
        return conn, size


def test_upload_data_connections_get_nothing_clients_would_leave_unread(ftps, tls_version):
    # An uploading client (curl, lftp) never reads its data connection. If
    # the server sends TLS records there (TLS 1.3 NewSessionTicket after
    # the handshake), they stay unread, the client's close becomes a TCP
    # reset, and the server can lose the end of the upload (426 "Connection
    # reset by peer"; curl/curl#6149). Data connections only ever resume the
    # control connection's session, so they have no use for new tickets.
    f = ProbingFTP_TLS(context=tls_context(ftps.cert, tls_version), timeout=TIMEOUT)
    try:
        f.connect(ftps.host, ftps.port)
        f.login(USER, PASSWORD)
        f.prot_p()
        for i in range(3):
            payload = os.urandom(100_000 + i)
            assert f.storbinary(f"STOR probe{i}.bin", io.BytesIO(payload)).startswith("226")
            assert file_sha256(ftps.home / f"probe{i}.bin") == sha256(payload)
        f.quit()
    finally:
        f.close()
    assert f.data_reused == [True] * 3, f.data_reused
    sent_unasked = [(cmd, n) for cmd, n in f.unsolicited if n]
    assert not sent_unasked, (
        "the server sent TLS records nobody asked for on upload data connections "
        f"(bytes waiting unread after the handshake): {sent_unasked}")


def test_python_implicit_ftps(ftps, tmp_path):
    f = ImplicitFTP_TLS(context=tls_context(ftps.cert), timeout=TIMEOUT)
    try:
        welcome = f.connect("127.0.0.1", ftps.implicit_port)
        assert welcome.startswith("220"), welcome
        assert isinstance(f.sock, ssl.SSLSocket)
        assert f.login(USER, PASSWORD).startswith("230")
        assert f.prot_p().startswith("200")
        assert sorted(f.nlst("docs")) in (["a.txt", "b.txt"], ["docs/a.txt", "docs/b.txt"])
        assert sha256(retr_bytes(f, "data.bin")) == file_sha256(ftps.home / "data.bin")
        payload = os.urandom(512 * 1024 + 3)
        assert f.storbinary("STOR implicit.bin", io.BytesIO(payload)).startswith("226")
        assert file_sha256(ftps.home / "implicit.bin") == sha256(payload)
        assert retr_bytes(f, "implicit.bin") == payload
        assert f.data_reused == [True] * 4, f.data_reused
        assert f.quit().startswith("221")
    finally:
        f.close()


def test_implicit_port_does_not_speak_plaintext(ftps):
    # a plaintext client on the implicit port gets no FTP greeting in clear
    s = socket.create_connection(("127.0.0.1", ftps.implicit_port), timeout=10)
    try:
        s.sendall(b"USER alice\r\n")
        s.settimeout(10)
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert not data.startswith(b"220"), data
        assert not data.startswith(b"331"), data
    finally:
        s.close()


# --------------------------------------------------------------------------
# --require-tls


def test_require_tls_plain_account_refused_anonymous_allowed(ftps):
    with RawFtp(ftps.host, ftps.port) as c:
        r = c.cmd(f"USER {USER}")
        assert r.code == 530, r
        assert "TLS" in r.text, r
        # PASS without an accepted USER does not log in either
        r = c.cmd(f"PASS {PASSWORD}")
        assert r.code in (503, 530), r
        assert c.cmd("PWD").code == 530

    plain = ftplib.FTP(timeout=TIMEOUT)
    plain.connect(ftps.host, ftps.port)
    with pytest.raises(ftplib.error_perm) as e:
        plain.login(USER, PASSWORD)
    assert str(e.value).startswith("530") and "TLS" in str(e.value), e.value
    plain.close()

    anon = ftplib.FTP(timeout=TIMEOUT)
    anon.connect(ftps.host, ftps.port)
    try:
        assert anon.login("anonymous", "guest@example.org").startswith("230")
        assert retr_bytes(anon, "readme.txt") == PUB_FILES["readme.txt"]
        assert sha256(retr_bytes(anon, "data.bin")) == file_sha256(ftps.pub / "data.bin")
        anon.quit()
    finally:
        anon.close()


def test_require_tls_prot_c_refused_for_account(ftps):
    f = reusing(ftps, prot_p=False)
    try:
        assert f.sendcmd("PBSZ 0").startswith("200")
        with pytest.raises(ftplib.error_perm) as e:
            f.sendcmd("PROT C")
        assert str(e.value).startswith("534"), e.value
        # PROT P is accepted and transfers then work
        assert f.sendcmd("PROT P").startswith("200")
        f._prot_p = True
        assert retr_bytes(f, "hello.txt") == HOME_FILES["hello.txt"]
        assert f.data_reused == [True]
    finally:
        f.close()


def test_require_tls_transfer_without_prot_p_refused(ftps):
    f = reusing(ftps, prot_p=False)  # TLS control connection, PROT still C
    try:
        got = []
        reply = refused_transfer(f, lambda: f.retrbinary("RETR hello.txt", got.append))
        assert reply.startswith("521"), reply
        assert got == [] or b"".join(got) == b"", "bytes leaked in clear"
        reply = refused_transfer(
            f, lambda: f.storbinary("STOR clear.bin", io.BytesIO(b"in the clear")))
        assert reply.startswith("521"), reply
        assert not (ftps.home / "clear.bin").exists()
        reply = refused_transfer(f, lambda: f.nlst())
        assert reply.startswith("521"), reply
        # the same session, after PROT P, transfers
        assert f.prot_p().startswith("200")
        assert retr_bytes(f, "hello.txt") == HOME_FILES["hello.txt"]
        assert f.quit().startswith("221")
    finally:
        f.close()
    assert part_files(ftps.home) == []


def test_require_tls_stock_ftp_tls_without_session_reuse_gets_522(ftps):
    f = ftplib.FTP_TLS(context=tls_context(ftps.cert), timeout=TIMEOUT)
    try:
        f.connect(ftps.host, ftps.port)
        assert f.login(USER, PASSWORD).startswith("230")
        assert f.prot_p().startswith("200")
        assert_fresh_handshakes_refused(f, ftps.home, "stolen.bin")
        # the control connection survives
        assert f.voidcmd("NOOP").startswith("200")
    finally:
        f.close()
    assert part_files(ftps.home) == []


def test_session_reuse_off_lets_stock_ftp_tls_work(wharfd_factory, certs, tmp_path):
    cfg = write_config(tmp_path, "reuse-off.toml", "tls_require_session_reuse = false\n")
    srv = start_ftps(wharfd_factory, certs, require=True, config=cfg)
    f = ftplib.FTP_TLS(context=tls_context(srv.cert), timeout=TIMEOUT)
    try:
        f.connect(srv.host, srv.port)
        assert f.login(USER, PASSWORD).startswith("230")
        assert f.prot_p().startswith("200")
        assert sha256(retr_bytes(f, "data.bin")) == file_sha256(srv.home / "data.bin")
        payload = os.urandom(300_001)
        assert f.storbinary("STOR stock.bin", io.BytesIO(payload)).startswith("226")
        assert file_sha256(srv.home / "stock.bin") == sha256(payload)
        assert "stock.bin" in f.nlst()
        # still TLS-only for accounts: PROT C stays refused
        with pytest.raises(ftplib.error_perm) as e:
            f.sendcmd("PROT C")
        assert str(e.value).startswith("534")
        f.quit()
    finally:
        f.close()


# --------------------------------------------------------------------------
# plaintext pipelined after AUTH TLS (the STARTTLS command-injection attack)


@pytest.mark.parametrize("require", [False, True], ids=["tls-offered", "tls-required"])
def test_plaintext_pipelined_after_auth_tls_is_never_executed(wharfd_factory, certs,
                                                              require):
    srv = start_ftps(wharfd_factory, certs, require=require, implicit=False)
    ctx = tls_context(srv.cert)
    with RawFtp(srv.host, srv.port) as c:
        # A man in the middle appends a login and a MKD in plaintext right
        # after the client's AUTH TLS. If the server buffered them and ran
        # them after the handshake, they would count as protected commands.
        c.send_raw(b"AUTH TLS\r\n"
                   + f"USER {USER}\r\nPASS {PASSWORD}\r\n".encode()
                   + b"MKD pwned\r\nSTOR pwned.txt\r\n")
        r = c.reply()
        assert r.code == 234, r
        assert c.buf == b"", f"plaintext after 234: {c.buf!r}"
        # nothing else in plaintext: the server now waits for our ClientHello
        readable, _, _ = select.select([c.sock], [], [], 0.7)
        if readable:
            extra = c.sock.recv(4096, socket.MSG_PEEK)
            pytest.fail(f"the server sent more plaintext after 234: {extra!r}")
        c.sock = ctx.wrap_socket(c.sock, server_hostname="127.0.0.1")
        # the first reply over TLS answers what we send over TLS, and
        # nobody is logged in: the plaintext USER/PASS was thrown away
        r = c.cmd("PWD")
        assert r.code == 530, f"PWD right after the handshake: {r!r}"
        r = c.cmd("MKD pwned-too")
        assert r.code == 530, r
        r = c.cmd("NOOP")
        assert r.code == 200, r
        c.login()
        r = c.cmd("MKD over-tls")
        assert r.code == 257, r
        assert c.cmd("QUIT").code == 221
    assert (srv.home / "over-tls").is_dir()
    for name in ("pwned", "pwned-too", "pwned.txt"):
        assert not (srv.home / name).exists(), f"{name} was created"
    assert not (srv.pub / "pwned").exists()


def test_auth_tls_after_login_refused(wharfd_factory, certs):
    srv = start_ftps(wharfd_factory, certs, implicit=False)
    with RawFtp(srv.host, srv.port) as c:
        c.login("anonymous", "x@example.org")
        r = c.cmd("AUTH TLS")
        assert r.code == 503, r
        # still a working plaintext session, not a half-started handshake
        assert c.cmd("NOOP").code == 200
        assert c.cmd("PWD").code == 257


# --------------------------------------------------------------------------
# FEAT, CCC, no certificate


def feat_lines(c: RawFtp) -> list[str]:
    r = c.cmd("FEAT")
    assert r.code == 211, r
    return [l.decode().strip().upper() for l in r.lines[1:-1]]


def test_feat_lists_tls_features(wharfd_factory, certs):
    srv = start_ftps(wharfd_factory, certs, implicit=False)
    with RawFtp(srv.host, srv.port) as c:
        feats = feat_lines(c)
        assert "AUTH TLS" in feats or any(
            f.startswith("AUTH ") and "TLS" in f.split()[1:] for f in feats), feats
        assert "PBSZ" in feats, feats
        assert "PROT" in feats, feats
        # and over TLS too
        assert c.cmd("AUTH TLS").code == 234
        c.sock = tls_context(srv.cert).wrap_socket(c.sock, server_hostname="127.0.0.1")
        feats = feat_lines(c)
        assert "PBSZ" in feats and "PROT" in feats, feats


def test_ccc_refused(wharfd_factory, certs):
    srv = start_ftps(wharfd_factory, certs, implicit=False)
    f = reusing(srv)
    try:
        with pytest.raises(ftplib.error_perm) as e:
            f.sendcmd("CCC")
        assert str(e.value).startswith("534"), e.value
        # the control connection is still TLS and still works
        assert isinstance(f.sock, ssl.SSLSocket)
        assert f.voidcmd("NOOP").startswith("200")
        assert retr_bytes(f, "hello.txt") == HOME_FILES["hello.txt"]
        assert f.data_reused == [True]
        f.quit()
    finally:
        f.close()


def test_no_certificate_auth_tls_502(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        feats = feat_lines(c)
        assert not any(f.startswith("AUTH") for f in feats), feats
        r = c.cmd("AUTH TLS")
        assert r.code == 502, r
        # the session goes on in plaintext
        assert c.cmd("NOOP").code == 200
        c.login()
        assert c.cmd("PWD").code == 257
        assert c.cmd("CCC").code in (500, 502)
        assert c.cmd("PROT P").code in (500, 502, 503)

    f = ftplib.FTP_TLS(timeout=TIMEOUT)
    f.connect(wharfd.host, wharfd.port)
    try:
        with pytest.raises(ftplib.error_perm) as e:
            f.auth()
        assert str(e.value).startswith("502"), e.value
    finally:
        f.close()


# --------------------------------------------------------------------------
# issue 13, TLS details: session reuse by default, ALPN (ALPACA), PBSZ before
# PROT, passive listeners that expire and are capped per address


class ImplicitRawFtp(RawFtp):
    """RawFtp on an implicit-TLS listener: the handshake before the greeting."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext):
        self.host = host
        self.port = port
        raw = socket.create_connection((host, port), timeout=TIMEOUT)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.greeting = self.reply()
        assert self.greeting.code == 220, f"greeting: {self.greeting!r}"


def explicit_tls(srv, ctx: ssl.SSLContext | None = None) -> RawFtp:
    """A RawFtp whose control connection went through AUTH TLS."""
    c = RawFtp(srv.host, srv.port)
    r = c.cmd("AUTH TLS")
    assert r.code == 234, r
    c.sock = (ctx or tls_context(srv.cert)).wrap_socket(c.sock, server_hostname="127.0.0.1")
    return c


def alpn_context(cert: Path, offer: list[str] | None) -> ssl.SSLContext:
    ctx = tls_context(cert)
    if offer is not None:
        ctx.set_alpn_protocols(offer)
    return ctx


def tls_retr(c: RawFtp, name: str, ctx: ssl.SSLContext) -> bytes:
    """PASV + RETR over a PROT P data connection that resumes the control
    connection's TLS session."""
    assert c.cmd("TYPE I").code == 200
    d = c.data_conn()
    try:
        pre = c.cmd(f"RETR {name}")
        assert pre.code == 150, pre
        d = ctx.wrap_socket(d, server_hostname="127.0.0.1", session=c.sock.session)
        assert d.session_reused, "the data connection did not resume the session"
        data = recv_all(d)
    finally:
        d.close()
    r = c.reply()
    assert r.code == 226, r
    return data


def no_alpn_alert(e: ssl.SSLError) -> bool:
    """The server's no_application_protocol alert, however OpenSSL words it."""
    return "NO APPLICATION PROTOCOL" in str(e).upper().replace("_", " ")


ALPN_OFFERS = [(["http/1.1"], False), (["h2", "http/1.1"], False), (["ftp"], True),
               (["http/1.1", "ftp"], True), (None, True)]


def test_alpn_without_ftp_refused_explicit(ftps):
    # ALPACA: a browser's HTTPS ClientHello (ALPN http/1.1) sent to an FTP
    # port must not complete a handshake with the FTP server's certificate.
    for offer, accepted in ALPN_OFFERS:
        ctx = alpn_context(ftps.cert, offer)
        c = RawFtp(ftps.host, ftps.port)
        try:
            assert c.cmd("AUTH TLS").code == 234
            if not accepted:
                with pytest.raises(ssl.SSLError) as e:
                    ctx.wrap_socket(c.sock, server_hostname="127.0.0.1")
                assert no_alpn_alert(e.value), f"ALPN {offer}: {e.value!r}"
                continue
            c.sock = ctx.wrap_socket(c.sock, server_hostname="127.0.0.1")
            want = "ftp" if offer else None
            assert c.sock.selected_alpn_protocol() == want, (offer, c.sock.selected_alpn_protocol())
            c.login()
            assert c.cmd("PBSZ 0").code == 200
            assert c.cmd("PROT P").code == 200
            assert tls_retr(c, "hello.txt", ctx) == HOME_FILES["hello.txt"]
            assert c.cmd("QUIT").code == 221
        finally:
            c.close()


def test_alpn_without_ftp_refused_implicit(ftps):
    for offer, accepted in ALPN_OFFERS:
        ctx = alpn_context(ftps.cert, offer)
        if not accepted:
            with pytest.raises(ssl.SSLError) as e:
                ImplicitRawFtp("127.0.0.1", ftps.implicit_port, ctx)
            assert no_alpn_alert(e.value), f"ALPN {offer}: {e.value!r}"
            continue
        with ImplicitRawFtp("127.0.0.1", ftps.implicit_port, ctx) as c:
            want = "ftp" if offer else None
            assert c.sock.selected_alpn_protocol() == want, offer
            c.login()
            assert c.cmd("PBSZ 0").code == 200
            assert c.cmd("PROT P").code == 200
            assert tls_retr(c, "hello.txt", ctx) == HOME_FILES["hello.txt"]


def test_alpn_without_ftp_refused_on_data_connections(ftps):
    f = reusing(ftps)  # control connection without ALPN
    try:
        f.context.set_alpn_protocols(["http/1.1"])  # new sockets of this context offer it
        reply = refused_transfer(f, lambda: retr_bytes(f, "hello.txt"))
        assert reply.startswith("522"), reply
        assert f.voidcmd("NOOP").startswith("200")
        f.context.set_alpn_protocols(["ftp"])
        assert retr_bytes(f, "hello.txt") == HOME_FILES["hello.txt"]
        assert f.data_reused == [True], f.data_reused
        assert f.quit().startswith("221")
    finally:
        f.close()


class ChoosyFTP_TLS(ReusingFTP_TLS):
    """Resumes the control connection's session on data connections only
    while `reuse` is set; otherwise makes a fresh handshake."""

    reuse = True

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            session = self.sock.session if self.reuse else None
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
            self.data_reused.append(conn.session_reused)
        return conn, size


class BorrowingFTP_TLS(ReusingFTP_TLS):
    """Offers another connection's TLS session (`borrowed`) on its data
    connections: what a third party holding a ticket of another FTP session
    would do."""

    borrowed: ssl.SSLSession | None = None

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.borrowed)
            self.data_reused.append(conn.session_reused)
        return conn, size


def test_another_sessions_tls_session_does_not_open_data_connections(ftps, tls_version):
    # Two sessions of one account. Under TLS 1.2 and 1.3 alike, session B's
    # data connections offering session A's TLS session (a ticket A's control
    # connection received) are fresh handshakes for B, and refused with 522;
    # B's own session still works, and A's was never disturbed.
    ctx = tls_context(ftps.cert, tls_version)
    a = ReusingFTP_TLS(context=ctx, timeout=TIMEOUT)
    b = BorrowingFTP_TLS(context=ctx, timeout=TIMEOUT)
    try:
        for f in (a, b):
            f.connect(ftps.host, ftps.port)
            assert f.login(USER, PASSWORD).startswith("230")
            assert f.prot_p().startswith("200")
        assert retr_bytes(a, "hello.txt") == HOME_FILES["hello.txt"]  # A's tickets are read
        assert a.sock.session is not None
        b.borrowed = a.sock.session
        assert_fresh_handshakes_refused(b, ftps.home, "borrowed.bin")
        assert b.data_reused == [False, False], b.data_reused
        b.borrowed = b.sock.session
        assert retr_bytes(b, "hello.txt") == HOME_FILES["hello.txt"]
        assert b.data_reused[-1] is True, b.data_reused
        assert retr_bytes(a, "hello.txt") == HOME_FILES["hello.txt"]
        assert a.data_reused == [True, True], a.data_reused
        for f in (a, b):
            assert f.quit().startswith("221")
    finally:
        a.close()
        b.close()
    assert part_files(ftps.home) == []


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_session_reuse_required_whenever_tls_is_configured(wharfd_factory, certs, implicit):
    # no --require-tls and no config: TLS is merely offered, and still a
    # PROT P data connection with a fresh handshake is refused
    srv = start_ftps(wharfd_factory, certs)
    cls = type("ImplicitChoosy", (ChoosyFTP_TLS, ImplicitFTP_TLS), {}) if implicit else ChoosyFTP_TLS
    f = cls(context=tls_context(srv.cert), timeout=TIMEOUT)
    try:
        f.connect(srv.host, srv.implicit_port if implicit else srv.port)
        assert f.login(USER, PASSWORD).startswith("230")
        assert isinstance(f.sock, ssl.SSLSocket)
        assert f.prot_p().startswith("200")
        f.reuse = False
        assert_fresh_handshakes_refused(f, srv.home, "fresh.bin")
        assert f.data_reused == [False, False], f.data_reused
        # the control session is still usable, and a resumed data
        # connection of the same session works
        assert f.voidcmd("NOOP").startswith("200")
        f.reuse = True
        assert retr_bytes(f, "hello.txt") == HOME_FILES["hello.txt"]
        payload = os.urandom(100_003)
        assert f.storbinary("STOR resumed.bin", io.BytesIO(payload)).startswith("226")
        assert file_sha256(srv.home / "resumed.bin") == sha256(payload)
        assert f.data_reused == [False, False, True, True], f.data_reused
        assert f.quit().startswith("221")
    finally:
        f.close()
    assert part_files(srv.home) == []
    # TLS stays optional: a plaintext session transfers in clear
    plain = ftplib.FTP(timeout=TIMEOUT)
    try:
        plain.connect(srv.host, srv.port)
        assert plain.login(USER, PASSWORD).startswith("230")
        assert retr_bytes(plain, "hello.txt") == HOME_FILES["hello.txt"]
        plain.quit()
    finally:
        plain.close()


def test_prot_before_pbsz_gets_503(ftps):
    # RFC 4217 §9: PBSZ must come before PROT
    ctx = tls_context(ftps.cert)
    with explicit_tls(ftps, ctx) as c:
        c.login()
        r = c.cmd("PROT P")
        assert r.code == 503, r
        assert "PBSZ" in r.text, r
        assert c.cmd("PROT C").code == 503
        assert c.cmd("PBSZ 0").code == 200
        assert c.cmd("PROT P").code == 200
        assert tls_retr(c, "hello.txt", ctx) == HOME_FILES["hello.txt"]
    with ImplicitRawFtp("127.0.0.1", ftps.implicit_port, ctx) as c:
        assert c.cmd("PROT P").code == 503  # before login too
        c.login()
        assert c.cmd("PROT P").code == 503
        assert c.cmd("PBSZ 0").code == 200
        assert c.cmd("PROT P").code == 200
        assert tls_retr(c, "hello.txt", ctx) == HOME_FILES["hello.txt"]


def free_port_pair() -> int:
    """LO such that LO and LO+1 are free on 127.0.0.1, below the kernel's
    ephemeral range so that no client socket takes them meanwhile."""
    for _ in range(100):
        lo = random.randrange(20000, 30000)
        socks = []
        try:
            for port in (lo, lo + 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return lo
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.fail("no two free consecutive ports in 20000-30000")


def protected_sessions(srv, ctx, n: int) -> list:
    """`n` logged-in explicit-TLS sessions with PBSZ 0 and PROT P."""
    sessions = [explicit_tls(srv, ctx) for _ in range(n)]
    try:
        for c in sessions:
            c.login()
            assert c.cmd("PBSZ 0").code == 200
            assert c.cmd("PROT P").code == 200
    except BaseException:
        for c in sessions:
            c.close()
        raise
    return sessions


def test_unused_passive_listeners_expire_in_a_narrow_range(wharfd_factory, certs, tmp_path):
    # Two sessions open PASV and never connect: with a 2-port range they
    # hold every port. After data_connect_timeout the listeners close and a
    # third session's PASV succeeds.
    lo = free_port_pair()
    cfg = write_config(tmp_path, "narrow.toml", "data_connect_timeout = 1\n")
    srv = start_ftps(wharfd_factory, certs, implicit=False, config=cfg,
                     extra=["--passive-ports", f"{lo}-{lo + 1}"])
    ctx = tls_context(srv.cert)
    sessions = protected_sessions(srv, ctx, 3)
    try:
        a, b, c = sessions
        ports = {a.pasv()[1], b.pasv()[1]}
        assert ports == {lo, lo + 1}, ports
        r = c.cmd("PASV")
        assert r.code == 425, r
        assert c.cmd("EPSV").code == 425
        assert c.cmd("NOOP").code == 200

        assert wait_until(lambda: c.cmd("PASV").code == 227, timeout=5, interval=0.2), \
            "the unused passive listeners never closed"
        assert tls_retr(c, "hello.txt", ctx) == HOME_FILES["hello.txt"]
        # the expired sessions' transfer setup is gone with their listeners;
        # the sessions themselves go on
        r = a.cmd("RETR hello.txt")
        assert r.code == 425, r
        assert a.cmd("NOOP").code == 200
        assert tls_retr(a, "hello.txt", ctx) == HOME_FILES["hello.txt"]
    finally:
        for s in sessions:
            s.close()
    assert "closed a passive listener" in srv.log()


def test_passive_listeners_capped_per_address(wharfd_factory, certs, tmp_path):
    cfg = write_config(tmp_path, "cap.toml", "max_passive_per_ip = 2\n")
    srv = start_ftps(wharfd_factory, certs, implicit=False, config=cfg)
    ctx = tls_context(srv.cert)
    sessions = protected_sessions(srv, ctx, 3)
    try:
        a, b, c = sessions
        a.epsv()
        a.epsv()  # a session's new listener replaces its old one
        b.pasv()
        r = c.cmd("EPSV")
        assert r.code == 425, r
        assert "limit 2" in r.text and "try again" in r.text, r
        assert c.cmd("PASV").code == 425
        # the cap is per client address
        with RawFtp(srv.host, srv.port, source="127.0.0.2") as other:
            other.login()
            other.epsv()
        # a transfer that uses its listener gives the place back
        assert tls_retr(a, "hello.txt", ctx) == HOME_FILES["hello.txt"]
        assert tls_retr(c, "hello.txt", ctx) == HOME_FILES["hello.txt"]
        # and so does a session that ends
        a.epsv()
        assert c.cmd("EPSV").code == 425
        assert b.cmd("QUIT").code == 221
        assert wait_until(lambda: c.cmd("EPSV").code == 229, timeout=5, interval=0.1)
    finally:
        for s in sessions:
            s.close()
