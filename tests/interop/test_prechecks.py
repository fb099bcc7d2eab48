"""Synchronous pre-checks (README "Pre-login and pre-upload checks"):
`[pre_login_check]` and `[pre_upload_check]` ask the operator's program or
HTTP endpoint before a login is admitted or an upload starts, over FTP and
SFTP alike; a refusal's reason reaches the client (FTP 530 / 550, SFTP's
status message); a check that does not answer within `timeout` gets
`on_timeout` (deny unless told otherwise).

The program is a shell script of the test's; the endpoint is Python's
http.server on 127.0.0.1 in the test's process, checking the signature.
"""

from __future__ import annotations

import ftplib
import io
import json
import random
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from conftest import PASSWORD, USER, add_user
from test_events import config
from test_sftp import close, connect, sftp_server
from test_webhooks import SECRET, metrics, receivers  # noqa: F401 (the fixture)

# Refuses "bob", and uploads whose name ends in .exe; writes each request
# (its JSON and WHARF_* variables) into the directory it is given.
CHECK = """#!/bin/sh
f="$1/$(date +%s%N)-$$"
cat > "$f.json"
env | grep '^WHARF_' | sort > "$f.env"
case "$WHARF_ACCOUNT:$WHARF_PATH" in
  bob:*) echo "bob is on holiday"; exit 1 ;;
  *.exe) echo "no programs here, please"; exit 3 ;;
esac
exit 0
"""


def check_script(tmp_path: Path, text: str = CHECK) -> tuple[Path, Path]:
    script = tmp_path / "check.sh"
    script.write_text(text)
    script.chmod(0o755)
    out = tmp_path / "asked"
    out.mkdir()
    return script, out


def asked(out: Path) -> list[dict]:
    got = []
    for f in sorted(out.glob("*.json")):
        request = json.loads(f.read_text())
        request["_env"] = dict(l.split("=", 1) for l in
                               f.with_suffix(".env").read_text().splitlines() if "=" in l)
        got.append(request)
    return got


def test_a_login_check_program_refuses_with_its_reason_over_ftp_and_sftp(wharfd_factory,
                                                                          tmp_path):
    script, out = check_script(tmp_path)
    srv, port = sftp_server(wharfd_factory, *config(tmp_path, f"""
[pre_login_check]
command = "{script}"
args = ["{out}"]
"""))
    add_user(srv.bin, srv.data, "bob", "bob-password-1")
    srv.ftp().quit()                                     # alice: allowed
    with pytest.raises(ftplib.error_perm, match=r"^530 Login refused: bob is on holiday"):
        srv.ftp(user="bob", password="bob-password-1")
    first = asked(out)
    assert [(r["check"], r["account"], r["client"], r["protocol"]) for r in first] == [
        ("login", USER, "127.0.0.1", "ftp"), ("login", "bob", "127.0.0.1", "ftp")]
    assert first[1]["_env"]["WHARF_CHECK"] == "login"
    assert first[1]["_env"]["WHARF_ACCOUNT"] == "bob"
    # a wrong password never reaches the check
    with pytest.raises(ftplib.error_perm, match=r"^530 Login incorrect"):
        srv.ftp(user="bob", password="wrong")
    assert len(asked(out)) == 2

    close(connect(port))                                 # alice over SFTP
    with pytest.raises(paramiko.AuthenticationException):
        connect(port, "bob", "bob-password-1")
    assert asked(out)[-1]["protocol"] == "sftp" and asked(out)[-1]["account"] == "bob"
    assert srv.wait_log(r"login refused by the account's limits.*bob is on holiday")


def test_an_upload_check_program_refuses_over_ftp_and_sftp_and_nothing_is_stored(
        wharfd_factory, tmp_path):
    script, out = check_script(tmp_path)
    srv, port = sftp_server(wharfd_factory, *config(tmp_path, f"""
[pre_upload_check]
command = "{script}"
args = ["{out}"]
"""))
    f = srv.ftp()
    f.storbinary("STOR notes.txt", io.BytesIO(b"fine"))
    with pytest.raises(ftplib.error_perm,
                       match=r"^550 Upload refused: no programs here, please"):
        f.storbinary("STOR tool.exe", io.BytesIO(b"MZ"))
    f.quit()
    assert (srv.home / "notes.txt").read_bytes() == b"fine"
    assert not (srv.home / "tool.exe").exists()
    ftp_asks = asked(out)
    assert [(r["check"], r["path"], r["protocol"]) for r in ftp_asks] == [
        ("upload", "/notes.txt", "ftp"), ("upload", "/tool.exe", "ftp")]
    assert ftp_asks[1]["_env"]["WHARF_PATH"] == "/tool.exe"

    sftp = connect(port)
    try:
        sftp.putfo(io.BytesIO(b"ok"), "ok.txt")
        with pytest.raises(PermissionError, match="Upload refused: no programs here, please"):
            sftp.putfo(io.BytesIO(b"MZ"), "other.exe")
    finally:
        close(sftp)
    assert (srv.home / "ok.txt").read_bytes() == b"ok"
    assert not (srv.home / "other.exe").exists()
    assert asked(out)[-1]["protocol"] == "sftp"


