"""Helpers for the scale-out tests: a wharfd instance runner, PROXY
protocol headers and an ftplib client that sends them on its control and
data connections, as a load balancer would.

Everything here only talks to addresses in 127.0.0.0/8.
"""

from __future__ import annotations

import ftplib
import ipaddress
import os
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from wharfd_process import WharfdProcess

TIMEOUT = 30


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
class Instance(WharfdProcess):
    """A scale-test server (wharfd_process.py runs it) in the environment of
    clean_env; it gets 30 s to start."""

    STARTUP_TIMEOUT = 30
    STARTUP_FAILURE = "wharfd did not start within {timeout} s"

    def start(self, args: list[str], env: dict[str, str]) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.serve(args, clean_env(env))

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
