"""A private INN 2.7 news server on 127.0.0.1 for Wharf's NNTP tests (standard
library and tests/common only).

    from inn import InnServer
    with InnServer(tmp_path) as inn:                 # or InnServer(d, auth_required=True)
        inn.host, inn.port, inn.tls_port, inn.cafile  # 127.0.0.1, NNTP (+STARTTLS), NNTPS

What it runs (Debian's inn2, installed by tests/news/install.sh):

* ``innd -d -f`` (foreground, tracked by PID) on ``inn.port``.  incoming.conf has
  no peers, so innd hands every TCP client to a forked nnrpd (the reader
  server): CAPABILITIES, MODE READER, GROUP, LISTGROUP, LIST ..., OVER/XOVER,
  HDR/XHDR, ARTICLE/HEAD/BODY/STAT, NEXT/LAST, NEWGROUPS, NEWNEWS, POST, DATE,
  AUTHINFO USER/PASS, STARTTLS.
* ``nnrpd -D -f -S`` (foreground, by PID) on ``inn.tls_port``: implicit TLS (NNTPS).
* TLS: a throw-away CA (``inn.cafile``) and a leaf for 127.0.0.1/localhost/::1
  with basicConstraints CA:FALSE (rustls/webpki reject CA:TRUE end-entity certs).
* Everything (config, history, spool, overview, logs, sockets) lives in a private
  directory; the daemons run as user ``news`` through ``setpriv`` (innd refuses
  to run as root; setpriv execs, so the PIDs are the daemons' own).  innd's
  control socket lives there too, so ``ctlinnd`` talks only to this instance.
* Groups, preloaded through innd's local socket with ``rnews`` so that the
  Message-IDs, dates and headers are exactly as written in ARTICLES below:
  ``wharf.test`` (5 articles; the latest is the rich one), ``wharf.other``
  (1 article), ``wharf.empty`` (none); plus INN's own control/junk groups.
* Access: ``auth_required=False``: anyone may read and post, and the ``users``
  may also log in.  ``auth_required=True``: nothing but AUTHINFO until a user
  logs in (480), then read and post; a wrong password gets 481.

Stopping kills exactly the processes this object started (innd, the TLS nnrpd)
and the nnrpd children they forked for connections, by PID (found in /proc by
parent PID), after asking innd to shut down through ctlinnd (innd does not act
promptly on SIGTERM).  The state directory is removed unless WHARF_KEEP_INN=1;
innd's and nnrpd's logs are copied into ``tmpdir/inn-log`` first.

Needs root (innd must be started as root to drop to ``news``).
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from local_daemons import (HOST, StartStop, end_process, free_ports,  # noqa: E402
                           pid_alive, port_answers, tail_logs)
from throwaway_tls import make_ca_and_leaf  # noqa: E402

NEWSBIN = "/usr/lib/news/bin"
DEFAULT_USERS = {"reader": "reader-pw"}

# --------------------------------------------------------------------------
# The preloaded articles.  Bodies use LF line ends (rnews' native format);
# lines starting with "." are stored dot-stuffed by INN and must come back
# unstuffed.  Header values are ASCII; non-ASCII ones use RFC 2047.

LATEST_BODY = """\
In article <w4@wharf.test>, Juergen <juergen@example.org> wrote:
> Grüße aus München!
>> an older quote that the seed leaves out
>>> import nntplib
>>> print("three '>' look like a Python prompt: the seed keeps them")
>>>> four are kept as well
| a piped quote is left out
|| so is a double pipe

alice writes:
> quoted after an attribution
carol writes:   \n\
Somebody Else WROTE:


Danke, Jürgen - here is my answer.

   \n\

Line 2: the run of blank lines above collapses to one
   indented line with trailing spaces   \n\
\ttab-indented line\t
.a line starting with one dot
..a line starting with two dots
.
..
Line 7: ünïcödé ✓ 日本語 🚢
  > an indented '>' is not a quote for the seed
I wrote: this line does not end with the magic word
Line 10 ends with a no-break space\u00a0
Line 11
Line 12

Line 13 after one blank line
Line 14
Line 15
> a quote in the middle
Line 16
Line 17
Line 18
Line 19
Line 20



