"""Issue 18: wharfd as a system service.

Privileges: started as root with `--user`, the real binary binds, drops to
an unprivileged system user (made here with `useradd --system` when
missing; the tests run as root) and holds no capability, which
/proc/PID/status shows for every thread; FTP logins and uploads still work
and the files belong to that user. A data directory the user cannot write,
and a non-root start as another user, are refused with a clear error.

Each server runs in a directory of its own under /tmp (mode 0755, so the
unprivileged user can reach it), removed afterwards; servers are stopped by
their PIDs.
"""

from __future__ import annotations

import io
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import Wharfd, add_user, populate
from wharf_helpers import PASSWORD, TIMEOUT, USER, sha256
from wharfd_process import report_servers

SERVICE_USER = "wharf-test"


@pytest.fixture(scope="module")
def service_user() -> pwd.struct_passwd:
    """The unprivileged system user, created when missing."""
    if os.geteuid() != 0:
        pytest.fail("the service tests start wharfd as root: run them as root", pytrace=False)
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        pytest.fail("useradd not found (Debian package passwd)", pytrace=False)
    subprocess.run([useradd, "--system", "--user-group", "--no-create-home",
                    "--shell", "/usr/sbin/nologin", SERVICE_USER],
                   check=True, timeout=TIMEOUT)
    return pwd.getpwnam(SERVICE_USER)


@pytest.fixture
def service_dir():
    """A directory under /tmp that every user may traverse."""
    d = Path(tempfile.mkdtemp(prefix="wharf-service-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def reachable_bin(wharfd_bin, tmp_path_factory) -> Path:
    """The binary where an unprivileged user can run it (the build lies
    under root's home): a hard link, else a copy, in a 0755 directory."""
    d = Path(tempfile.mkdtemp(prefix="wharf-service-bin-"))
    d.chmod(0o755)
    target = d / "wharfd"
    try:
        os.link(wharfd_bin, target)
    except OSError:
        shutil.copy2(wharfd_bin, target)
    target.chmod(0o755)
    yield target
    shutil.rmtree(d, ignore_errors=True)


def chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def prepared_data(bin: Path, base: Path, owner: pwd.struct_passwd | None) -> Wharfd:
    """A data directory with `alice` and the fixture files, owned by `owner`."""
    data = base / "data"
    data.mkdir()
    srv = Wharfd(bin=bin, data=data)
    add_user(bin, data, USER, PASSWORD)
    populate(srv)
    if owner is not None:
        chown_tree(data, owner.pw_uid, owner.pw_gid)
    return srv


@pytest.fixture
def servers(request):
    """Servers a test started; all stopped by PID at the end."""
    started: list[Wharfd] = report_servers(request.node, [])
    yield started
    for srv in started:
        srv.stop()
        assert "panicked" not in srv.log(), srv.log_tail(60)


def status_fields(pid: int, task: str | None = None) -> dict[str, str]:
    path = f"/proc/{pid}/task/{task}/status" if task else f"/proc/{pid}/status"
    fields = {}
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def run_wharfd(bin: Path, args: list[str], *, user: int | None = None,
               group: int | None = None) -> subprocess.CompletedProcess:
    """`wharfd ARGS` that is expected to exit by itself, bounded in time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    env["NO_COLOR"] = "1"
    return subprocess.run([str(bin), *args], capture_output=True, timeout=TIMEOUT,
                          env=env, user=user, group=group, extra_groups=[] if user else None,
                          cwd="/")


# --------------------------------------------------------------------------
# step 1: privilege drop


def test_root_drops_to_the_user_before_serving(service_user, service_dir, reachable_bin, servers):
    srv = prepared_data(reachable_bin, service_dir, service_user)
    servers.append(srv)
    srv.start(["--user", SERVICE_USER], {})
    srv.wait_log(r"dropped root: running as " + SERVICE_USER)
    uid, gid = str(service_user.pw_uid), str(service_user.pw_gid)
    # every thread: real, effective, saved and filesystem ids; no capability
    tasks = os.listdir(f"/proc/{srv.proc.pid}/task")
    assert len(tasks) > 1, "the runtime's threads should exist by now"
    for task in tasks:
        st = status_fields(srv.proc.pid, task)
        assert st["Uid"].split() == [uid] * 4, st["Uid"]
        assert st["Gid"].split() == [gid] * 4, st["Gid"]
        assert st["Groups"].split() == [gid], st["Groups"]
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[cap], 16) == 0, f"{cap} = {st[cap]} in task {task}"
        assert st["NoNewPrivs"] == "1"

    # FTP still works, and what it writes belongs to the user
    payload = os.urandom(200 * 1024)
    f = srv.ftp()
    f.storbinary("STOR dropped.bin", io.BytesIO(payload))
    got = io.BytesIO()
    f.retrbinary("RETR dropped.bin", got.write)
    f.quit()
    assert sha256(got.getvalue()) == sha256(payload)
    stored = srv.home / "dropped.bin"
    assert stored.read_bytes() == payload
    assert stored.stat().st_uid == service_user.pw_uid


def test_a_data_directory_the_user_cannot_write_is_refused(service_user, service_dir,
                                                           reachable_bin):
    data = prepared_data(reachable_bin, service_dir, None).data  # stays root's
    cp = run_wharfd(reachable_bin, ["serve", "--data", str(data), "--listen", "127.0.0.1:0",
                                    "--user", SERVICE_USER])
    err = cp.stderr.decode(errors="replace")
    assert cp.returncode != 0, err
    assert f"not writable by user {SERVICE_USER}" in err, err
    assert f"chown -R {SERVICE_USER}:" in err, err


def test_unknown_user_is_refused(service_dir, reachable_bin):
    cp = run_wharfd(reachable_bin, ["serve", "--data", str(service_dir / "d"),
                                    "--listen", "127.0.0.1:0", "--user", "no-such-wharf-user"])
    err = cp.stderr.decode(errors="replace")
    assert cp.returncode != 0 and "no user \"no-such-wharf-user\"" in err, err


def test_non_root_as_another_user_is_refused(service_user, service_dir, reachable_bin):
    # started as the service user, but configured for `nobody`
    data = service_dir / "d"
    data.mkdir()
    os.chown(data, service_user.pw_uid, service_user.pw_gid)
    cp = run_wharfd(reachable_bin, ["serve", "--data", str(data), "--listen", "127.0.0.1:0",
                                    "--user", "nobody"],
                    user=service_user.pw_uid, group=service_user.pw_gid)
    err = cp.stderr.decode(errors="replace")
    assert cp.returncode != 0, err
    assert "is not root" in err and "nobody" in err, err


def test_non_root_as_the_user_itself_serves(service_user, service_dir, reachable_bin, servers):
    srv = prepared_data(reachable_bin, service_dir, service_user)
    servers.append(srv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    env.update({"NO_COLOR": "1", "WHARF_LOGIN_FAIL_DELAY_MS": "50"})
    srv.serve(["--user", SERVICE_USER], env, user=service_user.pw_uid,
              group=service_user.pw_gid, extra_groups=[])
    st = status_fields(srv.proc.pid)
    assert st["Uid"].split() == [str(service_user.pw_uid)] * 4
    assert int(st["CapEff"], 16) == 0
    f = srv.ftp()
    assert f.nlst() is not None
    f.quit()
