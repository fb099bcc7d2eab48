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
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from local_daemons import end_process, free_port  # noqa: E402
from server_files import S3Path  # noqa: E402
from time_limit import time_limit_hook  # noqa: E402
from wharf_helpers import PASSWORD, TIMEOUT, USER, write_random  # noqa: E402
from wharfd_process import (WharfdProcess, log_report_hook, report_servers,  # noqa: E402
                            wharfd_bin)  # noqa: F401 (the fixture)

DEFAULT_TEST_TIME_LIMIT = 120  # seconds per test; see the time_limit marker

# a wall-clock limit per test, so nothing can hang the suite
pytest_runtest_call = time_limit_hook(DEFAULT_TEST_TIME_LIMIT)
# the server logs in every failing test's report
pytest_runtest_makereport = log_report_hook(200)


# --------------------------------------------------------------------------
# S3 storage (WHARF_TEST_STORAGE=s3)

S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "wharf-test", "AWS_SECRET_ACCESS_KEY": "wharf-test-secret",
                  "AWS_REGION": "us-east-1"}
S3_PREFIX = "site"


def storage_mode() -> str:
    return os.environ.get("WHARF_TEST_STORAGE", "local")


# The S3-only tests belong to the S3 step; the local run does not collect them.
collect_ignore = [] if storage_mode() == "s3" else ["test_s3.py"]


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
    end_process(service.proc)


@dataclass
class Wharfd(WharfdProcess):
    """A test's server (wharfd_process.py runs it) with its files and clients."""
    s3: S3Service | None = None
    bucket: str = ""

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

    def folder(self, name: str, dir: Path):
        """A shared folder's files: `dir` locally, `home/folder:NAME/` in
        the bucket (the folder's ledger name)."""
        return self._root("home", f"folder:{name}") if self.s3 else dir

    def recount(self, name: str = USER) -> None:
        """`wharfd users recount NAME` on the server's storage, so that
        usage counts what a test put there behind the server's back."""
        args, env = self.storage_args()
        cmd = [str(self.bin), "users", "recount", name, "--data", str(self.data), *args]
        cp = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                            env={**{k: v for k, v in os.environ.items()
                                    if not k.startswith("WHARF_")}, **env})
        if cp.returncode != 0:
            pytest.fail(f"`wharfd users recount {name}` exited {cp.returncode}:\n"
                        f"{(cp.stdout + cp.stderr).decode(errors='replace')}", pytrace=False)

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
        self.serve([*storage_args, *extra_args], env)


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
    started: list[Wharfd] = report_servers(request.node, [])

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
