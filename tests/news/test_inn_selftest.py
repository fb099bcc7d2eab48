"""Self-checks of the news fixtures with Python's nntplib only (no wharf needed):
the private INN (inn.py), the seed's program (seed_latest.py) and the hostile
server (hostile_nntp.py)."""
from __future__ import annotations

import io
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from email.header import decode_header, make_header

import nntplib
import pytest

from news_helpers import AUTH_USERS, HERE, nntp
from hostile_nntp import HostileNNTP
from inn import ARTICLES, DECODED, InnServer
from local_daemons import pid_alive


def dec(v: str) -> str:
    return str(make_header(decode_header(v)))


def test_server_basics(inn):
    assert inn.host == "127.0.0.1"
    assert inn.port and inn.tls_port and inn.port != inn.tls_port
    assert os.path.isfile(inn.cafile)
    s = nntp(inn)
    try:
        assert s.getwelcome().startswith("200")  # posting allowed
        caps = s.getcapabilities()
        for k in ("READER", "OVER", "HDR", "STARTTLS", "AUTHINFO", "POST"):
            assert k in caps, caps
    finally:
        s.quit()


def _listeners(port):
    """(family, local address hex) of every listening socket on `port`, from /proc/net."""
    out = []
    for fam in ("tcp", "tcp6"):
        with open(f"/proc/net/{fam}") as f:
            next(f)
            for line in f:
                w = line.split()
                addr, p = w[1].rsplit(":", 1)
                if w[3] == "0A" and int(p, 16) == port:
                    out.append((fam, addr))
    return out


def test_listens_on_loopback_only(inn):
    for port in (inn.port, inn.tls_port):
        got = _listeners(port)
        assert got and all(l == ("tcp", "0100007F") for l in got), (port, got)


def test_groups(inn):
    s = nntp(inn)
    try:
        resp, groups = s.list("wharf.*")
        got = {g.group: (int(g.first), int(g.last), g.flag) for g in groups}
        assert got == {"wharf.test": (1, 5, "y"), "wharf.other": (1, 1, "y"),
                       "wharf.empty": (1, 0, "y")}
        resp, allg = s.list()
        assert {"control", "junk", "wharf.test"} <= {g.group for g in allg}
        resp, count, first, last, name = s.group("wharf.test")
        assert (count, first, last, name) == (5, 1, 5, "wharf.test")
        resp, count, first, last, name = s.group("wharf.other")
        assert (count, first, last) == (1, 1, 1)
        resp, count, first, last, name = s.group("wharf.empty")
        assert count == 0
        assert s.description("wharf.empty") == "A group with no articles."
    finally:
        s.quit()


def test_over_xover_xhdr(inn):
    s = nntp(inn)
    try:
        s.group("wharf.test")
        resp, ov = s.over((1, 5))
        assert [n for n, _ in ov] == [1, 2, 3, 4, 5]
        byid = {o["message-id"]: o for _, o in ov}
        assert byid["<w1@wharf.test>"]["subject"] == "Welcome to wharf.test"
        assert byid["<w2@wharf.test>"]["references"] == "<w1@wharf.test>"
        for mid, (frm, subj) in DECODED.items():
            assert byid[mid]["subject"].startswith(("=?", "Re: =?"))  # encoded on the wire
            assert dec(byid[mid]["from"]) == frm
            assert dec(byid[mid]["subject"]) == subj
        resp, xov = s.xover(1, 5)
        assert len(xov) == 5
        resp, frm = s.xhdr("from", "5-5")
        assert frm == [("5", "=?ISO-8859-1?Q?Ren=E9_Dupont?= <rene@example.org>")]
        resp, dat = s.xhdr("date", "1-5")
        assert [d for _, d in dat][0] == "Mon, 01 Jan 2024 10:00:00 +0000"
    finally:
        s.quit()


