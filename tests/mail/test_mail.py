"""`wharf mail send` and `wharf pop3` against real postfix + dovecot, with
Python's smtplib and poplib as the second opinion.

Each test takes a mailbox of its own (the `mailbox` fixture), so tests never
see each other's mail."""
from __future__ import annotations

import email
import email.policy
import hashlib
import os
import poplib
import smtplib
import ssl
import subprocess
import time

import pytest

from hostile_mail import CASES, HostileServer
from mail_helpers import describe

EXIT_USAGE, EXIT_REFUSED, EXIT_LOGIN, EXIT_PARTIAL = 2, 3, 5, 6


# ---- helpers -------------------------------------------------------------------

def smtp_url(mail, kind="plain", userinfo=""):
    port = {"plain": mail.smtp_port, "starttls": mail.smtp_port,
            "implicit": mail.smtps_port, "submission": mail.submission_port}[kind]
    scheme = "smtps" if kind == "implicit" else "smtp"
    return f"{scheme}://{userinfo}127.0.0.1:{port}/"


def pop3_url(mail, user, password, kind="plain", auth=""):
    port = mail.pop3s_port if kind == "implicit" else mail.pop3_port
    scheme = "pop3s" if kind == "implicit" else "pop3"
    return f"{scheme}://{user}{auth}:{password}@127.0.0.1:{port}/"


def tls_flags(mail, kind):
    flags = ["--cacert", mail.cafile]
    if kind in ("starttls", "submission"):
        flags.append("--tls")
    return flags


def poplib_messages(mail, user, password):
    """Every message in the mailbox as poplib sees it (CRLF-joined bytes)."""
    p = poplib.POP3_SSL(mail.host, mail.pop3s_port, timeout=30,
                        context=ssl.create_default_context(cafile=mail.cafile))
    try:
        p.user(user)
        p.pass_(password)
        count = p.stat()[0]
        return [b"\r\n".join(p.retr(i)[1]) + b"\r\n" for i in range(1, count + 1)]
    finally:
        p.quit()


