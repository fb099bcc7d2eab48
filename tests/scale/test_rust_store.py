"""The Rust tests of the PostgreSQL store (`accounts::postgres::tests`,
`#[ignore]`d in a plain `cargo test`) run here, against the private cluster:
migrations raced by four instances, CRUD seen across connections, two
instances' quota ledgers metering eight uploads against one quota, and the
admin console's tables (admins, tokens, audit log), the transfer history and
the board where instances publish their live sessions."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPECTED = 5  # tests named pg_* in crates/ftp-server/src/accounts/postgres.rs


@pytest.mark.time_limit(900)
def test_rust_postgres_store_tests(pg_db):
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail("cargo is not on PATH; the Rust store tests cannot run", pytrace=False)
    env = {**os.environ, "WHARF_TEST_POSTGRES": pg_db, "CARGO_TERM_COLOR": "never"}
    cp = subprocess.run(
        [cargo, "test", "-p", "ftp-server", "--lib", "--", "--ignored",
         "accounts::postgres::tests::pg_"],
        cwd=REPO, env=env, capture_output=True, timeout=850)
    out = cp.stdout.decode(errors="replace") + cp.stderr.decode(errors="replace")
    assert cp.returncode == 0, out[-4000:]
    m = re.search(r"test result: ok\. (\d+) passed", out)
    assert m and int(m.group(1)) == EXPECTED, out[-4000:]
