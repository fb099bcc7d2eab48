"""wharfd against Python's ftplib: every common client call, with the bytes
on the wire and on disk checked by sha256."""

from __future__ import annotations

import calendar
import ftplib
import io
import os
import re
import socket
import time

import pytest

from conftest import HOME_FILES, PUB_FILES
from server_files import hidden_name, listdir, set_mtime
from wharf_helpers import (PASSWORD, USER, file_sha256, part_files,
                           recv_all, sha256, write_random)


def retr_bytes(ftp: ftplib.FTP, name: str, rest: int | None = None) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write, rest=rest)
    return buf.getvalue()


# -- login, navigation, listings ---------------------------------------------


def test_login_pwd_cwd_quit(wharfd):
    ftp = wharfd.ftp(user=None)
    assert ftp.getwelcome().startswith("220")
    assert ftp.login(USER, PASSWORD).startswith("230")
    assert ftp.pwd() == "/"
    assert ftp.cwd("docs").startswith("250")
    assert ftp.pwd() == "/docs"
    ftp.cwd("..")
    assert ftp.pwd() == "/"
    ftp.cwd("/docs")
    assert ftp.pwd() == "/docs"
    ftp.sendcmd("CDUP")
    assert ftp.pwd() == "/"
    with pytest.raises(ftplib.error_perm) as e:
        ftp.cwd("no-such-dir")
    assert str(e.value).startswith("550")
    assert ftp.quit().startswith("221")


def test_bad_password_is_530(wharfd):
    ftp = wharfd.ftp(user=None)
    t0 = time.monotonic()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.login(USER, "wrong-password")
    assert str(e.value).startswith("530")
    # WHARF_LOGIN_FAIL_DELAY_MS=50 in the fixture: the delay must not be the default 1 s
    assert time.monotonic() - t0 < 0.9
    # the session survives a failed login and a good one then works
    assert ftp.login(USER, PASSWORD).startswith("230")
    assert ftp.pwd() == "/"
    ftp.quit()


def test_dir_nlst_mlsd(wharfd):
    ftp = wharfd.ftp()
    lines: list[str] = []
    ftp.dir(lines.append)
    joined = "\n".join(lines)
    for name in ("hello.txt", "data.bin", "docs"):
        assert any(l.endswith(" " + name) for l in lines), joined
    docs_line = next(l for l in lines if l.endswith(" docs"))
    assert docs_line.startswith("d"), docs_line
    hello_line = next(l for l in lines if l.endswith(" hello.txt"))
    assert hello_line.startswith("-"), hello_line
    assert f" {len(HOME_FILES['hello.txt'])} " in hello_line, hello_line

    assert sorted(ftp.nlst()) == sorted(["hello.txt", "data.bin", "docs"])
    sub = ftp.nlst("docs")
    assert sorted(os.path.basename(n) for n in sub) == ["a.txt", "b.txt"]

    entries = {name: facts for name, facts in ftp.mlsd()
               if facts.get("type") not in ("cdir", "pdir")}
    assert set(entries) == {"hello.txt", "data.bin", "docs"}
    assert entries["docs"]["type"] == "dir"
    assert entries["hello.txt"]["type"] == "file"
    assert int(entries["hello.txt"]["size"]) == len(HOME_FILES["hello.txt"])
    assert int(entries["data.bin"]["size"]) == 1024 * 1024
    assert re.fullmatch(r"\d{14}(\.\d+)?", entries["data.bin"]["modify"])
    ftp.quit()


