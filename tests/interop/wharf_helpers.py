"""Helpers shared by the interop tests: hashing, file trees, a raw FTP
control-connection client and subprocess wrappers.

Everything here only talks to addresses in 127.0.0.0/8.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

USER = "alice"
PASSWORD = "alice-secret-pw"
TIMEOUT = 30  # seconds, for every socket and most subprocesses
PART_PREFIX = ".wharf-part-"


# --------------------------------------------------------------------------
# bytes, hashes, trees


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path) -> str:
    """sha256 of a local file, or of a server-side one (see server_files)."""
    if hasattr(path, "client"):
        return sha256(path.read_bytes())
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_random(path: Path, size: int, chunk: int = 1 << 20) -> str:
    """Write `size` random bytes to `path`; return their sha256."""
    if hasattr(path, "client"):  # a server-side S3Path (see server_files)
        data = os.urandom(size)
        path.write_bytes(data)
        return sha256(data)
    h = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(chunk, left))
            h.update(block)
            f.write(block)
            left -= len(block)
    return h.hexdigest()


def tree_manifest(root: Path, *, dirs: bool = True) -> dict[str, str]:
    """Map every path under `root` (relative, '/'-separated, as bytes decoded
    with surrogateescape) to the sha256 of a file or to '<dir>'."""
    out: dict[str, str] = {}
    root_b = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(root_b):
        rel_dir = os.path.relpath(dirpath, root_b)
        for d in dirnames:
            rel = os.path.normpath(os.path.join(rel_dir, d))
            if dirs:
                out[os.fsdecode(rel)] = "<dir>"
        for f in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, f))
            out[os.fsdecode(rel)] = file_sha256(os.path.join(dirpath, f))
    return out


def part_files(root) -> list[str]:
    """Every leftover upload temp file under `root`; on S3 (see
    server_files) every multipart upload left pending under it."""
    if hasattr(root, "client"):
        from server_files import pending_uploads
        return pending_uploads(root)
    found = []
    for dirpath, _dirs, files in os.walk(os.fsencode(root)):
        for f in files:
            if f.startswith(PART_PREFIX.encode()):
                found.append(os.fsdecode(os.path.join(dirpath, f)))
    return found


def wait_until(pred, timeout: float = 5.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --------------------------------------------------------------------------
# external tools


def require_tool(name: str) -> str:
    """Path of an external client; the test FAILS (never skips) without it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"required tool {name!r} is not installed; run scripts/install-test-deps.sh "
            f"(it installs curl, lftp, wget, rclone, iproute2 and pytest)",
            pytrace=False,
        )
    return path


