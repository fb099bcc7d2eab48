"""The admin API of `wharfd --admin-listen`: authorisation (no login ->
401, a read token changes nothing -> 403, a cookie session without its
CSRF header -> 403), input validation (400 with a JSON error), lockout,
the registration flow an ftplib client starts with SITE REGISTER, live
sessions and their disconnect, the audit log (API and CLI), HTTPS with the
server's certificate, and /metrics + /health on the same server. Every
answer is validated against docs/openapi.yaml (admin_http.Api)."""

from __future__ import annotations

import ftplib
import io
import re
import subprocess
import time

import pytest

from admin_http import ADMIN, ADMIN_PASSWORD, Api, start_with_console, token, wharfd_admins
from wharf_helpers import PASSWORD, TIMEOUT, USER

QUOTA_LINE_RE = re.compile(r"used=(\d+);limit=(\d+|none);free=(\d+|none);in-flight=(\d+);")

READS = ["/api/status", "/api/accounts", f"/api/accounts/{USER}", "/api/registrations",
         "/api/usage", "/api/sessions", "/api/audit", "/api/transfers",
         "/api/transfers/hourly"]
CHANGES = [("POST", "/api/accounts", {"name": "carol", "password": "carol-pw-123"}),
           ("PATCH", f"/api/accounts/{USER}", {"quota": "5M"}),
           ("DELETE", f"/api/accounts/{USER}", None),
           ("POST", "/api/registrations/nobody/approve", {}),
           ("POST", "/api/registrations/nobody/reject", {"reason": "no"}),
           ("DELETE", "/api/sessions/1", None),
           ("POST", "/api/logout", None)]


def register(srv, name: str, password: str = "a-long-password") -> str:
    f = ftplib.FTP(timeout=TIMEOUT)
    f.connect(srv.host, srv.port)
    try:
        return f.sendcmd(f"SITE REGISTER {name} {password}")
    finally:
        f.close()


def site_quota_limit(f: ftplib.FTP) -> int | None:
    m = QUOTA_LINE_RE.search(f.sendcmd("SITE QUOTA"))
    assert m, "SITE QUOTA has no machine line"
    return None if m.group(2) == "none" else int(m.group(2))


def test_nothing_without_a_login(wharfd_factory):
    _, base = start_with_console(wharfd_factory)
    api = Api(base)
    for path in READS:
        a = api.call("GET", path)
        assert a.status == 401, (path, a.status, a.body)
        assert "log in" in a.error()
    for method, path, body in CHANGES:
        a = api.call(method, path, body)
        assert a.status == 401, (method, path, a.status, a.body)
    api.token = "wharf_" + "0" * 64
    assert api.call("GET", "/api/status").status == 401


def test_a_read_token_reads_everything_and_changes_nothing(wharfd_factory):
    srv, base = start_with_console(wharfd_factory)
    api = Api(base, token=token(srv.bin, srv.data, "read"))
    for path in READS:
        a = api.call("GET", path)
        assert a.status == 200, (path, a.status, a.body)
    for method, path, body in CHANGES:
        a = api.call(method, path, body)
        assert a.status == 403, (method, path, a.status, a.body)
        assert "read scope" in a.error()
    shown = api.call("GET", f"/api/accounts/{USER}").body
    assert shown["quota_bytes"] is not None and shown["status"] == "active", shown


def test_a_cookie_session_needs_its_csrf_token(wharfd_factory):
    _, base = start_with_console(wharfd_factory)
    api = Api(base)
    a = api.login()
    assert a.status == 200 and a.body["admin"] == ADMIN
    cookie = a.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    assert "Secure" not in cookie, f"plain HTTP cannot carry a Secure cookie: {cookie}"
    a = api.call("PATCH", f"/api/accounts/{USER}", {"quota": "5M"}, csrf=False)
    assert a.status == 403 and "CSRF" in a.error(), a.body
    api.csrf = "0" * 64
    assert api.call("PATCH", f"/api/accounts/{USER}", {"quota": "5M"}).status == 403
    api.login()  # the real token again
    a = api.call("PATCH", f"/api/accounts/{USER}", {"quota": "5M"})
    assert a.status == 200 and a.body["quota_bytes"] == 5 * 1024 * 1024, a.body
    # reads need no CSRF header
    assert api.call("GET", "/api/status", csrf=False).status == 200
    assert api.call("POST", "/api/logout").status == 204
    assert api.call("GET", "/api/status").status == 401


