"""Fixtures that run a real `wharfd` for the interop tests.

The binary is $WHARFD (scripts/test.sh sets it), else
$CARGO_TARGET_DIR/debug/wharfd, else ~/.cache/wharf-target/debug/wharfd.

Each test gets a fresh data directory with user `alice` and fixture files,
and a server on 127.0.0.1 on a port the kernel picks. A missing binary, a
server that does not start, one that dies or panics during a test: all FAIL.

With WHARF_TEST_STORAGE=s3 the servers keep their files in S3 instead: one
moto server (PyPI `moto[server]`, a real S3 HTTP implementation) is started
on 127.0.0.1 for the session and stopped by PID, each server gets a bucket
of its own, and `Wharfd.home`/`Wharfd.pub` reach the files there (see
server_files.py). A missing moto_server then FAILS the tests.
"""

from __future__ import annotations

import ftplib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from server_files import S3Path
from wharf_helpers import PASSWORD, TIMEOUT, USER, write_random

DEFAULT_TEST_TIME_LIMIT = 120  # seconds per test; see the time_limit marker
LISTEN_RE = re.compile(r"listening on \[?(127\.0\.0\.1)\]?:(\d+)")


# --------------------------------------------------------------------------
# a wall-clock limit per test, so nothing can hang the suite


