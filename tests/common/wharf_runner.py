"""Running the `wharf` client binary in tests (tests/news, tests/mail): where it
is, the session fixture `wharf` that checks it, and `run`, which runs it with an
empty HOME, bounded by a timeout.

A conftest takes the fixtures into its namespace (pytest registers them there):

    from wharf_runner import home, run, wharf_fixture  # noqa: F401 (fixtures)
    wharf = wharf_fixture("news")

The binary is $WHARF, else $CARGO_TARGET_DIR/debug/wharf, else
~/.cache/wharf-target/debug/wharf; a missing one FAILS the tests, never skips.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def wharf_path() -> str:
    return os.environ.get("WHARF") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.environ.get("HOME", "/root"),
                                                           ".cache/wharf-target"),
        "debug/wharf")


class Runner:
    """Runs wharf with an empty HOME (no ~/.netrc of the user), no NETRC unless
    given, stdin closed (or the given bytes), in a session of its own, bounded
    by a timeout (then killed by PID and the test fails)."""

    def __init__(self, path: str, home: Path):
        self.path = path
        self.home = home

    def env(self, extra=None):
        # WHARF_PASSWORD would answer every password question: only a test
        # that means it passes one.
        env = {k: v for k, v in os.environ.items()
               if k not in ("NETRC", "RUST_LOG", "WHARF_PASSWORD")}
        env["HOME"] = str(self.home)
        env["NO_COLOR"] = "1"
        env.setdefault("LANG", "C.UTF-8")
        if extra:
            env.update(extra)
        return env

    def __call__(self, *args, input: bytes | None = None, env=None, timeout: float = 60):
        """Run wharf; returns CompletedProcess with bytes stdout/stderr."""
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


def wharf_fixture(subcommand: str):
    """The session fixture `wharf`: the binary's path, once it is there and
    `wharf SUBCOMMAND --help` works (else the tests fail)."""

    @pytest.fixture(scope="session", name="wharf")
    def wharf():
        path = wharf_path()
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            pytest.fail(f"wharf binary not found at {path} (set WHARF, or build it: "
                        f"CARGO_TARGET_DIR=$HOME/.cache/wharf-target cargo build -p wharf)")
        r = subprocess.run([path, subcommand, "--help"], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            pytest.fail(f"`{path} {subcommand} --help` failed ({r.returncode}): "
                        f"{r.stderr.decode(errors='replace')[:2000]}")
        return path

    return wharf


@pytest.fixture
def home(tmp_path):
    """An empty HOME for wharf, so that the user's own ~/.netrc does not interfere."""
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def run(wharf, home):
    return Runner(wharf, home)
