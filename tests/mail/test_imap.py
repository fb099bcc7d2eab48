"""`wharf imap` against dovecot (tests/mail/mailserver.py): plain, STARTTLS
and implicit TLS; list, search, fetch (whole, sections, partial, 20 MB
streamed); append, store, copy, move, expunge; idle; cross-checks with
Python's smtplib and imaplib; and hostile servers (hostile_mail.py)."""
from __future__ import annotations

import hashlib
import imaplib
import os
import smtplib
import ssl
import subprocess
import time

import pytest

from hostile_mail import HostileServer
from mail_helpers import Runner, describe, wharf_path
from pty_run import run_on_pty


@pytest.fixture(scope="module")
def wharf_imap():
    path = wharf_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"wharf binary not found at {path} (set WHARF, or cargo build -p wharf)")
    r = subprocess.run([path, "imap", "--help"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        pytest.fail(f"`{path} imap --help` failed: {r.stderr.decode(errors='replace')[:2000]}")
    return path


@pytest.fixture
def imap_run(wharf_imap, home):
    return Runner(wharf_imap, home)


def url(mail, user, password, mailbox="INBOX", scheme="imap", host="127.0.0.1"):
    port = mail.imaps_port if scheme == "imaps" else mail.imap_port
    return f"{scheme}://{user}:{password}@{host}:{port}/{mailbox}"


def imap_session(mail, user, password):
    i = imaplib.IMAP4_SSL(mail.host, mail.imaps_port, timeout=20,
                          ssl_context=ssl.create_default_context(cafile=mail.cafile))
    i.login(user, password)
    return i


def imaplib_append(mail, user, password, message: bytes, mailbox="INBOX", flags="") -> None:
    i = imap_session(mail, user, password)
    typ, _ = i.append(mailbox, flags or None, None, message)
    assert typ == "OK"
    i.logout()


def imaplib_fetch(mail, user, password, uid: int, mailbox="INBOX") -> tuple[bytes, bytes]:
    """(the message as stored, its FLAGS) through imaplib."""
    i = imap_session(mail, user, password)
    i.select(mailbox, readonly=True)
    typ, data = i.uid("FETCH", str(uid), "(FLAGS BODY.PEEK[])")
    assert typ == "OK", data
    i.logout()
    return data[0][1], data[0][0]


def imaplib_uids(mail, user, password, mailbox="INBOX") -> list[int]:
    i = imap_session(mail, user, password)
    i.select(mailbox, readonly=True)
    typ, data = i.uid("SEARCH", None, "ALL")
    i.logout()
    return [int(x) for x in data[0].split()]


def message(subject: str, body: str = "hello\r\n", sender: str = "Alice <alice@example.com>",
            date: str = "Sun, 22 Nov 2026 05:00:00 +0000") -> bytes:
    return (f"From: {sender}\r\nTo: someone@example.com\r\nSubject: {subject}\r\n"
            f"Date: {date}\r\nMessage-ID: <{time.time_ns()}@test>\r\n\r\n{body}").encode()


def ok(r):
    assert r.returncode == 0, describe(r)
    return r


def test_plain_starttls_and_implicit_tls_fetch_the_same_bytes(mail, mailbox, imap_run):
    user, password = mailbox
    imaplib_append(mail, user, password, message("three ways"))
    stored, _ = imaplib_fetch(mail, user, password, 1)
    plain = ok(imap_run("imap", "fetch", url(mail, user, password), "1"))
    starttls = ok(imap_run("imap", "fetch", url(mail, user, password, host="localhost"), "1",
                           "--tls", "--cacert", mail.cafile, "-v"))
    implicit = ok(imap_run("imap", "fetch", url(mail, user, password, scheme="imaps",
                                                host="localhost"), "1", "--cacert", mail.cafile))
    assert plain.stdout == starttls.stdout == implicit.stdout == stored
    log = starttls.stderr.decode()
    assert "STARTTLS" in log and "AUTHENTICATE PLAIN ****" in log
    assert password not in log


def test_tls_is_verified(mail, mailbox, imap_run):
    user, password = mailbox
    r = imap_run("imap", "list", url(mail, user, password, scheme="imaps", host="localhost"))
    assert r.returncode != 0 and "certificate" in r.stderr.decode().lower(), describe(r)


def test_verbose_masks_login(mail, mailbox, imap_run):
    user, password = mailbox
    r = ok(imap_run("imap", "list", f"imap://{user}@127.0.0.1:{mail.imap_port}/", "-v",
                    env={"WHARF_PASSWORD": password}))
    assert password not in r.stderr.decode() and "****" in r.stderr.decode()


def test_bad_password_is_a_login_failure(mail, mailbox, imap_run):
    user, _ = mailbox
    r = imap_run("imap", "list", url(mail, user, "wrong"), timeout=60)
    assert r.returncode == 5, describe(r)
    assert "login as" in r.stderr.decode() and "failed" in r.stderr.decode()


def test_list_shows_counts_and_utf7_names(mail, mailbox, imap_run):
    user, password = mailbox
    i = imap_session(mail, user, password)
    assert i.create("Entw&APw-rfe")[0] == "OK"
    i.logout()
    imaplib_append(mail, user, password, message("one"), flags="(\\Seen)")
    imaplib_append(mail, user, password, message("two"))
    imaplib_append(mail, user, password, message("draft"), mailbox="Entw&APw-rfe")
    r = ok(imap_run("imap", "list", url(mail, user, password, mailbox="")))
    rows = {parts[2]: (parts[0], parts[1]) for parts in
            (line.split(None, 2) for line in r.stdout.decode().splitlines()[1:])}
    assert rows["INBOX"] == ("2", "1"), r.stdout
    assert rows["Entwürfe"] == ("1", "1"), r.stdout
    r = ok(imap_run("imap", "search", url(mail, user, password, mailbox="Entw%C3%BCrfe")))
    assert "draft" in r.stdout.decode()


def test_search(mail, mailbox, imap_run):
    user, password = mailbox
    imaplib_append(mail, user, password, message("status report", sender="Bob <bob@example.com>",
                                                 date="Mon, 05 Jan 2026 10:00:00 +0000"))
    imaplib_append(mail, user, password, message("lunch?", date="Tue, 10 Feb 2026 10:00:00 +0000"),
                   flags="(\\Seen)")
    imaplib_append(mail, user, password, message("=?UTF-8?B?R3LDvMOfZQ==?=",
                                                 body="Grüße aus Köln\r\n"))
    u = url(mail, user, password)
    r = ok(imap_run("imap", "search", u))
    lines = r.stdout.decode().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["1", "2", "3"]
    first = lines[0].split("\t")
    assert first[1] == "Mon, 05 Jan 2026 10:00:00 +0000"
    assert first[2] == "Bob <bob@example.com>" and first[3] == "status report"
    assert lines[2].split("\t")[3] == "Grüße"

    def uids(*query):
        res = ok(imap_run("imap", "search", u, *query))
        return [line.split("\t")[0] for line in res.stdout.decode().splitlines()]

    assert uids("FROM", "bob") == ["1"]
    assert uids('SUBJECT "status report"') == ["1"]
    assert uids("SUBJECT", "status report") == ["1"]
    # the query as one argument, as people type it (issue 19)
    assert uids("SUBJECT lunch?") == ["2"]
    assert uids("SUBJECT status", "UNSEEN") == ["1"]
    assert uids("unseen") == ["1", "3"]
    assert uids("OR", "FROM", "bob", "SEEN") == ["1", "2"]
    assert uids("NOT", "(FROM bob SEEN)") == ["1", "2", "3"]
    assert uids("BODY", "Köln") == ["3"]
    assert uids("SENTSINCE", "2026-02-01", "SENTBEFORE", "1-Mar-2026") == ["2"]
    assert uids("FROM", "nobody-at-all") == []
    bad = imap_run("imap", "search", u, "FROM", "x", "ALL\r\nA1 LOGOUT")
    assert bad.returncode != 0 and "search key" in bad.stderr.decode(), describe(bad)
    bad = imap_run("imap", "search", u, "SINCE", "yesterday")
    assert bad.returncode != 0 and "not a date" in bad.stderr.decode(), describe(bad)


def test_remote_text_reaches_a_terminal_escaped(mail, mailbox, imap_run, tmp_path):
    """A subject and a body holding escape sequences, shown on a terminal
    by `search` and `fetch`: escaped, never raw (issue 19)."""
    user, password = mailbox
    imaplib_append(mail, user, password,
                   message("evil\x1b]0;pwned\x07\x1b[2J subject", body="body \x1b[2J Grüße\r\n"))
    u = url(mail, user, password)
    env = imap_run.env()
    code, out = run_on_pty([imap_run.path, "imap", "search", u], tmp_path, env=env)
    assert code == 0, out
    assert b"evil\\x1b]0;pwned\\x07\\x1b[2J subject" in out, out
    code, out = run_on_pty([imap_run.path, "imap", "fetch", u, "1"], tmp_path, env=env)
    assert code == 0, out
    assert b"body \\x1b[2J Gr\xc3\xbc\xc3\x9fe" in out, out
    assert b"\x1b" not in out and b"\x07" not in out, out


def test_smtplib_message_reads_back_identically(mail, mailbox, imap_run, tmp_path):
    user, password = mailbox
    raw = ("From: Zoë <zoe@example.com>\r\nTo: " + user + "@example.com\r\n"
           "Subject: =?UTF-8?Q?caf=C3=A9?=\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           ".leading dot\r\nCafé ☕\r\n").encode()
    with smtplib.SMTP(mail.host, mail.smtp_port, timeout=20) as s:
        s.sendmail("zoe@example.com", [f"{user}@example.com"], raw)
    mail.wait_for_messages(user, 1)
    out = tmp_path / "m.eml"
    ok(imap_run("imap", "fetch", url(mail, user, password), "1", "-o", out))
    got = out.read_bytes()
    stored, _ = imaplib_fetch(mail, user, password, 1)
    assert got == stored
    # The servers add trace headers (and postfix Date/Message-Id); every
    # header sent is there and the body is untouched.
    head, _, body = got.partition(b"\r\n\r\n")
    sent_head, _, sent_body = raw.partition(b"\r\n\r\n")
    assert body == sent_body
    assert all(h in head.split(b"\r\n") for h in sent_head.split(b"\r\n"))
    assert not (tmp_path / "m.eml.part").exists()


def test_append_reads_back_through_imaplib(mail, mailbox, imap_run, tmp_path):
    user, password = mailbox
    raw = message("appended by wharf", body="line one\r\n.line two\r\nno final newline")
    f = tmp_path / "in.eml"
    f.write_bytes(raw)
    r = ok(imap_run("imap", "append", url(mail, user, password), f, "--flag", "\\Seen"))
    uid = int(r.stdout.decode().strip())
    stored, flags = imaplib_fetch(mail, user, password, uid)
    assert stored == raw and b"\\Seen" in flags
    r = ok(imap_run("imap", "append", url(mail, user, password), input=raw))
    assert imaplib_fetch(mail, user, password, int(r.stdout.decode()))[0] == raw


def test_sections_and_partial_fetch(mail, mailbox, imap_run):
    user, password = mailbox
    raw = message("parts", body="0123456789abcdefghij\r\n")
    imaplib_append(mail, user, password, raw)
    u = url(mail, user, password)
    assert ok(imap_run("imap", "fetch", u, "1", "--range", "5:10")).stdout == raw[5:15]
    head, _, body = raw.partition(b"\r\n\r\n")
    assert ok(imap_run("imap", "fetch", u, "1", "--section", "TEXT")).stdout == body
    assert ok(imap_run("imap", "fetch", u, "1", "--section", "HEADER")).stdout == head + b"\r\n\r\n"
    assert ok(imap_run("imap", "fetch", u + "/;UID=1", "--range", "0:4")).stdout == raw[:4]
    missing = imap_run("imap", "fetch", u, "99")
    assert missing.returncode == 3 and "no message with UID 99" in missing.stderr.decode(), describe(missing)
    # EXAMINE + BODY.PEEK: fetching did not mark it seen.
    assert b"\\Seen" not in imaplib_fetch(mail, user, password, 1)[1]


def test_store_copy_move_expunge(mail, mailbox, imap_run):
    user, password = mailbox
    for n in range(3):
        imaplib_append(mail, user, password, message(f"msg {n}"))
    u = url(mail, user, password)
    r = ok(imap_run("imap", "store", u, "1:2", "--add", "\\Flagged", "--add", "$Work"))
    rows = dict(line.split("\t") for line in r.stdout.decode().splitlines())
    assert set(rows) == {"1", "2"} and all("\\Flagged" in v and "$Work" in v for v in rows.values())
    r = ok(imap_run("imap", "store", u, "2", "--remove", "$Work"))
    assert "$Work" not in r.stdout.decode()
    ok(imap_run("imap", "copy", u, "1", "Trash"))
    assert len(imaplib_uids(mail, user, password, "Trash")) == 1
    ok(imap_run("imap", "move", u, "2", "Trash"))
    assert imaplib_uids(mail, user, password) == [1, 3]
    assert len(imaplib_uids(mail, user, password, "Trash")) == 2
    ok(imap_run("imap", "store", u, "3", "--add", "\\Deleted"))
    ok(imap_run("imap", "expunge", u))
    assert imaplib_uids(mail, user, password) == [1]
    bad = imap_run("imap", "store", u, "1 ALL", "--add", "\\Seen")
    assert bad.returncode != 0 and "not a message set" in bad.stderr.decode(), describe(bad)
    bad = imap_run("imap", "move", u, "1", "No/Such/Box")
    assert bad.returncode == 3 and "server refused" in bad.stderr.decode(), describe(bad)


@pytest.mark.time_limit(300)
def test_20_mb_message_is_streamed(mail, mailbox, wharf_imap, home, tmp_path):
    user, password = mailbox
    line = b"0123456789" * 7 + b"\r\n"
    raw = message("big", body="") + line * (20 * 1024 * 1024 // len(line))
    imaplib_append(mail, user, password, raw)
    out = tmp_path / "big.eml"
    p = subprocess.Popen([wharf_imap, "imap", "fetch", url(mail, user, password), "1", "-o", str(out)],
                         stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=Runner(wharf_imap, home).env())
    # The peak RSS of wharf itself (VmHWM starts afresh at exec), polled.
    peak_kib = 0
    deadline = time.monotonic() + 120
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for field in f:
                    if field.startswith("VmHWM:"):
                        peak_kib = max(peak_kib, int(field.split()[1]))
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            p.kill()
            p.wait(timeout=10)
            pytest.fail("wharf imap fetch of 20 MB took more than 120 s")
        time.sleep(0.005)
    assert p.returncode == 0, p.stderr.read().decode()
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(raw).digest()
    # Streamed: the peak RSS (KiB) stays well under the 20 MB message.
    print(f"wharf imap fetch of 20 MB: peak RSS {peak_kib} KiB")
    assert 0 < peak_kib < 16 * 1024, peak_kib


@pytest.mark.time_limit(120)
def test_idle_sees_a_message_that_arrives(mail, mailbox, wharf_imap, home):
    user, password = mailbox
    p = subprocess.Popen([wharf_imap, "imap", "idle", url(mail, user, password),
                          "--count", "1", "--max-time", "60"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=Runner(wharf_imap, home).env(), start_new_session=True)
    try:
        assert b"waiting for new mail" in p.stderr.readline()
        time.sleep(0.5)  # the IDLE command is on its way
        with smtplib.SMTP(mail.host, mail.smtp_port, timeout=20) as s:
            s.sendmail("alice@example.com", [f"{user}@example.com"],
                       message("arrived while idling"))
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    assert p.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 1 and lines[0].split("\t")[3] == "arrived while idling", out


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("name,expect", [
    ("endless-line", "line longer than"),
    ("huge-literal", "literal of 999999999999 bytes"),
    ("no-crlf", "timed out"),
])
def test_hostile_server(imap_run, name, expect):
    with HostileServer("imap", name) as srv:
        started = time.monotonic()
        r = imap_run("imap", "list", f"imap://u:p@127.0.0.1:{srv.port}/", "--timeout", "3",
                     timeout=30)
        took = time.monotonic() - started
    assert r.returncode != 0 and expect in r.stderr.decode(), describe(r)
    assert took < 20


def test_idle_stops_at_max_time_and_missing_mailbox_is_clear(mail, mailbox, imap_run):
    user, password = mailbox
    imaplib_append(mail, user, password, message("old news"))
    started = time.monotonic()
    r = ok(imap_run("imap", "idle", url(mail, user, password), "--max-time", "2", timeout=30))
    assert r.stdout == b"" and 1.5 < time.monotonic() - started < 15
    r = imap_run("imap", "search", url(mail, user, password, mailbox="Nope"))
    assert r.returncode == 3 and "cannot open mailbox Nope" in r.stderr.decode(), describe(r)
