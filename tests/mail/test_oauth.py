"""OAuth 2.0 logins (`--oauth2-token-cmd`) against dovecot's oauth2 passdb,
whose tokens the fixture's own RFC 7662 introspection endpoint checks
(tests/mail/mailserver.py): IMAP and POP3 at dovecot, SMTP submission at
postfix through dovecot's SASL, by OAUTHBEARER (chosen when offered) and
XOAUTH2 (asked for with ;AUTH=). A token the endpoint does not know is a
login failure that shows the server's error, and the token never appears
in the verbose transcript; a token command that fails, prints nothing, or
a missing user say what to do."""
from __future__ import annotations

import pytest

from mail_helpers import describe

EXIT_USAGE, EXIT_LOCAL, EXIT_LOGIN = 2, 1, 5


def token_cmd(token: str) -> list[str]:
    return ["--oauth2-token-cmd", f"printf '%s\\n' {token}"]


@pytest.mark.parametrize("auth", ["", ";AUTH=XOAUTH2", ";AUTH=OAUTHBEARER"])
def test_imap_pop3_and_smtp_log_in_with_a_token(run, mail, mailbox, auth):
    user, _ = mailbox
    token = mail.oauth_token(user)
    asked = len(mail.introspection.asked)
    sent = run("mail", "send", f"smtp://{user}{auth}@127.0.0.1:{mail.submission_port}/",
               "--tls", "--cacert", mail.cafile, "--from", f"{user}@example.com",
               "--to", f"{user}@example.com", "--subject", "by token", "--body", "hi",
               "-v", *token_cmd(token))
    assert sent.returncode == 0, describe(sent)
    mech = auth.split("=")[1] if auth else "OAUTHBEARER"
    assert f"AUTH {mech} ****" in sent.stderr.decode(), describe(sent)
    mail.wait_for_messages(user, 1)

    listed = run("pop3", "list", f"pop3://{user}{auth}@127.0.0.1:{mail.pop3_port}/", "-v",
                 *token_cmd(token))
    assert listed.returncode == 0, describe(listed)
    assert "by token" in listed.stdout.decode(), describe(listed)

    searched = run("imap", "search", f"imap://{user}{auth}@127.0.0.1:{mail.imap_port}/INBOX",
                   "SUBJECT", "token", "-v", *token_cmd(token))
    assert searched.returncode == 0, describe(searched)
    assert "by token" in searched.stdout.decode(), describe(searched)
    assert f"AUTHENTICATE {mech} ****" in searched.stderr.decode(), describe(searched)

    for r in (sent, listed, searched):
        assert token not in (r.stdout + r.stderr).decode(), "the token reached the output"
    assert mail.introspection.asked[asked:].count(token) >= 3


@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_an_unknown_token_is_a_login_failure_with_the_servers_reason(run, mail, mailbox, proto):
    user, _ = mailbox
    if proto == "smtp":
        r = run("mail", "send", f"smtp://{user}@127.0.0.1:{mail.submission_port}/", "--tls",
                "--cacert", mail.cafile, "--from", f"{user}@example.com",
                "--to", f"{user}@example.com", "--body", "x", *token_cmd("tok-forged"))
    elif proto == "pop3":
        r = run("pop3", "list", f"pop3://{user}@127.0.0.1:{mail.pop3_port}/",
                *token_cmd("tok-forged"))
    else:
        r = run("imap", "list", f"imap://{user}@127.0.0.1:{mail.imap_port}/",
                *token_cmd("tok-forged"))
    err = r.stderr.decode()
    assert r.returncode == EXIT_LOGIN, describe(r)
    assert "invalid_token" in err or "status" in err, describe(r)
    assert "tok-forged" not in err


def test_token_command_misuse_says_what_to_do(run, mail, mailbox):
    user, _ = mailbox
    pop = f"pop3://{user}@127.0.0.1:{mail.pop3_port}/"
    r = run("pop3", "list", pop, "--oauth2-token-cmd", "echo no >&2; exit 3")
    assert r.returncode == EXIT_LOCAL and "failed" in r.stderr.decode() \
        and "no" in r.stderr.decode(), describe(r)
    r = run("pop3", "list", pop, "--oauth2-token-cmd", "true")
    assert r.returncode == EXIT_LOCAL and "printed no token" in r.stderr.decode(), describe(r)
    r = run("pop3", "list", f"pop3://127.0.0.1:{mail.pop3_port}/", *token_cmd("t"))
    assert "needs a user" in r.stderr.decode(), describe(r)
    r = run("pop3", "list", f"pop3://{user};AUTH=PLAIN@127.0.0.1:{mail.pop3_port}/",
            *token_cmd("t"))
    assert r.returncode == EXIT_USAGE and "XOAUTH2 or OAUTHBEARER" in r.stderr.decode(), \
        describe(r)
    r = run("news", "groups", "nntp://127.0.0.1:9/", *token_cmd("t"))
    assert r.returncode == EXIT_USAGE and "for mail servers" in r.stderr.decode(), describe(r)