def test_articles_as_written(inn):
    """Every preloaded article comes back with its body exactly as written
    (dot-unstuffed, UTF-8, blank runs, trailing white space kept)."""
    s = nntp(inn)
    try:
        for groups, mid, date, frm, subj, refs, body in ARTICLES:
            resp, info = s.article(mid)
            raw = b"\n".join(info.lines) + b"\n"
            head, _, got_body = raw.partition(b"\n\n")
            assert got_body.decode("utf-8") == body, mid
            assert f"Subject: {subj}".encode() in head.split(b"\n")
            assert f"From: {frm}".encode() in head.split(b"\n")
            assert f"Message-ID: {mid}".encode() in head.split(b"\n")
        s.group("wharf.test")
        resp, info = s.body(3)
        for l in (b".single leading dot", b"..two leading dots", b".", b"..", b"..."):
            assert l in info.lines
        resp, info = s.body("<w5@wharf.test>")
        lines = info.lines
        assert len([l for l in lines if l.strip()]) > 40
        for l in (b">>> import nntplib", b"| a piped quote is left out", b"alice writes:",
                  b"Somebody Else WROTE:", b"carol writes:   "):
            assert l in lines
        assert any(l.startswith(b"In article <w4@wharf.test>,") and l.endswith(b"wrote:") for l in lines)
        assert b"\n\n\n" in b"\n".join(lines)  # a run of blank lines
        resp, num, mid = s.stat(1)
        assert mid == "<w1@wharf.test>"
        resp, num, mid = s.next()
        assert (num, mid) == (2, "<w2@wharf.test>")
        resp, num, mid = s.last()
        assert num == 1
        with pytest.raises(nntplib.NNTPTemporaryError, match="^430"):
            s.article("<missing@wharf.test>")
        with pytest.raises(nntplib.NNTPTemporaryError, match="^423"):
            s.article(99)
    finally:
        s.quit()


def test_post_and_read_back(tmp_path):
    with InnServer(tmp_path) as srv:
        s = nntp(srv)
        try:
            mid = f"<{uuid.uuid4().hex}@wharf.test>"
            art = (f"From: Poster <poster@example.org>\r\nNewsgroups: wharf.test\r\n"
                   f"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= posted\r\nMessage-ID: {mid}\r\n"
                   f"Content-Type: text/plain; charset=UTF-8\r\n\r\n"
                   f"first\r\n.\r\n.. two\r\nGrüße\r\n").encode()
            assert s.post(io.BytesIO(art)).startswith("240")
            resp, count, first, last, name = s.group("wharf.test")
            assert last == 6
            resp, info = s.article(last)
            assert info.message_id == mid
            assert info.lines[info.lines.index(b""):][1:] == [b"first", b".", b".. two",
                                                                "Grüße".encode()]
        finally:
            s.quit()
        pids = list(srv.pids)
        assert len(pids) == 2 and all(pid_alive(p) for p in pids)
    # stopped by PID, state removed, logs kept
    assert not any(pid_alive(p) for p in pids)
    assert (tmp_path / "inn-log" / "innd.stdout").exists()
    assert not (tmp_path / "inn-dir").exists()


def test_auth_required(inn_auth):
    s = nntp(inn_auth)
    try:
        with pytest.raises(nntplib.NNTPTemporaryError, match="^480"):
            s.group("wharf.test")
        with pytest.raises(nntplib.NNTPTemporaryError, match="^480"):
            s.list()
    finally:
        s.quit()
    with pytest.raises(nntplib.NNTPError, match="^481"):
        nntp(inn_auth, user="reader", password="wrong")
    for user, pw in AUTH_USERS.items():
        s = nntp(inn_auth, user=user, password=pw)
        try:
            # nntplib never sets .authenticated; AUTHINFO leaves CAPABILITIES instead
            assert "AUTHINFO" not in s.getcapabilities()
            resp, count, first, last, name = s.group("wharf.test")
            assert count >= 5
        finally:
            s.quit()
    s = nntp(inn_auth, user="reader", password="reader-pw")
    try:
        mid = f"<{uuid.uuid4().hex}@wharf.test>"
        s.post(io.BytesIO(f"From: r@example.org\r\nNewsgroups: wharf.other\r\nSubject: auth post\r\n"
                          f"Message-ID: {mid}\r\n\r\nbody\r\n".encode()))
        resp, info = s.body(mid)
        assert info.lines == [b"body"]
    finally:
        s.quit()


def test_tls(inn):
    ctx = ssl.create_default_context(cafile=inn.cafile)  # checks the host name (IP SAN)
    s = nntplib.NNTP_SSL(inn.host, inn.tls_port, ssl_context=ctx, timeout=30)
    try:
        assert s.sock.getpeercert()["subjectAltName"]
        cert = s.sock.getpeercert()
        assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]
        resp, count, first, last, name = s.group("wharf.test")
        assert count == 5
    finally:
        s.quit()
    s = nntp(inn)
    try:
        s.starttls(ctx)
        assert s.tls_on
        resp, count, first, last, name = s.group("wharf.other")
        assert count == 1
    finally:
        s.quit()
    # the leaf is CA:FALSE (rustls/webpki reject CA:TRUE end-entity certificates)
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                           os.path.join(os.path.dirname(inn.cafile), "cert.pem")],
                          capture_output=True, text=True, timeout=30).stdout
    assert "CA:FALSE" in text and "IP Address:127.0.0.1" in text and "DNS:localhost" in text


