"""Events (docs/events.md): programs the operator configures with
`[[event_command]]` run for registrations, logins, uploads, downloads and
file changes, with the event as one JSON line on stdin and its main fields
in WHARF_* variables; filters by kind, account and path glob; a hung or
failing program is killed, logged and counted and never slows a
transfer; nothing a client names reaches a shell.

The sink here is a small shell script of the test's own (its arguments are
the operator's, fixed in the config); it writes what it received into a
directory the test reads. Only 127.0.0.1; servers are the fixture's.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import USER
from test_registration_quota import site_quota, site_register, users
from wharfd_process import WharfdProcess

RECORDER = """#!/bin/sh
# One event: its JSON line and its WHARF_* variables, side by side.
f="$1/$(date +%s%N)-$$"
cat > "$f.json.tmp"
env | grep '^WHARF_' | sort > "$f.env"
mv "$f.json.tmp" "$f.json"
"""


def recorder(tmp_path: Path, name: str = "rec") -> tuple[Path, Path]:
    script = tmp_path / f"{name}.sh"
    script.write_text(RECORDER)
    script.chmod(0o755)
    out = tmp_path / f"{name}-out"
    out.mkdir()
    return script, out


def received(out: Path, kind: str | None = None, *, want: int = 1,
             timeout: float = 10) -> list[dict]:
    """The events the recorder wrote (of `kind`), waiting for `want`."""
    deadline = time.monotonic() + timeout
    while True:
        events = []
        for f in sorted(out.glob("*.json")):
            event = json.loads(f.read_text())
            event["_env"] = dict(line.split("=", 1) for line in
                                 f.with_suffix(".env").read_text().splitlines() if "=" in line)
            if kind is None or event["kind"] == kind:
                events.append(event)
        if len(events) >= want or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def config(tmp_path: Path, tables: str) -> list[str]:
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text(tables)
    return ["--config", str(cfg)]


def test_every_kind_of_event_reaches_the_program_as_json_and_variables(wharfd_factory,
                                                                        tmp_path):
    script, out = recorder(tmp_path)
    srv = wharfd_factory(config(tmp_path, f"""
[[event_command]]
program = "{script}"
args = ["{out}"]
"""))
    assert received(out, "server.start")
    f = srv.ftp()
    f.storbinary("STOR up.bin", io.BytesIO(b"x" * 1000))
    f.retrbinary("RETR up.bin", lambda _: None)
    f.mkd("d")
    f.rename("up.bin", "d/moved.bin")
    f.delete("d/moved.bin")
    f.rmd("d")
    f.quit()
    up = received(out, "upload.done")[0]
    assert {k: up[k] for k in ("version", "account", "client", "protocol", "path", "size",
                               "result")} == {
        "version": 1, "account": USER, "client": "127.0.0.1", "protocol": "ftp",
        "path": "/up.bin", "size": 1000, "result": "ok"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", up["time"])
    assert isinstance(up["duration_ms"], int)
    assert up["_env"]["WHARF_EVENT"] == "upload.done"
    assert up["_env"]["WHARF_PATH"] == "/up.bin" and up["_env"]["WHARF_SIZE"] == "1000"
    assert up["_env"]["WHARF_ACCOUNT"] == USER
    assert received(out, "download.done")[0]["size"] == 1000
    assert received(out, "mkdir")[0]["path"] == "/d"
    ren = received(out, "rename")[0]
    assert (ren["path"], ren["target"]) == ("/up.bin", "/d/moved.bin")
    assert received(out, "delete")[0]["path"] == "/d/moved.bin"
    assert received(out, "rmdir")[0]["path"] == "/d"
    assert received(out, "login.ok")[0]["account"] == USER

    # the operator hears at once of a registration, and what to do
    assert site_register(srv, "carol carol-password-1").startswith("2")
    reg = received(out, "registration.requested")[0]
    assert reg["account"] == "carol" and "wharfd users approve carol" in reg["reason"]
    with pytest.raises(Exception):
        srv.ftp(password="wrong")
    failed = received(out, "login.failed")[0]
    assert failed["result"] == "failed" and failed["account"] == USER

    # the operator's answer, given with the CLI (another process), is told too
    cfg = str(tmp_path / "wharfd.toml")
    users(srv.bin, srv.data, "approve", "carol", "--config", cfg)
    approved = received(out, "registration.approved")[0]
    assert approved["account"] == "carol" and "quota" in approved["reason"]
    assert site_register(srv, "dave dave-password-1").startswith("2")
    users(srv.bin, srv.data, "reject", "dave", "--config", cfg)
    assert received(out, "registration.rejected")[0]["account"] == "dave"


def test_the_server_tells_when_it_starts_and_stops(wharfd_bin, tmp_path):
    script, out = recorder(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    srv = WharfdProcess(bin=wharfd_bin, data=data)
    srv.serve(config(tmp_path, f"""