def test_mlst_size_mdtm(wharfd):
    when = calendar.timegm((2020, 1, 2, 3, 4, 5, 0, 0, 0))
    when = set_mtime(wharfd.home / "hello.txt", when)
    ftp = wharfd.ftp()
    ftp.voidcmd("TYPE I")
    assert ftp.size("data.bin") == 1024 * 1024
    assert ftp.size("hello.txt") == len(HOME_FILES["hello.txt"])
    resp = ftp.voidcmd("MDTM hello.txt")
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(when))
    assert re.fullmatch(rf"213 {stamp}(\.\d+)?", resp), resp
    with pytest.raises(ftplib.error_perm) as e:
        ftp.voidcmd("MDTM no-such-file")
    assert str(e.value).startswith("550")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.size("no-such-file")
    assert str(e.value).startswith("550")
    mlst = ftp.sendcmd("MLST hello.txt")
    assert mlst.startswith("250"), mlst
    size_fact = f"size={len(HOME_FILES['hello.txt'])};"
    assert "type=file;" in mlst.lower() and size_fact in mlst.lower(), mlst
    ftp.quit()


def test_retrlines_and_retrbinary(wharfd):
    ftp = wharfd.ftp()
    lines: list[str] = []
    ftp.retrlines("RETR hello.txt", lines.append)
    assert lines == ["hello, alice"]
    data = retr_bytes(ftp, "data.bin")
    assert sha256(data) == file_sha256(wharfd.home / "data.bin")
    assert sha256(retr_bytes(ftp, "docs/a.txt")) == sha256(HOME_FILES["docs/a.txt"])
    assert sha256(retr_bytes(ftp, "/docs/b.txt")) == sha256(HOME_FILES["docs/b.txt"])
    with pytest.raises(ftplib.error_perm) as e:
        retr_bytes(ftp, "no-such-file")
    assert str(e.value).startswith("550")
    ftp.quit()


def test_storbinary_and_storlines(wharfd):
    ftp = wharfd.ftp()
    payload = os.urandom(5 * 1024 * 1024 + 17)
    assert ftp.storbinary("STOR up.bin", io.BytesIO(payload)).startswith("226")
    assert file_sha256(wharfd.home / "up.bin") == sha256(payload)
    # overwrite with something shorter: the file is replaced, not patched
    ftp.storbinary("STOR up.bin", io.BytesIO(b"short"))
    assert (wharfd.home / "up.bin").read_bytes() == b"short"
    # back down again, byte for byte
    assert retr_bytes(ftp, "up.bin") == b"short"
    # storlines: ftplib sends CRLF lines in TYPE A, the disk gets LF
    text = b"first line\nsecond line\n\nlast line\n"
    assert ftp.storlines("STOR notes.txt", io.BytesIO(text)).startswith("226")
    assert (wharfd.home / "notes.txt").read_bytes() == text
    assert part_files(wharfd.home) == []
    ftp.quit()


def test_ascii_type_conversion(wharfd):
    (wharfd.home / "lf.txt").write_bytes(b"one\ntwo\nthree\n")
    ftp = wharfd.ftp()
    lines: list[str] = []
    ftp.retrlines("RETR lf.txt", lines.append)
    assert lines == ["one", "two", "three"]
    # on the wire, TYPE A is CRLF
    ftp.voidcmd("TYPE A")
    conn = ftp.transfercmd("RETR lf.txt")
    try:
        wire = recv_all(conn)
    finally:
        conn.close()
    ftp.voidresp()
    assert wire == b"one\r\ntwo\r\nthree\r\n"
    # TYPE I is untouched
    assert retr_bytes(ftp, "lf.txt") == b"one\ntwo\nthree\n"
    # an ASCII upload of CRLF lines stores LF
    ftp.voidcmd("TYPE A")
    conn = ftp.transfercmd("STOR crlf.txt")
    conn.sendall(b"alpha\r\nbeta\r\n")
    conn.close()
    ftp.voidresp()
    assert (wharfd.home / "crlf.txt").read_bytes() == b"alpha\nbeta\n"
    ftp.quit()


