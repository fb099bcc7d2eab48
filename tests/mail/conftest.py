"""Fixtures for tests/mail: one private dovecot + postfix for the whole session
(mailserver.py), the wharf binary, a runner for it, and a time limit per test.

Every server listens on 127.0.0.1 only and is stopped by its PID. A missing
dovecot, postfix or wharf is a test failure (under CI=true and everywhere
else), never a skip: run `bash tests/mail/install.sh`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from mailserver import MailServer, MailServerError  # noqa: E402
from time_limit import time_limit_fixture  # noqa: E402
from wharf_runner import home, run, wharf_fixture  # noqa: E402,F401 (fixtures)

DEFAULT_TIME_LIMIT = 180
_time_limit = time_limit_fixture(DEFAULT_TIME_LIMIT)
wharf = wharf_fixture("mail")


@pytest.fixture(scope="session")
def mail():
    """dovecot (IMAP/POP3, plain, STARTTLS, implicit TLS) + postfix (SMTP,
    SMTPS, submission) delivering into the same Maildirs."""
    srv = MailServer()
    try:
        srv.start()
    except MailServerError as e:
        srv.stop()
        pytest.fail(f"cannot start the mail servers: {e}")
    yield srv
    srv.stop()


@pytest.fixture
def mailbox(mail):
    """(login, password) of a mailbox that only this test uses."""
    return mail.new_user()
