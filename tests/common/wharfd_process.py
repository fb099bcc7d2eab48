"""One `wharfd serve` process per object, as the interop and scale tests run
it: on 127.0.0.1 on a port the kernel picks, its output (stdout + stderr)
collected line by line in a thread, started once it logs "listening on
127.0.0.1:PORT", stopped (or killed) by its PID. Also: the session fixture
`wharfd_bin`, and the report hook that attaches the logs of a failing test's
servers to its report.

What goes into the server's environment and flags is the caller's (each suite
scrubs its own): subclasses call `serve(args, env)` from their `start`.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from local_daemons import end_process

LISTEN_RE = re.compile(r"listening on \[?(127\.0\.0\.1)\]?:(\d+)")
# the node attribute that lists a test's servers for the failure report
SERVERS_ATTR = "_wharfd_servers"


@pytest.fixture(scope="session")
def wharfd_bin() -> Path:
    """$WHARFD, else $CARGO_TARGET_DIR/debug/wharfd, else
    ~/.cache/wharf-target/debug/wharfd; a missing binary FAILS the tests."""
    env = os.environ.get("WHARFD")
    if env:
        p = Path(env)
    else:
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser(
            "~/.cache/wharf-target")
        p = Path(target) / "debug" / "wharfd"
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"wharfd binary not found at {p}; build it with "
                    f"`cargo build -p wharfd` or set WHARFD", pytrace=False)
    return p


def report_servers(node, servers: list) -> list:
    """Let the report hook attach these servers' logs if `node` fails."""
    setattr(node, SERVERS_ATTR, servers)
    return servers


def log_report_hook(tail_lines: int):
    """A `pytest_runtest_makereport` hookwrapper: a failing test's report gets
    the last `tail_lines` lines of each server's log (see report_servers)."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        outcome = yield
        report = outcome.get_result()
        if report.failed:
            for i, srv in enumerate(getattr(item, SERVERS_ATTR, [])):
                report.sections.append((f"wharfd log #{i} (port {srv.port})",
                                        srv.log_tail(tail_lines)))

    return pytest_runtest_makereport


@dataclass
class WharfdProcess:
    bin: Path
    data: Path
    host: str = "127.0.0.1"
    port: int = 0
    proc: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: threading.Thread | None = None

    # how long `serve` waits for the listening line, and what it says then
    STARTUP_TIMEOUT = 20
    STARTUP_FAILURE = "wharfd did not log 'listening on 127.0.0.1:PORT' within {timeout}s"
    # how long `stop` waits after SIGTERM before SIGKILL
    STOP_GRACE = 10

    # -- log
    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def log_tail(self, n: int = 100) -> str:
        with self._lock:
            return "\n".join(self.lines[-n:]) or "<no output>"

    def _first_match(self, rx: re.Pattern):
        with self._lock:
            for line in self.lines:
                m = rx.search(line)
                if m:
                    return m
        return None

    def wait_log(self, pattern: str, timeout: float = 10) -> str:
        """The first log line matching `pattern`, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            m = self._first_match(rx)
            if m:
                return m.string
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r}:\n{self.log_tail(40)}")

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._lock:
                self.lines.append(line)

    # -- lifecycle
    def serve(self, args: list[str], env: dict[str, str], **popen) -> None:
        """Run `wharfd serve --data DATA --listen 127.0.0.1:0 ARGS` with exactly
        `env` (and extra `subprocess.Popen` arguments, e.g. `user=`); return
        once it listens (self.port), else fail the test."""
        cmd = [str(self.bin), "serve", "--data", str(self.data),
               "--listen", "127.0.0.1:0", *args]
        self.spawn(cmd, env, **popen)
        deadline = time.monotonic() + self.STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            m = self._first_match(LISTEN_RE)
            if m:
                self.port = int(m.group(2))
                return
            if self.proc.poll() is not None:
                self._reader.join(2)
                pytest.fail(f"wharfd exited with {self.proc.returncode} before "
                            f"listening: {cmd!r}\n{self.log_tail()}", pytrace=False)
            time.sleep(0.02)
        self.stop()
        pytest.fail(self.STARTUP_FAILURE.format(timeout=self.STARTUP_TIMEOUT)
                    + f": {cmd!r}\n{self.log_tail()}", pytrace=False)

    def spawn(self, cmd: list[str], env: dict[str, str], **popen) -> None:
        """Start `cmd` (wharfd, or a launcher that execs it, such as
        systemd-socket-activate) and collect its output; do not wait."""
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env, cwd=self.data.parent, **popen)
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, by PID."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)

    def stop(self) -> int | None:
        """Stop the server by its PID: SIGTERM, then SIGKILL after STOP_GRACE s."""
        if self.proc is None:
            return None
        end_process(self.proc, self.STOP_GRACE)
        if self._reader is not None:
            self._reader.join(5)
        return self.proc.returncode
