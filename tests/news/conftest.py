"""Fixtures for tests/news: private INN servers (inn.py), the wharf binary, a
time limit per test.  Helpers live in news_helpers.py.

Every server listens on 127.0.0.1 only; every process a test starts is stopped by
its PID.  A missing INN or wharf is a test failure, never a skip.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from inn import InnServer  # noqa: E402
from news_helpers import AUTH_USERS  # noqa: E402
from time_limit import time_limit_fixture  # noqa: E402
from wharf_runner import home, run, wharf_fixture  # noqa: E402,F401 (fixtures)

DEFAULT_TIME_LIMIT = 180
_time_limit = time_limit_fixture(DEFAULT_TIME_LIMIT)
wharf = wharf_fixture("news")


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