@pytest.mark.parametrize("method,path,body,raw,says", [
    ("POST", "/api/accounts", None, b'{"name": "x",', "bad JSON"),
    ("POST", "/api/accounts", {"name": "dave", "password": "pw", "colour": "red"}, None,
     "unknown field"),
    ("POST", "/api/accounts", {"name": "bad name", "password": "pw-pw-pw"}, None,
     "bad account name"),
    ("POST", "/api/accounts", {"name": "dave", "password": ""}, None, "empty password"),
    ("POST", "/api/accounts", {"name": "dave", "password": "pw-pw-pw", "quota": "12Q"}, None,
     "bad quota"),
    ("PATCH", f"/api/accounts/{USER}", {"quota": "-5"}, None, "bad quota"),
    ("PATCH", f"/api/accounts/{USER}", {"status": "sleeping"}, None, "bad status"),
    ("PATCH", f"/api/accounts/{USER}", {"quota": "1M", "password": ""}, None, "empty password"),
    ("PATCH", f"/api/accounts/{USER}", {"password": "p" * 200}, None, "longer than 128"),
    ("PATCH", f"/api/accounts/{USER}", {"status": "pending"}, None, "cannot be made pending"),
    ("PATCH", f"/api/accounts/{USER}", {"policy": "perms=fly"}, None, "bad policy"),
    ("GET", "/api/accounts?limit=abc", None, None, "bad query"),
    ("GET", "/api/accounts?limit=100000", None, None, "limit above"),
    ("GET", "/api/accounts?status=asleep", None, None, "bad status"),
    ("DELETE", "/api/sessions/xyz", None, None, "bad session id"),
    ("GET", "/api/transfers?direction=sideways", None, None, "upload or download"),
    ("GET", "/api/transfers?status=maybe", None, None, "ok or failed"),
    ("GET", "/api/transfers?limit=501", None, None, "1 to 500"),
    ("GET", "/api/transfers?since=yesterday", None, None, "bad query"),
    ("GET", "/api/transfers?colour=red", None, None, "bad query"),
    ("GET", "/api/transfers/hourly?hours=721", None, None, "1 to 720"),
    ("POST", "/api/registrations/x/reject", {"reason": "r" * 600}, None, "longer than 500"),
])
def test_bad_input_is_a_400_that_says_why(wharfd_factory, method, path, body, raw, says):
    srv, base = start_with_console(wharfd_factory)
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    a = api.call(method, path, body, raw=raw)
    assert a.status == 400, (a.status, a.body)
    assert says in a.error(), a.body
    # nothing of a refused change was made
    alice = api.call("GET", f"/api/accounts/{USER}").body
    assert (alice["status"], alice["quota_bytes"]) == ("active", 1024 ** 3), alice


def test_accounts_crud_filter_paging_and_the_cli_sees_it(wharfd_factory):
    srv, base = start_with_console(wharfd_factory)
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    for n in ("bob1", "bob2", "bob3"):
        a = api.call("POST", "/api/accounts", {"name": n, "password": f"{n}-pw-123", "quota": "2M"})
        assert a.status == 201 and a.body["quota_bytes"] == 2 * 1024 * 1024, a.body
    assert api.call("POST", "/api/accounts", {"name": "bob1", "password": "x-pw-123"}).status == 409
    page = api.call("GET", "/api/accounts?q=BOB&limit=2&offset=1").body
    assert page["total"] == 3 and [a["name"] for a in page["accounts"]] == ["bob2", "bob3"], page
    assert api.call("GET", "/api/accounts?status=disabled").body["total"] == 0
    assert api.call("PATCH", "/api/accounts/bob2", {"status": "disabled"}).body["status"] == "disabled"
    assert api.call("PATCH", "/api/accounts/bob2", {"password": "new-pw-456"}).status == 200
    assert api.call("DELETE", "/api/accounts/bob3").status == 204
    assert api.call("GET", "/api/accounts/bob3").status == 404
    listed = subprocess.run([str(srv.bin), "users", "list", "--data", str(srv.data)],
                            capture_output=True, timeout=60).stdout.decode()
    assert re.search(r"^bob2\s+disabled", listed, re.M), listed
    assert "bob3" not in listed, listed
    # a disabled account cannot log in; enabled, with its new password, it can
    with pytest.raises(ftplib.error_perm):
        srv.ftp(user="bob2", password="new-pw-456")
    api.call("PATCH", "/api/accounts/bob2", {"status": "active"})
    f = srv.ftp(user="bob2", password="new-pw-456")
    f.storbinary("STOR up.bin", io.BytesIO(b"x" * 1000))
    f.quit()
    # a policy set through the API holds at once: bob1 becomes read-only
    a = api.call("PATCH", "/api/accounts/bob1", {"policy": "permissions list,download"})
    assert a.status == 200 and "permissions list,download" in a.body["policy"], a.body
    f = srv.ftp(user="bob1", password="bob1-pw-123")
    with pytest.raises(ftplib.error_perm):
        f.storbinary("STOR nope.bin", io.BytesIO(b"y"))
    f.quit()
    usage = {u["name"]: u for u in api.call("GET", "/api/usage").body["usage"]}
    assert usage["bob2"]["used_bytes"] == 1000 and "bob3" not in usage, usage


