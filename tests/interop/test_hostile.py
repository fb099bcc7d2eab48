"""Hostile clients on raw sockets: path traversal, oversized lines, commands
before login, anonymous writes, FTP bounce (PORT/EPRT to other hosts and
privileged ports), passive-port theft, clients killed mid-upload, junk."""

from __future__ import annotations

import os
import select
import socket
import time

import pytest

from conftest import HOME_FILES, PUB_FILES
from wharf_helpers import (RawFtp, connect_from, file_sha256, part_files, recv_all,
                           rst_close, sha256, wait_until, write_random)

PASSWD_MARKERS = (b"root:x:0:0", b"root:*:0:0", b"/bin/bash", b"/usr/sbin/nologin")
REAL_ROOT_ENTRIES = {"etc", "usr", "proc", "bin", "var", "sys"}


def assert_no_passwd(data: bytes, what: str) -> None:
    for m in PASSWD_MARKERS:
        assert m not in data, f"{what} returned /etc/passwd content!"


def listing_names(c: RawFtp, cmd: str) -> tuple[int, set[str], bytes]:
    d = c.data_conn()
    try:
        pre = c.cmd(cmd)
        if pre.code // 100 != 1:
            return pre.code, set(), b""
        data = recv_all(d)
    finally:
        d.close()
    final = c.reply()
    assert final.code == 226, f"{cmd}: {final!r}"
    names = set()
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            names.add(line.split()[-1].split("/")[-1].split(";")[-1].strip())
    return pre.code, names, data


# -- path traversal --------------------------------------------------------------

TRAVERSAL_CWDS = [
    "../../..",
    "..",
    "/..",
    "/../../..",
    "../../../../../../../../etc",
    "/../../../etc",
    "docs/../../..",
    "..\\..\\..",
    "%2e%2e/%2e%2e/%2e%2e",
    "....//....//....//etc",
    "./../.././../etc",
]

TRAVERSAL_FILES = [
    "../../etc/passwd",
    "/../../../etc/passwd",
    "../../../../../../../../../../etc/passwd",
    "docs/../../../../etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "..\\..\\x",
    "..\\..\\..\\etc\\passwd",
    "....//....//....//etc/passwd",
    "/etc/passwd",
    "//etc/passwd",
    "~root/../../etc/passwd",
    "~/../../../etc/passwd",
]


@pytest.mark.parametrize("who", ["alice", "anonymous"])
def test_cwd_traversal_stays_in_root(wharfd, who):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login(who, "guest@x") if who == "anonymous" else c.login()
        for path in TRAVERSAL_CWDS:
            r = c.cmd(f"CWD {path}")
            assert r.code in (250, 550), f"CWD {path}: {r!r}"
            pwd = c.cmd("PWD")
            assert pwd.code == 257, pwd
            if r.code == 550:
                assert pwd.text.startswith('257 "/"'), f"after CWD {path}: {pwd!r}"
            code, names, data = listing_names(c, "NLST")
            assert not (names & REAL_ROOT_ENTRIES), \
                f"after CWD {path} the listing looks like the real root: {names}"
            assert "passwd" not in names, f"after CWD {path}: {names}"
            assert c.cmd("CWD /").code == 250
        # '..' from the root stays at the root (RFC 959 semantics in a jail)
        assert c.cmd("CWD /").code == 250
        assert c.cmd("CDUP").code in (200, 250, 550)
        assert c.cmd("PWD").text.startswith('257 "/"')