def test_rename_delete_mkd_rmd(wharfd):
    ftp = wharfd.ftp()
    ftp.storbinary("STOR before.txt", io.BytesIO(b"rename me"))
    assert ftp.rename("before.txt", "after.txt").startswith("250")
    assert not (wharfd.home / "before.txt").exists()
    assert (wharfd.home / "after.txt").read_bytes() == b"rename me"
    with pytest.raises(ftplib.error_perm) as e:
        ftp.rename("no-such-file", "x")
    assert str(e.value).startswith("550")

    made = ftp.mkd("newdir")
    assert made in ("/newdir", "newdir"), made
    assert (wharfd.home / "newdir").is_dir()
    ftp.rename("after.txt", "newdir/moved.txt")
    assert (wharfd.home / "newdir" / "moved.txt").read_bytes() == b"rename me"
    with pytest.raises(ftplib.error_perm) as e:
        ftp.rmd("newdir")  # not empty
    assert str(e.value).startswith("550")
    assert ftp.delete("newdir/moved.txt").startswith("250")
    assert not (wharfd.home / "newdir" / "moved.txt").exists()
    assert ftp.rmd("newdir").startswith("250")
    assert not (wharfd.home / "newdir").exists()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.delete("no-such-file")
    assert str(e.value).startswith("550")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.mkd("docs")  # exists
    assert str(e.value).startswith("550")
    ftp.quit()


# -- anonymous -----------------------------------------------------------------


@pytest.mark.parametrize("user", ["anonymous", "ftp"])
def test_anonymous_reads_pub(wharfd, user):
    ftp = wharfd.ftp(user=None)
    assert ftp.login(user, "guest@example.org").startswith("230")
    assert ftp.pwd() == "/"
    names = sorted(ftp.nlst())
    assert names == ["data.bin", "readme.txt", "sub"]
    assert retr_bytes(ftp, "readme.txt") == PUB_FILES["readme.txt"]
    assert sha256(retr_bytes(ftp, "sub/nested.txt")) == sha256(PUB_FILES["sub/nested.txt"])
    assert sha256(retr_bytes(ftp, "data.bin")) == file_sha256(wharfd.pub / "data.bin")
    # alice's files are not reachable from the anonymous root
    with pytest.raises(ftplib.error_perm) as e:
        retr_bytes(ftp, "/home/alice/hello.txt")
    assert str(e.value).startswith("550")
    ftp.quit()


def test_anonymous_writes_refused(wharfd):
    ftp = wharfd.ftp(user=None)
    ftp.login()  # anonymous / anonymous@
    before = listdir(wharfd.pub)
    attempts = [
        lambda: ftp.storbinary("STOR new.bin", io.BytesIO(b"x" * 1000)),
        lambda: ftp.storbinary("APPE readme.txt", io.BytesIO(b"x")),
        lambda: ftp.storlines("STOR new.txt", io.BytesIO(b"a\n")),
        lambda: ftp.mkd("newdir"),
        lambda: ftp.rmd("sub"),
        lambda: ftp.delete("readme.txt"),
        lambda: ftp.rename("readme.txt", "renamed.txt"),
    ]
    for attempt in attempts:
        with pytest.raises(ftplib.error_perm) as e:
            attempt()
        assert str(e.value).startswith("550"), str(e.value)
    assert listdir(wharfd.pub) == before
    assert (wharfd.pub / "readme.txt").read_bytes() == PUB_FILES["readme.txt"]
    # still usable afterwards
    assert retr_bytes(ftp, "readme.txt") == PUB_FILES["readme.txt"]
    ftp.quit()


def test_no_anonymous_flag(wharfd_factory):
    srv = wharfd_factory(["--no-anonymous"])
    ftp = srv.ftp(user=None)
    with pytest.raises(ftplib.error_perm) as e:
        ftp.login()
    assert str(e.value).startswith("530")
    ftp.close()
    ftp = srv.ftp()
    assert ftp.pwd() == "/"
    ftp.quit()


# -- REST, ABOR, APPE, STOU ----------------------------------------------------