def test_groups_and_folders_through_the_api_hold_for_ftp_at_once(wharfd_factory, tmp_path):
    srv, base = start_with_console(wharfd_factory)
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    a = api.call("PUT", "/api/groups/readers", {"policy": "permissions list,download"})
    assert a.status == 201 and a.body["members"] == [], a.body
    assert api.call("PUT", "/api/groups/readers", {}).status == 200
    assert api.call("PUT", "/api/groups/bad%2Fname", {}).status == 400
    assert api.call("PUT", "/api/groups/x", {"policy": "colour blue"}).status == 400
    a = api.call("PUT", f"/api/accounts/{USER}/groups", {"groups": ["readers"]})
    assert a.status == 200 and a.body["groups"] == ["readers"], a.body
    assert api.call("PUT", f"/api/accounts/{USER}/groups", {"groups": ["ghost"]}).status == 404
    assert api.call("GET", "/api/groups/readers").body["members"] == [USER]
    assert [g["name"] for g in api.call("GET", "/api/groups").body["groups"]] == ["readers"]
    # the member is read-only now, as the CLI's `users show` says too
    f = srv.ftp()
    with pytest.raises(ftplib.error_perm, match="Not permitted"):
        f.storbinary("STOR nope.bin", io.BytesIO(b"y"))
    f.quit()
    shown = subprocess.run([str(srv.bin), "users", "show", USER, "--data", str(srv.data)],
                           capture_output=True, timeout=60).stdout.decode()
    assert "(group readers)" in shown, shown
    assert api.call("DELETE", "/api/groups/readers").status == 409
    api.call("PUT", f"/api/accounts/{USER}/groups", {"groups": []})
    assert api.call("DELETE", "/api/groups/readers").status == 204
    assert api.call("GET", "/api/groups/readers").status == 404
    # folders made with the CLI are listed with their usage
    subprocess.run([str(srv.bin), "folders", "add", "team", "--dir", str(tmp_path / "team"),
                    "--quota", "1M", "--data", str(srv.data)], check=True, capture_output=True,
                   timeout=60)
    [folder] = api.call("GET", "/api/folders").body["folders"]
    assert folder["name"] == "team" and folder["quota_bytes"] == 1024 * 1024, folder
    audit = [e["action"] for e in api.call("GET", "/api/audit").body["entries"]]
    assert {"groups.put", "groups.remove", "accounts.groups"} <= set(audit), audit
    # a folder's ledger row is no account: not shown, changed or removed
    for method, body in (("GET", None), ("PATCH", {"status": "disabled"}), ("DELETE", None)):
        assert api.call(method, "/api/accounts/folder:team", body).status == 404, method
    assert api.call("PATCH", f"/api/accounts/{USER}", {"status": "folder"}).status == 400
    assert api.call("GET", "/api/folders").body["folders"][0]["quota_bytes"] == 1024 * 1024


