"""Helpers for tests/mail (a distinct module name, so that it cannot collide
with another test directory's helpers). Running wharf is the same as for the
news tests, so the runner comes from tests/news/news_helpers.py."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "news"))

from news_helpers import Runner, describe, wharf_path  # noqa: E402,F401