class TimeLimitExceeded(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("time_limit")
    limit = float(marker.args[0]) if marker else DEFAULT_TEST_TIME_LIMIT

    def on_alarm(signum, frame):
        raise TimeLimitExceeded(f"test ran longer than {limit:.0f}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# Attach the server log to every failing test's report.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        servers = getattr(item, "_wharfd_servers", [])
        for i, srv in enumerate(servers):
            report.sections.append(
                (f"wharfd log #{i} (port {srv.port})", srv.log_tail(200)))


# --------------------------------------------------------------------------
# the binary


@pytest.fixture(scope="session")
def wharfd_bin() -> Path:
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


# --------------------------------------------------------------------------
# a running server


# --------------------------------------------------------------------------
# S3 storage (WHARF_TEST_STORAGE=s3)

S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "wharf-test", "AWS_SECRET_ACCESS_KEY": "wharf-test-secret",
                  "AWS_REGION": "us-east-1"}
S3_PREFIX = "site"


def storage_mode() -> str:
    return os.environ.get("WHARF_TEST_STORAGE", "local")


# The S3-only tests belong to the S3 step; the local run does not collect them.
collect_ignore = [] if storage_mode() == "s3" else ["test_s3.py"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Service:
    """A moto S3 server on 127.0.0.1, started and stopped by PID."""
    endpoint: str
    proc: subprocess.Popen

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint,
                            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                            region_name=S3_CREDENTIALS["AWS_REGION"])

    def new_bucket(self) -> str:
        name = f"wharf-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


def start_moto() -> S3Service:
    exe = shutil.which("moto_server")
    if exe is None:
        pytest.fail("moto_server not found: WHARF_TEST_STORAGE=s3 needs it; install it "
                    "with `bash scripts/install-test-deps.sh` (PyPI moto[server])",
                    pytrace=False)
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"moto_server exited with {proc.returncode} at start", pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return S3Service(endpoint=f"http://127.0.0.1:{port}", proc=proc)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    pytest.fail("moto_server did not listen within 30 s", pytrace=False)


@pytest.fixture(scope="session")
def s3_service():
    """The session's moto server, or None with local storage."""
    if storage_mode() != "s3":
        yield None
        return
    service = start_moto()
    yield service
    service.proc.terminate()
    try:
        service.proc.wait(10)
    except subprocess.TimeoutExpired:
        service.proc.kill()
        service.proc.wait(10)


@dataclass
class Wharfd:
    bin: Path
    data: Path
    host: str = "127.0.0.1"
    port: int = 0
    s3: S3Service | None = None
    bucket: str = ""
    proc: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: threading.Thread | None = None

    # -- layout
    @property
    def storage(self) -> str:
        return "s3" if self.s3 else "local"

    def _root(self, *parts: str):
        if self.s3:
            return S3Path(self.s3.client(), self.bucket, "/".join((S3_PREFIX, *parts)))
        return self.data.joinpath(*parts)

    @property
    def pub(self):
        return self._root("pub")

    @property
    def home(self):
        return self._root("home", USER)

    def storage_args(self) -> tuple[list[str], dict[str, str]]:
        """The flags and environment that put the server on its storage."""
        if not self.s3:
            return [], {}
        return (["--storage", f"s3://{self.bucket}/{S3_PREFIX}",
                 "--s3-endpoint", self.s3.endpoint, "--s3-allow-http"],
                dict(S3_CREDENTIALS))

    user = USER
    password = PASSWORD

    # -- clients
    def url(self, path: str = "/", *, user: str | None = USER,
            password: str | None = PASSWORD) -> str:
        cred = f"{user}:{password}@" if user else ""
        return f"ftp://{cred}{self.host}:{self.port}{path}"

    def ftp(self, *, user: str | None = USER, password: str = PASSWORD,
            encoding: str = "utf-8") -> ftplib.FTP:
        """An ftplib.FTP connected (and logged in unless user is None)."""
        f = ftplib.FTP(timeout=TIMEOUT, encoding=encoding)
        f.connect(self.host, self.port)
        if user is not None:
            f.login(user, password)
        return f

    # -- log
    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def log_tail(self, n: int = 100) -> str:
        with self._lock:
            return "\n".join(self.lines[-n:]) or "<no output>"

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._lock:
                self.lines.append(line)

    # -- lifecycle
    def start(self, extra_args: list[str], env_extra: dict[str, str]) -> None:
        # nothing from the caller's environment may change the server's settings
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("WHARF_") and k != "RUST_LOG"}
        if os.environ.get("WHARF_TEST_LOG"):  # e.g. WHARF_TEST_LOG=debug
            env["WHARF_LOG"] = env["RUST_LOG"] = os.environ["WHARF_TEST_LOG"]
        env.update({"WHARF_LOGIN_FAIL_DELAY_MS": "50", "RUST_BACKTRACE": "1",
                    "NO_COLOR": "1"})
        storage_args, storage_env = self.storage_args()
        env.update(storage_env)
        env.update(env_extra)
        cmd = [str(self.bin), "serve", "--data", str(self.data),
               "--listen", "127.0.0.1:0", *storage_args, *extra_args]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env, cwd=self.data.parent)
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines:
                    m = LISTEN_RE.search(line)
                    if m:
                        self.port = int(m.group(2))
                        return
            if self.proc.poll() is not None:
                self._reader.join(2)
                pytest.fail(f"wharfd exited with {self.proc.returncode} before "
                            f"listening: {cmd!r}\n{self.log_tail()}", pytrace=False)
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"wharfd did not log 'listening on 127.0.0.1:PORT' within 20s: "
                    f"{cmd!r}\n{self.log_tail()}", pytrace=False)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """Stop the server by its PID: SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        return self.proc.returncode


def add_user(bin: Path, data: Path, name: str, password: str) -> None:
    cp = subprocess.run(
        [str(bin), "users", "add", name, "--password-stdin", "--data", str(data)],
        input=(password + "\n").encode(), capture_output=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("WHARF_")})
    if cp.returncode != 0:
        pytest.fail(f"`wharfd users add {name}` exited {cp.returncode}:\n"
                    f"{cp.stdout.decode(errors='replace')}"
                    f"{cp.stderr.decode(errors='replace')}", pytrace=False)


# Fixture contents, known to every test.
PUB_FILES = {
    "readme.txt": b"Welcome to the Wharf public area.\n",
    "sub/nested.txt": b"nested public file\n",
}
HOME_FILES = {
    "hello.txt": b"hello, alice\n",
    "docs/a.txt": b"document a\n",
    "docs/b.txt": b"document b, a little longer\n",
}


def populate(srv: Wharfd) -> None:
    srv.pub.mkdir(parents=True, exist_ok=True)
    srv.home.mkdir(parents=True, exist_ok=True)
    for rel, content in PUB_FILES.items():
        p = srv.pub / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    for rel, content in HOME_FILES.items():
        p = srv.home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    write_random(srv.pub / "data.bin", 300 * 1024)
    write_random(srv.home / "data.bin", 1024 * 1024)


@pytest.fixture
def wharfd_factory(wharfd_bin, tmp_path, request, s3_service):
    """Start servers with extra flags: `wharfd_factory(["--no-anonymous"])`."""
    started: list[Wharfd] = []
    request.node._wharfd_servers = started

    def start(extra_args: list[str] | None = None,
              env: dict[str, str] | None = None) -> Wharfd:
        data = tmp_path / f"data{len(started)}"
        data.mkdir()
        srv = Wharfd(bin=wharfd_bin, data=data, s3=s3_service,
                     bucket=s3_service.new_bucket() if s3_service else "")
        add_user(wharfd_bin, data, USER, PASSWORD)
        populate(srv)
        started.append(srv)
        srv.start(extra_args or [], env or {})
        return srv

    yield start

    problems = []
    for srv in started:
        if not srv.alive():
            problems.append(f"wharfd (port {srv.port}) died during the test with "
                            f"exit status {srv.proc.returncode if srv.proc else '?'}")
        srv.stop()
        if "panicked" in srv.log():
            problems.append(f"wharfd (port {srv.port}) panicked")
    if problems:
        pytest.fail("; ".join(problems) + "\n" +
                    "\n".join(s.log_tail(60) for s in started), pytrace=False)


@pytest.fixture
def wharfd(wharfd_factory) -> Wharfd:
    """A fresh server with the default flags (anonymous read-only pub/ on)."""
    return wharfd_factory()
