"""Helpers for the scale-out tests: psql, a wharfd instance runner, PROXY
protocol headers and an ftplib client that sends them on its control and
data connections, as a load balancer would.

Everything here only talks to addresses in 127.0.0.0/8.
"""

from __future__ import annotations

import ftplib
import ipaddress
import os
import re
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_USER = "wharf"
PG_PASSWORD = "pg-test-secret"
TIMEOUT = 30
LISTEN_RE = re.compile(r"listening on \[?(127\.0\.0\.1)\]?:(\d+)")


# --------------------------------------------------------------------------
# PostgreSQL


@dataclass
class Postgres:
    port: int
    host: str

    def url(self, db: str) -> str:
        return f"postgres://{PG_USER}:{PG_PASSWORD}@{self.host}:{self.port}/{db}"

    def psql(self, db: str, sql: str) -> str:
        """Runs one statement; returns unaligned, tuples-only output."""
        cp = subprocess.run(
            ["psql", "-h", self.host, "-p", str(self.port), "-U", PG_USER, "-d", db,
             "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            env={**os.environ, "PGPASSWORD": PG_PASSWORD}, capture_output=True,
            timeout=TIMEOUT)
        if cp.returncode != 0:
            raise AssertionError(f"psql {sql!r}: {cp.stderr.decode(errors='replace')}")
        return cp.stdout.decode().strip()


def db_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


# --------------------------------------------------------------------------
# wharfd


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WHARF_") and k != "RUST_LOG"}
    env.update({"WHARF_LOGIN_FAIL_DELAY_MS": "50", "RUST_BACKTRACE": "1", "NO_COLOR": "1"})
    env.update(extra or {})
    return env


def wharfd_admin(bin: Path, *args: str, stdin: str | None = None) -> str:
    """Runs `wharfd ARGS` (an admin command); fails the test if it fails."""
    cp = subprocess.run([str(bin), *args], input=stdin.encode() if stdin else None,
                        capture_output=True, timeout=60, env=clean_env())
    if cp.returncode != 0:
        pytest.fail(f"`wharfd {' '.join(args)}` exited {cp.returncode}:\n"
                    f"{cp.stdout.decode(errors='replace')}{cp.stderr.decode(errors='replace')}",
                    pytrace=False)
    return cp.stdout.decode(errors="replace")


@dataclass
class Instance:
    bin: Path
    data: Path
    host: str = "127.0.0.1"
    port: int = 0
    proc: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: threading.Thread | None = None

    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def log_tail(self, n: int = 100) -> str:
        with self._lock:
            return "\n".join(self.lines[-n:]) or "<no output>"

    def wait_log(self, pattern: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines:
                    if rx.search(line):
                        return line
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r}:\n{self.log_tail(40)}")

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))

    def start(self, args: list[str], env: dict[str, str]) -> None:
        cmd = [str(self.bin), "serve", "--data", str(self.data),
               "--listen", "127.0.0.1:0", *args]
        self.data.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=clean_env(env),
                                     cwd=self.data.parent)
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines:
                    m = LISTEN_RE.search(line)
                    if m:
                        self.port = int(m.group(2))
                        return
            if self.proc.poll() is not None:
                self._reader.join(2)
                pytest.fail(f"wharfd exited with {self.proc.returncode} before listening: "
                            f"{cmd!r}\n{self.log_tail()}", pytrace=False)
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"wharfd did not start within 30 s: {cmd!r}\n{self.log_tail()}",
                    pytrace=False)

    def kill(self) -> None:
        """SIGKILL, by PID."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)

    def ftp(self, user: str | None = None, password: str = "") -> ftplib.FTP:
        f = ftplib.FTP(timeout=TIMEOUT)
        f.connect(self.host, self.port)
        if user is not None:
            f.login(user, password)
        return f


# --------------------------------------------------------------------------
# PROXY protocol (haproxy's proxy-protocol.txt), written independently of
# the server's parser

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v1(src: str, sport: int, dst: str = "127.0.0.1", dport: int = 21) -> bytes:
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def proxy_v2(src: str, sport: int, dst: str | None = None, dport: int = 21,
             tlvs: bytes = b"") -> bytes:
    s = ipaddress.ip_address(src)
    if s.version == 4:
        d = ipaddress.ip_address(dst or "127.0.0.1")
        body = s.packed + d.packed + struct.pack("!HH", sport, dport)
        fam = 0x11
    else:
        d = ipaddress.ip_address(dst or "::1")
        body = s.packed + d.packed + struct.pack("!HH", sport, dport)
        fam = 0x21
    body += tlvs
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def connect_from(port: int, source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    s.settimeout(TIMEOUT)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


class ProxiedFTP(ftplib.FTP):
    """ftplib as seen through a PROXY-speaking load balancer: every
    connection (control and passive data) starts with a header naming
    `client` as the source."""

    def __init__(self, client: str, version: int = 1, **kw):
        super().__init__(timeout=TIMEOUT, **kw)
        self.client = client
        self.version = version
        self._sport = 40000

    def header(self, dport: int) -> bytes:
        self._sport += 1
        make = proxy_v2 if self.version == 2 else proxy_v1
        dst = "::1" if ":" in self.client else "127.0.0.1"
        return make(self.client, self._sport, dst, dport)

    def connect(self, host="127.0.0.1", port=0, timeout=TIMEOUT, source_address=None):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout)
        self.af = self.sock.family
        self.sock.sendall(self.header(port))
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(self, cmd, rest=None):
        host, port = self.makepasv()
        conn = socket.create_connection((self.host, port), self.timeout)
        try:
            conn.sendall(self.header(port))
            if rest is not None:
                self.sendcmd(f"REST {rest}")
            resp = self.sendcmd(cmd)
            if resp[0] == "2":
                resp = self.getresp()
            if resp[0] != "1":
                raise ftplib.error_reply(resp)
        except Exception:
            conn.close()
            raise
        return conn, None


def recv_all(s: socket.socket, limit: float = 10) -> bytes:
    """Whatever arrives until the peer closes (or `limit` seconds pass)."""
    s.settimeout(limit)
    out = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return out
