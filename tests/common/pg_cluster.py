"""A private PostgreSQL cluster on 127.0.0.1, for the scale-out tests
(tests/scale/conftest.py) and the benchmark of the guarantees' costs
(bench/guarantees_bench.py).

Debian's PostgreSQL, `initdb`-ed into a temporary folder (as user
`postgres` when run as root; initdb refuses root), started with `pg_ctl`
on a free port bound to 127.0.0.1 with its unix socket in the temporary
folder and password authentication (SCRAM); `remove()` stops it and
deletes the folder. `fsync=off`: the cluster lives as long as a test run,
and what is measured is wharfd's work, not the disk's. A test can also
stop, start and freeze it (`stop`, `start`, `frozen`) to play an outage.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from local_daemons import free_port

PG_USER = "wharf"
PG_PASSWORD = "pg-test-secret"


class PgMissing(RuntimeError):
    """PostgreSQL (or runuser, as root) is not installed."""


class PgFailed(RuntimeError):
    """pg_ctl or psql failed; the message carries its output."""


def pg_bindir() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(cand, "initdb"), os.X_OK):
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PgCluster:
    """initdb + pg_ctl start on construction; `remove()` stops and deletes it."""

    def __init__(self, max_connections: int = 100) -> None:
        bindir = pg_bindir()
        if bindir is None or shutil.which("psql") is None:
            raise PgMissing("PostgreSQL (initdb, pg_ctl, psql) is not installed")
        self.root = Path(tempfile.mkdtemp(prefix="wharf-pg-"))
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PgMissing("runuser (util-linux) is needed to run PostgreSQL as root")
            self.as_postgres = [runuser, "-u", "postgres", "--"]
        self._own(self.root)
        os.chmod(self.root, 0o700)
        pwfile = self.root / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        self._own(pwfile)
        self.data, sock, self.logf = self.root / "data", self.root / "sock", self.root / "pg.log"
        sock.mkdir()
        self._own(sock)
        init = subprocess.run(self.as_postgres + [str(bindir / "initdb"), "-D", str(self.data),
                                                  "-U", PG_USER, "--auth=scram-sha-256",
                                                  f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"],
                              capture_output=True, timeout=120)
        if init.returncode != 0:
            shutil.rmtree(self.root, ignore_errors=True)
            raise PgFailed(f"initdb failed: {init.stderr.decode(errors='replace')}")
        self.port = free_port()
        self.host = "127.0.0.1"
        opts = (f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections={max_connections}")
        self.logf.touch()
        self._own(self.logf)
        self.ctl = self.as_postgres + [str(bindir / "pg_ctl"), "-D", str(self.data)]
        self.start_opts = ["-o", opts, "-l", str(self.logf)]
        try:
            self.start()
        except PgFailed as e:
            log = self.logf.read_text(errors="replace") if self.logf.exists() else ""
            shutil.rmtree(self.root, ignore_errors=True)
            raise PgFailed(f"{e}\n{log}") from None

    def _own(self, path: Path) -> None:
        if self.as_postgres:
            shutil.chown(path, "postgres")

    def url(self, db: str) -> str:
        return f"postgres://{PG_USER}:{PG_PASSWORD}@{self.host}:{self.port}/{db}"

    def psql(self, db: str, sql: str, timeout: float = 30) -> str:
        """Runs one statement; returns unaligned, tuples-only output."""
        cp = subprocess.run(
            ["psql", "-h", self.host, "-p", str(self.port), "-U", PG_USER, "-d", db,
             "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            env={**os.environ, "PGPASSWORD": PG_PASSWORD}, capture_output=True, timeout=timeout)
        if cp.returncode != 0:
            raise PgFailed(f"psql {sql!r}: {cp.stderr.decode(errors='replace')}")
        return cp.stdout.decode().strip()

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: sessions are cut, new connections refused."""
        self._ctl("-m", "fast", "-w", "-t", "60", "stop")

    def start(self) -> None:
        self._ctl(*self.start_opts, "-w", "-t", "60", "start")

    def _ctl(self, *args: str) -> None:
        cp = subprocess.run([*self.ctl, *args], capture_output=True, timeout=90)
        if cp.returncode != 0:
            raise PgFailed(f"pg_ctl {' '.join(args)}: {cp.stderr.decode(errors='replace')}")

    def remove(self) -> None:
        """Stops the cluster (if it runs) and deletes its folder."""
        subprocess.run([*self.ctl, "-m", "fast", "-w", "-t", "60", "stop"],
                       capture_output=True, timeout=90)
        shutil.rmtree(self.root, ignore_errors=True)

    def processes(self) -> list[int]:
        """The postmaster and every process it started (its backends)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        return [postmaster, *map(int, children)]

    @contextmanager
    def frozen(self):
        """SIGSTOPs the whole cluster (postmaster and backends) for the
        block: connections stay open and nothing answers. Always resumed."""
        pids = self.processes()
        stopped = []
        try:
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            yield
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
