"""The fixtures themselves, checked with Python's own clients: every port of
the mail system answers as mailserver.py says, mail sent over SMTP lands in
the mailbox POP3 and IMAP read, and each hostile case misbehaves as promised."""
from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl

import pytest

from hostile_mail import CASES, HUGE_LINE, HostileServer


def tls(mail):
    return ssl.create_default_context(cafile=mail.cafile)


def test_smtp_delivers_to_pop3_and_imap(mail, mailbox):
    user, password = mailbox
    with smtplib.SMTP(mail.host, mail.smtp_port, timeout=20) as s:
        s.starttls(context=tls(mail))
        s.login(user, password)
        refused = s.sendmail("tester@example.com", [f"{user}@example.com", "nobody-here@example.com"],
                             b"Subject: fixture\r\n\r\nhello\r\n")
    assert list(refused) == ["nobody-here@example.com"] and refused["nobody-here@example.com"][0] == 550
    mail.wait_for_messages(user, 1)
    p = poplib.POP3(mail.host, mail.pop3_port, timeout=20)
    p.stls(context=tls(mail))
    p.user(user)
    p.pass_(password)
    assert p.stat()[0] == 1
    assert b"hello" in p.retr(1)[1]
    p.quit()
    with imaplib.IMAP4_SSL(mail.host, mail.imaps_port, ssl_context=tls(mail), timeout=20) as i:
        i.login(user, password)
        assert i.select("INBOX") == ("OK", [b"1"])


@pytest.mark.parametrize("port", ["smtps_port", "pop3s_port", "imaps_port"])
def test_implicit_tls_ports_verify_against_the_run_ca(mail, port):
    with socket.create_connection((mail.host, getattr(mail, port)), timeout=10) as raw:
        with tls(mail).wrap_socket(raw, server_hostname="localhost") as s:
            assert s.recv(100)[:1] in (b"2", b"+", b"*")


def test_submission_requires_tls_before_auth(mail, mailbox):
    with smtplib.SMTP(mail.host, mail.submission_port, timeout=20) as s:
        s.ehlo()
        assert not s.has_extn("auth")
        s.starttls(context=tls(mail))
        s.ehlo()
        assert s.has_extn("auth")


def _first_bytes(srv, n):
    got = b""
    with socket.create_connection((srv.host, srv.port), timeout=10) as s:
        if srv.play.__name__.startswith("_smtp_endless"):
            got += s.recv(100)
            s.sendall(b"EHLO me\r\n")
        elif srv.play.__name__.startswith("_pop3_endless"):
            got += s.recv(100)
            s.sendall(b"LIST\r\n")
        s.settimeout(2)
        try:
            while len(got) < n:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
    return got


@pytest.mark.parametrize("proto,name", sorted(CASES))
def test_hostile_cases_misbehave(proto, name):
    with HostileServer(proto, name) as srv:
        got = _first_bytes(srv, 2 * HUGE_LINE if name == "huge-line" else 1 << 20)
    if name == "no-crlf":
        assert got and not got.endswith(b"\n")
    elif name == "huge-line":
        assert len(got) > HUGE_LINE
    else:
        assert len(got) >= 1 << 20