def test_rest_resume_retrbinary(wharfd):
    full = (wharfd.home / "data.bin").read_bytes()
    ftp = wharfd.ftp()
    for offset in (0, 1, 1000, 512 * 1024, len(full) - 1):
        got = retr_bytes(ftp, "data.bin", rest=offset)
        assert sha256(got) == sha256(full[offset:]), f"REST {offset}"
    got = retr_bytes(ftp, "data.bin", rest=len(full))
    assert got == b""
    ftp.quit()


@pytest.mark.time_limit(90)
def test_abort_during_large_retr(wharfd):
    write_random(wharfd.home / "big.bin", 64 * 1024 * 1024)
    ftp = wharfd.ftp()
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big.bin")
    got = 0
    while got < 256 * 1024:
        chunk = conn.recv(65536)
        assert chunk, "data connection closed early"
        got += len(chunk)
    # ftplib sends "ABOR\r\n" with MSG_OOB: its last byte, '\n', is TCP urgent
    # data, which leaves the normal stream unless the server's control socket
    # has SO_OOBINLINE (as vsftpd sets it)
    ftp.sock.settimeout(10)
    try:
        resp = ftp.abort()
    except TimeoutError:
        conn.close()
        ftp.close()
        pytest.fail("no reply to ftplib's ABOR within 10 s; ftplib sends it with "
                    "MSG_OOB, so the server sees 'ABOR\\r' and the urgent '\\n' only "
                    "with SO_OOBINLINE on the control socket", pytrace=False)
    ftp.sock.settimeout(30)
    conn.close()
    codes = [resp[:3]]
    if resp.startswith(("426", "451")):
        # RFC 959: 426 closes the aborted RETR, then 226 answers ABOR
        codes.append(ftp.getresp()[:3])
    assert codes[-1] in ("225", "226"), f"replies to ABOR: {codes}"
    # the session keeps working
    assert ftp.voidcmd("NOOP").startswith("200")
    assert retr_bytes(ftp, "hello.txt") == HOME_FILES["hello.txt"]
    assert ftp.pwd() == "/"
    ftp.quit()


def test_appe(wharfd):
    ftp = wharfd.ftp()
    ftp.storbinary("STOR log.bin", io.BytesIO(b"part one|"))
    # (on S3 each APPE builds a new object from the stored one and the new bytes)
    ftp.storbinary("APPE log.bin", io.BytesIO(b"part two|"))
    ftp.storbinary("APPE fresh.bin", io.BytesIO(b"created by APPE"))
    assert (wharfd.home / "log.bin").read_bytes() == b"part one|part two|"
    assert (wharfd.home / "fresh.bin").read_bytes() == b"created by APPE"
    big = os.urandom(3 * 1024 * 1024)
    ftp.storbinary("APPE log.bin", io.BytesIO(big))
    assert file_sha256(wharfd.home / "log.bin") == sha256(b"part one|part two|" + big)
    ftp.quit()


def test_stou(wharfd):
    ftp = wharfd.ftp()
    ftp.voidcmd("TYPE I")
    before = set(listdir(wharfd.home))
    payloads = [os.urandom(70000), os.urandom(12345)]
    texts = []
    for payload in payloads:
        host, port = ftp.makepasv()
        conn = socket.create_connection((host, port), timeout=30)
        try:
            pre = ftp.sendcmd("STOU")
            assert pre[:3] in ("125", "150"), pre
            conn.sendall(payload)
        finally:
            conn.close()
        final = ftp.voidresp()
        assert final.startswith("226"), final
        texts.append(pre + "\n" + final)
    new = set(listdir(wharfd.home)) - before
    assert len(new) == 2, f"STOU should create two files, new entries: {new}"
    by_hash = {file_sha256(wharfd.home / n): n for n in new}
    for payload, text in zip(payloads, texts):
        name = by_hash.get(sha256(payload))
        assert name is not None, "an STOU upload is not on disk intact"
        # RFC 1123 4.1.2.9: the reply names the file it created
        assert name in text, f"STOU replies do not name {name!r}: {text!r}"
    ftp.quit()


