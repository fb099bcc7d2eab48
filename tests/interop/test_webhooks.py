"""Event webhooks (README "Events"): `[[event_webhook]]` POSTs each event's
JSON to an HTTP endpoint, signed with HMAC-SHA256 over "TIMESTAMP.BODY"
(X-Wharf-Timestamp, X-Wharf-Signature), from a persistent queue in the data
directory: 5xx, 429 and connection errors are retried with backoff, other
answers are not; a full queue drops the oldest (counted in metrics); queued
events survive a restart of wharfd and then arrive once each, in order.

The receiver is Python's http.server on 127.0.0.1, in the test's process;
it checks every signature itself.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import io
import json
import re
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import USER
from local_daemons import free_port
from test_events import config
from test_ftps import certs  # noqa: F401 (the fixture)
from test_registration_quota import site_register, users

SECRET = "a-test-secret-of-32-characters!!"


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records what it is sent, answering
    from `plan` (statuses, or (status, body text), first to last) and then
    200."""

    def __init__(self, port: int = 0, plan: list[int] | None = None,
                 tls: tuple[Path, Path] | None = None):
        self.plan = list(plan or [])
        self.attempts: list[dict] = []   # every request, answered or not
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = receiver.plan.pop(0) if receiver.plan else 200
                    status, text = status if isinstance(status, tuple) else (status, "")
                    receiver.attempts.append({
                        "id": self.headers["X-Wharf-Event-Id"],
                        "signed": signature_ok(self.headers, body),
                        "type": self.headers["Content-Type"],
                        "path": self.path,
                        "status": status,
                        "event": json.loads(body)})
                self.send_response(status)
                self.send_header("Content-Length", str(len(text.encode())))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def delivered(self, kind: str | None = None, *, want: int = 1,
                  timeout: float = 15) -> list[dict]:
        """Events answered 2xx (of `kind`), waiting until there are `want`."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = [a for a in self.attempts if 200 <= a["status"] < 300
                       and (kind is None or a["event"]["kind"] == kind)]
            if len(got) >= want or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


def signature_ok(headers, body: bytes) -> bool:
    """What a receiver does: recompute the HMAC, compare in constant time,
    refuse timestamps far from its clock."""
    ts = headers.get("X-Wharf-Timestamp", "")
    sig = headers.get("X-Wharf-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
        return False
    want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body,
                                hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, sig)


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def start(**kw) -> Receiver:
        r = Receiver(**kw)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


def hook(url: str, extra: str = "") -> str:
    return f"""