def test_group_members_and_folders_are_changed_through_the_api(wharfd_factory, tmp_path):
    srv, base = start_with_console(wharfd_factory)
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    assert api.call("PUT", "/api/groups/readers", {"policy": "permissions list,download"}).status == 201
    a = api.call("PUT", f"/api/groups/readers/members/{USER}")
    assert a.status == 200 and a.body["members"] == [USER], a.body
    assert api.call("PUT", f"/api/groups/readers/members/{USER}").body["members"] == [USER]
    assert api.call("PUT", "/api/groups/readers/members/ghost").status == 404
    assert api.call("PUT", f"/api/groups/ghost/members/{USER}").status == 404
    f = srv.ftp()
    with pytest.raises(ftplib.error_perm, match="Not permitted"):
        f.storbinary("STOR nope.bin", io.BytesIO(b"y"))
    f.quit()
    a = api.call("DELETE", "/api/groups/readers")
    assert a.status == 409 and "force" in a.error(), a.body
    a = api.call("DELETE", f"/api/groups/readers/members/{USER}")
    assert a.status == 200 and a.body["members"] == [], a.body
    assert api.call("DELETE", f"/api/groups/readers/members/{USER}").status == 404
    api.call("PUT", f"/api/groups/readers/members/{USER}")
    assert api.call("DELETE", "/api/groups/readers?force=true").status == 204
    assert api.call("GET", "/api/groups/readers").status == 404
    f = srv.ftp()  # out of the read-only group: uploads again
    f.storbinary("STOR yes.bin", io.BytesIO(b"y"))
    f.quit()

    team = tmp_path / "team"
    a = api.call("POST", "/api/folders", {"name": "team", "dir": str(team), "quota": "2M"})
    assert a.status == 201 and a.body["quota_bytes"] == 2 * 1024 * 1024, a.body
    assert team.is_dir()
    assert api.call("POST", "/api/folders", {"name": "team", "dir": str(team)}).status == 409
    for body, says in (({"name": "rel", "dir": "relative/dir"}, "absolute"),
                       ({"name": "Bad Name", "dir": str(team)}, "folder name"),
                       ({"name": "q", "dir": str(team), "quota": "12Q"}, "bad quota")):
        a = api.call("POST", "/api/folders", body)
        assert a.status == 400 and says in a.error(), (body, a.body)
    a = api.call("PATCH", "/api/folders/team", {"quota": "none"})
    assert a.status == 200 and a.body["quota_bytes"] is None, a.body
    assert api.call("GET", "/api/folders/team").body["quota_bytes"] is None
    assert api.call("PATCH", "/api/folders/ghost", {"quota": "1M"}).status == 404
    api.call("PATCH", f"/api/accounts/{USER}", {"policy": "mount team /team"})
    a = api.call("DELETE", "/api/folders/team")
    assert a.status == 409 and f"user {USER} at /team" in a.error(), a.body
    assert api.call("DELETE", "/api/folders/team?force=true").status == 204
    assert api.call("GET", "/api/folders").body["folders"] == []
    assert api.call("DELETE", "/api/folders/team").status == 404
    audit = {e["action"] for e in api.call("GET", "/api/audit").body["entries"]}
    assert {"groups.members.add", "groups.members.remove", "folders.add", "folders.quota",
            "folders.remove"} <= audit, audit
    # a read token changes none of it
    reader = Api(base, token=token(srv.bin, srv.data, "read"))
    for method, path, body in (("PUT", f"/api/groups/x/members/{USER}", None),
                               ("POST", "/api/folders", {"name": "t2", "dir": str(team)}),
                               ("PATCH", "/api/folders/t2", {"quota": "1M"}),
                               ("DELETE", "/api/folders/t2", None)):
        assert reader.call(method, path, body).status == 403, (method, path)


def test_approve_with_a_quota_and_reject_with_a_reason(wharfd_factory):
    srv, base = start_with_console(wharfd_factory, ["--registration", "approval"])
    api = Api(base)
    api.login()
    assert register(srv, "newbie").startswith("200")
    assert register(srv, "spammer").startswith("200")
    pending = [a["name"] for a in api.call("GET", "/api/registrations").body["registrations"]]
    assert pending == ["newbie", "spammer"], pending
    assert api.call("GET", "/api/status").body["pending"] == 2
    a = api.call("POST", "/api/registrations/newbie/approve", {"quota": "3M"})
    assert a.status == 200 and a.body["status"] == "active", a.body
    assert api.call("POST", "/api/registrations/newbie/approve", {}).status == 409
    f = srv.ftp(user="newbie", password="a-long-password")
    assert site_quota_limit(f) == 3 * 1024 * 1024
    assert api.call("PATCH", "/api/accounts/newbie", {"quota": "7M"}).status == 200
    assert site_quota_limit(f) == 7 * 1024 * 1024, "SITE QUOTA did not follow the API's change"
    f.quit()
    a = api.call("POST", "/api/registrations/spammer/reject", {"reason": "looks like spam"})
    assert a.status == 204, a.body
    assert api.call("GET", "/api/registrations").body["registrations"] == []
    with pytest.raises(ftplib.error_perm):
        srv.ftp(user="spammer", password="a-long-password")
    log = api.call("GET", "/api/audit?limit=10").body["entries"]
    actions = [(e["action"], e["target"], e["admin"], e["client"]) for e in log]
    assert ("registrations.reject", "spammer: looks like spam", ADMIN, "127.0.0.1") in actions
    assert ("registrations.approve", "newbie", ADMIN, "127.0.0.1") in actions
    assert ("accounts.quota", "newbie", ADMIN, "127.0.0.1") in actions
    cli = wharfd_admins(srv.bin, srv.data, "audit")
    assert re.search(r"opal\s+registrations\.reject\s+127\.0\.0\.1\s+spammer: looks like spam",
                     cli), cli


