"""Helpers for the admin API and console tests: an admin and tokens made
with `wharfd admins`, and an HTTP client whose every answer is checked
against docs/openapi.yaml with openapi-core (PyPI; tests/console/install.sh).
A missing openapi-core FAILS the tests that use it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.cookiejar
import json
import os
import re
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "openapi.yaml"
ADMIN = "opal"
ADMIN_PASSWORD = "opal-console-pw"


def wharfd_admins(bin: Path, data: Path, *args: str, input: str | None = None) -> str:
    """`wharfd admins ARGS --data DATA`; fails the test on a non-zero exit."""
    cmd = [str(bin), "admins", *args, "--data", str(data)]
    cp = subprocess.run(cmd, input=input.encode() if input is not None else None,
                        stdin=None if input is not None else subprocess.DEVNULL,
                        capture_output=True, timeout=60,
                        env={k: v for k, v in os.environ.items() if not k.startswith("WHARF_")})
    if cp.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` exited {cp.returncode}:\n"
                    f"{cp.stdout.decode(errors='replace')}{cp.stderr.decode(errors='replace')}",
                    pytrace=False)
    return cp.stdout.decode()


def add_admin(bin: Path, data: Path) -> None:
    wharfd_admins(bin, data, "add", ADMIN, "--password-stdin", input=ADMIN_PASSWORD + "\n")


def token(bin: Path, data: Path, scope: str) -> str:
    return wharfd_admins(bin, data, "token", ADMIN, "--scope", scope).strip()


def enrol_totp(bin: Path, data: Path, name: str = ADMIN) -> str:
    """`wharfd admins totp NAME`: turns TOTP on; returns the base32 secret
    (and checks the otpauth:// URI printed with it)."""
    out = wharfd_admins(bin, data, "totp", name)
    secret = re.search(r"^secret: ([A-Z2-7]+)$", out, re.M).group(1)
    uri = re.search(r"^uri: (\S+)$", out, re.M).group(1)
    assert uri == (f"otpauth://totp/Wharf:{name}?secret={secret}&issuer=Wharf"
                   "&algorithm=SHA1&digits=6&period=30"), uri
    return secret


def totp_code(secret: str, at: float | None = None) -> str:
    """The RFC 6238 code (HMAC-SHA-1, 6 digits, 30 s) of base32 `secret`
    at Unix time `at` (now), computed here independently of the server."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int((time.time() if at is None else at) // 30)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    word = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{word % 1_000_000:06d}"


def _spec():
    try:
        from openapi_core import OpenAPI
    except ImportError:
        pytest.fail("openapi-core is missing: run tests/console/install.sh", pytrace=False)
    return OpenAPI.from_file_path(str(SPEC))


@dataclass
class Answer:
    status: int
    body: object
    headers: dict[str, str]
    raw: bytes = b""

    def error(self) -> str:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        return self.body["error"]


@dataclass
class Api:
    """One client of the admin API: cookies kept, token or CSRF header sent
    when set, every answer validated against the OpenAPI document."""
    base: str
    token: str | None = None
    csrf: str | None = None
    cafile: str | None = None
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self):
        self.spec = _spec()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)]
        if self.cafile:
            handlers.append(urllib.request.HTTPSHandler(
                context=ssl.create_default_context(cafile=self.cafile)))
        self.opener = urllib.request.build_opener(*handlers)

    def call(self, method: str, path: str, body: object = None, *, raw: bytes | None = None,
             csrf: bool = True, validate: bool = True) -> Answer:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        if self.csrf and csrf:
            req.add_header("X-CSRF-Token", self.csrf)
        try:
            with self.opener.open(req, timeout=30) as r:
                status, payload, headers = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, payload, headers = e.code, e.read(), dict(e.headers)
        ctype = headers.get("content-type", headers.get("Content-Type", ""))
        parsed: object = payload.decode(errors="replace")
        if ctype.startswith("application/json"):
            parsed = json.loads(payload)
        if validate:
            self.check(method, path, status, payload, ctype)
        return Answer(status, parsed, {k.lower(): v for k, v in headers.items()}, payload)

    def check(self, method: str, path: str, status: int, payload: bytes, ctype: str) -> None:
        from openapi_core.testing import MockRequest, MockResponse
        url = urllib.parse.urlsplit(path)
        args = dict(urllib.parse.parse_qsl(url.query))
        request = MockRequest(self.base, method.lower(), url.path, args=args)
        response = MockResponse(payload, status_code=status,
                                content_type=ctype.split(";")[0] or "application/json")
        try:
            self.spec.validate_response(request, response)
        except Exception as e:  # noqa: BLE001 - any contract failure fails the test
            detail = getattr(e, "__cause__", None) or e
            pytest.fail(f"{method} {path} -> {status} does not match docs/openapi.yaml: "
                        f"{e!r}: {detail}\nbody: {payload[:500]!r}", pytrace=False)

    def login(self, name: str = ADMIN, password: str = ADMIN_PASSWORD,
              code: str | None = None) -> Answer:
        body = {"name": name, "password": password}
        if code is not None:
            body["code"] = code
        a = self.call("POST", "/api/login", body)
        if a.status == 200:
            self.csrf = a.body["csrf"]
        return a


def start_with_console(wharfd_factory, extra: list[str] | None = None, scheme: str = "http"):
    """A server with --admin-listen on a kernel-picked port and admin opal;
    returns (server, base URL)."""
    srv = wharfd_factory(["--admin-listen", "127.0.0.1:0", *(extra or [])])
    add_admin(srv.bin, srv.data)
    pattern = rf"admin console on ({scheme}://127\.0\.0\.1:\d+)/console/"
    line = srv.wait_log(pattern)
    return srv, re.search(pattern, line).group(1)