Line 21
Line 22
Line 23
Line 24
Line 25
--\x20
René
"""

ARTICLES = [
    # (newsgroups, message-id, date, from, subject, references, body)
    ("wharf.test", "<w1@wharf.test>", "Mon, 01 Jan 2024 10:00:00 +0000",
     "Alice <alice@example.org>", "Welcome to wharf.test", None,
     "Hello everyone,\n\nthis is the first article in wharf.test.\n-- \nAlice\n"),
    ("wharf.test", "<w2@wharf.test>", "Mon, 01 Jan 2024 11:00:00 +0000",
     "Bob <bob@example.org>", "Re: Welcome to wharf.test", "<w1@wharf.test>",
     "In article <w1@wharf.test>, bob wrote:\n"
     "> Hello everyone,\n>\n> this is the first article in wharf.test.\n\n"
     "Hi Alice, thanks.\n| a piped quote line\n\n\n\nBob\n"),
    ("wharf.test", "<w3@wharf.test>", "Mon, 01 Jan 2024 12:00:00 +0000",
     "Carol <carol@example.org>", "Dot-stuffing check", None,
     "The next lines start with dots:\n.single leading dot\n..two leading dots\n"
     ".\n..\n...\n. dot space\nend of dots.\n"),
    ("wharf.test", "<w4@wharf.test>", "Tue, 02 Jan 2024 09:30:00 +0000",
     "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>",
     "=?UTF-8?B?R3LDvMOfZQ==?= aus =?UTF-8?Q?M=C3=BCnchen?=", None,
     "Grüße aus München!\nÜnïcödé: 日本語, ship: 🚢.\n"),
    ("wharf.test", "<w5@wharf.test>", "Wed, 03 Jan 2024 08:15:00 +0100",
     "=?ISO-8859-1?Q?Ren=E9_Dupont?= <rene@example.org>",
     "Re: =?UTF-8?B?R3LDvMOfZQ==?= aus =?UTF-8?Q?M=C3=BC?= =?UTF-8?Q?nchen?=",
     "<w4@wharf.test>", LATEST_BODY),
    ("wharf.other", "<o1@wharf.test>", "Thu, 04 Jan 2024 10:00:00 +0000",
     "Dave <dave@example.org>", "The only article in wharf.other", None,
     "wharf.other has exactly one article.\n> and one quoted line\nBye.\n"),
]

# what the decoded From/Subject of the articles above must read
DECODED = {
    "<w4@wharf.test>": ("Jürgen Müller <juergen@example.org>", "Grüße aus München"),
    "<w5@wharf.test>": ("René Dupont <rene@example.org>", "Re: Grüße aus München"),
}

GROUPS = {  # name: (flag, description)
    "wharf.test": ("y", "Wharf test articles (quotes, dots, RFC 2047)."),
    "wharf.other": ("y", "A group with one article."),
    "wharf.empty": ("y", "A group with no articles."),
}
INN_GROUPS = {
    "control": ("n", "Various control messages (no posting)."),
    "control.cancel": ("n", "Cancel messages (no posting)."),
    "junk": ("n", "Unfiled articles (no posting)."),
}


def _wire_article(groups, mid, date, frm, subject, refs, body):
    head = [
        "Path: news.wharf.test!not-for-mail",
        f"From: {frm}",
        f"Newsgroups: {groups}",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: {mid}",
    ]
    if refs:
        head.append(f"References: {refs}")
    head += [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
        "Organization: Wharf tests",
        f"Lines: {body.count(chr(10))}",
    ]
    return ("\n".join(head) + "\n\n" + body).encode("utf-8")


def rnews_batch() -> bytes:
    out = b""
    for a in ARTICLES:
        data = _wire_article(*a)
        out += b"#! rnews %d\n" % len(data) + data
    return out


# --------------------------------------------------------------------------
# helpers

class InnError(RuntimeError):
    pass


def _children(pid: int) -> list[int]:
    """PIDs whose parent is pid (read from /proc)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ..."; comm may contain spaces and ')'
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) > 1 and int(rest[1]) == pid:
            kids.append(int(d))
    return kids


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for k in _children(todo.pop()):
            out.append(k)
            todo.append(k)
    return out


def _sha512_crypt(password: str) -> str:
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n",
                       capture_output=True, text=True, check=True, timeout=30)
    return r.stdout.strip()


# --------------------------------------------------------------------------