# -- names that are not UTF-8 ----------------------------------------------------


def test_non_utf8_file_name(wharfd):
    content = os.urandom(4096)
    raw_name = b"caf\xe9.txt"
    if wharfd.storage == "s3":
        # object keys are UTF-8: such a name is refused, not mangled
        ftp = wharfd.ftp(encoding="latin-1")
        with pytest.raises(ftplib.error_perm) as e:
            ftp.storbinary("STOR " + raw_name.decode("latin-1"), io.BytesIO(content))
        assert str(e.value).startswith("553"), str(e.value)
        ftp.quit()
        return
    with open(os.path.join(os.fsencode(wharfd.home), raw_name), "wb") as f:
        f.write(content)
    ftp = wharfd.ftp(encoding="latin-1")
    name = raw_name.decode("latin-1")  # 'café.txt' in latin-1 terms
    mlsd = [n for n, facts in ftp.mlsd() if facts.get("type") == "file"]
    assert name in mlsd, f"MLSD names (latin-1): {mlsd!r}"
    assert name in ftp.nlst(), ftp.nlst()
    lines: list[str] = []
    ftp.dir(lines.append)
    assert any(l.endswith(" " + name) for l in lines), lines
    got = io.BytesIO()
    ftp.retrbinary("RETR " + name, got.write)
    assert sha256(got.getvalue()) == sha256(content)
    ftp.quit()


def test_utf8_file_names_roundtrip(wharfd):
    ftp = wharfd.ftp()
    name = "Grüße – 日本語 file.txt"
    payload = os.urandom(1000)
    ftp.storbinary(f"STOR {name}", io.BytesIO(payload))
    assert (wharfd.home / name).read_bytes() == payload
    assert name in ftp.nlst()
    assert retr_bytes(ftp, name) == payload
    ftp.quit()


def test_part_files_hidden_from_listings(wharfd):
    hidden = hidden_name(wharfd.home)
    (wharfd.home / hidden).write_bytes(b"partial")
    ftp = wharfd.ftp()
    assert not any(hidden in n for n in ftp.nlst())
    assert not any(hidden in n for n, _ in ftp.mlsd())
    lines: list[str] = []
    ftp.dir(lines.append)
    assert not any(hidden in l for l in lines), lines
    ftp.quit()


# -- informational commands --------------------------------------------------------


def test_help_stat_feat_syst(wharfd):
    ftp = wharfd.ftp()
    help_ = ftp.sendcmd("HELP")
    assert help_.startswith("214"), help_
    for verb in ("RETR", "STOR", "LIST"):
        assert verb in help_.upper(), help_
    stat = ftp.sendcmd("STAT")
    assert stat[:3] in ("211", "212", "213"), stat
    stat_file = ftp.sendcmd("STAT hello.txt")
    assert stat_file[:3] in ("211", "212", "213"), stat_file
    assert "hello.txt" in stat_file, stat_file
    feat = ftp.sendcmd("FEAT")
    assert feat.startswith("211"), feat
    feats = {l.strip().upper() for l in feat.splitlines()[1:-1]}
    joined = "\n".join(sorted(feats))
    for needed in ("EPSV", "UTF8", "SIZE", "MDTM", "REST STREAM"):
        assert needed in feats, f"FEAT lacks {needed}:\n{feat}"
    assert any(f.startswith("MLST") for f in feats), joined
    syst = ftp.sendcmd("SYST")
    assert syst.startswith("215"), syst
    assert "UNIX" in syst.upper(), syst
    assert ftp.voidcmd("NOOP").startswith("200")
    assert ftp.quit().startswith("221")


def test_feat_before_login(wharfd):
    # RFC 2389: FEAT should be accepted before login (clients probe with it)
    ftp = wharfd.ftp(user=None)
    assert ftp.sendcmd("FEAT").startswith("211")
    ftp.login(USER, PASSWORD)
    assert ftp.pwd() == "/"
    ftp.quit()
