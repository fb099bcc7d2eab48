"""Fixtures for tests/news: private INN servers (inn.py), the wharf binary, a
time limit per test.  Helpers live in news_helpers.py.

Every server listens on 127.0.0.1 only; every process a test starts is stopped by
its PID.  A missing INN or wharf is a test failure, never a skip.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inn import InnServer  # noqa: E402
from news_helpers import AUTH_USERS, Runner, wharf_path  # noqa: E402

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


def _start_inn(tmp_path_factory, name, **kw):
    srv = InnServer(tmp_path_factory.mktemp(name), **kw)
    srv.__enter__()
    return srv


@pytest.fixture(scope="module")
def inn(tmp_path_factory):
    """A fresh INN for read-only tests (anonymous reading; posting allowed but unused)."""
    srv = _start_inn(tmp_path_factory, "inn")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def inn_post(tmp_path_factory):
    """A fresh INN that tests post to (so that `inn` keeps its latest article)."""
    srv = _start_inn(tmp_path_factory, "inn-post")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def inn_auth(tmp_path_factory):
    """A fresh INN where everything but AUTHINFO needs a login (480)."""
    srv = _start_inn(tmp_path_factory, "inn-auth", auth_required=True, users=AUTH_USERS)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def wharf():
    path = wharf_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"wharf binary not found at {path} (set WHARF, or build it: "
                    f"CARGO_TARGET_DIR=$HOME/.cache/wharf-target cargo build -p wharf)")
    r = subprocess.run([path, "news", "--help"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        pytest.fail(f"`{path} news --help` failed ({r.returncode}): "
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
