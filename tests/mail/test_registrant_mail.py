"""The registrant hears back, by mail too (docs/accounts.md "Registration",
`[registrant_mail]`): a registration with a contact address is mailed to
the operator at once (`[[event_mail]]`), the registrant waits with the
`wharf ftp` shell's `register ... --wait`, the operator approves or rejects
with `wharfd users` or the admin console's API, the shell says the answer and the registrant's mailbox
gets it, read back with POP3 (poplib, STLS). Through a real postfix and
dovecot on 127.0.0.1; wharfd is stopped by its PID.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import poplib
import re
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest

from wharfd_process import WharfdProcess, wharfd_bin  # noqa: F401 (fixture)

PW = "carol-password-1"


def pop3_messages(mail, user: str, password: str, want: int, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        p = poplib.POP3(mail.host, mail.pop3_port, timeout=20)
        p.stls(context=ssl.create_default_context(cafile=mail.cafile))
        p.user(user)
        p.pass_(password)
        count = p.stat()[0]
        msgs = [email.message_from_bytes(b"\r\n".join(p.retr(i + 1)[1]),
                                         policy=email.policy.default) for i in range(count)]
        p.quit()
        if count >= want or time.monotonic() > deadline:
            return msgs
        time.sleep(0.3)


def admin(bin, data, cfg, *args) -> str:
    cp = subprocess.run([str(bin), "users", *args, "--data", str(data), "--config", str(cfg)],
                        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return cp.stdout + cp.stderr


def console_reject(bin, data, srv, name: str, reason: str) -> None:
    """Rejects `name` through the admin API, as the console's button does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    run = dict(capture_output=True, text=True, timeout=60, env=env)
    cp = subprocess.run([str(bin), "admins", "add", "opal", "--password-stdin", "--data",
                         str(data)], input="opal-console-pw\n", **run)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    cp = subprocess.run([str(bin), "admins", "token", "opal", "--scope", "admin", "--data",
                         str(data)], stdin=subprocess.DEVNULL, **run)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    pattern = r"admin console on (http://127\.0\.0\.1:\d+)/console/"
    base = re.search(pattern, srv.wait_log(pattern)).group(1)
    req = urllib.request.Request(
        f"{base}/api/registrations/{name}/reject", method="POST",
        data=json.dumps({"reason": reason}).encode(),
        headers={"Authorization": f"Bearer {cp.stdout.strip()}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as answer:
        assert answer.status in (200, 204), answer.status


@pytest.mark.parametrize("decision", ["approve", "reject", "console-reject"])
def test_the_registrant_waits_and_hears_the_answer_by_ftp_and_mail(
        mail, wharf, wharfd_bin, tmp_path, decision):
    operator, operator_pw = mail.new_user()
    registrant, registrant_pw = mail.new_user()
    data = tmp_path / "data"
    data.mkdir()
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text(f"""
[[event_mail]]
server = "127.0.0.1:{mail.smtp_port}"
cacert = "{mail.cafile}"
from = "Wharf <wharf@example.com>"
to = ["{operator}@example.com"]
events = ["registration.requested"]

[registrant_mail]
server = "127.0.0.1:{mail.smtp_port}"
cacert = "{mail.cafile}"
from = "Wharf <wharf@example.com>"
site = "ftp.example.com"
""")
    srv = WharfdProcess(bin=wharfd_bin, data=data)
    srv.serve(["--config", str(cfg), "--admin-listen", "127.0.0.1:0"],
              dict(os.environ, WHARF_LOGIN_FAIL_DELAY_MS="50"))
    try:
        shell = subprocess.Popen(
            [wharf, "ftp", "-q", f"ftp://127.0.0.1:{srv.port}/"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        reader = threading.Thread(target=lambda: setattr(shell, "out", shell.communicate(
            f"register carol {PW} {registrant}@example.com --wait=90\n".encode(),
            timeout=120)[0]))
        reader.start()
        # the operator is told at once, with what to do
        [note] = pop3_messages(mail, operator, operator_pw, 1)
        assert "wharfd users approve carol" in note["Subject"]
        if decision == "approve":
            out = admin(wharfd_bin, data, cfg, "approve", "carol")
        elif decision == "reject":
            out = admin(wharfd_bin, data, cfg, "reject", "carol", "--reason",
                        "only staff, sorry")
        else:
            console_reject(wharfd_bin, data, srv, "carol", "only staff, sorry")
            out = srv.wait_log(r"registrant told by mail", timeout=30)
        if decision != "console-reject":
            assert f"mailed the answer to {registrant}@example.com" in out, out
        reader.join(120)
        said = shell.out.decode()
        [answer] = pop3_messages(mail, registrant, registrant_pw, 1)
        assert answer["To"].addresses[0].addr_spec == f"{registrant}@example.com"
        body = answer.get_body(("plain",)).get_content()
        if decision == "approve":
            assert shell.returncode == 0, said
            assert "carol was approved" in said
            assert answer["Subject"] == \
                "Your registration as carol on ftp.example.com was approved"
        else:
            assert shell.returncode != 0, said
            assert "carol was rejected: only staff, sorry" in said
            assert answer["Subject"] == \
                "Your registration as carol on ftp.example.com was rejected"
            assert "Reason: only staff, sorry" in body
    finally:
        assert srv.stop() == 0
    assert PW not in srv.log()