@pytest.mark.parametrize("on_timeout", [None, "deny", "allow"])
def test_a_check_that_does_not_answer_gets_on_timeout_deny_by_default(wharfd_factory,
                                                                       tmp_path, on_timeout):
    # the shell waits for a child: both must go at the timeout
    nap = f"sleep 60.{random.randrange(10**6):06d}"
    script, _ = check_script(tmp_path, f"#!/bin/sh\n{nap}\necho never\n")
    line = f'on_timeout = "{on_timeout}"' if on_timeout else ""
    srv = wharfd_factory(config(tmp_path, f"""
[pre_login_check]
command = "{script}"
timeout = 1
{line}
"""))
    started = time.monotonic()
    if on_timeout == "allow":
        srv.ftp().quit()
    else:
        with pytest.raises(ftplib.error_perm,
                           match=r"^530 Login refused: the login check did not answer"):
            srv.ftp()
    assert time.monotonic() - started < 10
    assert srv.wait_log(r"pre-check gave no answer; on_timeout decides")
    # the hung program was killed, and what it started
    time.sleep(0.5)
    for pattern in (str(script), nap):
        left = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        assert left.stdout.split() == [], (pattern, left.stdout)


def test_an_upload_check_endpoint_decides_by_status_with_signed_requests(wharfd_factory,
                                                                          receivers, tmp_path):
    # 403 for the first request (its body the reason), then 200, then 500
    rx = receivers(plan=[(403, "too big for today\nsecond line"), 200, 500])
    srv = wharfd_factory(["--metrics-listen", "127.0.0.1:0", *config(tmp_path, f"""
[pre_upload_check]
url = "{rx.url}"
secret = "{SECRET}"
timeout = 5
on_timeout = "allow"
""")])
    f = srv.ftp()
    with pytest.raises(ftplib.error_perm, match=r"^550 Upload refused: too big for today\.?$"):
        f.storbinary("STOR a.bin", io.BytesIO(b"a"))
    f.storbinary("STOR b.bin", io.BytesIO(b"b"))
    f.storbinary("STOR c.bin", io.BytesIO(b"c"))      # 500: no answer, on_timeout allows
    f.quit()
    with rx.lock:
        attempts = list(rx.attempts)
    assert [(a["event"]["check"], a["event"]["path"], a["event"]["account"])
            for a in attempts] == [("upload", f"/{n}.bin", USER) for n in "abc"]
    assert all(a["signed"] for a in attempts)
    assert not (srv.home / "a.bin").exists() and (srv.home / "c.bin").exists()
    text = metrics(srv)
    for outcome in ("allow", "deny", "no_answer"):
        assert f'wharf_prechecks_total{{outcome="{outcome}"}} 1' in text, text


@pytest.mark.parametrize("table, message", [
    ('command = "/bin/true"\nurl = "https://127.0.0.1/"', "exactly one of `command`"),
    ("timeout = 3", "exactly one of `command`"),
    ('command = "true"', "must be an absolute path"),
    ('command = "/bin/true"\non_timeout = "maybe"', 'use "deny" or "allow"'),
    ('url = "ftp://127.0.0.1/"', "https:// (or http://) URL"),
    ('url = "https://127.0.0.1/"\nsecret = "short"', "at least 16"),
])
def test_a_bad_check_is_refused_at_startup(wharfd_bin, tmp_path, table, message):
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text("[pre_upload_check]\n" + table + "\n")
    data = tmp_path / "data"
    data.mkdir()
    cp = subprocess.run([str(wharfd_bin), "serve", "--data", str(data), "--listen",
                         "127.0.0.1:0", "--config", str(cfg)],
                        capture_output=True, text=True, timeout=20)
    assert cp.returncode != 0
    assert "pre_upload_check" in cp.stderr and message in cp.stderr, cp.stderr