class InnServer(StartStop):
    """Context manager: a private INN on 127.0.0.1 (see the module docstring)."""

    START_TIMEOUT = 30.0

    def __init__(self, tmpdir, *, auth_required: bool = False,
                 users: dict[str, str] | None = None):
        self.tmpdir = Path(tmpdir)
        self.auth_required = auth_required
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.host = HOST
        self.port = 0
        self.tls_port = 0
        self.cafile = ""
        self.dir: Path | None = None
        self.pids: list[int] = []          # innd, nnrpd -S: ours, by PID
        self._procs: list[subprocess.Popen] = []
        self.groups = list(GROUPS)

    # ---------------------------------------------------------------- public
    def url(self, group: str = "", *, tls: bool = False, userinfo: str = "") -> str:
        scheme, port = ("nntps", self.tls_port) if tls else ("nntp", self.port)
        at = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{at}{self.host}:{port}/{group}"

    def start(self) -> None:
        if os.geteuid() != 0:
            raise InnError("InnServer needs root: innd is started as root and drops to user 'news'")
        for f in ("innd", "nnrpd", "rnews", "makedbz", "ctlinnd"):
            if not os.access(f"{NEWSBIN}/{f}", os.X_OK):
                raise InnError(f"{NEWSBIN}/{f} missing: run `bash tests/news/install.sh` (Debian package inn2)")
        try:
            pwd.getpwnam("news")
        except KeyError:
            raise InnError("no user 'news': install inn2 (bash tests/news/install.sh)") from None
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        # A directory of its own under /tmp: pytest's tmp dirs are mode 0700 (user
        # news could not enter them) and deep (unix socket paths are limited).
        self.dir = Path(tempfile.mkdtemp(prefix="wharf-inn-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        try:
            (self.tmpdir / "inn-dir").unlink(missing_ok=True)
            (self.tmpdir / "inn-dir").symlink_to(self.dir)
        except OSError:
            pass
        self._configure()
        last = None
        for _attempt in range(3):  # a picked free port may be taken meanwhile
            self.port, self.tls_port = free_ports(2)
            self._write_inn_conf()
            if not (self.dir / "db" / "history.dir").exists():
                self._makedbz()
            try:
                self._start_innd()
                break
            except InnError as e:
                last = e
                self._stop_pids()
        else:
            raise last
        self._preload()
        self._start_nnrpd_tls()

    def stop(self) -> None:
        self._stop_pids()
        if self.dir and self.dir.exists():
            logdir = self.tmpdir / "inn-log"
            try:
                if (self.dir / "log").is_dir():
                    shutil.rmtree(logdir, ignore_errors=True)
                    shutil.copytree(self.dir / "log", logdir, symlinks=True)
            except OSError:
                pass
            if not os.environ.get("WHARF_KEEP_INN"):
                shutil.rmtree(self.dir, ignore_errors=True)
                try:
                    (self.tmpdir / "inn-dir").unlink(missing_ok=True)
                except OSError:
                    pass

    def log_tail(self, n: int = 40) -> str:
        return tail_logs(self.dir / "log" if self.dir else None,
                         ("innd.stdout", "news.err", "news.notice", "nnrpd-tls.stdout",
                          "rnews.log"), n)

    # --------------------------------------------------------------- private
    def _asnews(self, *argv: str) -> list[str]:
        return ["setpriv", "--reuid=news", "--regid=news", "--init-groups", "--",
                "env", f"INNCONF={self.dir}/etc/inn.conf", f"HOME={self.dir}", *argv]

    def _configure(self) -> None:
        D = self.dir
        for sub in ("etc", "db", "run", "log", "tmp", "http", "spool/articles",
                    "spool/overview", "spool/incoming/tmp", "spool/outgoing", "spool/archive"):
            (D / sub).mkdir(parents=True, exist_ok=True)
        # INN's stock files (storage.conf, expire.ctl, ...); ours overwrite below
        shutil.copytree("/etc/news", D / "etc", dirs_exist_ok=True)
        make_ca_and_leaf(D / "tls", "Wharf news test CA", days=3650)
        self.cafile = str(D / "tls" / "ca.pem")

        (D / "etc" / "incoming.conf").write_text("streaming: true\nmax-connections: 8\n")
        (D / "etc" / "newsfeeds").write_text("ME:*,!junk,!control*/!local::\n")
        (D / "etc" / "newsusers").write_text(
            "".join(f"{u}:{_sha512_crypt(p)}\n" for u, p in self.users.items()))
        ckpasswd = f'auth: "ckpasswd -f {D}/etc/newsusers"'
        if self.auth_required:
            # No default identity: until AUTHINFO succeeds the client matches no
            # access group, so nnrpd answers 480 to everything but the login.
            readers = f"""\
auth "loopback" {{
    hosts: "localhost, 127.0.0.1, ::1, stdin"
    {ckpasswd}
}}
access "users" {{
    users: "*"
    newsgroups: "*"
    access: RPAIN
    addcanlockuser: none
}}
"""
        else:
            readers = f"""\
auth "loopback" {{
    hosts: "localhost, 127.0.0.1, ::1, stdin"
    default: "<anon>"
    {ckpasswd}
}}
access "anon" {{
    users: "<anon>"
    newsgroups: "*"
    access: RPN
    addcanlockuser: none
}}
access "users" {{
    users: "*,!<anon>"
    newsgroups: "*"
    access: RPAIN
    addcanlockuser: none
}}
"""
        (D / "etc" / "readers.conf").write_text(readers)

        now = int(time.time())
        allg = {**INN_GROUPS, **GROUPS}
        (D / "db" / "active").write_text(
            "".join(f"{g} 0000000000 0000000001 {flag}\n" for g, (flag, _) in allg.items()))
        (D / "db" / "active.times").write_text(
            "".join(f"{g} {now} news@wharf.test\n" for g in GROUPS))
        (D / "db" / "newsgroups").write_text(
            "".join(f"{g}\t{desc}\n" for g, (_, desc) in allg.items()))
        (D / "db" / "history").write_text("")
        (D / "tmp" / "preload.batch").write_bytes(rnews_batch())

        subprocess.run(["chown", "-R", "news:news", str(D)], check=True, timeout=30)
        os.chmod(D / "etc" / "newsusers", 0o640)
        os.chmod(D / "tls" / "key.pem", 0o600)
        os.chmod(D / "tls" / "ca.key", 0o600)

    def _makedbz(self) -> None:
        D = self.dir
        with open(D / "log" / "makedbz.log", "wb") as log:
            r = subprocess.run(self._asnews(f"{NEWSBIN}/makedbz", "-i", "-o"), cwd=D / "db",
                               stdout=log, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0 or not (D / "db" / "history.dir").exists():
            raise InnError(f"makedbz failed ({r.returncode})\n"
                           + (D / "log" / "makedbz.log").read_text(errors="replace"))

    def _write_inn_conf(self) -> None:
        D = self.dir
        conf = f"""\
# generated by tests/news/inn.py
organization:       "Wharf test news server"
pathhost:           news.wharf.test
domain:             wharf.test
fromhost:           wharf.test
server:             127.0.0.1
bindaddress:        127.0.0.1
port:               {self.port}
nnrpdpostport:      {self.port}
ovmethod:           tradindexed
hismethod:          hisv6
enableoverview:     true
storeonxref:        true
wireformat:         true
artcutoff:          0
pathnews:           /usr/lib/news
pathbin:            {NEWSBIN}
pathcontrol:        {NEWSBIN}/control
pathfilter:         {D}/etc/filter
pathetc:            {D}/etc
pathdb:             {D}/db
pathrun:            {D}/run
pathlog:            {D}/log
pathhttp:           {D}/http
pathspool:          {D}/spool
patharticles:       {D}/spool/articles
pathoverview:       {D}/spool/overview
pathincoming:       {D}/spool/incoming
pathoutgoing:       {D}/spool/outgoing
patharchive:        {D}/spool/archive
pathtmp:            {D}/spool/incoming/tmp
mta:                "/bin/true %s"
mailcmd:            /bin/true
htmlstatus:         false
status:             0
timer:              0
doinnwatch:         false
docancels:          "require-auth"
pgpverify:          false
allownewnews:       true
noreader:           false
readerswhenstopped: false
maxconnections:     200
nnrpdloadlimit:     0
initialtimeout:     60
clienttimeout:      300
logipaddr:          true
addinjectiondate:   true
addinjectionpostinghost: false
checkincludedtext:  false
nnrpdcheckart:      true
maxartsize:         1000000
localmaxartsize:    1000000
tlscafile:          {D}/tls/ca.pem
tlscertfile:        {D}/tls/cert.pem
tlskeyfile:         {D}/tls/key.pem
tlsprotocols:       [ TLSv1.2 TLSv1.3 ]
"""
        p = D / "etc" / "inn.conf"
        p.write_text(conf)
        os.chown(p, pwd.getpwnam("news").pw_uid, pwd.getpwnam("news").pw_gid)

    def _spawn(self, argv: list[str], logname: str) -> subprocess.Popen:
        log = open(self.dir / "log" / logname, "ab")
        try:
            p = subprocess.Popen(self._asnews(*argv), stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        finally:
            log.close()
        self._procs.append(p)
        self.pids.append(p.pid)  # setpriv and env exec: this is the daemon's PID
        return p

    def _wait_port(self, port: int, proc: subprocess.Popen, what: str) -> None:
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise InnError(f"{what} exited with {proc.returncode}\n{self.log_tail()}")
            if port_answers(port):
                return
            time.sleep(0.05)
        raise InnError(f"{what}: 127.0.0.1:{port} did not answer within "
                       f"{self.START_TIMEOUT:.0f} s\n{self.log_tail()}")

    def _start_innd(self) -> None:
        p = self._spawn([f"{NEWSBIN}/innd", "-d", "-f"], "innd.stdout")
        self._wait_port(self.port, p, "innd")

    def _preload(self) -> None:
        D = self.dir
        # No -r: rnews talks to innd over its UNIX socket (pathrun), which innd
        # accepts as a feed (TCP from 127.0.0.1 would be handed to nnrpd).
        with open(D / "tmp" / "preload.batch", "rb") as inp, \
                open(D / "log" / "rnews.log", "wb") as log:
            r = subprocess.run(self._asnews(f"{NEWSBIN}/rnews", "-N", "-v"), stdin=inp,
                               stdout=log, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise InnError(f"rnews failed ({r.returncode})\n{self.log_tail()}")
        want = {g: sum(1 for a in ARTICLES if g in a[0].split(",")) for g in GROUPS}
        deadline = time.monotonic() + 10
        while True:
            high = {}
            for line in (D / "db" / "active").read_text().splitlines():
                f = line.split()
                if len(f) >= 2:
                    high[f[0]] = int(f[1])
            if all(high.get(g, 0) >= n for g, n in want.items()):
                return
            if time.monotonic() > deadline:
                raise InnError(f"preload failed: high water marks {high}, want {want}\n{self.log_tail()}")
            time.sleep(0.05)

    def _start_nnrpd_tls(self) -> None:
        p = self._spawn([f"{NEWSBIN}/nnrpd", "-D", "-f", "-S", "-b", HOST,
                         "-p", str(self.tls_port)], "nnrpd-tls.stdout")
        self._wait_port(self.tls_port, p, "nnrpd -S")

    def _stop_pids(self) -> None:
        if not self._procs:
            return
        innd = self._procs[0]
        # nnrpd processes forked for connections (children of innd or of nnrpd -D)
        kids = [k for p in self._procs for k in _descendants(p.pid)]
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)  # reader processes: nothing to save
            except ProcessLookupError:
                pass
        for p in self._procs[1:]:
            end_process(p, 3, kill_wait=5)
        if innd.poll() is None and self.dir is not None:
            try:
                subprocess.run(self._asnews(f"{NEWSBIN}/ctlinnd", "-s", "-t", "5",
                                            "shutdown", "wharf tests done"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
            except (subprocess.TimeoutExpired, OSError):
                pass
            try:
                innd.wait(5)
            except subprocess.TimeoutExpired:
                pass
        end_process(innd, 3, kill_wait=5)
        # anything innd forked meanwhile
        for k in kids + [k for p in self._procs for k in _descendants(p.pid)]:
            if pid_alive(k):
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._procs.clear()
        self.pids.clear()


if __name__ == "__main__":  # manual use: python3 inn.py [DIR] -> runs until Ctrl-C
    import sys
    d = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="wharf-news-")

    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # ignored by default in background jobs
    with InnServer(d, auth_required=bool(os.environ.get("AUTH"))) as s:
        print(f"NNTP_HOST={s.host}\nNNTP_PORT={s.port}\nNNTPS_PORT={s.tls_port}\n"
              f"NNTP_CA={s.cafile}\nPIDS={' '.join(map(str, s.pids))}\nDIR={s.dir}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