def test_live_sessions_are_listed_and_disconnected(wharfd_factory):
    srv, base = start_with_console(wharfd_factory)
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    f = srv.ftp()
    listed = api.call("GET", "/api/sessions").body["sessions"]
    assert len(listed) == 1, listed
    s = listed[0]
    assert (s["user"], s["protocol"], s["tls"]) == (USER, "ftp", False), s
    # One instance (SQLite): every session is its own.
    here = api.call("GET", "/api/sessions").body["instance"]
    assert (s["instance"], s["local"]) == (here, True), s
    assert s["client"] == "127.0.0.1:%d" % f.sock.getsockname()[1], s
    assert api.call("DELETE", f"/api/sessions/{s['id']}").status == 204
    # the server says 421 and closes the control connection
    f.sock.settimeout(10)
    data = f.sock.recv(4096)
    assert data.startswith(b"421"), data
    assert f.sock.recv(4096) == b"", "the control connection stayed open"
    f.close()
    deadline = time.monotonic() + 5
    while api.call("GET", "/api/sessions").body["sessions"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.call("GET", "/api/sessions").body["sessions"] == []
    assert api.call("DELETE", f"/api/sessions/{s['id']}").status == 404


def test_a_running_transfer_is_shown_and_a_disconnect_stops_it(wharfd_factory):
    srv, base = start_with_console(wharfd_factory, ["--max-download-rate", "64K"])
    api = Api(base, token=token(srv.bin, srv.data, "read"))
    f = srv.ftp()
    f.voidcmd("TYPE I")
    data = f.transfercmd("RETR data.bin")  # 1 MiB at 64 KiB/s: about 16 s
    got = b""
    deadline = time.monotonic() + 10
    transfer = None
    while time.monotonic() < deadline:
        got += data.recv(65536)
        sessions = api.call("GET", "/api/sessions").body["sessions"]
        transfer = sessions[0]["transfer"] if sessions else None
        if transfer and transfer["bytes"] > 0:
            break
        time.sleep(0.1)
    assert transfer and transfer["path"] == "/data.bin" and transfer["direction"] == "download", \
        transfer
    assert 0 < transfer["bytes"] < 1024 * 1024 and transfer["bytes_per_second"] > 0, transfer
    admin = Api(base, token=token(srv.bin, srv.data, "admin"))
    assert admin.call("DELETE", f"/api/sessions/{sessions[0]['id']}").status == 204
    f.sock.settimeout(10)
    control = b""
    while chunk := f.sock.recv(4096):
        control += chunk
    assert re.search(rb"^421 Disconnected by the server's operator", control, re.M), control
    data.settimeout(10)
    while data.recv(65536):
        pass  # the data connection closes too
    data.close()
    f.close()
    assert api.call("GET", "/api/sessions").body["sessions"] == []


def test_the_transfer_history_filters_pages_and_sums_per_hour(wharfd_factory):
    """Uploads and downloads over FTP (one refused by the quota) reach the
    history in the account store, which the API filters, pages and sums
    per hour; a second session's overwrite of the same name is a second
    record, not a lost one."""
    srv, base = start_with_console(wharfd_factory)
    api = Api(base, token=token(srv.bin, srv.data, "read"))
    admin = Api(base, token=token(srv.bin, srv.data, "admin"))
    used = api.call("GET", f"/api/accounts/{USER}").body["used_bytes"]
    assert admin.call("PATCH", f"/api/accounts/{USER}", {"quota": str(used + 100_000)}).status == 200
    one, two = srv.ftp(), srv.ftp()
    for f in (one, two):
        f.voidcmd("TYPE I")
    one.storbinary("STOR a.bin", io.BytesIO(b"a" * 1000))
    two.storbinary("STOR a.bin", io.BytesIO(b"b" * 2000))
    one.retrbinary("RETR a.bin", lambda _: None)
    with pytest.raises(ftplib.Error):
        two.storbinary("STOR big.bin", io.BytesIO(b"x" * 400_000))
    for f in (one, two):
        f.quit()

    def page(query: str) -> dict:
        a = api.call("GET", "/api/transfers" + query)
        assert a.status == 200, a.body
        return a.body

    deadline = time.monotonic() + 10
    while len(page("?account=" + USER)["transfers"]) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = page("?account=" + USER)["transfers"]
    assert [(t["path"], t["direction"], t["bytes"]) for t in rows[1:]] == [
        ("/a.bin", "download", 2000), ("/a.bin", "upload", 2000), ("/a.bin", "upload", 1000)], rows
    assert rows[0]["path"] == "/big.bin" and rows[0]["error"], rows[0]
    assert all(t["protocol"] == "ftp" and t["client"] == "127.0.0.1" for t in rows), rows
    assert [t["path"] for t in page("?status=failed")["transfers"]] == ["/big.bin"]
    assert len(page("?direction=download")["transfers"]) == 1
    assert len(page("?path=/a.")["transfers"]) == 3
    assert page("?account=nobody") == {"transfers": [], "next": None}
    first = page("?limit=2")
    assert len(first["transfers"]) == 2 and first["next"] == first["transfers"][1]["id"]
    rest = page(f"?limit=2&before={first['next']}")
    assert [t["id"] for t in rest["transfers"]] == [rows[2]["id"], rows[3]["id"]]
    hours = api.call("GET", "/api/transfers/hourly").body["hours"]
    assert len(hours) == 24 and hours[-1]["hour"] <= time.time() < hours[-1]["hour"] + 3600
    now = hours[-1]
    assert (now["uploads"], now["downloads"], now["failed"]) == (2, 1, 1), now
    assert now["bytes_out"] == 2000 and now["bytes_in"] >= 3000, now
    # The dashboard's disk: the data directory's file system (local storage).
    disk = api.call("GET", "/api/status").body["disk"]
    assert disk is not None and disk["total_bytes"] >= disk["free_bytes"] > 0, disk


def test_an_sftp_session_is_listed_and_disconnected(wharfd_factory):
    from test_sftp import SFTP_RE, connect
    srv, base = start_with_console(wharfd_factory, ["--sftp-listen", "127.0.0.1:0"])
    port = int(re.search(SFTP_RE, srv.wait_log(SFTP_RE)).group(1))
    srv.wait_log(r"SSH host key .*ssh_host_rsa_key", timeout=30)
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    sftp = connect(port)
    assert sftp.listdir(".")
    listed = api.call("GET", "/api/sessions").body["sessions"]
    assert [(s["user"], s["protocol"], s["tls"]) for s in listed] == [(USER, "sftp", True)], listed
    # An open file shows as the session's transfer, with the bytes read.
    f = sftp.open("data.bin", "rb")
    f.read(65536)
    transfer = api.call("GET", "/api/sessions").body["sessions"][0]["transfer"]
    assert transfer and (transfer["path"], transfer["direction"]) == ("/data.bin", "download"), \
        transfer
    assert transfer["bytes"] >= 65536, transfer
    f.close()
    assert api.call("GET", "/api/sessions").body["sessions"][0]["transfer"] is None
    assert api.call("DELETE", f"/api/sessions/{listed[0]['id']}").status == 204
    transport = sftp.get_channel().get_transport()
    deadline = time.monotonic() + 10
    while transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not transport.is_active(), "the SSH connection outlived its disconnect"
    with pytest.raises((OSError, EOFError)):
        sftp.listdir(".")
    assert api.call("GET", "/api/sessions").body["sessions"] == []


def test_lockout_after_five_wrong_passwords(wharfd_factory):
    _, base = start_with_console(wharfd_factory)
    api = Api(base)
    for _ in range(5):
        a = api.login(password="wrong")
        assert a.status == 401 and "wrong admin name or password" in a.error(), a.body
    a = api.login()
    assert a.status == 429 and "too many failed logins" in a.error(), a.body
    # an unknown name answers like a wrong password
    assert api.login(name="nobody").status == 401


def test_totp_second_factor_on_the_api_login(wharfd_factory):
    from admin_http import enrol_totp, totp_code
    srv, base = start_with_console(wharfd_factory)
    secret = enrol_totp(srv.bin, srv.data)
    assert re.search(r"^opal\s+added .*TOTP on", wharfd_admins(srv.bin, srv.data, "list"), re.M)
    api = Api(base)
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    hour_ago = totp_code(secret, time.time() - 3600)
    # without a code, with a wrong, malformed or old one: refused like a
    # wrong password
    for code in (None, wrong, "12ab56", hour_ago):
        a = api.login(code=code)
        assert a.status == 401 and "wrong admin name or password" in a.error(), (code, a.body)
    # the lockout counts them: a fifth failure locks even the right code out
    assert api.login(password="wrong", code=totp_code(secret)).status == 401
    assert api.login(code=totp_code(secret)).status == 429
    log = wharfd_admins(srv.bin, srv.data, "audit")
    assert log.count("login.failed") == 5, log

    # a fresh server (no lockout): the right code works once
    srv2, base2 = start_with_console(wharfd_factory)
    secret = enrol_totp(srv2.bin, srv2.data)
    api = Api(base2)
    code = totp_code(secret)
    a = api.login(code=code)
    assert a.status == 200 and a.body["admin"] == ADMIN, a.body
    assert api.call("GET", "/api/status").status == 200
    a = Api(base2).login(code=code)
    assert a.status == 401, f"a used code was accepted again: {a.body}"
    # an enrolment again replaces the secret; --disable turns it off
    new_secret = enrol_totp(srv2.bin, srv2.data)
    assert new_secret != secret
    out = wharfd_admins(srv2.bin, srv2.data, "totp", ADMIN, "--disable")
    assert "TOTP is off" in out, out
    assert Api(base2).login().status == 200
    log = wharfd_admins(srv2.bin, srv2.data, "audit")
    for action in ("admins.totp", "admins.totp.disable"):
        assert action in log, log
    assert new_secret not in log
    cp = subprocess.run([str(srv2.bin), "admins", "totp", "ghost", "--data", str(srv2.data)],
                        capture_output=True, timeout=60)
    assert cp.returncode != 0 and b"no admin named \"ghost\"" in cp.stderr, cp.stderr


def test_https_with_the_servers_certificate(wharfd_factory, wharfd_bin, tmp_path):
    certs = tmp_path / "tls"
    subprocess.run([str(wharfd_bin), "cert", "self-signed", "--out", str(certs),
                    "--data", str(tmp_path / "certdata")],
                   check=True, capture_output=True, timeout=60)
    _, base = start_with_console(wharfd_factory, ["--tls-cert", str(certs / "cert.pem"),
                                                  "--tls-key", str(certs / "key.pem")],
                                 scheme="https")
    api = Api(base, cafile=str(certs / "cert.pem"))
    a = api.login()
    assert a.status == 200, a.body
    assert "Secure" in a.headers["set-cookie"], a.headers["set-cookie"]
    assert api.call("GET", "/api/status").status == 200
    with pytest.raises(Exception):  # plain HTTP to the HTTPS port is refused
        Api(base.replace("https", "http")).call("GET", "/health", validate=False)


def test_sighup_gives_the_console_the_new_certificate(wharfd_factory, wharfd_bin, tmp_path):
    import os
    import signal
    import ssl
    import urllib.error
    from test_service import install_pair, make_pair
    first = make_pair(wharfd_bin, tmp_path / "first")
    second = make_pair(wharfd_bin, tmp_path / "second")
    (tmp_path / "live").mkdir()
    live = (tmp_path / "live" / "cert.pem", tmp_path / "live" / "key.pem")
    install_pair(first, live)
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text(f'tls_cert = "{live[0]}"\ntls_key = "{live[1]}"\n')
    srv, base = start_with_console(wharfd_factory, ["--config", str(cfg)], scheme="https")
    assert Api(base, cafile=str(first[0])).call("GET", "/health").status == 200
    install_pair(second, live)
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"configuration reloaded")
    assert Api(base, cafile=str(second[0])).call("GET", "/health").status == 200
    with pytest.raises(urllib.error.URLError) as e:
        Api(base, cafile=str(first[0])).call("GET", "/health", validate=False)
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError), e.value