[[event_webhook]]
url = "{url}"
secret = "{SECRET}"
retry_initial_ms = 100
retry_max = 1
{extra}
"""


def test_every_event_arrives_signed_with_its_fields(wharfd_factory, receivers, tmp_path):
    rx = receivers()
    args = config(tmp_path, hook(rx.url))
    srv = wharfd_factory(args)
    assert rx.delivered("server.start")
    f = srv.ftp()
    f.storbinary("STOR up.bin", io.BytesIO(b"x" * 1000))
    f.retrbinary("RETR up.bin", lambda _: None)
    f.mkd("d")
    f.rename("up.bin", "d/moved.bin")
    f.delete("d/moved.bin")
    f.rmd("d")
    f.quit()
    with pytest.raises(Exception):
        srv.ftp(password="wrong")
    assert site_register(srv, "carol carol-password-1").startswith("2")
    # the operator's decision, made by another process, is queued for the server
    users(srv.bin, srv.data, "approve", "carol", args[0], args[1])
    assert site_register(srv, "dave dave-password-1").startswith("2")
    users(srv.bin, srv.data, "reject", "dave", args[0], args[1])

    up = rx.delivered("upload.done")[0]["event"]
    assert {k: up[k] for k in ("version", "account", "client", "protocol", "path",
                               "size", "result")} == {
        "version": 1, "account": USER, "client": "127.0.0.1", "protocol": "ftp",
        "path": "/up.bin", "size": 1000, "result": "ok"}
    assert rx.delivered("download.done")[0]["event"]["size"] == 1000
    assert rx.delivered("mkdir")[0]["event"]["path"] == "/d"
    ren = rx.delivered("rename")[0]["event"]
    assert (ren["path"], ren["target"]) == ("/up.bin", "/d/moved.bin")
    assert rx.delivered("delete")[0]["event"]["path"] == "/d/moved.bin"
    assert rx.delivered("rmdir")[0]["event"]["path"] == "/d"
    assert rx.delivered("login.ok")[0]["event"]["account"] == USER
    assert rx.delivered("login.failed")[0]["event"]["result"] == "failed"
    assert rx.delivered("registration.requested")[0]["event"]["account"] == "carol"
    assert rx.delivered("registration.approved")[0]["event"]["account"] == "carol"
    assert rx.delivered("registration.rejected")[0]["event"]["account"] == "dave"
    with rx.lock:
        attempts = list(rx.attempts)
    assert attempts and all(a["signed"] for a in attempts), attempts
    assert {a["type"] for a in attempts} == {"application/json"}
    assert {a["path"] for a in attempts} == {"/hook"}
    ids = [a["id"] for a in attempts]
    assert len(set(ids)) == len(ids)
    # delivered events leave the queue
    queue = next((srv.data / "events").iterdir())
    deadline = time.monotonic() + 5
    while list(queue.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(queue.iterdir()) == []


def test_5xx_is_retried_with_backoff_and_the_event_arrives_once(wharfd_factory,
                                                                  receivers, tmp_path):
    rx = receivers(plan=[500, 503, 500])
    srv = wharfd_factory(config(tmp_path, hook(rx.url, 'events = ["mkdir"]')))
    f = srv.ftp()
    f.mkd("one")
    f.mkd("two")
    f.quit()
    got = rx.delivered(want=2)
    assert [a["event"]["path"] for a in got] == ["/one", "/two"]
    with rx.lock:
        attempts = list(rx.attempts)
    # the first event was tried four times (same id), the second waited behind it
    assert [a["status"] for a in attempts] == [500, 503, 500, 200, 200]
    assert len({a["id"] for a in attempts[:4]}) == 1
    assert srv.wait_log(r"webhook failed; will retry")


def test_4xx_is_not_retried_but_429_is(wharfd_factory, receivers, tmp_path):
    rx = receivers(plan=[400, 429])
    srv = wharfd_factory(config(tmp_path, hook(rx.url, 'events = ["mkdir"]')))
    f = srv.ftp()
    f.mkd("refused")
    f.mkd("throttled")
    f.quit()
    got = rx.delivered(want=1)
    time.sleep(0.5)
    with rx.lock:
        attempts = [(a["event"]["path"], a["status"]) for a in rx.attempts]
    assert attempts == [("/refused", 400), ("/throttled", 429), ("/throttled", 200)]
    assert [a["event"]["path"] for a in got] == ["/throttled"]
    assert srv.wait_log(r"webhook refused an event")


def test_queued_events_survive_a_restart_and_arrive_once_in_order(wharfd_factory,
                                                                    receivers, tmp_path):
    port = free_port()      # nothing listens there yet: every attempt fails
    srv = wharfd_factory(config(tmp_path, hook(
        f"http://127.0.0.1:{port}/hook", 'events = ["mkdir", "server.start", "server.stop"]')))
    f = srv.ftp()
    for name in ("a", "b", "c"):
        f.mkd(name)
    f.quit()
    srv.wait_log(r"webhook failed; will retry")
    assert srv.stop() == 0                 # SIGTERM
    queue = next((srv.data / "events").iterdir())
    assert len(list(queue.glob("*.json"))) == 5   # start, a, b, c, stop

    rx = receivers(port=port)
    srv.lines.clear()
    srv.start(config(tmp_path, hook(
        f"http://127.0.0.1:{port}/hook", 'events = ["mkdir", "server.start", "server.stop"]')),
        {})
    got = rx.delivered(want=6)
    time.sleep(0.5)
    got = rx.delivered(want=6)
    seen = [(a["event"]["kind"], a["event"].get("path")) for a in got]
    assert seen == [("server.start", None), ("mkdir", "/a"), ("mkdir", "/b"),
                    ("mkdir", "/c"), ("server.stop", None), ("server.start", None)]
    assert all(a["signed"] for a in got)


def test_https_verifies_the_certificate_against_the_given_ca(wharfd_factory, receivers,
                                                              certs, tmp_path):
    rx = receivers(tls=certs)
    srv = wharfd_factory(config(tmp_path, hook(rx.url, f"""
