"""Helpers for tests/mail (a distinct module name, so that it cannot collide
with another test directory's helpers). Running wharf is the same as for the
news tests: the runner comes from tests/common/wharf_runner.py."""
from __future__ import annotations

from wharf_runner import Runner, describe, wharf_path  # noqa: F401 (re-exported)