[[event_command]]
program = "{script}"
args = ["{out}"]
events = ["server.start", "server.stop"]
"""), dict(os.environ, WHARF_LOGIN_FAIL_DELAY_MS="50"))
    try:
        assert received(out, "server.start")
    finally:
        assert srv.stop() == 0
    assert received(out, "server.stop")


def test_usage_crossing_80_and_100_percent_of_the_quota_is_told_once_each(wharfd_factory,
                                                                          tmp_path):
    script, out = recorder(tmp_path)
    srv = wharfd_factory(config(tmp_path, f"""
[[event_command]]
program = "{script}"
args = ["{out}"]
events = ["quota.threshold"]
"""))
    (srv.home / "data.bin").unlink()     # the percentages below are of a small quota
    users(srv.bin, srv.data, "recount", USER)
    used = site_quota_used(srv)
    users(srv.bin, srv.data, "quota", USER, str(used + 10_000))
    f = srv.ftp()
    f.storbinary("STOR a.bin", io.BytesIO(b"a" * 7_000))    # 70 %: nothing
    f.storbinary("STOR b.bin", io.BytesIO(b"b" * 1_500))    # 85 %: 80 %
    f.storbinary("STOR c.bin", io.BytesIO(b"c" * 500))      # 90 %: nothing more
    f.storbinary("STOR d.bin", io.BytesIO(b"d" * 1_000))    # 100 %
    f.quit()
    got = received(out, "quota.threshold", want=2)
    time.sleep(0.5)
    got = received(out, "quota.threshold", want=2)
    assert [e["reason"].split("%")[0] for e in got] == ["80", "100"], got
    assert got[0]["account"] == USER and got[1]["size"] == used + 10_000


def site_quota_used(srv) -> int:
    f = srv.ftp()
    try:
        return site_quota(f)["used"]
    finally:
        f.quit()


def test_filters_pick_kinds_accounts_and_paths(wharfd_factory, tmp_path):
    script, out = recorder(tmp_path)
    srv = wharfd_factory(config(tmp_path, f"""
[[event_command]]
program = "{script}"
args = ["{out}"]
events = ["upload.done"]
accounts = ["{USER}"]
paths = ["/in/**"]
"""))
    f = srv.ftp()
    f.mkd("in")
    f.mkd("in/deep")
    for name in ("in/a.txt", "in/deep/b.txt", "out.txt"):
        f.storbinary(f"STOR {name}", io.BytesIO(b"data"))
    f.quit()
    got = received(out, want=2)
    time.sleep(0.5)
    got = received(out, want=2)
    assert sorted(e["path"] for e in got) == ["/in/a.txt", "/in/deep/b.txt"]
    assert {e["kind"] for e in got} == {"upload.done"}


def test_a_group_filter_hears_members_only_and_events_name_the_groups(wharfd_factory,
                                                                       tmp_path):
    script, out = recorder(tmp_path)
    srv = wharfd_factory(config(tmp_path, f"""