name = "trusted"
events = ["mkdir"]
cacert = "{certs[0]}"
""") + hook(rx.url, """
name = "system-roots"
events = ["rmdir"]
""")))
    f = srv.ftp()
    f.mkd("x")
    f.rmd("x")
    f.quit()
    got = rx.delivered(want=1)
    assert [a["event"]["kind"] for a in got] == ["mkdir"] and got[0]["signed"]
    # the same server's certificate is not trusted through the system's roots
    assert srv.wait_log(r"webhook failed; will retry.*(certificate|Certificate|UnknownIssuer)")
    time.sleep(0.5)
    assert [a["event"]["kind"] for a in rx.delivered(want=2, timeout=0)] == ["mkdir"]


def metrics(srv) -> str:
    line = srv.wait_log(r"metrics.*127\.0\.0\.1:\d+")
    port = int(re.findall(r"127\.0\.0\.1:(\d+)", line)[-1])
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def test_a_full_queue_drops_the_oldest_and_counts_it(wharfd_factory, receivers, tmp_path):
    port = free_port()
    srv = wharfd_factory(["--metrics-listen", "127.0.0.1:0", *config(tmp_path, hook(
        f"http://127.0.0.1:{port}/hook", 'events = ["mkdir"]\nqueue = 3'))])
    f = srv.ftp()
    for i in range(6):
        f.mkd(f"d{i}")
    f.quit()
    queue = next((srv.data / "events").iterdir())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = metrics(srv)
        if re.search(r"^wharf_events_dropped_total 3$", text, re.M):
            break
        time.sleep(0.2)
    assert re.search(r"^wharf_events_dropped_total 3$", text, re.M), text
    assert int(re.search(r"^wharf_event_sink_failures_total (\d+)", text, re.M).group(1)) >= 1
    assert len(list(queue.glob("*.json"))) == 3
    rx = receivers(port=port)
    got = rx.delivered(want=3)
    assert [a["event"]["path"] for a in got] == ["/d3", "/d4", "/d5"]


@pytest.mark.parametrize("table, message", [
    ('url = "ftp://example.org/"\nsecret = "' + SECRET + '"', "https:// (or http://) URL"),
    ('url = "not a url"\nsecret = "' + SECRET + '"', "is not a URL"),
    ('url = "https://127.0.0.1/"\nsecret = "short"', "at least 16"),
    ('url = "https://127.0.0.1/"', "give `secret` or `secret_file`"),
    ('url = "https://127.0.0.1/"\nsecret_file = "/nonexistent/key"', "secret_file"),
    ('url = "https://127.0.0.1/"\nsecret = "' + SECRET + '"\ncacert = "{bad}"',
     "no usable PEM certificate"),
])
def test_a_bad_webhook_is_refused_at_startup(wharfd_bin, tmp_path, table, message):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text("[[event_webhook]]\n" + table.replace("{bad}", str(bad)) + "\n")
    data = tmp_path / "data"
    data.mkdir()
    cp = subprocess.run([str(wharfd_bin), "serve", "--data", str(data), "--listen",
                         "127.0.0.1:0", "--config", str(cfg)],
                        capture_output=True, text=True, timeout=20)
    assert cp.returncode != 0
    assert message in cp.stderr, cp.stderr
    assert SECRET not in cp.stderr