def body_of(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


def send(run, mail, *args, kind="plain", userinfo="", timeout=60, input=None):
    extra = tls_flags(mail, kind) if kind != "plain" else []
    return run("mail", "send", smtp_url(mail, kind, userinfo), *extra, *args,
               timeout=timeout, input=input)


def fetch(run, mail, user, password, n=1, kind="plain", extra=()):
    flags = tls_flags(mail, kind) if kind != "plain" else []
    return run("pop3", "fetch", pop3_url(mail, user, password, kind), str(n), *flags, *extra)


# ---- the seed's flow and the TLS matrix ------------------------------------------

@pytest.mark.parametrize("kind", ["plain", "starttls", "implicit"])
def test_send_then_fetch(run, mail, mailbox, kind):
    """The seed program: send a message over SMTP, read it back over POP3."""
    user, password = mailbox
    r = send(run, mail, "--from", "Wharf Tester <tester@example.com>", "--to", f"{user}@example.com",
             "--subject", f"seed flow over {kind}", "--body", "Hello from wharf.\nSecond line.\n",
             kind=kind)
    assert r.returncode == 0, describe(r)
    mail.wait_for_messages(user, 1)
    r = fetch(run, mail, user, password, kind=kind)
    assert r.returncode == 0, describe(r)
    msg = email.message_from_bytes(r.stdout, policy=email.policy.default)
    assert msg["Subject"] == f"seed flow over {kind}"
    assert msg["From"].addresses[0].addr_spec == "tester@example.com"
    assert msg["From"].addresses[0].display_name == "Wharf Tester"
    assert msg.get_content().replace("\r\n", "\n") == "Hello from wharf.\nSecond line.\n"
    # -o writes the same bytes and shows the summary on stderr
    r2 = fetch(run, mail, user, password, kind=kind, extra=["-o", str(run.home / "m.eml")])
    assert r2.returncode == 0, describe(r2)
    mail_file = (run.home / "m.eml").read_bytes()
    assert mail_file == r.stdout
    out = r2.stderr.decode()
    assert f"Subject: seed flow over {kind}" in out and "From: Wharf Tester <tester@example.com>" in out


def test_pop3_list_shows_decoded_headers(run, mail, mailbox):
    user, password = mailbox
    for subject in ("first", "Grüße aus Köln"):
        r = send(run, mail, "--from", "Zoë <zoe@example.com>", "--to", f"{user}@example.com",
                 "--subject", subject, "--body", "x")
        assert r.returncode == 0, describe(r)
    mail.wait_for_messages(user, 2)
    r = run("pop3", "list", pop3_url(mail, user, password))
    assert r.returncode == 0, describe(r)
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("1\t") and lines[0].endswith("\tZoë <zoe@example.com>\tfirst")
    assert lines[1].endswith("\tGrüße aus Köln")
    r = run("pop3", "list", pop3_url(mail, user, password), "--brief")
    assert [l.split("\t")[0] for l in r.stdout.decode().splitlines()] == ["1", "2"]


# ---- the same bytes through both clients ---------------------------------------

RAW = (b"From: Python <py@example.com>\r\nTo: someone@example.com\r\nSubject: same bytes\r\n"
       b"Message-ID: <same-bytes@example.com>\r\n\r\n"
       b"line one\r\n.leading dot\r\n\r\ntrailing spaces   \r\n\ttab\r\n")


def test_smtplib_message_reads_back_identically_through_wharf(run, mail, mailbox):
    user, password = mailbox
    with smtplib.SMTP(mail.host, mail.smtp_port, timeout=30) as s:
        s.sendmail("py@example.com", [f"{user}@example.com"], RAW)
    mail.wait_for_messages(user, 1)
    ours = fetch(run, mail, user, password)
    assert ours.returncode == 0, describe(ours)
    theirs = poplib_messages(mail, user, password)[0]
    assert ours.stdout == theirs
    assert body_of(ours.stdout) == body_of(RAW)


def test_wharf_message_reads_back_identically_through_poplib(run, mail, mailbox, tmp_path):
    user, password = mailbox
    f = tmp_path / "m.eml"
    f.write_bytes(RAW)
    r = send(run, mail, "--from", "py@example.com", "--to", f"{user}@example.com", "--message", str(f))
    assert r.returncode == 0, describe(r)
    mail.wait_for_messages(user, 1)
    theirs = poplib_messages(mail, user, password)[0]
    assert body_of(theirs) == body_of(RAW)
    assert b"\r\nSubject: same bytes\r\n" in theirs
    assert fetch(run, mail, user, password).stdout == theirs


# ---- refusals --------------------------------------------------------------------

def test_one_recipient_refused_others_delivered(run, mail):
    (u1, p1), (u2, _) = mail.new_user(), mail.new_user()
    r = send(run, mail, "--from", "a@example.com", "--to", f"{u1}@example.com",
             "--to", "no-such-user@example.com", "--cc", f"{u2}@example.com", "--body", "partly")
    assert r.returncode == EXIT_PARTIAL, describe(r)
    err = r.stderr.decode()
    assert "refused: no-such-user@example.com: 550" in err
    assert f"{u1}@example.com" not in err.split("refused:", 1)[1].split("\n")[0]
    mail.wait_for_messages(u1, 1)
    mail.wait_for_messages(u2, 1)
    assert b"partly" in poplib_messages(mail, u1, p1)[0]


def test_all_recipients_refused(run, mail):
    r = send(run, mail, "--from", "a@example.com", "--to", "nobody1@example.com",
             "--to", "nobody2@example.com", "--body", "x")
    assert r.returncode == EXIT_REFUSED, describe(r)
    err = r.stderr.decode()
    assert "every recipient was refused" in err and "nobody1@example.com" in err and "nobody2" in err


# ---- content ------------------------------------------------------------------------

def test_utf8_8bit_message(run, mail, mailbox, tmp_path):
    """A ready-made 8-bit UTF-8 message goes out with BODY=8BITMIME and comes
    back byte for byte; a composed UTF-8 one decodes back to the same text."""
    user, password = mailbox
    raw = ("From: Zoë <zoe@example.com>\r\nTo: x@example.com\r\nSubject: =?utf-8?b?w6lsw6h2ZQ==?=\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n"
           "Ünïcödé bödy — 日本語 ✓\r\n").encode()
    f = tmp_path / "utf8.eml"
    f.write_bytes(raw)
    r = send(run, mail, "--from", "zoe@example.com", "--to", f"{user}@example.com",
             "--message", str(f), "-v")
    assert r.returncode == 0, describe(r)
    assert b"BODY=8BITMIME" in r.stderr
    text = "Привет, мир! ½ — naïve café\n"
    r = send(run, mail, "--from", "Zoë Ünïcode <zoe@example.com>", "--to", f"{user}@example.com",
             "--subject", "Ünïcode sübject ✓", "--body", text)
    assert r.returncode == 0, describe(r)
    mail.wait_for_messages(user, 2)
    got = [fetch(run, mail, user, password, n=i).stdout for i in (1, 2)]
    assert body_of(got[0]) == body_of(raw)
    msg = email.message_from_bytes(got[1], policy=email.policy.default)
    assert msg["Subject"] == "Ünïcode sübject ✓"
    assert msg.get_content().replace("\r\n", "\n") == text


@pytest.mark.time_limit(300)
def test_20_mb_attachment_round_trip(run, mail, mailbox, tmp_path):
    user, password = mailbox
    data = os.urandom(20 << 20)
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    r = send(run, mail, "--from", "a@example.com", "--to", f"{user}@example.com",
             "--subject", "big", "--body", "see attachment", "--attach", str(f), timeout=240)
    assert r.returncode == 0, describe(r)
    mail.wait_for_messages(user, 1, timeout=120)
    out = tmp_path / "big.eml"
    r = fetch(run, mail, user, password, extra=["-o", str(out), "--timeout", "120"])
    assert r.returncode == 0, describe(r)
    msg = email.message_from_bytes(out.read_bytes(), policy=email.policy.default)
    atts = list(msg.iter_attachments())
    assert [a.get_filename() for a in atts] == ["big.bin"]
    assert hashlib.sha256(atts[0].get_content()).hexdigest() == hashlib.sha256(data).hexdigest()


DOT_CASES = {
    "dots": (b".\n..\n.x\n...\nend\n", b".\r\n..\r\n.x\r\n...\r\nend\r\n"),
    "no-final-newline": (b"first\n.last", b"first\r\n.last\r\n"),
    "lone-dot-last": (b"a\n.", b"a\r\n.\r\n"),
    "cr-only": (b"one\r.two\rthree\r", b"one\r\n.two\r\nthree\r\n"),
    "lf-only": (b"one\n.two\nthree\n", b"one\r\n.two\r\nthree\r\n"),
    "crlf-dot-crlf-inside": (b"a\r\n.\r\nb\r\n", b"a\r\n.\r\nb\r\n"),
}


@pytest.mark.parametrize("name", sorted(DOT_CASES))
def test_dot_stuffing(run, mail, mailbox, tmp_path, name):
    user, password = mailbox
    body, expected = DOT_CASES[name]
    f = tmp_path / "m.eml"
    f.write_bytes(b"Subject: dots " + name.encode() + b"\n\n" + body)
    r = send(run, mail, "--from", "a@example.com", "--to", f"{user}@example.com", "--message", str(f))
    assert r.returncode == 0, describe(r)
    mail.wait_for_messages(user, 1)
    assert body_of(poplib_messages(mail, user, password)[0]) == expected
    assert body_of(fetch(run, mail, user, password).stdout) == expected


# ---- deletion --------------------------------------------------------------------

def _fill(mail, user, count):
    """`count` messages m0, m1, … in this order in the mailbox: each is
    delivered before the next is sent (postfix delivers in parallel, so two
    sent at once may arrive either way round)."""
    with smtplib.SMTP(mail.host, mail.smtp_port, timeout=30) as s:
        for i in range(count):
            s.sendmail("a@example.com", [f"{user}@example.com"], f"Subject: m{i}\r\n\r\nbody {i}\r\n")
            mail.wait_for_messages(user, i + 1)


def test_quit_commits_deletion(run, mail, mailbox):
    user, password = mailbox
    _fill(mail, user, 2)
    # The order the server numbers them in, as poplib sees it.
    before = poplib_messages(mail, user, password)
    assert len(before) == 2
    r = run("pop3", "delete", pop3_url(mail, user, password), "1")
    assert r.returncode == 0, describe(r)
    assert poplib_messages(mail, user, password) == before[1:]


def test_dropped_connection_keeps_messages(mail, mailbox):
    user, password = mailbox
    _fill(mail, user, 2)
    tool = os.environ.get("WHARF_POP3_DROP") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/wharf-target"),
        "debug/examples/pop3_drop")
    if not os.access(tool, os.X_OK):
        pytest.fail(f"{tool} not built: cargo build -p mail --example pop3_drop")
    r = subprocess.run([tool, mail.host, str(mail.pop3_port), user, password, "1"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(poplib_messages(mail, user, password)) == 2


# ---- logins, credentials, verbose, misuse -----------------------------------------

def test_submission_login_verbose_masks_password(run, mail, mailbox):
    user, password = mailbox
    r = send(run, mail, "--from", f"{user}@example.com", "--to", f"{user}@example.com", "--body", "x",
             "-v", kind="submission", userinfo=f"{user}:{password}@")
    assert r.returncode == 0, describe(r)
    err = r.stderr.decode()
    assert "AUTH PLAIN ****" in err and "235" in err
    assert password not in err
    import base64
    assert base64.b64encode(f"\0{user}\0{password}".encode()).decode() not in err


@pytest.mark.parametrize("mech", ["LOGIN", "CRAM-MD5"])
def test_smtp_auth_mechanisms(run, mail, mailbox, mech):
    user, password = mailbox
    r = send(run, mail, "--from", f"{user}@example.com", "--to", f"{user}@example.com", "--body", "x",
             "-v", kind="submission", userinfo=f"{user};AUTH={mech}:{password}@")
    assert r.returncode == 0, describe(r)
    assert f"AUTH {mech}" in r.stderr.decode() and password not in r.stderr.decode()


@pytest.mark.parametrize("auth", ["", ";AUTH=+APOP", ";AUTH=PLAIN", ";AUTH=CRAM-MD5"])
def test_pop3_logins(run, mail, mailbox, auth):
    user, password = mailbox
    r = run("pop3", "list", pop3_url(mail, user, password, auth=auth), "-v")
    assert r.returncode == 0, describe(r)
    assert password not in r.stderr.decode()


def test_wrong_password_is_a_login_failure(run, mail, mailbox):
    user, _ = mailbox
    r = run("pop3", "list", pop3_url(mail, user, "wrong"))
    assert r.returncode == EXIT_LOGIN, describe(r)
    assert "login as" in r.stderr.decode() and "refused" in r.stderr.decode()
    r = send(run, mail, "--from", "a@example.com", "--to", f"{user}@example.com", "--body", "x",
             kind="submission", userinfo=f"{user}:wrong@")
    assert r.returncode == EXIT_LOGIN, describe(r)


def test_password_from_netrc_and_environment(run, mail, mailbox):
    user, password = mailbox
    url = f"pop3://{user}@127.0.0.1:{mail.pop3_port}/"
    r = run("pop3", "list", url)
    assert r.returncode != 0 and "WHARF_PASSWORD" in r.stderr.decode(), describe(r)
    assert run("pop3", "list", url, env={"WHARF_PASSWORD": password}).returncode == 0
    netrc = run.home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {user} password {password}\n")
    netrc.chmod(0o600)
    assert run("pop3", "list", f"pop3://127.0.0.1:{mail.pop3_port}/").returncode == 0


def test_misuse_says_what_to_do(run, mail):
    r = run("mail", "send", smtp_url(mail), "--from", "a@example.com", "--body", "x")
    assert r.returncode == EXIT_USAGE and "--to" in r.stderr.decode()
    r = run("mail", "send", f"pop3://127.0.0.1:{mail.pop3_port}/", "--from", "a@b", "--to", "c@d",
            "--body", "x")
    assert r.returncode == EXIT_USAGE and "smtp://" in r.stderr.decode()
    r = run("pop3", "list", f"pop3://127.0.0.1:{mail.pop3_port}/")
    assert r.returncode == EXIT_USAGE and "pop3://USER@" in r.stderr.decode()
    r = run("pop3", "fetch", f"pop3://u:p@127.0.0.1:{mail.pop3_port}/")
    assert r.returncode == EXIT_USAGE and "which message" in r.stderr.decode()
    # --tls without --cacert: the system's roots do not trust the run's CA.
    r = run("mail", "send", f"smtp://127.0.0.1:{mail.smtp_port}/", "--from", "a@b", "--to", "c@d",
            "--body", "x", "--tls")
    assert r.returncode != 0 and "certificate" in r.stderr.decode().lower(), describe(r)


# ---- hostile servers ----------------------------------------------------------------

EXPECTED = {
    "endless-reply": ("reply longer than", "block larger than"),
    "no-crlf": ("timed out",),
    "huge-line": ("line longer than",),
}


@pytest.mark.parametrize("proto,name", sorted(k for k in CASES if k[1] in EXPECTED))
def test_hostile_server_gives_a_clear_bounded_error(run, proto, name):
    with HostileServer(proto, name) as srv:
        start = time.monotonic()
        if proto == "smtp":
            r = run("mail", "send", f"smtp://127.0.0.1:{srv.port}/", "--from", "a@b", "--to", "c@d",
                    "--body", "x", "--timeout", "3", timeout=30)
        else:
            r = run("pop3", "fetch", f"pop3://u:p@127.0.0.1:{srv.port}/", "1", "--timeout", "3",
                    timeout=30)
        elapsed = time.monotonic() - start
    assert r.returncode not in (0, None), describe(r)
    err = r.stderr.decode()
    assert any(e in err for e in EXPECTED[name]), describe(r)
    assert elapsed < 20 and len(r.stdout) < (4 << 20), f"{elapsed:.1f} s, {len(r.stdout)} bytes"


def test_helo_fallback(run):
    with HostileServer("smtp", "helo-only") as srv:
        r = run("mail", "send", f"smtp://127.0.0.1:{srv.port}/", "--from", "a@b", "--to", "c@d",
                "--body", "x", "-v", "--timeout", "5", timeout=30)
    assert r.returncode == 0, describe(r)
    err = r.stderr.decode()
    assert "> EHLO localhost" in err and "> HELO localhost" in err
    assert "SIZE=" not in err and "BODY=8BITMIME" not in err


def test_size_limit_checked_before_sending(run, tmp_path):
    with HostileServer("smtp", "size-1000") as srv:
        r = run("mail", "send", f"smtp://127.0.0.1:{srv.port}/", "--from", "a@b", "--to", "c@d",
                "--body", "x" * 2000, "-v", "--timeout", "5", timeout=30)
        small = run("mail", "send", f"smtp://127.0.0.1:{srv.port}/", "--from", "a@b", "--to", "c@d",
                    "--body", "small", "-v", "--timeout", "5", timeout=30)
    assert r.returncode == EXIT_REFUSED, describe(r)
    err = r.stderr.decode()
    assert "the server takes at most 1000" in err and "MAIL FROM" not in err
    assert small.returncode == 0, describe(small)
    assert "MAIL FROM:<a@b> SIZE=" in small.stderr.decode()
