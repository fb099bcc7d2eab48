"""Fixtures for the scale-out tests: a private PostgreSQL cluster on
127.0.0.1 and `wharfd` instances that share it.

The cluster is Debian's PostgreSQL, `initdb`-ed into a temporary folder (as
user `postgres` when the tests run as root; initdb refuses root), started
with `pg_ctl` on a free port bound to 127.0.0.1 with its unix socket in the
temporary folder, password authentication (SCRAM) on, and stopped by
`pg_ctl stop` at the end of the session. Each test gets a database of its
own. Without PostgreSQL every test here FAILS (saying what is missing and
how to install it), locally as in CI: a skipped scale test would let the
suite report success with the shared-store tests never run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from local_daemons import free_port  # noqa: E402
from scale_helpers import PG_PASSWORD, PG_USER, Instance, Postgres  # noqa: E402
from time_limit import time_limit_hook  # noqa: E402
from wharfd_process import log_report_hook, report_servers, wharfd_bin  # noqa: E402,F401

DEFAULT_TEST_TIME_LIMIT = 120

pytest_runtest_call = time_limit_hook(DEFAULT_TEST_TIME_LIMIT)
# the instances' logs in every failing test's report
pytest_runtest_makereport = log_report_hook(150)


def missing(what: str) -> None:
    """A missing peer fails the test, always."""
    pytest.fail(f"{what}: a missing peer is a failure; run bash tests/scale/install.sh",
                pytrace=False)


def pg_bindir() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(cand, "initdb"), os.X_OK):
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@pytest.fixture(scope="session")
def postgres():
    bindir = pg_bindir()
    if bindir is None or shutil.which("psql") is None:
        missing("PostgreSQL (initdb, pg_ctl, psql) is not installed")
    root = Path(tempfile.mkdtemp(prefix="wharf-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            missing("runuser (util-linux) is needed to run PostgreSQL as root")
        as_postgres = [runuser, "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    os.chmod(root, 0o700)
    pwfile = root / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if as_postgres:
        shutil.chown(pwfile, "postgres")
    data, sock, logf = root / "data", root / "sock", root / "pg.log"
    sock.mkdir()
    if as_postgres:
        shutil.chown(sock, "postgres")
    subprocess.run(as_postgres + [str(bindir / "initdb"), "-D", str(data), "-U", PG_USER,
                                  "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                                  "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    port = free_port()
    opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c max_connections=100")
    if as_postgres:
        logf.touch()
        shutil.chown(logf, "postgres")
    ctl = as_postgres + [str(bindir / "pg_ctl"), "-D", str(data)]
    start_opts = ["-o", opts, "-l", str(logf)]
    start = subprocess.run(ctl + start_opts + ["-w", "-t", "60", "start"],
                           capture_output=True, timeout=90)
    if start.returncode != 0:
        pytest.fail(f"pg_ctl start failed: {start.stderr.decode(errors='replace')}\n"
                    f"{logf.read_text(errors='replace') if logf.exists() else ''}",
                    pytrace=False)
    pg = Postgres(port=port, host="127.0.0.1", ctl=ctl, start_opts=start_opts, data=data)
    try:
        yield pg
    finally:
        subprocess.run(as_postgres + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                      "-w", "-t", "60", "stop"],
                       capture_output=True, timeout=90)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_db(postgres, request) -> str:
    """A fresh database for this test; returns its postgres:// URL."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:40].lower()
    postgres.psql("postgres", f'DROP DATABASE IF EXISTS "{name}"')
    postgres.psql("postgres", f'CREATE DATABASE "{name}"')
    return postgres.url(name)


@pytest.fixture
def instances(wharfd_bin, request):
    """Start wharfd instances: `instances(data_dir, [flags])`; all are stopped
    (by PID) at the end, and a panic in any log fails the test."""
    started: list[Instance] = report_servers(request.node, [])

    def start(data: Path, args: list[str], env: dict[str, str] | None = None) -> Instance:
        inst = Instance(bin=wharfd_bin, data=data)
        started.append(inst)
        inst.start(args, env or {})
        return inst

    yield start
    panicked = [i.port for i in started if "panicked" in i.log()]
    for inst in started:
        inst.stop()
    if panicked:
        pytest.fail(f"wharfd on port(s) {panicked} panicked", pytrace=False)