def run(cmd: list[str], *, timeout: float = 60, check: bool = True, env=None,
        cwd=None, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run a client program, bounded in time; on failure show its output."""
    try:
        cp = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env,
                            cwd=cwd, input=input,
                            stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(
            f"{cmd[0]} did not finish within {timeout}s: {cmd!r}\n"
            f"stdout: {_tail(e.stdout)}\nstderr: {_tail(e.stderr)}",
            pytrace=False,
        )
    if check and cp.returncode != 0:
        pytest.fail(
            f"{cmd[0]} exited {cp.returncode}: {cmd!r}\n"
            f"stdout: {_tail(cp.stdout)}\nstderr: {_tail(cp.stderr)}",
            pytrace=False,
        )
    return cp


def _tail(b: bytes | None, n: int = 6000) -> str:
    if not b:
        return "<empty>"
    s = b.decode("utf-8", "replace")
    return s if len(s) <= n else "...\n" + s[-n:]


def utf8_env() -> dict[str, str]:
    env = dict(os.environ)
    env["LC_ALL"] = "C.UTF-8"
    env["LANG"] = "C.UTF-8"
    env.pop("LANGUAGE", None)
    return env


# --------------------------------------------------------------------------
# a raw FTP control connection


class Reply:
    def __init__(self, code: int, lines: list[bytes]):
        self.code = code
        self.lines = lines

    @property
    def text(self) -> str:
        return "\n".join(l.decode("utf-8", "replace") for l in self.lines)

    def __repr__(self) -> str:
        return f"Reply({self.text!r})"


class RawFtp:
    """A minimal FTP control connection over a plain socket, for sending
    exactly the bytes a hostile client would send."""

    def __init__(self, host: str, port: int, *, source: str | None = None,
                 timeout: float = TIMEOUT):
        self.host = host
        self.port = port
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.greeting = self.reply()
        assert self.greeting.code == 220, f"greeting: {self.greeting!r}"

    # -- low level
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(
                    f"control connection closed by server (pending {self.buf!r})")
            self.buf += chunk
            if len(self.buf) > 1 << 20:
                raise AssertionError("server reply line longer than 1 MiB")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self) -> Reply:
        first = self._line()
        m = re.match(rb"^(\d{3})([ -])", first)
        assert m, f"malformed reply line: {first!r}"
        code = int(m.group(1))
        lines = [first]
        if m.group(2) == b"-":
            end = m.group(1) + b" "
            while True:
                line = self._line()
                lines.append(line)
                if line.startswith(end):
                    break
        return Reply(code, lines)

    def cmd(self, line: str | bytes) -> Reply:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send_raw(line + b"\r\n")
        return self.reply()

    # -- conveniences
    def login(self, user: str = USER, password: str = PASSWORD) -> None:
        r = self.cmd(f"USER {user}")
        assert r.code in (230, 331), f"USER {user}: {r!r}"
        if r.code == 331:
            r = self.cmd(f"PASS {password}")
        assert r.code == 230, f"PASS for {user}: {r!r}"

    def pasv(self) -> tuple[str, int]:
        r = self.cmd("PASV")
        assert r.code == 227, f"PASV: {r!r}"
        m = re.search(rb"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", r.lines[0])
        assert m, f"unparsable 227: {r!r}"
        n = [int(x) for x in m.groups()]
        return ".".join(map(str, n[:4])), n[4] * 256 + n[5]

    def epsv(self) -> int:
        r = self.cmd("EPSV")
        assert r.code == 229, f"EPSV: {r!r}"
        m = re.search(rb"\((.)\1\1(\d+)\1\)", r.lines[0])
        assert m, f"unparsable 229: {r!r}"
        return int(m.group(2))

    def data_conn(self, *, source: str | None = None) -> socket.socket:
        """PASV and connect to the port it names (on the control peer's address)."""
        _host, port = self.pasv()
        return connect_from(self.host, port, source=source)

    def retr(self, name: str | bytes) -> tuple[Reply, bytes, Reply]:
        """PASV + RETR; returns (preliminary reply, data, final reply)."""
        if isinstance(name, str):
            name = name.encode("utf-8")
        d = self.data_conn()
        try:
            pre = self.cmd(b"RETR " + name)
            if pre.code // 100 != 1:
                return pre, b"", pre
            data = recv_all(d)
        finally:
            d.close()
        return pre, data, self.reply()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def abort_rst(self) -> None:
        rst_close(self.sock)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect_from(host: str, port: int, *, source: str | None = None,
                 timeout: float = TIMEOUT) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def recv_all(s: socket.socket, limit: int = 1 << 30) -> bytes:
    chunks = []
    total = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        chunks.append(b)
        total += len(b)
        if total > limit:
            raise AssertionError("data connection sent more than expected")
    return b"".join(chunks)


def rst_close(s: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


# --------------------------------------------------------------------------
# a tree of files with awkward names, for mirror tests


def build_tree(root: Path, *, big_size: int = 0) -> dict[str, str]:
    """Nested folders, an empty folder, names with spaces and UTF-8, and
    optionally a big random file. Returns tree_manifest(root)."""
    files = {
        "top.txt": b"top level text\n",
        "with space.txt": b"a name with spaces\n",
        "Gr\u00fc\u00dfe/\u00fcn\u00ef c\u00f6d\u00e9 \u2713.bin": os.urandom(50_000),
        "\u65e5\u672c\u8a9e/\u30d5\u30a1\u30a4\u30eb.txt": "中身\n".encode(),
        "nested/level1/sibling file.txt": b"sibling\n",
        "nested/level1/level2/level3/deep.bin": os.urandom(200_000),
        "nested/level1/level2/mid.bin": os.urandom(1),
        "nested/zero.bin": b"",
    }
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    (root / "empty dir").mkdir(parents=True, exist_ok=True)
    (root / "nested" / "empty").mkdir(parents=True, exist_ok=True)
    if big_size:
        write_random(root / "big.bin", big_size)
    return tree_manifest(root)


def diff_manifests(want: dict[str, str], got: dict[str, str]) -> str:
    lines = []
    for k in sorted(set(want) | set(got)):
        w, g = want.get(k), got.get(k)
        if w != g:
            lines.append(f"  {k!r}: want {w and w[:12]}, got {g and g[:12]}")
    return "\n".join(lines)
