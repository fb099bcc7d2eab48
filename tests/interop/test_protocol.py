"""Protocol details that real clients rely on: pipelining, LIST flags,
EPSV ALL, REST before STOR, big directories, parallel sessions, limits."""

from __future__ import annotations

import concurrent.futures
import ftplib
import io
import os
import time

import pytest

from conftest import HOME_FILES
from wharf_helpers import RawFtp, connect_from, file_sha256, recv_all, sha256


def test_pipelined_commands_reply_in_order(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.send_raw(b"USER alice\r\nPASS alice-secret-pw\r\nPWD\r\nTYPE I\r\n"
                   b"CWD docs\r\nPWD\r\nSIZE a.txt\r\nNOOP\r\n")
        codes = [c.reply().code for _ in range(8)]
        assert codes == [331, 230, 257, 200, 250, 257, 213, 200], codes


@pytest.mark.parametrize("cmd", ["LIST -la", "LIST -a", "LIST -l", "NLST -a"])
def test_list_with_ls_flags(wharfd, cmd):
    # lftp, old Windows clients and many scripts send "LIST -la"
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        d = c.data_conn()
        r = c.cmd(cmd)
        assert r.code // 100 == 1, f"{cmd}: {r!r}"
        data = recv_all(d).decode()
        d.close()
        assert c.reply().code == 226
        names = {l.split()[-1] for l in data.splitlines() if l.strip()}
        assert {"hello.txt", "data.bin", "docs"} <= names, f"{cmd}: {data!r}"
        d = c.data_conn()
        r = c.cmd(cmd + " docs")
        assert r.code // 100 == 1, f"{cmd} docs: {r!r}"
        data = recv_all(d).decode()
        d.close()
        assert c.reply().code == 226
        names = {l.split()[-1].split("/")[-1] for l in data.splitlines() if l.strip()}
        assert {"a.txt", "b.txt"} <= names, f"{cmd} docs: {data!r}"


def test_epsv_all_refuses_pasv_and_port(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        assert c.cmd("EPSV ALL").code == 200
        for cmd in ("PASV", "PORT 127,0,0,1,200,10", "EPRT |1|127.0.0.1|51210|"):
            r = c.cmd(cmd)
            assert r.code // 100 == 5, f"{cmd} after EPSV ALL: {r!r}"
        port = c.epsv()
        d = connect_from("127.0.0.1", port)
        c.cmd("TYPE I")
        assert c.cmd("RETR hello.txt").code // 100 == 1
        assert recv_all(d) == HOME_FILES["hello.txt"]
        d.close()
        assert c.reply().code == 226


def test_epsv_protocol_argument(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        assert c.cmd("EPSV 1").code == 229
        assert c.cmd("EPSV 2").code == 522  # IPv6 on an IPv4 control connection
        assert c.cmd("EPSV 7").code in (501, 522)


def test_rest_then_stor_resumes_upload(wharfd):
    full = os.urandom(3 * 1024 * 1024 + 5)
    cut = 1024 * 1024 + 3
    (wharfd.home / "resume.bin").write_bytes(full[:cut])
    ftp = wharfd.ftp()
    ftp.storbinary("STOR resume.bin", io.BytesIO(full[cut:]), rest=cut)
    assert file_sha256(wharfd.home / "resume.bin") == sha256(full)
    ftp.quit()


def test_type_variants(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        for arg in ("A", "A N", "I", "L 8", "a", "i"):
            r = c.cmd(f"TYPE {arg}")
            assert r.code == 200, f"TYPE {arg}: {r!r}"
        for arg in ("E", "A T", "L 7", "X"):
            r = c.cmd(f"TYPE {arg}")
            assert r.code in (501, 504), f"TYPE {arg}: {r!r}"


def test_stor_into_missing_directory_550(wharfd):
    ftp = wharfd.ftp()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.storbinary("STOR no/such/dir/f.bin", io.BytesIO(b"x"))
    assert str(e.value).startswith("550")
    assert not (wharfd.home / "no").exists()
    ftp.quit()


def test_large_directory_listing(wharfd):
    big = wharfd.home / "many"
    big.mkdir()
    names = {f"file-{i:05d}-{'x' * 40}.txt" for i in range(3000)}
    for n in names:
        (big / n).write_bytes(b"")
    ftp = wharfd.ftp()
    assert set(os.path.basename(n) for n in ftp.nlst("many")) == names
    assert {n for n, f in ftp.mlsd("many") if f.get("type") == "file"} == names
    lines: list[str] = []
    ftp.dir("many", lines.append)
    assert {l.split()[-1] for l in lines} == names
    ftp.quit()


def test_parallel_sessions_transfer_intact(wharfd):
    payloads = {f"p{i}.bin": os.urandom(2 * 1024 * 1024 + i) for i in range(8)}
    for name, data in payloads.items():
        (wharfd.home / name).write_bytes(data)

    def worker(name: str) -> tuple[str, str, str]:
        ftp = wharfd.ftp()
        buf = io.BytesIO()
        ftp.retrbinary(f"RETR {name}", buf.write)
        up = os.urandom(1024 * 1024)
        ftp.storbinary(f"STOR up-{name}", io.BytesIO(up))
        ftp.quit()
        return sha256(buf.getvalue()), sha256(up), name

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, payloads))
    for down_sha, up_sha, name in results:
        assert down_sha == sha256(payloads[name]), name
        assert file_sha256(wharfd.home / f"up-{name}") == up_sha, name


def test_idle_timeout_closes_with_421(wharfd_factory):
    srv = wharfd_factory(["--idle-timeout", "1"])
    with RawFtp(srv.host, srv.port, timeout=30) as c:
        c.login()
        t0 = time.monotonic()
        r = c.reply()  # unsolicited: the server gives up on us
        waited = time.monotonic() - t0
        assert r.code == 421, r
        assert 0.9 <= waited < 4, f"--idle-timeout 1 closed the session after {waited:.1f}s"
        assert c.sock.recv(100) == b"", "connection should be closed after 421"


def test_max_sessions_per_ip(wharfd_factory):
    srv = wharfd_factory(["--max-sessions-per-ip", "2"])
    a = RawFtp(srv.host, srv.port)
    b = RawFtp(srv.host, srv.port)
    try:
        with pytest.raises((AssertionError, ConnectionError)) as e:
            RawFtp(srv.host, srv.port)  # the greeting must be 421, not 220
        assert "421" in str(e.value) or isinstance(e.value, ConnectionError), e.value
        # a different client address is a different count
        with RawFtp(srv.host, srv.port, source="127.0.0.3") as c:
            c.login()
    finally:
        a.close()
        b.close()


def test_paths_with_redundant_slashes_and_dots(wharfd):
    ftp = wharfd.ftp()
    for name in ("//docs//a.txt", "/docs/./a.txt", "docs/../docs/a.txt", "./docs/a.txt"):
        buf = io.BytesIO()
        ftp.retrbinary(f"RETR {name}", buf.write)
        assert buf.getvalue() == HOME_FILES["docs/a.txt"], name
    ftp.cwd("//docs/")
    assert ftp.pwd() == "/docs"
    ftp.quit()


def test_very_long_path_is_an_error_not_a_crash(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        long_name = "d" * 4000
        for cmd in (f"CWD {long_name}", f"MKD {long_name}", f"SIZE {long_name}",
                    f"MKD {'x/' * 1900}y"):
            r = c.cmd(cmd)
            assert r.code // 100 == 5, f"{cmd[:20]}...: {r!r}"
        assert c.cmd("NOOP").code == 200


def test_rnto_must_follow_rnfr(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        assert c.cmd("RNTO x.txt").code == 503
        assert c.cmd("RNFR hello.txt").code == 350
        assert c.cmd("NOOP").code == 200
        assert c.cmd("RNTO x.txt").code == 503  # the RNFR was consumed
    assert (wharfd.home / "hello.txt").exists()
    assert not (wharfd.home / "x.txt").exists()


def test_mlsd_of_a_file_and_missing_paths(wharfd):
    ftp = wharfd.ftp()
    with pytest.raises(ftplib.error_perm) as e:
        list(ftp.mlsd("hello.txt"))
    assert str(e.value)[:3] in ("501", "550"), e.value  # RFC 3659 7.2.1: not a dir
    with pytest.raises(ftplib.error_perm) as e:
        list(ftp.mlsd("no-such-dir"))
    assert str(e.value).startswith("550")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("MLST no-such-file")
    assert str(e.value).startswith("550")
    ftp.quit()


def test_opts_mlst_selects_facts(wharfd):
    ftp = wharfd.ftp()
    entries = dict(ftp.mlsd(facts=["type", "size"]))
    assert entries["hello.txt"].get("size") == str(len(HOME_FILES["hello.txt"]))
    assert "modify" not in entries["hello.txt"], entries["hello.txt"]
    r = ftp.sendcmd("OPTS MLST type;size;modify;")
    assert r.startswith("200"), r
    entries = dict(ftp.mlsd())
    assert "modify" in entries["hello.txt"]
    ftp.quit()


# The home itself cannot be removed, renamed, replaced or deleted by a
# writable account: the read-only check that guards anonymous sessions does
# not apply here, so these exercise the root guards themselves.
ROOT_NAMES = ["/", "//", "/.", "/docs/..", "."]


def _root_refusals(srv, names: list[str]) -> None:
    from test_registration_quota import disk_usage, site_quota, users

    users(srv.bin, srv.data, "recount", "alice")
    before = {p.relative_to(srv.home): p.read_bytes()
              for p in srv.home.rglob("*") if p.is_file()}
    with RawFtp(srv.host, srv.port) as c:
        c.login()
        assert c.cmd("TYPE I").code == 200
        for name in names:
            for cmd in (f"RMD {name}", f"DELE {name}"):
                r = c.cmd(cmd)
                assert r.code // 100 == 5, f"{cmd} by a writable account: {r!r}"
            r = c.cmd(f"RNFR {name}")
            if r.code == 350:
                # RNFR of the root is still accepted today (see the xfail
                # test below); the rename itself must then be refused
                r = c.cmd("RNTO elsewhere")
                assert r.code // 100 == 5, f"RNFR {name}, RNTO elsewhere: {r!r}"
            else:
                assert r.code // 100 == 5, f"RNFR {name}: {r!r}"
                assert c.cmd("RNTO elsewhere").code == 503, "RNTO after a refused RNFR"
            assert not (srv.home / "elsewhere").exists()
            (srv.home / "mover.txt").write_bytes(b"mover")
            assert c.cmd("RNFR mover.txt").code == 350
            r = c.cmd(f"RNTO {name}")
            assert r.code // 100 == 5, f"RNFR mover.txt, RNTO {name}: {r!r}"
            assert (srv.home / "mover.txt").read_bytes() == b"mover"
            (srv.home / "mover.txt").unlink()
    f = srv.ftp()
    try:
        f.voidcmd("TYPE I")
        for name in names:
            for verb in ("STOR", "APPE"):
                try:
                    conn = f.transfercmd(f"{verb} {name}")
                except ftplib.error_perm:
                    continue  # refused before any data: what we want
                conn.sendall(b"would replace the home")
                conn.close()
                pytest.fail(f"{verb} {name} was accepted: {f.getresp()!r}")
        q = site_quota(f)
    finally:
        f.close()
    assert srv.home.is_dir(), "the home is gone"
    after = {p.relative_to(srv.home): p.read_bytes() for p in srv.home.rglob("*") if p.is_file()}
    assert after == before, "the home changed"
    assert q["used"] == disk_usage(srv.home) and q["in_flight"] == 0, \
        f"SITE QUOTA {q}, but {disk_usage(srv.home)} bytes are on disk"


def test_root_cannot_be_removed_renamed_or_replaced_by_a_writable_account(wharfd):
    _root_refusals(wharfd, ROOT_NAMES)


def test_empty_root_cannot_be_removed_by_a_writable_account(wharfd):
    # RMD / on an *empty* home is what would succeed without the guard
    for p in sorted(wharfd.home.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    _root_refusals(wharfd, [n for n in ROOT_NAMES if "docs" not in n])
    assert list(wharfd.home.iterdir()) == []


def test_rnfr_of_the_root_is_refused(wharfd):
    with RawFtp(wharfd.host, wharfd.port) as c:
        c.login()
        for name in ROOT_NAMES:
            r = c.cmd(f"RNFR {name}")
            assert r.code // 100 == 5, f"RNFR {name} by a writable account: {r!r}"