def test_metrics_and_health_on_the_admin_server(wharfd_factory):
    import urllib.request
    srv, base = start_with_console(wharfd_factory)
    srv.ftp().quit()
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4"
        text = r.read().decode()
    assert re.search(r'^wharf_logins_total\{result="ok"\} 1$', text, re.M), text
    a = Api(base).call("GET", "/health")
    assert a.status == 200 and a.body["status"] == "ok", a.body


def test_the_admins_commands_and_their_misuse(wharfd_factory):
    srv, base = start_with_console(wharfd_factory)
    assert re.search(r"^opal\s+added ", wharfd_admins(srv.bin, srv.data, "list"), re.M)

    def refused(*args: str, input: str | None = None) -> str:
        cp = subprocess.run([str(srv.bin), "admins", *args, "--data", str(srv.data)],
                            input=(input or "").encode(), capture_output=True, timeout=60)
        assert cp.returncode != 0, f"`admins {' '.join(args)}` should have failed"
        return cp.stderr.decode()

    assert "bad scope \"root\": use read or admin" in refused("token", ADMIN, "--scope", "root")
    assert "no admin named \"ghost\"" in refused("token", "ghost", "--scope", "read")
    assert "already exists" in refused("add", ADMIN, "--password-stdin", input="x\n")
    assert "empty password refused" in refused("add", "ruby", "--password-stdin", input="\n")
    assert "bad admin name" in refused("add", "bad name", "--password-stdin", input="pw\n")
    assert "cannot remove admin \"ghost\"" in refused("remove", "ghost")

    tok = token(srv.bin, srv.data, "admin")
    assert Api(base, token=tok).call("GET", "/api/status").status == 200
    wharfd_admins(srv.bin, srv.data, "remove", ADMIN)
    assert Api(base, token=tok).call("GET", "/api/status").status == 401, \
        "a removed admin's token still works"
    assert Api(base).login().status == 401
    log = wharfd_admins(srv.bin, srv.data, "audit")
    for action in ("admins.add", "admins.token", "admins.remove"):
        assert action in log, log
    assert ADMIN_PASSWORD not in log


