"""Helpers for tests/mail (a distinct module name, so that it cannot collide
with another test directory's helpers)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def wharf_path() -> str:
    return os.environ.get("WHARF") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.environ.get("HOME", "/root"),
                                                           ".cache/wharf-target"),
        "debug/wharf")


class Runner:
    """Runs wharf with an empty HOME (no ~/.netrc of the user), no NETRC or
    WHARF_PASSWORD unless given, stdin closed (or the given bytes), in a
    session of its own, bounded by a timeout (then killed by PID and the test
    fails)."""

    def __init__(self, path: str, home: Path):
        self.path = path
        self.home = home

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items()
               if k not in ("NETRC", "RUST_LOG", "WHARF_PASSWORD")}
        env["HOME"] = str(self.home)
        env["NO_COLOR"] = "1"
        env.setdefault("LANG", "C.UTF-8")
        if extra:
            env.update(extra)
        return env

    def __call__(self, *args, input: bytes | None = None, env=None, timeout: float = 60):
        """Runs wharf; returns a CompletedProcess with bytes stdout/stderr."""
        import pytest
        argv = [self.path, *map(str, args)]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=self.env(env), start_new_session=True)
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=10)
            pytest.fail(f"wharf {' '.join(map(str, args))} did not finish within {timeout} s\n"
                        f"stderr: {err.decode(errors='replace')[-2000:]}")
        return subprocess.CompletedProcess(argv, p.returncode, out, err)


def describe(r) -> str:
    return (f"exit {r.returncode}\n--- stdout\n{r.stdout.decode(errors='replace')[-3000:]}"
            f"\n--- stderr\n{r.stderr.decode(errors='replace')[-3000:]}")