@pytest.mark.parametrize("who", ["alice", "anonymous"])
def test_retr_traversal_refused(wharfd, who):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login(who, "guest@x") if who == "anonymous" else c.login()
        c.cmd("TYPE I")
        for path in TRAVERSAL_FILES:
            pre, data, final = c.retr(path)
            assert_no_passwd(data, f"RETR {path}")
            assert pre.code == 550, f"RETR {path}: {pre!r} / {final!r}"
            for verb in ("SIZE", "MDTM", "MLST"):
                r = c.cmd(f"{verb} {path}")
                assert r.code == 550, f"{verb} {path}: {r!r}"
                assert_no_passwd(r.text.encode(), f"{verb} {path}")
            r = c.cmd(f"STAT {path}")
            assert_no_passwd(r.text.encode(), f"STAT {path}")
        # the session is fine afterwards
        name = "hello.txt" if who == "alice" else "readme.txt"
        want = HOME_FILES["hello.txt"] if who == "alice" else PUB_FILES["readme.txt"]
        pre, data, final = c.retr(name)
        assert (pre.code // 100, data, final.code) == (1, want, 226), (pre, final)


def test_list_traversal_shows_nothing_outside(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        for arg in ("../../..", "/../../../etc", "../../etc/passwd", "/etc"):
            for verb in ("LIST", "NLST", "MLSD"):
                code, names, data = listing_names(c, f"{verb} {arg}")
                assert_no_passwd(data, f"{verb} {arg}")
                assert not (names & {"passwd", "shadow", "hostname", "usr", "proc"}), \
                    f"{verb} {arg}: {names}"


def test_writes_cannot_escape(wharfd, tmp_path):
    outside = wharfd.data.parent  # the folder holding the data directory
    before = set(os.listdir(outside))
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        for path in ("../../escape.txt", "/../../../escape.txt", "..\\..\\escape.txt"):
            d = c.data_conn()
            pre = c.cmd(f"STOR {path}")
            if pre.code // 100 == 1:
                d.sendall(b"escaped")
                d.close()
                c.reply()
            else:
                d.close()
        for path in ("../../escdir", "/../../escdir"):
            c.cmd(f"MKD {path}")
        c.cmd("RNFR hello.txt")
        c.cmd("RNTO ../../renamed-out.txt")
    assert set(os.listdir(outside)) == before
    assert not (wharfd.data / "escape.txt").exists()
    assert not (wharfd.data / "home" / "escape.txt").exists()
    assert not (wharfd.data / "escdir").exists()
    assert not (wharfd.data / "home" / "renamed-out.txt").exists()
    assert not (wharfd.data / "renamed-out.txt").exists()


def test_symlink_out_of_home_not_followed(wharfd, tmp_path):
    secret = tmp_path / "outside-secret.txt"
    secret.write_bytes(b"TOP SECRET outside the jail")
    os.symlink(secret, wharfd.home / "link-to-secret")
    os.symlink(tmp_path, wharfd.home / "link-to-outside-dir")
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        pre, data, final = c.retr("link-to-secret")
        assert b"TOP SECRET" not in data, "a symlink let RETR read outside the home"
        pre, data, final = c.retr("link-to-outside-dir/outside-secret.txt")
        assert b"TOP SECRET" not in data, "a symlinked dir let RETR read outside the home"
        r = c.cmd("CWD link-to-outside-dir")
        if r.code == 250:
            code, names, _ = listing_names(c, "NLST")
            assert "outside-secret.txt" not in names, names


def test_list_shows_link_targets_only_inside_the_home(wharfd, tmp_path):
    """LIST types a link `l` and ends it `name -> target`, as vsftpd and
    ProFTPD do, but shows only where the session could go itself: a link
    whose text stays in the home shows its text, an absolute link into the
    home shows a relative path to where it leads, and a link leading out of
    the home shows no target and size 0 (not even the host path's length).
    STAT with a path shows the same; MLSD types links and never shows
    targets."""
    secret = tmp_path / "outside-secret.txt"
    secret.write_bytes(b"TOP SECRET outside the jail")
    home = wharfd.home
    os.symlink("hello.txt", home / "inside")
    os.symlink("../hello.txt", home / "docs" / "up")
    os.symlink(home / "docs", home / "absolute")
    os.symlink(home / "hello.txt", home / "docs" / "absolute-up")
    os.symlink(secret, home / "out-file")
    os.symlink(tmp_path, home / "out-dir")
    os.symlink("../..", home / "escape")
    os.symlink("nowhere", home / "dangling")
    hidden = ("out-file", "out-dir", "escape", "dangling")

    def entries(lines: list[str]) -> dict[str, tuple[str, str, str | None]]:
        """name -> (type letter, size, target) of `ls -l` lines."""
        found = {}
        for line in lines:
            fields = line.split(None, 8)
            name, _, target = fields[8].partition(" -> ")
            found[name] = (line[0], fields[4], target or None)
        return found

    f = wharfd.ftp()
    try:
        lines: list[str] = []
        f.retrlines("LIST", lines.append)
        text = "\n".join(lines)
        for host_path in (str(tmp_path), str(wharfd.data), "outside-secret"):
            assert host_path not in text, text
        listed = entries(lines)
        assert listed["inside"] == ("l", str(len("hello.txt")), "hello.txt"), text
        assert listed["absolute"] == ("l", str(len("docs")), "docs"), text
        for name in hidden:
            assert listed[name] == ("l", "0", None), text
        assert listed["hello.txt"][0] == "-" and listed["docs"][0] == "d"

        docs: list[str] = []
        f.retrlines("LIST docs", docs.append)
        assert entries(docs)["up"] == ("l", str(len("../hello.txt")), "../hello.txt"), docs
        assert entries(docs)["absolute-up"] == ("l", str(len("../hello.txt")), "../hello.txt"), docs

        stat = f.sendcmd("STAT .")
        assert " inside -> hello.txt" in stat and " absolute -> docs" in stat, stat
        assert str(tmp_path) not in stat and "outside-secret" not in stat, stat

        facts = dict(f.mlsd())
        for name in ("inside", "absolute", *hidden):
            assert facts[name]["type"] == "OS.unix=symlink", (name, facts[name])
        assert not any("->" in name for name in facts), list(facts)
    finally:
        f.quit()


# -- bounded input -------------------------------------------------------------------


def test_100k_command_line_gets_500_and_session_survives(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.send_raw(b"NOOP " + b"A" * 100_000 + b"\r\n")
        r = c.reply()
        assert r.code == 500, f"100 KB line: {r!r}"
        r = c.cmd("NOOP")
        assert r.code == 200, f"NOOP after the long line: {r!r}"
        c.login()
        assert c.cmd("PWD").code == 257
        # again, after login, with a plausible verb
        c.send_raw(b"RETR " + b"x" * 100_000 + b"\r\n")
        r = c.reply()
        assert r.code == 500, f"100 KB RETR line: {r!r}"
        assert c.cmd("NOOP").code == 200


def test_unknown_command_500(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        assert c.cmd("XYZZY").code == 500
        assert c.cmd("XYZZY with args").code == 500
        c.login()
        assert c.cmd("FROBNICATE").code == 500
        assert c.cmd("NOOP").code == 200


def test_nul_byte_in_path_refused(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        for cmd in (b"RETR hello.txt\x00.jpg", b"MKD nul\x00dir", b"CWD docs\x00x",
                    b"DELE hello.txt\x00", b"SIZE hello.txt\x00x"):
            r = c.cmd(cmd)
            assert 500 <= r.code < 600, f"{cmd!r}: {r!r}"
        d = c.data_conn()
        r = c.cmd(b"STOR up\x00load.txt")
        d.close()
        if r.code // 100 == 1:
            c.reply()
        assert r.code // 100 == 5, f"STOR with NUL: {r!r}"
        assert c.cmd("NOOP").code == 200
    assert (wharfd.home / "hello.txt").read_bytes() == HOME_FILES["hello.txt"]
    assert not any(b"nul" in n or b"up" in n for n in os.listdir(os.fsencode(wharfd.home)))


def test_bare_lf_and_empty_lines(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.send_raw(b"\r\n")
        # an empty line is a syntax error or ignored; either way NOOP must work
        c.send_raw(b"NOOP\r\n")
        r = c.reply()
        if r.code != 200:
            assert r.code // 100 == 5, r
            assert c.reply().code == 200
        assert c.cmd("noop").code == 200  # verbs are case-insensitive


# -- before login ------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["LIST", "NLST", "MLSD", "RETR hello.txt", "STOR x",
                                 "CWD /", "PWD", "MKD x", "RMD docs", "DELE hello.txt",
                                 "SIZE hello.txt", "MDTM hello.txt", "RNFR hello.txt",
                                 "PASV", "EPSV", "PORT 127,0,0,1,200,1",
                                 "EPRT |1|127.0.0.1|51201|", "CDUP", "APPE x",
                                 "STOU", "REST 10", "MLST hello.txt"])
def test_commands_before_login_530(wharfd, cmd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        r = c.cmd(cmd)
        assert r.code == 530, f"{cmd} before login: {r!r}"
        r = c.cmd("USER alice")
        assert r.code == 331
        r = c.cmd(cmd)  # USER given, PASS not yet
        assert r.code in (503, 530), f"{cmd} between USER and PASS: {r!r}"
    assert (wharfd.home / "hello.txt").exists()
    assert not (wharfd.home / "x").exists()


# -- anonymous writes ------------------------------------------------------------------


def test_anonymous_writes_550(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login("anonymous", "guest@example.org")
        for cmd in ("STOR new.txt", "APPE readme.txt", "STOU", "STOR sub/new.txt"):
            d = c.data_conn()
            r = c.cmd(cmd)
            if r.code // 100 == 1:
                d.sendall(b"should not land")
                d.close()
                final = c.reply()
                pytest.fail(f"anonymous {cmd} was accepted: {r!r} then {final!r}")
            d.close()
            assert r.code == 550, f"anonymous {cmd}: {r!r}"
        for cmd in ("MKD newdir", "RMD sub", "DELE readme.txt", "SITE CHMOD 777 readme.txt"):
            r = c.cmd(cmd)
            assert r.code // 100 == 5, f"anonymous {cmd}: {r!r}"
            if cmd.split()[0] in ("MKD", "RMD", "DELE"):
                assert r.code == 550, f"anonymous {cmd}: {r!r}"
        r = c.cmd("RNFR readme.txt")
        if r.code == 350:  # refusal may come at RNTO instead
            r = c.cmd("RNTO stolen.txt")
        assert r.code == 550, f"anonymous rename: {r!r}"
        assert c.cmd("NOOP").code == 200
    assert sorted(os.listdir(wharfd.pub)) == ["data.bin", "readme.txt", "sub"]
    assert (wharfd.pub / "readme.txt").read_bytes() == PUB_FILES["readme.txt"]
    assert sorted(os.listdir(wharfd.pub / "sub")) == ["nested.txt"]


# -- FTP bounce: PORT / EPRT to elsewhere ------------------------------------------------


def listener(addr: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((addr, 0))
    s.listen(4)
    return s


def got_connection(s: socket.socket, wait: float) -> bool:
    r, _, _ = select.select([s], [], [], wait)
    return bool(r)


@pytest.mark.parametrize("kind", ["PORT", "EPRT"])
def test_active_mode_to_other_host_refused(wharfd, kind):
    trap = listener("127.0.0.2")
    try:
        port = trap.getsockname()[1]
        with RawFtp(wharfd.host, wharfd.port) as c:
            c.login()
            arg = (f"PORT 127,0,0,2,{port >> 8},{port & 255}" if kind == "PORT"
                   else f"EPRT |1|127.0.0.2|{port}|")
            r = c.cmd(arg)
            assert r.code // 100 == 5, f"{arg}: {r!r}"
            c.sock.settimeout(10)
            r = c.cmd("LIST")
            if r.code // 100 == 1:
                # RFC 959 allows 150 then 425 when the data connection fails
                final = c.reply()
                assert final.code // 100 == 4, f"LIST after a refused {kind}: {r!r} {final!r}"
            else:
                assert r.code // 100 in (4, 5), f"LIST after a refused {kind}: {r!r}"
            assert c.cmd("NOOP").code == 200
        assert not got_connection(trap, 1.0), f"the server connected to 127.0.0.2 after {kind}"
    finally:
        trap.close()


@pytest.mark.parametrize("arg", ["PORT 127,0,0,1,0,25", "PORT 127,0,0,1,0,21",
                                 "PORT 127,0,0,1,3,255", "EPRT |1|127.0.0.1|25|",
                                 "PORT 127,0,0,1,0,0"])
def test_active_mode_privileged_port_refused(wharfd, arg):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        r = c.cmd(arg)
        assert r.code // 100 == 5, f"{arg}: {r!r}"
        assert c.cmd("NOOP").code == 200


@pytest.mark.parametrize("arg", ["PORT 1,2,3", "PORT 127,0,0,1,300,1", "PORT a,b,c,d,e,f",
                                 "PORT 127,0,0,1,-1,5", "EPRT |9|127.0.0.1|5000|",
                                 "EPRT |1|not-an-ip|5000|", "EPRT garbage",
                                 "EPRT |1|127.0.0.1|99999|"])
def test_malformed_port_eprt(wharfd, arg):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        r = c.cmd(arg)
        assert r.code // 100 == 5, f"{arg}: {r!r}"
        assert c.cmd("NOOP").code == 200


def test_active_mode_to_own_address_works(wharfd):
    # the legitimate counterpart: PORT to the client's own address on a high port
    trap = listener("127.0.0.1")
    try:
        port = trap.getsockname()[1]
        with RawFtp(wharfd.host, wharfd.port) as c:
            c.login()
            c.cmd("TYPE I")
            r = c.cmd(f"PORT 127,0,0,1,{port >> 8},{port & 255}")
            assert r.code == 200, r
            r = c.cmd("RETR hello.txt")
            assert r.code // 100 == 1, r
            assert got_connection(trap, 10), "server never connected for active RETR"
            d, _ = trap.accept()
            d.settimeout(30)
            data = recv_all(d)
            d.close()
            assert data == HOME_FILES["hello.txt"]
            assert c.reply().code == 226
    finally:
        trap.close()


# -- passive port theft ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["PASV", "EPSV"])
def test_passive_connection_from_other_address_not_served(wharfd, mode):
    payload_sha = file_sha256(wharfd.home / "data.bin")
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        c.cmd("TYPE I")
        port = c.pasv()[1] if mode == "PASV" else c.epsv()
        thief = connect_from("127.0.0.1", port, source="127.0.0.2", timeout=5)
        time.sleep(0.3)
        try:
            good = connect_from("127.0.0.1", port, timeout=5)
        except OSError:
            good = None  # the server may close the listener after the bad peer
        r = c.cmd("RETR data.bin")
        if r.code // 100 == 1:
            assert good is not None, f"{r!r} but no legitimate data connection exists"
            data = recv_all(good)
            good.close()
            assert sha256(data) == payload_sha
            assert c.reply().code == 226
        else:
            assert r.code in (425, 426, 450, 451), f"RETR after a foreign connection: {r!r}"
            if good is not None:
                good.close()
            # a clean retry from the right address works
            port = c.pasv()[1] if mode == "PASV" else c.epsv()
            good = connect_from("127.0.0.1", port)
            r = c.cmd("RETR data.bin")
            assert r.code // 100 == 1, f"retry: {r!r}"
            data = recv_all(good)
            good.close()
            assert sha256(data) == payload_sha
            assert c.reply().code == 226
        # the thief got nothing
        thief.settimeout(2)
        stolen = b""
        try:
            stolen = thief.recv(65536)
        except (socket.timeout, ConnectionResetError):
            pass
        finally:
            thief.close()
        assert stolen == b"", f"the 127.0.0.2 connection received {len(stolen)} bytes"
        assert c.cmd("NOOP").code == 200


def test_passive_ports_range(wharfd_factory):
    srv = wharfd_factory(["--passive-ports", "42100-42109"])
    with RawFtp(srv.host, srv.port) as c:
        c.login()
        for _ in range(5):
            host, port = c.pasv()
            assert host == "127.0.0.1", host
            assert 42100 <= port <= 42109, port
            d = connect_from("127.0.0.1", port)
            r = c.cmd("NLST")
            assert r.code // 100 == 1, r
            recv_all(d)
            d.close()
            assert c.reply().code == 226
            port = c.epsv()
            assert 42100 <= port <= 42109, port
            d = connect_from("127.0.0.1", port)
            assert c.cmd("NLST").code // 100 == 1
            recv_all(d)
            d.close()
            assert c.reply().code == 226


# -- clients that vanish -------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["data", "control"])
def test_client_killed_mid_upload_keeps_old_file(wharfd, first):
    target = wharfd.home / "precious.bin"
    old_sha = write_random(target, 1024 * 1024)
    new = os.urandom(8 * 1024 * 1024)
    c = RawFtp(wharfd.host, wharfd.port)
    c.login()
    c.cmd("TYPE I")
    d = c.data_conn()
    r = c.cmd("STOR precious.bin")
    assert r.code // 100 == 1, r
    d.sendall(new[: len(new) // 2])
    time.sleep(0.3)
    # vanish with RSTs (SO_LINGER 0), never a FIN that would mean end-of-file
    if first == "data":
        rst_close(d)
        rst_close(c.sock)
    else:
        rst_close(c.sock)
        time.sleep(0.2)
        rst_close(d)
    gone = wait_until(lambda: not part_files(wharfd.home), timeout=5)
    assert gone, f"upload temp files left behind: {part_files(wharfd.home)}"
    assert file_sha256(target) == old_sha, "an aborted STOR changed the existing file"
    # the server carries on
    with RawFtp(wharfd.host, wharfd.port) as c2:
        c2.login()
        c2.cmd("TYPE I")
        pre, data, final = c2.retr("precious.bin")
        assert sha256(data) == old_sha
        assert final.code == 226


def test_data_connection_closed_early_on_stor_gives_no_partial_file(wharfd):
    # the data side closes cleanly but the control side stays: the upload is
    # complete from the server's point of view (FIN = end of file in stream mode)
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        c.cmd("TYPE I")
        d = c.data_conn()
        assert c.cmd("STOR short.bin").code // 100 == 1
        d.sendall(b"0123456789")
        d.close()
        assert c.reply().code == 226
    assert (wharfd.home / "short.bin").read_bytes() == b"0123456789"


def test_many_connections_then_server_still_answers(wharfd):
    socks = []
    try:
        for _ in range(50):
            s = socket.create_connection((wharfd.host, wharfd.port), timeout=10)
            socks.append(s)
        for s in socks[::2]:
            rst_close(s)
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
    # sessions of vanished clients are released: a new client gets in
    # (allowing a moment for the per-address session count to drop)
    deadline = time.monotonic() + 5
    while True:
        try:
            c = RawFtp(wharfd.host, wharfd.port)
            break
        except (AssertionError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with c:
        c.login()
        assert c.cmd("NOOP").code == 200


# -- ABOR on the wire ------------------------------------------------------------------------


def start_big_retr(srv, size: int = 64 * 1024 * 1024):
    write_random(srv.home / "big.bin", size)
    c = RawFtp(srv.host, srv.port, timeout=15)
    c.login()
    c.cmd("TYPE I")
    d = c.data_conn()
    r = c.cmd("RETR big.bin")
    assert r.code // 100 == 1, r
    got = 0
    while got < 256 * 1024:
        chunk = d.recv(65536)
        assert chunk
        got += len(chunk)
    return c, d


def abort_and_expect_replies(c, abor: bytes) -> None:
    """Send `abor` during a transfer; RFC 959 4.1.3: the aborted transfer gets
    426, then ABOR gets 226 (or a lone 225/226 if the transfer had ended)."""
    c.send_raw(abor)
    first = c.reply()
    if first.code == 426:
        assert c.reply().code == 226
    else:
        assert first.code in (225, 226), first


@pytest.mark.parametrize("abor", [b"ABOR\r\n", b"\xff\xf4\xff\xf2ABOR\r\n"],
                         ids=["plain", "telnet-ip-dm"])
def test_abor_mid_retr(wharfd, abor):
    # RFC 959 4.1.3: the aborted RETR gets 426, then ABOR gets 226
    c, d = start_big_retr(wharfd)
    with c:
        abort_and_expect_replies(c, abor)
        d.close()
        assert c.cmd("NOOP").code == 200
        pre, data, final = c.retr("hello.txt")
        assert data == HOME_FILES["hello.txt"] and final.code == 226


def start_upload_over(srv, name: str, first: bytes):
    """STOR `name` and send `first` over the data connection, leaving both open."""
    c = RawFtp(srv.host, srv.port, timeout=15)
    c.login()
    c.cmd("TYPE I")
    d = c.data_conn()
    r = c.cmd(f"STOR {name}")
    assert r.code // 100 == 1, r
    d.sendall(first)
    return c, d


@pytest.mark.parametrize("abor", [b"ABOR\r\n", b"\xff\xf4\xff\xf2ABOR\r\n"],
                         ids=["plain", "telnet-ip-dm"])
def test_abor_mid_stor_keeps_the_old_file(wharfd, abor):
    # the client is still sending (no FIN) when ABOR arrives: the upload is
    # undone, the old file stays, and the session goes on
    target = wharfd.home / "keep.bin"
    old_sha = write_random(target, 1024 * 1024)
    c, d = start_upload_over(wharfd, "keep.bin", os.urandom(4 * 1024 * 1024))
    with c:
        time.sleep(0.2)
        abort_and_expect_replies(c, abor)
        d.close()
        assert wait_until(lambda: not part_files(wharfd.home), timeout=5), part_files(wharfd.home)
        assert file_sha256(target) == old_sha, "an aborted STOR changed the existing file"
        assert c.cmd("NOOP").code == 200
        pre, data, final = c.retr("keep.bin")
        assert sha256(data) == old_sha and final.code == 226


def test_stalled_upload_times_out_and_keeps_the_old_file(wharfd_factory, tmp_path):
    # a client that opens an upload and then sends nothing holds no resource
    # past data_stall_timeout
    cfg = tmp_path / "stall.toml"
    cfg.write_text("data_stall_timeout = 2\n")
    srv = wharfd_factory(["--config", str(cfg)])
    target = srv.home / "keep.bin"
    old_sha = write_random(target, 64 * 1024)
    c, d = start_upload_over(srv, "keep.bin", b"partial")
    with c:
        started = time.monotonic()
        r = c.reply()
        waited = time.monotonic() - started
        assert r.code == 426 and "stalled" in r.text.lower(), r
        assert 1.0 < waited < 12, f"stall reported after {waited:.1f} s"
        d.close()
        assert wait_until(lambda: not part_files(srv.home), timeout=5), part_files(srv.home)
        assert file_sha256(target) == old_sha
        assert c.cmd("NOOP").code == 200


def test_abor_pipelined_with_next_command_replies_in_order(wharfd):
    # a client that sends ABOR and its next command in one segment must get
    # the replies in command order: 426 (to RETR), 226 (to ABOR), 200 (to NOOP)
    c, d = start_big_retr(wharfd)
    with c:
        c.send_raw(b"ABOR\r\nNOOP\r\n")
        codes: list[int] = []
        c.sock.settimeout(5)
        try:
            while len(codes) < 3:
                codes.append(c.reply().code)
                if codes[-1] == 200 and len(codes) > 1:
                    break
        except OSError:
            pass
        d.close()
        assert codes in ([426, 226, 200], [225, 200], [226, 200]), \
            f"replies to RETR / ABOR / NOOP out of order: {codes}"


# -- names that look like replies ----------------------------------------------------------


def test_file_name_with_crlf_cannot_forge_control_replies(wharfd):
    # a name holding CR LF and a reply code must not end STAT's multi-line
    # reply early (RFC 959 4.2): the client would then read the rest of the
    # listing as replies to its next commands
    bad = b"evil\r\n212 forged end\r\n226 forged.txt"
    with open(os.path.join(os.fsencode(wharfd.home), bad), "wb") as f:
        f.write(b"x")
    with RawFtp(wharfd.host, wharfd.port, timeout=10) as c:
        c.login()
        r = c.cmd("STAT .")
        assert r.code in (211, 212, 213), r
        nxt = c.cmd("NOOP")
        assert nxt.code == 200, \
            f"STAT's reply was cut short by a file name; NOOP then read {nxt!r}"
