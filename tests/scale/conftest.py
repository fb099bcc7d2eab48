"""Fixtures for the scale-out tests: a private PostgreSQL cluster on
127.0.0.1 and `wharfd` instances that share it.

The cluster (tests/common/pg_cluster.py) is Debian's PostgreSQL,
`initdb`-ed into a temporary folder and started on a free port of
127.0.0.1 with password authentication; it is stopped and removed at the
end of the session. Each test gets a database of its own. Without PostgreSQL every test here FAILS (saying what is missing and
how to install it), locally as in CI: a skipped scale test would let the
suite report success with the shared-store tests never run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from pg_cluster import PgCluster, PgFailed, PgMissing  # noqa: E402
from scale_helpers import Instance  # noqa: E402
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


@pytest.fixture(scope="session")
def postgres():
    try:
        pg = PgCluster()
    except PgMissing as e:
        missing(str(e))
    except PgFailed as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield pg
    finally:
        pg.remove()


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