[[event_command]]
program = "{script}"
args = ["{out}"]
events = ["upload.done"]
groups = ["staff"]
"""))
    users(srv.bin, srv.data, "add", "bob", "--password-stdin", input="bob-password-1\n")
    users(srv.bin, srv.data, "add", "staff", family="groups")
    users(srv.bin, srv.data, "groups", "bob", "staff")
    for name, password in ((USER, None), ("bob", "bob-password-1")):
        f = srv.ftp() if password is None else srv.ftp(user=name, password=password)
        f.storbinary(f"STOR from-{name}.txt", io.BytesIO(b"data"))
        f.quit()
    got = received(out, want=1)
    time.sleep(0.5)
    got = received(out, want=1)
    assert [(e["account"], e["groups"]) for e in got] == [("bob", ["staff"])], got


def test_a_hung_program_is_killed_counted_and_never_slows_transfers(wharfd_factory,
                                                                   tmp_path):
    hung = tmp_path / "hung.sh"
    hung.write_text("#!/bin/sh\nexec sleep 60\n")
    hung.chmod(0o755)
    srv = wharfd_factory(["--metrics-listen", "127.0.0.1:0", *config(tmp_path, f"""
[[event_command]]
program = "{hung}"
timeout = 1
concurrency = 1
""")])
    started = time.monotonic()
    f = srv.ftp()
    for i in range(30):
        f.storbinary(f"STOR f{i}.bin", io.BytesIO(b"y" * 100))
    f.quit()
    # 30 uploads with a sink that takes 60 s a run: they do not wait for it
    assert time.monotonic() - started < 15
    line = srv.wait_log(r"metrics on 127\.0\.0\.1:(\d+)|listening for metrics|metrics.*127\.0\.0\.1:\d+")
    port = int(re.findall(r"127\.0\.0\.1:(\d+)", line)[-1])
    deadline = time.monotonic() + 15
    failures = 0
    while time.monotonic() < deadline:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        failures = int(re.search(r"^wharf_event_sink_failures_total (\d+)", text, re.M).group(1))
        if failures >= 2:
            break
        time.sleep(0.3)
    assert failures >= 2, text
    assert srv.wait_log(r"event command failed .*killed after 1s")
    # no run outlives its time limit
    left = subprocess.run(["pgrep", "-f", str(hung)], capture_output=True, text=True)
    assert len(left.stdout.split()) <= 1, left.stdout


def test_names_from_clients_never_reach_a_shell(wharfd_factory, tmp_path):
    script, out = recorder(tmp_path)
    srv = wharfd_factory(config(tmp_path, f"""
[[event_command]]
program = "{script}"
args = ["{out}"]
events = ["upload.done"]
"""))
    evil = "$(touch pwned);`touch pwned2`;x.txt"
    f = srv.ftp()
    f.storbinary(f"STOR {evil}", io.BytesIO(b"z"))
    f.quit()
    event = received(out, "upload.done")[0]
    assert event["path"] == "/" + evil and event["_env"]["WHARF_PATH"] == "/" + evil
    for d in (tmp_path, srv.data, srv.home, Path.cwd()):
        assert not (d / "pwned").exists() and not (d / "pwned2").exists()


MAIL = '[[event_mail]]\nserver = "127.0.0.1:25"\nfrom = "w@example.org"\nto = ["o@example.org"]\n'


@pytest.mark.parametrize("table, message", [
    ('[[event_command]]\nprogram = "rec.sh"', "must be an absolute path"),
    ('[[event_command]]\nprogram = "/nonexistent/prog"', "is not an executable file"),
    ('[[event_command]]\nprogram = "/bin/true"\nevents = ["upload"]', 'unknown event "upload"'),
    (MAIL + 'username = "w"', "give both username and password_file"),
    (MAIL + 'username = "w"\npassword_file = "/nonexistent/pw"', "cannot read it"),
    (MAIL + 'security = "plain"\nusername = "w"\npassword_file = "/etc/hostname"',
     "a password is sent only over TLS"),
])
def test_a_misconfigured_sink_stops_the_start_with_what_to_fix(wharfd_bin, tmp_path, table,
                                                               message):
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text(f"{table}\n")
    cp = subprocess.run([str(wharfd_bin), "serve", "--config", str(cfg), "--data",
                         str(tmp_path / "data"), "--listen", "127.0.0.1:0"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode != 0
    assert message in cp.stdout + cp.stderr