def _seed(srv, group, *extra):
    env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, str(HERE / "seed_latest.py"), srv.host, str(srv.port),
                           group, *map(str, extra)], capture_output=True, timeout=60, env=env)


def test_seed_program(inn):
    r = _seed(inn, "wharf.test")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode("utf-8").split("\n")
    assert out[:9] == [
        "*** Connected to host 127.0.0.1",
        "*** Found newsgroup wharf.test",
        "*** Found last article (#5)",
        "    From:=?ISO-8859-1?Q?Ren=E9_Dupont?= <rene@example.org>",
        "    Subject:Re: =?UTF-8?B?R3LDvMOfZQ==?= aus =?UTF-8?Q?M=C3=BC?= =?UTF-8?Q?nchen?=",
        "    Date:Wed, 03 Jan 2024 08:15:00 +0100",
        "    ",
        "*** First (<=20) meaningful lines:",
        "",
    ]
    shown = out[9:-1]
    assert out[-1] == ""
    assert len([l for l in shown if l]) == 20
    assert shown[0] == ">>> import nntplib"
    assert shown[-1] == "Line 15"
    assert "Line 10 ends with a no-break space" in shown  # rstrip() drops U+00A0
    assert "." in shown and ".." in shown
    assert not any(l.startswith((">>", "> ", "|")) and not l.startswith(">>>") for l in shown)
    assert "" in shown and "\n\n\n" not in "\n".join(shown)  # blank runs collapse
    r5 = _seed(inn, "wharf.test", 5)
    out5 = r5.stdout.decode("utf-8").split("\n")
    assert out5[7] == "*** First (<=5) meaningful lines:"
    assert len([l for l in out5[9:] if l]) == 5
    r1 = _seed(inn, "wharf.other")
    assert r1.stdout.decode().split("\n")[9:] == ["wharf.other has exactly one article.", "Bye.", ""]


def _connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    return s, f


@pytest.mark.time_limit(60)
def test_hostile_fixture():
    with HostileNNTP("normal") as h:
        s = nntplib.NNTP(h.host, h.port, timeout=10)
        resp, count, first, last, name = s.group("hostile.test")
        assert last == 3
        resp, info = s.body(1)
        assert info.lines[0] == b"first body line"
        resp, ov = s.over((1, 3))
        assert len(ov) == 3
        s.quit()
    with HostileNNTP("no-terminator") as h:
        s = nntplib.NNTP(h.host, h.port, timeout=10)
        s.group("hostile.test")
        with pytest.raises((EOFError, OSError, nntplib.NNTPDataError)):
            s.body(1)
    with HostileNNTP("endless-body") as h:
        s, f = _connect(h.port)
        assert f.readline().startswith(b"200 ")
        s.sendall(b"BODY 1\r\n")
        assert f.readline().startswith(b"222 ")
        got = 0
        while got < 4 << 20:
            got += len(f.read(1 << 16))
        s.close()
        # The fixture counts a chunk after sendall returns, which can be
        # after the client has read it: give the count a moment to catch up.
        deadline = time.monotonic() + 5
        while h.sent[0] < 4 << 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert h.sent[0] >= 4 << 20
    with HostileNNTP("long-greeting") as h:
        s, f = _connect(h.port)
        data = f.read(1 << 20)
        assert data.startswith(b"200 xxx") and b"\n" not in data
        s.close()
    with HostileNNTP("endless-over") as h:
        s, f = _connect(h.port)
        f.readline()
        s.sendall(b"GROUP hostile.test\r\nOVER 1-3\r\n")
        assert f.readline().startswith(b"211 ")
        assert f.readline().startswith(b"224 ")
        assert len(f.read(1 << 20)) == 1 << 20
        s.close()
    t0 = time.monotonic()
    with HostileNNTP("endless-list") as h:
        s, f = _connect(h.port)
        f.readline()
        s.sendall(b"LIST\r\n")
        assert f.readline().startswith(b"215 ")
        f.read(1 << 20)
        s.close()
    assert time.monotonic() - t0 < 10  # stop() ends the endless sender promptly
