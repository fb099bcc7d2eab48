"""Small helpers for a test's private daemons on 127.0.0.1, which are stopped
by their PIDs: free ports, whether a port answers, whether a PID is alive,
stopping a process we started, the tail of log files, and the context manager
protocol of a start()/stop() server. Standard library only.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

HOST = "127.0.0.1"


def free_ports(n: int) -> list[int]:
    """`n` distinct ports that were free on 127.0.0.1 a moment ago."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def port_answers(port: int) -> bool:
    """Whether a TCP connection to 127.0.0.1:port is accepted within 1 s."""
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie child of ours counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    # "pid (comm) state ...": comm may contain spaces and ')'
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


def end_process(proc: subprocess.Popen, grace: float = 10, kill_wait: float = 10) -> None:
    """Stop a process we started, by its PID: SIGTERM, SIGKILL after `grace` s."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(kill_wait)
    except ProcessLookupError:
        pass


def tail_logs(logdir: Path | None, names, n: int) -> str:
    """The last `n` lines of each existing logdir/NAME, each under '--- NAME'."""
    out = []
    for name in names:
        p = logdir / name if logdir else None
        if p and p.exists():
            lines = p.read_text(errors="replace").splitlines()[-n:]
            out.append(f"--- {name}\n" + "\n".join(lines))
    return "\n".join(out)


class StartStop:
    """`with Server(...) as s:` for a class with start() and stop(): a start
    that fails part-way stops what it started before the error goes on."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
