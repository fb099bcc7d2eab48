"""A private mail system on 127.0.0.1 for Wharf's mail tests (standard library and
tests/common only).

    from mailserver import MailServer
    with MailServer() as ms:
        ms.smtp_port, ms.smtps_port, ms.submission_port   # postfix
        ms.pop3_port, ms.pop3s_port                       # dovecot (STLS on pop3_port)
        ms.imap_port, ms.imaps_port                       # dovecot (STARTTLS on imap_port)
        ms.cafile                                         # the run's throw-away CA (PEM)
        user, password = ms.new_user()                    # a mailbox no other test uses
        ms.wait_for_messages(user, 1)                     # delivery is asynchronous

What runs (Debian packages installed by tests/mail/install.sh):

* dovecot (`dovecot -F -c DIR/dovecot.conf`): IMAP with STARTTLS, IMAPS, POP3
  with STLS, POP3S, and LMTP on a unix socket for postfix. Users live in a
  passwd-file with {PLAIN} passwords, so PLAIN, LOGIN, CRAM-MD5 and APOP all
  work; plaintext logins are allowed without TLS (loopback only). Mail is kept
  in Maildirs under DIR/mail/USER.
* OAuth 2.0: dovecot also checks XOAUTH2 and OAUTHBEARER logins (IMAP, POP3,
  and SMTP through postfix's dovecot SASL) against a token-introspection
  endpoint (RFC 7662) served by this process on 127.0.0.1: `ms.oauth_token(user)`
  mints a token for a user; any other token is inactive.
* postfix (`postfix -c DIR/postfix start-fg`, its own queue in DIR): SMTP with
  optional STARTTLS (AUTH allowed without TLS, 127.0.0.0/8 may relay), SMTPS
  (implicit TLS) and submission (STARTTLS required before AUTH). Every
  recipient in `example.com` or `localhost` whose local part is a user is
  handed to dovecot's LMTP; any other recipient is refused at RCPT with
  550 5.1.1. Nothing can leave the machine. Messages up to 64 MiB.

Pitfalls handled:
* dovecot's per-address auth penalty (all tests come from 127.0.0.1, so one
  wrong password would slow every later login by up to 15 s): the
  anvil-auth-penalty socket is removed before the first login, and
  auth_failure_delay is 0.
* postfix refuses a maillog_file outside maillog_file_prefixes.
* rustls accepts only a CA:FALSE leaf signed by a CA:TRUE root, so the run
  makes both (a self-signed leaf is rejected by webpki).
* pytest's tmp dirs are mode 0700 and the servers' own users (dovecot,
  dovenull, postfix, nobody) must reach the Maildirs and sockets, so the
  run's directory is a fresh 0755 dir under /tmp.

Every process is stopped by its PID (postfix first through `postfix stop`,
its own control). Root is needed (postfix's master runs as root).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from local_daemons import HOST, StartStop, free_ports, pid_alive, port_answers, tail_logs  # noqa: E402
from throwaway_tls import TlsError, make_ca_and_leaf  # noqa: E402

DOMAINS = ("example.com", "localhost")
NAMED_USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
#: Spare mailboxes handed out by new_user(), one per test.
SPARE_USERS = 60
MAX_MESSAGE = 64 << 20


class MailServerError(RuntimeError):
    """The mail system is missing or could not start (always a test failure)."""


def missing_programs() -> list[str]:
    need = ["dovecot", "postfix", "openssl"]
    paths = [os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"]
    return [p for p in need if not shutil.which(p, path=os.pathsep.join(paths))]


class Introspection:
    """RFC 7662 token introspection on 127.0.0.1 for dovecot's oauth2
    passdb: POST token=... answers {"active": true, "username": USER} for a
    token minted by `mint`, {"active": false} for any other."""

    def __init__(self):
        self.tokens: dict[str, str] = {}
        self.asked: list[str] = []
        tokens, asked = self.tokens, self.asked

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server hook
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                asked.append(token)
                user = tokens.get(token)
                body = json.dumps({"active": True, "username": user} if user
                                  else {"active": False}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def mint(self, user: str) -> str:
        token = "tok-" + secrets.token_urlsafe(24)
        self.tokens[token] = user
        return token

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MailServer(StartStop):
    """Context manager: dovecot + postfix on 127.0.0.1 (see the module docstring)."""

    START_TIMEOUT = 30.0

    def __init__(self, keep: bool = False):
        self.host = HOST
        self.keep = keep or bool(os.environ.get("KEEP_MAIL"))
        self.dir: Path | None = None
        self.users = dict(NAMED_USERS)
        for i in range(1, SPARE_USERS + 1):
            self.users[f"box{i}"] = f"box{i}-pw"
        self._next_spare = 1
        self.dovecot: subprocess.Popen | None = None
        self.postfix: subprocess.Popen | None = None
        self.postfix_master: int | None = None
        self.introspection: Introspection | None = None

    # ---- public -----------------------------------------------------------

    @property
    def cafile(self) -> str:
        return str(self.dir / "tls" / "ca.pem")

    def new_user(self) -> tuple[str, str]:
        """A (login, password) whose mailbox no earlier caller got."""
        if self._next_spare > SPARE_USERS:
            raise MailServerError(f"all {SPARE_USERS} spare mailboxes are taken; raise SPARE_USERS")
        name = f"box{self._next_spare}"
        self._next_spare += 1
        return name, self.users[name]

    def oauth_token(self, user: str) -> str:
        """A fresh OAuth 2.0 access token dovecot accepts for `user`."""
        assert self.introspection is not None, "the mail system is not running"
        return self.introspection.mint(user)

    def maildir(self, user: str) -> Path:
        return self.dir / "mail" / user / "Maildir"

    def message_files(self, user: str) -> list[Path]:
        md = self.maildir(user)
        return sorted(p for sub in ("new", "cur") if (md / sub).is_dir()
                      for p in (md / sub).iterdir() if p.is_file())

    def wait_for_messages(self, user: str, count: int, timeout: float = 20.0) -> list[Path]:
        """Waits until `user`'s INBOX holds at least `count` messages."""
        deadline = time.monotonic() + timeout
        while True:
            files = self.message_files(user)
            if len(files) >= count:
                return files
            if time.monotonic() > deadline:
                raise MailServerError(
                    f"{user} has {len(files)} messages after {timeout} s, expected {count}\n"
                    + self.log_tail())
            time.sleep(0.05)

    def log_tail(self, n: int = 30) -> str:
        return tail_logs(self.dir / "log" if self.dir else None, ("postfix.log", "dovecot.log"), n)

    # ---- start / stop -----------------------------------------------------

    def start(self) -> None:
        missing = missing_programs()
        if missing:
            raise MailServerError(
                f"not installed: {', '.join(missing)}; run: bash tests/mail/install.sh")
        if os.geteuid() != 0:
            raise MailServerError("the mail fixture needs root (postfix's master runs as root)")
        self.dir = Path(tempfile.mkdtemp(prefix="wharf-mail-"))
        self.dir.chmod(0o755)
        (self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port,
         self.smtp_port, self.smtps_port, self.submission_port) = free_ports(7)
        for sub in ("run", "state", "log", "mail"):
            (self.dir / sub).mkdir()
        try:
            make_ca_and_leaf(self.dir / "tls", "Wharf mail test CA")
        except TlsError as e:
            raise MailServerError(str(e)) from None
        self._write_users()
        self.introspection = Introspection()
        self._start_dovecot()
        self._start_postfix()

    def stop(self) -> None:
        if self.dir is None:
            return
        if self.postfix is not None:
            subprocess.run(["postfix", "-c", str(self.dir / "postfix"), "stop"],
                           capture_output=True, timeout=30)
            for pid in (self.postfix_master, self.postfix.pid):
                if pid:
                    self._end(pid)
            self.postfix.wait(timeout=10)
            self.postfix = None
        if self.dovecot is not None:
            self._end(self.dovecot.pid)
            self.dovecot.wait(timeout=10)
            self.dovecot = None
        if self.introspection is not None:
            self.introspection.close()
            self.introspection = None
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _end(pid: int, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds: this PID only."""
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _wait_ports(self, ports, what: str) -> None:
        deadline = time.monotonic() + self.START_TIMEOUT
        for port in ports:
            while not port_answers(port):
                if time.monotonic() > deadline:
                    raise MailServerError(f"{what} did not open 127.0.0.1:{port}\n{self.log_tail()}")
                time.sleep(0.05)

    def _write_users(self) -> None:
        nobody = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout.strip()
        nogroup = subprocess.run(["id", "-g", "nobody"], capture_output=True, text=True).stdout.strip()
        self.mail_uid, self.mail_gid = int(nobody), int(nogroup)
        passwd, boxes = [], []
        for user, password in self.users.items():
            home = self.dir / "mail" / user
            home.mkdir()
            os.chown(home, self.mail_uid, self.mail_gid)
            passwd.append(f"{user}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}::")
            boxes.extend(f"{user}@{domain} OK" for domain in DOMAINS)
        (self.dir / "users").write_text("\n".join(passwd) + "\n")
        (self.dir / "vmailbox").write_text("\n".join(boxes) + "\n")
        os.chown(self.dir / "mail", self.mail_uid, self.mail_gid)

    def _start_dovecot(self) -> None:
        d = self.dir
        conf = d / "dovecot.conf"
        conf.write_text(DOVECOT_CONF.format(d=d, ms=self))
        assert self.introspection is not None
        (d / "oauth2.conf").write_text(OAUTH2_CONF.format(port=self.introspection.port))
        check = subprocess.run(["dovecot", "-n", "-c", str(conf)], capture_output=True, timeout=30)
        if check.returncode != 0:
            raise MailServerError(f"dovecot rejects its config: {check.stderr.decode(errors='replace')}")
        out = open(d / "log" / "dovecot.stdout", "wb")
        self.dovecot = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        out.close()
        penalty = d / "run" / "anvil-auth-penalty"
        deadline = time.monotonic() + 10
        while not penalty.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        penalty.unlink(missing_ok=True)
        self._wait_ports([self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port], "dovecot")

    def _start_postfix(self) -> None:
        d = self.dir
        etc = d / "postfix"
        etc.mkdir()
        for sub in ("spool", "lib"):
            (d / f"postfix-{sub}").mkdir()
        shutil.chown(d / "postfix-lib", user="postfix")
        (etc / "main.cf").write_text(POSTFIX_MAIN.format(d=d, ms=self, domains=",".join(DOMAINS),
                                                         max_message=MAX_MESSAGE))
        (etc / "master.cf").write_text(POSTFIX_MASTER.format(ms=self))
        check = subprocess.run(["postfix", "-c", str(etc), "check"], capture_output=True, timeout=60)
        if check.returncode != 0:
            raise MailServerError(f"postfix check failed: {check.stderr.decode(errors='replace')}"
                                  f"{self.log_tail()}")
        out = open(d / "log" / "postfix.stdout", "wb")
        self.postfix = subprocess.Popen(["postfix", "-c", str(etc), "start-fg"], stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        out.close()
        self._wait_ports([self.smtp_port, self.smtps_port, self.submission_port], "postfix")
        pidfile = d / "postfix-spool" / "pid" / "master.pid"
        if pidfile.exists():
            self.postfix_master = int(pidfile.read_text().split()[0])


DOVECOT_CONF = """\
# written by tests/mail/mailserver.py
instance_name = wharf-mail-{ms.imap_port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log/dovecot.log
info_log_path = {d}/log/dovecot.log
listen = 127.0.0.1
protocols = imap pop3 lmtp
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 1
last_valid_uid = 0
first_valid_gid = 1

ssl = yes
ssl_cert = <{d}/tls/cert.pem
ssl_key = <{d}/tls/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 apop xoauth2 oauthbearer
auth_username_format = %Ln
auth_failure_delay = 0

passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login cram-md5 apop
  args = scheme=PLAIN username_format=%n {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {d}/users
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
imap_capability = +IDLE
mail_max_userip_connections = 200
pop3_uidl_format = %08Xu%08Xv
recipient_delimiter = +
postmaster_address = postmaster@example.com
hostname = localhost

service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {ms.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ms.imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {ms.pop3_port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {ms.pop3s_port}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

OAUTH2_CONF = """\
# written by tests/mail/mailserver.py: tokens are checked by RFC 7662
# introspection against the fixture's own endpoint
introspection_mode = post
introspection_url = http://127.0.0.1:{port}/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""

POSTFIX_MAIN = """\
# written by tests/mail/mailserver.py
compatibility_level = 3.6
config_directory = {d}/postfix
queue_directory = {d}/postfix-spool
data_directory = {d}/postfix-lib
meta_directory = /etc/postfix
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
command_directory = /usr/sbin
mail_owner = postfix
setgid_group = postdrop
syslog_name = wharf-postfix-{ms.smtp_port}
maillog_file = {d}/log/postfix.log
maillog_file_prefixes = {d}/log
myhostname = localhost.localdomain
mydomain = localdomain
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
local_transport = error:local delivery disabled
default_transport = error:outside delivery disabled
relay_transport = error:outside delivery disabled
alias_maps =
alias_database =
biff = no
smtputf8_enable = yes
smtp_dns_support_level = disabled
virtual_mailbox_domains = {domains}
virtual_mailbox_maps = texthash:{d}/vmailbox
virtual_transport = lmtp:unix:{d}/run/lmtp
smtpd_banner = $myhostname ESMTP wharf test
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {d}/run/auth-client
smtpd_tls_cert_file = {d}/tls/cert.pem
smtpd_tls_key_file = {d}/tls/key.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = no
smtpd_tls_session_cache_database =
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
message_size_limit = {max_message}
mailbox_size_limit = 0
virtual_mailbox_limit = 0
"""

POSTFIX_MASTER = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:{ms.smtp_port} inet n - n - - smtpd
127.0.0.1:{ms.smtps_port} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
127.0.0.1:{ms.submission_port} inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
