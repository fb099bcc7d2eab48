"""Fixtures for tests/mail: one private dovecot + postfix for the whole session
(mailserver.py), the wharf binary, a runner for it, and a time limit per test.

Every server listens on 127.0.0.1 only and is stopped by its PID. A missing
dovecot, postfix or wharf is a test failure (under CI=true and everywhere
else), never a skip: run `bash tests/mail/install.sh`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mail_helpers import Runner, wharf_path  # noqa: E402
from mailserver import MailServer, MailServerError  # noqa: E402

DEFAULT_TIME_LIMIT = 180


@pytest.fixture(autouse=True)
def _time_limit(request):
    """Fail (rather than hang) a test that runs past its limit (marker time_limit)."""
    m = request.node.get_closest_marker("time_limit")
    limit = int(m.args[0]) if m else DEFAULT_TIME_LIMIT

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded its {limit} s time limit")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


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


@pytest.fixture(scope="session")
def wharf():
    path = wharf_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"wharf binary not found at {path} (set WHARF, or build it: "
                    f"cargo build -p wharf)")
    r = subprocess.run([path, "mail", "--help"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        pytest.fail(f"`{path} mail --help` failed ({r.returncode}): "
                    f"{r.stderr.decode(errors='replace')[:2000]}")
    return path


@pytest.fixture
def home(tmp_path):
    """An empty HOME for wharf, so that the user's own ~/.netrc does not interfere."""
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def run(wharf, home):
    return Runner(wharf, home)
