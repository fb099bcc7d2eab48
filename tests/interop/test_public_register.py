"""The public registration page of `wharfd --public-register` over plain
HTTP (urllib): off unless asked for, refused at start without the admin
server or with registration off; /register runs SITE REGISTER's own rules
(name, password length, taken names, mail address) and shares its
per-address limit with FTP; a form from another site is refused; the
status page answers pending / approved / rejected only to the right
password, one answer for an unknown name or a wrong password, with the
login lockout. The browser test is in test_admin_console.py."""

from __future__ import annotations

import ftplib
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from admin_http import Api, start_with_console, token
from wharf_helpers import TIMEOUT, USER


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def post(base: str, path: str, fields: dict[str, str], headers: dict[str, str] | None = None):
    """POSTs a form; returns (status, body text, headers)."""
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(base + path, data=data, method="POST", headers=headers or {})
    try:
        with OPENER.open(req, timeout=30) as r:
            return r.status, r.read().decode(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), {k.lower(): v for k, v in e.headers.items()}


def get(base: str, path: str):
    try:
        with OPENER.open(base + path, timeout=30) as r:
            return r.status, r.read().decode(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), {k.lower(): v for k, v in e.headers.items()}


def register(base, name, password="a-long-password", again=None, contact="", headers=None):
    return post(base, "/register", {"name": name, "password": password,
                                    "again": password if again is None else again,
                                    "contact": contact}, headers)


def status(base, name, password="a-long-password"):
    return post(base, "/register/status", {"name": name, "password": password})


def test_the_page_is_off_unless_asked_for_and_misuse_stops_the_start(wharfd_factory, wharfd_bin,
                                                                     tmp_path):
    _, base = start_with_console(wharfd_factory)
    for path in ("/register", "/register/status"):
        code, body, _ = get(base, path)
        assert code == 404 and "Registration from the web is off" in body, (path, code)
    assert register(base, "mallory")[0] == 404
    for args, says in ((["--public-register"], "needs admin_listen"),
                       (["--public-register", "--admin-listen", "127.0.0.1:0",
                         "--registration", "off"], "not off")):
        cp = subprocess.run([str(wharfd_bin), "serve", "--data", str(tmp_path / "d"),
                             "--listen", "127.0.0.1:0", *args],
                            capture_output=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
        assert cp.returncode != 0, f"wharfd started with {args}"
        assert says in cp.stderr.decode(), cp.stderr.decode()


def test_register_on_the_web_with_site_registers_rules(wharfd_factory):
    srv, base = start_with_console(wharfd_factory, ["--public-register"])
    code, body, _ = get(base, "/register")
    assert code == 200 and "At least 8 characters" in body, body
    code, _, headers = register(base, "webbie", contact="webbie@example.org")
    assert code == 303 and headers["location"] == "/register/status?sent=pending", (code, headers)
    code, body, headers = get(base, "/register/status?sent=pending")
    assert "awaits the operator" in body and headers["x-frame-options"] == "DENY"
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    [pending] = api.call("GET", "/api/registrations").body["registrations"]
    assert pending["name"] == "webbie" and pending["registered_from"] == "127.0.0.1", pending

    # what SITE REGISTER refuses, the page refuses with the same words
    # (before the per-address count; taken names: see the status test)
    for name, password, again, contact, want, says in (
            ("root", "a-long-password", None, "", 400, "reserved"),
            ("Bad Name", "a-long-password", None, "", 400, "Bad name"),
            ("shorty", "short", None, "", 400, "Password too short"),
            ("typo", "a-long-password", "a-long-passwort", "", 400, "passwords differ"),
            ("mailer", "a-long-password", None, "a@b,c@d.org", 400, "Bad mail address")):
        code, body, _ = register(base, name, password, again, contact)
        assert code == want and says in body, (name, code, body[-600:])
    assert 'value="typo"' in register(base, "typo", again="x")[1], "the name was not kept"

    # a form from another site is refused; the page's own origin is fine
    host = base.split("://", 1)[1]
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null"}):
        code, body, _ = register(base, "csrfed", headers=headers)
        assert code == 403 and "only be sent from this server" in body, (headers, code)
        assert status(base, "webbie")[0] == 200
    code, _, _ = register(base, "sameorig",
                          headers={"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"})
    assert code == 303
    names = [r["name"] for r in api.call("GET", "/api/registrations").body["registrations"]]
    assert names == ["sameorig", "webbie"], names

    # the per-address limit (3 an hour) counts FTP and the web together
    f = ftplib.FTP(timeout=TIMEOUT)
    f.connect(srv.host, srv.port)
    assert f.sendcmd("SITE REGISTER ftpbie a-long-password").startswith("200")
    code, body, _ = register(base, "onemore")
    assert code == 429 and "Too many registrations from your address" in body, (code, body)
    with pytest.raises(ftplib.error_temp, match="Too many registrations"):
        f.sendcmd("SITE REGISTER twomore a-long-password")
    f.close()


def test_the_status_page_tells_only_the_registrant(wharfd_factory):
    srv, base = start_with_console(wharfd_factory, ["--public-register"])
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    for name in ("webbie", "nopey"):
        assert register(base, name)[0] == 303
    code, body, _ = register(base, USER)
    assert code == 409 and "already taken" in body, (code, body)
    code, body, _ = status(base, "webbie")
    assert code == 200 and "webbie — pending" in body, body
    api.call("POST", "/api/registrations/webbie/approve", {"quota": "5M"})
    api.call("POST", "/api/registrations/nopey/reject", {"reason": "no <b>spam</b> please"})
    code, body, _ = status(base, "webbie")
    assert code == 200 and "webbie — approved" in body, body
    f = srv.ftp(user="webbie", password="a-long-password")  # the account works
    f.quit()
    code, body, _ = status(base, "nopey")
    assert code == 200 and "rejected: no &lt;b&gt;spam&lt;/b&gt; please" in body, body
    # a wrong password and an unknown name get one answer
    wrong = status(base, "webbie", "not-the-password")
    unknown = status(base, "ghost-name")
    assert wrong[0] == unknown[0] == 401
    said = "No registration with that name and password."
    assert said in wrong[1] and said in unknown[1]
    # and count as failed logins: the third for a name locks it out, on FTP too
    assert status(base, "webbie", "wrong-again")[0] == 401
    assert status(base, "webbie", "wrong-a-third-time")[0] == 401
    code, body, _ = status(base, "webbie")
    assert code == 429 and "Too many failed tries" in body, (code, body)
    f = ftplib.FTP(timeout=TIMEOUT)
    f.connect(srv.host, srv.port)
    with pytest.raises(ftplib.error_temp, match="Too many failed logins"):
        f.sendcmd("SITE REGSTATUS webbie a-long-password")
    f.close()
