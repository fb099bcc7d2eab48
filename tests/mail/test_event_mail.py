"""wharfd's mail sink (docs/events.md, `[[event_mail]]`): the operator
hears of a registration at once, by mail through a real postfix (over
STARTTLS, with the test CA), with what to do in the subject; the message
lands in dovecot's Maildir. Only 127.0.0.1; wharfd is stopped by its PID.
"""

from __future__ import annotations

import email
import email.policy
import ftplib
import os

import pytest

from wharfd_process import WharfdProcess, wharfd_bin  # noqa: F401 (fixture)


@pytest.mark.parametrize("relay", ["smtp", "submission"])
def test_a_registration_is_mailed_to_the_operator_at_once(mail, mailbox, wharfd_bin, tmp_path,
                                                          relay):
    """Through port 25, or the submission port that takes mail only after
    STARTTLS and SMTP AUTH (the relay's account, its password in a file)."""
    box, password = mailbox
    data = tmp_path / "data"
    data.mkdir()
    if relay == "smtp":
        port, login = mail.smtp_port, ""
    else:
        secret = tmp_path / "relay.password"
        secret.write_text(password + "\n")
        port = mail.submission_port
        login = f'username = "{box}"\npassword_file = "{secret}"'
    cfg = tmp_path / "wharfd.toml"
    cfg.write_text(f"""
[[event_mail]]
server = "127.0.0.1:{port}"
security = "starttls"
cacert = "{mail.cafile}"
{login}
from = "Wharf <wharf@example.com>"
to = ["{box}@example.com"]
events = ["registration.requested"]
""")
    srv = WharfdProcess(bin=wharfd_bin, data=data)
    srv.serve(["--config", str(cfg)], dict(os.environ, WHARF_LOGIN_FAIL_DELAY_MS="50"))
    try:
        f = ftplib.FTP()
        f.connect("127.0.0.1", srv.port, timeout=30)
        reply = f.sendcmd("SITE REGISTER carol carol-password-1")
        f.quit()
        assert reply.startswith("2"), reply
        [path] = mail.wait_for_messages(box, 1)
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert msg["Subject"] == ("wharf: carol registered from 127.0.0.1: approve with "
                                  "`wharfd users approve carol` (or reject)"), msg["Subject"]
        assert msg["From"].addresses[0].addr_spec == "wharf@example.com"
        body = msg.get_body(("plain",)).get_content()
        assert '"kind":"registration.requested"' in body and '"account":"carol"' in body
    finally:
        assert srv.stop() == 0
    assert "event mail not sent" not in srv.log()
    assert password not in srv.log()
