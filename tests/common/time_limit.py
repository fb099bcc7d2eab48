"""The per-test wall-clock limit (marker `time_limit(seconds)`), so that
nothing can hang a suite: one SIGALRM timer, offered two ways.

* `time_limit_hook(default)` is a `pytest_runtest_call` hookwrapper (tests/interop,
  tests/scale): the limit covers the test function only, and running past it
  raises TimeLimitExceeded("test ran longer than Ns").
* `time_limit_fixture(default)` is an autouse fixture (tests/mail, tests/news):
  the limit also covers the function-scoped fixtures set up after it and their
  teardown, and running past it raises TimeoutError("test exceeded its N s
  time limit").

A conftest picks one and its default:

    pytest_runtest_call = time_limit_hook(120)     # found by its name
    _time_limit = time_limit_fixture(180)          # registered as a fixture
"""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest


class TimeLimitExceeded(Exception):
    """A test ran past its time limit (the hook's error)."""


def limit_of(node, default: float) -> float:
    """The node's `time_limit` marker in seconds, else `default`."""
    marker = node.get_closest_marker("time_limit")
    return float(marker.args[0]) if marker else float(default)


@contextmanager
def alarm_after(seconds: float, error: Callable[[], BaseException]) -> Iterator[None]:
    """Raise `error()` in the main thread once `seconds` of wall-clock time pass."""

    def on_alarm(signum, frame):
        raise error()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def time_limit_hook(default: float):
    """A `pytest_runtest_call` hookwrapper limiting each test's call phase."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(item):
        limit = limit_of(item, default)
        with alarm_after(limit, lambda: TimeLimitExceeded(f"test ran longer than {limit:.0f}s")):
            yield

    return pytest_runtest_call


def time_limit_fixture(default: float):
    """An autouse fixture `_time_limit` limiting each test with its fixtures."""

    @pytest.fixture(autouse=True, name="_time_limit")
    def _time_limit(request):
        """Fail (rather than hang) a test that runs past its limit (marker time_limit)."""
        limit = limit_of(request.node, default)
        with alarm_after(limit, lambda: TimeoutError(f"test exceeded its {limit:g} s time limit")):
            yield

    return _time_limit
