"""Running a program on a pseudo-terminal, to see what a person's
terminal would receive from it (standard library `os.openpty` only).
The program is stopped by its PID if it outlives the time limit."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import pytest


def run_on_pty(args: list[str], cwd: Path, timeout: float = 30, env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Runs `args` with a pseudo-terminal as its standard input, output
    and error; returns its exit code and everything it wrote."""
    master, slave = os.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer has closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        else:
            pytest.fail(f"{args} did not finish within {timeout}s; wrote {out!r}", pytrace=False)
        return proc.wait(timeout=10), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