def test_the_openapi_document_is_valid_and_names_every_route():
    """docs/openapi.yaml is a valid OpenAPI 3 document, and it documents
    exactly the routes the router serves (read from its source)."""
    from admin_http import ROOT, SPEC
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename
    spec, _ = read_from_filename(str(SPEC))
    validate(spec)
    sources = [ROOT / "crates/admin-http/src" / f
               for f in ("api.rs", "monitor.rs", "groups.rs", "folders.rs", "transfers.rs")]
    routed = set()
    for src in sources:
        routed |= set(re.findall(r'\.route\(\s*"(/[^"]*)"', src.read_text()))
    assert routed, "no routes found in the router's source"
    assert routed == set(spec["paths"]), (
        f"undocumented: {sorted(routed - set(spec['paths']))}; "
        f"documented but not served: {sorted(set(spec['paths']) - routed)}")


def test_approve_and_reject_through_the_api_tell_the_event_programs(wharfd_factory, tmp_path):
    from test_events import config, received, recorder
    script, out = recorder(tmp_path)
    srv, base = start_with_console(wharfd_factory, config(tmp_path, f"""
[[event_command]]
program = "{script}"
args = ["{out}"]
"""))
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    register(srv, "erin")
    register(srv, "frank")
    assert api.call("POST", "/api/registrations/erin/approve", {"quota": "2M"}).status == 200
    assert api.call("POST", "/api/registrations/frank/reject", {"reason": "duplicate"}).status == 204
    approved = received(out, "registration.approved")
    assert [e["account"] for e in approved] == ["erin"], approved
    assert "2.0 MiB" in approved[0]["reason"], approved[0]
    rejected = received(out, "registration.rejected")
    assert [(e["account"], e["reason"]) for e in rejected] == [("frank", "duplicate")], rejected


def test_account_changes_from_the_cli_are_audited_too(wharfd_factory):
    srv, base = start_with_console(wharfd_factory)
    cp = subprocess.run([str(srv.bin), "users", "quota", USER, "5M", "--data", str(srv.data)],
                        capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    register(srv, "gina")
    cp = subprocess.run([str(srv.bin), "users", "reject", "gina", "--data", str(srv.data)],
                        capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    entries = Api(base, token=token(srv.bin, srv.data, "read")).call(
        "GET", "/api/audit").body["entries"]
    got = [(e["action"], e["target"], e["client"]) for e in entries]
    assert ("accounts.quota", USER, "cli") in got, got
    assert ("registrations.reject", "gina", "cli") in got, got


def test_a_taken_or_bad_admin_address_stops_the_start_with_what_to_fix(wharfd_bin, tmp_path):
    import socket
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    port = held.getsockname()[1]
    try:
        taken = f"cannot listen for the admin console on 127.0.0.1:{port} (in use?"
        for addr, says in [(f"127.0.0.1:{port}", taken), ("localhost:http", "localhost:http")]:
            cp = subprocess.run([str(wharfd_bin), "serve", "--data", str(tmp_path / "d"),
                                 "--listen", "127.0.0.1:0", "--admin-listen", addr],
                                capture_output=True, timeout=60,
                                env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
            out = cp.stderr.decode()
            assert cp.returncode != 0, f"wharfd started with --admin-listen {addr}"
            assert says in out, out
    finally:
        held.close()


def test_console_forms_for_groups_and_folders_need_the_csrf_field(wharfd_factory, tmp_path):
    import urllib.error
    import urllib.parse
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    _, base = start_with_console(wharfd_factory)
    api = Api(base)
    csrf = api.login().body["csrf"]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(api.jar), NoRedirect)

    def form(path: str, fields: dict[str, str]) -> int:
        req = urllib.request.Request(base + path, data=urllib.parse.urlencode(fields).encode(),
                                     method="POST")
        try:
            with opener.open(req, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    team = str(tmp_path / "team")
    for path, fields in (("/console/groups", {"name": "staff"}),
                         ("/console/folders", {"name": "team", "dir": team})):
        for bad in ({}, {"csrf": "0" * 64}):
            assert form(path, {**fields, **bad}) == 403, (path, bad)
        assert form(path, {**fields, "csrf": csrf}) == 303, path
    assert api.call("GET", "/api/groups/staff").status == 200
    for path in ("/console/groups/staff/members", "/console/groups/staff/policy",
                 "/console/groups/staff/remove", "/console/folders/team/quota",
                 "/console/folders/team/remove", f"/console/groups/staff/members/{USER}/remove"):
        assert form(path, {"account": USER, "policy": "", "quota": "1M"}) == 403, path
    assert api.call("GET", "/api/groups/staff").body["members"] == []
    assert api.call("GET", "/api/folders/team").body["quota_bytes"] is None
    # without a login, the forms send to the login page and change nothing
    anon = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(base + "/console/groups/staff/remove",
                                 data=b"csrf=" + csrf.encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        anon.open(req, timeout=30)
    assert e.value.code == 303 and e.value.headers["location"] == "/console/login"
    assert api.call("GET", "/api/groups/staff").status == 200
