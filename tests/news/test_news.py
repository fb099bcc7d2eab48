"""`wharf news` against a real news server (a private INN 2.7 on 127.0.0.1, see
inn.py), against the seed's Python program (seed_latest.py, run with nntplib
against the same server), and against a hostile server (hostile_nntp.py).

The wharf binary: $WHARF, default $HOME/.cache/wharf-target/debug/wharf.  A
missing binary, INN or nntplib is a failure, never a skip.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from email.header import decode_header, make_header
from email.utils import parseaddr

import pytest

from news_helpers import AUTH_USERS, HERE, Runner, describe, nntp, run_bounded
from hostile_nntp import BIG_BYTES, HostileNNTP, big_body, head_lines
from inn import DECODED

PANIC = re.compile(r"panicked at|RUST_BACKTRACE|stack backtrace", re.I)


def dec(v: str) -> str:
    """RFC 2047 decoding, as the comparison with the seed's output prescribes."""
    return str(make_header(decode_header(v)))


def ok(r):
    assert r.returncode == 0, describe(r)
    assert not PANIC.search(r.stderr.decode(errors="replace")), describe(r)
    return r.stdout


def clean_failure(r, code=None):
    """Non-zero exit, by exit() and not by a signal, without a panic."""
    assert r.returncode != 0, describe(r)
    assert r.returncode > 0, f"killed by signal {-r.returncode}\n" + describe(r)
    assert not PANIC.search(r.stderr.decode(errors="replace")), describe(r)
    if code is not None:
        assert r.returncode == code, describe(r)


def text(b: bytes) -> str:
    return b.decode("utf-8")


# ------------------------------------------------------------------ help

def test_news_help(run):
    out = text(ok(run("news", "--help")))
    for cmd in ("groups", "latest", "read", "list", "post"):
        assert cmd in out, out


# ---------------------------------------------------------------- groups

def active(srv, pattern=None):
    s = nntp(srv)
    try:
        resp, groups = s.list(pattern) if pattern else s.list()
    finally:
        s.quit()
    return {g.group: (int(g.first), int(g.last), g.flag) for g in groups}


def parse_groups(out: bytes):
    got = {}
    for line in text(out).splitlines():
        f = line.split("\t")
        assert len(f) == 4, f"not NAME<TAB>LOW<TAB>HIGH<TAB>STATUS: {line!r}"
        name, low, high, status = f
        assert low.isdigit() and high.isdigit(), line
        assert name not in got, f"{name} listed twice"
        got[name] = (int(low), int(high), status)
    return got


def test_groups_all(run, inn):
    got = parse_groups(ok(run("news", "groups", inn.url())))
    assert got == active(inn)
    assert got["wharf.test"] == (1, 5, "y")


@pytest.mark.parametrize("pattern,names", [
    ("wharf.*", {"wharf.test", "wharf.other", "wharf.empty"}),
    ("wharf.e*", {"wharf.empty"}),
    ("*.test", {"wharf.test"}),
    ("nothing.matches.*", set()),
])
def test_groups_pattern(run, inn, pattern, names):
    r = run("news", "groups", inn.url(), pattern)
    got = parse_groups(ok(r))
    assert set(got) == names
    want = active(inn)
    for n in names:
        assert got[n] == want[n]
    if names >= {"wharf.empty"}:
        assert got["wharf.empty"] == (1, 0, "y")  # INN's empty group: low 1, high 0


# ---------------------------------------------------------------- latest

def seed_output(srv, group, count=None) -> str:
    env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONWARNINGS="ignore")
    argv = [sys.executable, str(HERE / "seed_latest.py"), srv.host, str(srv.port), group]
    if count is not None:
        argv.append(str(count))
    r = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout.decode("utf-8")


HEADER_LINE = re.compile(r"^(    (?:From|Subject|Date):)(.*)$")


def decode_seed(out: str) -> str:
    """The seed's output with its From/Subject/Date values RFC 2047-decoded."""
    lines = out.split("\n")
    for i, line in enumerate(lines[:8]):
        m = HEADER_LINE.match(line)
        if m:
            lines[i] = m.group(1) + dec(m.group(2))
    return "\n".join(lines)


def _diff(want: str, got: str) -> str:
    import difflib
    return "\n".join(difflib.unified_diff(want.split("\n"), got.split("\n"), "seed (decoded)",
                                          "wharf news latest", lineterm=""))


@pytest.mark.parametrize("group", ["wharf.test", "wharf.other"])
@pytest.mark.parametrize("count", [None, 20, 5, 1, 100])
def test_latest_equals_seed(run, inn, group, count):
    want = decode_seed(seed_output(inn, group, count))
    args = ["news", "latest", inn.url(group)]
    if count is not None:
        args += ["--lines", str(count)]
    got = text(ok(run(*args)))
    assert got == want, _diff(want, got)


def test_latest_decodes_headers(run, inn):
    got = text(ok(run("news", "latest", inn.url("wharf.test")))).split("\n")
    frm, subj = DECODED["<w5@wharf.test>"]
    assert got[0] == "*** Connected to host 127.0.0.1"
    assert got[2] == "*** Found last article (#5)"
    assert got[3] == "    From:" + frm
    assert got[4] == "    Subject:" + subj
    assert got[5] == "    Date:Wed, 03 Jan 2024 08:15:00 +0100"
    assert got[6] == "    "


def test_latest_missing_group(run, inn):
    clean_failure(run("news", "latest", inn.url("wharf.does-not-exist")))


# ------------------------------------------------------------------ read

def login_kw(login):
    return {"user": login[0], "password": login[1]} if login else {}


def article_bytes(srv, group, spec, login=None) -> bytes:
    s = nntp(srv, **login_kw(login))
    try:
        s.group(group)
        resp, info = s.article(spec)
    finally:
        s.quit()
    return b"\n".join(info.lines) + b"\n"  # nntplib has dot-unstuffed them


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_read_by_number(run, inn, number):
    got = ok(run("news", "read", inn.url("wharf.test"), number))
    assert got == article_bytes(inn, "wharf.test", number)
    assert b"\r" not in got


def test_read_latest_by_default(run, inn):
    got = ok(run("news", "read", inn.url("wharf.test")))
    assert got == article_bytes(inn, "wharf.test", 5)
    # headers raw, not decoded
    assert b"\nSubject: Re: =?UTF-8?B?R3LDvMOfZQ==?= aus =?UTF-8?Q?M=C3=BC?= =?UTF-8?Q?nchen?=\n" in got
    assert b"\nFrom: =?ISO-8859-1?Q?Ren=E9_Dupont?= <rene@example.org>\n" in got


def test_read_by_message_id(run, inn):
    got = ok(run("news", "read", inn.url("wharf.test"), "<w3@wharf.test>"))
    assert got == article_bytes(inn, "wharf.test", "<w3@wharf.test>")
    head, _, body = got.partition(b"\n\n")
    assert b"Message-ID: <w3@wharf.test>" in head.split(b"\n")
    # dot-unstuffed: what the author wrote, not what went over the wire
    assert body == (b"The next lines start with dots:\n.single leading dot\n..two leading dots\n"
                    b".\n..\n...\n. dot space\nend of dots.\n")


def test_read_utf8_body(run, inn):
    got = ok(run("news", "read", inn.url("wharf.test"), 4))
    assert "Grüße aus München!\nÜnïcödé: 日本語, ship: 🚢.\n".encode() in got


def test_read_other_group(run, inn):
    got = ok(run("news", "read", inn.url("wharf.other"), 1))
    assert got == article_bytes(inn, "wharf.other", 1)


@pytest.mark.parametrize("spec", ["99", "<missing@wharf.test>"])
def test_read_missing_article(run, inn, spec):
    r = run("news", "read", inn.url("wharf.test"), spec)
    clean_failure(r)
    assert r.stdout == b""


# ------------------------------------------------------------------ list

def overview_lines(srv, group, url_last=None, login=None):
    s = nntp(srv, **login_kw(login))
    try:
        resp, count, first, last, name = s.group(group)
        if count == 0:
            return []
        resp, ov = s.over((first, last))
    finally:
        s.quit()
    lines = [f"{n}\t{o['date']}\t{dec(o['from'])}\t{dec(o['subject'])}" for n, o in ov]
    return lines[-url_last:] if url_last else lines


def test_list(run, inn):
    got = text(ok(run("news", "list", inn.url("wharf.test")))).splitlines()
    assert got == overview_lines(inn, "wharf.test")
    assert got[3] == "4\tTue, 02 Jan 2024 09:30:00 +0000\tJürgen Müller <juergen@example.org>\tGrüße aus München"
    assert got[4].endswith("\tRené Dupont <rene@example.org>\tRe: Grüße aus München")


@pytest.mark.parametrize("k", [1, 2, 5, 50])
def test_list_last(run, inn, k):
    got = text(ok(run("news", "list", inn.url("wharf.test"), "--last", k))).splitlines()
    assert got == overview_lines(inn, "wharf.test", k)
    assert len(got) == min(k, 5)


def test_list_other_and_empty(run, inn):
    got = text(ok(run("news", "list", inn.url("wharf.other")))).splitlines()
    assert got == ["1\tThu, 04 Jan 2024 10:00:00 +0000\tDave <dave@example.org>\tThe only article in wharf.other"]
    assert ok(run("news", "list", inn.url("wharf.empty"))) == b""


# ------------------------------------------------------------------ post

POST_BODY = ("A body posted by wharf.\n"
             ".a line starting with a dot\n"
             "..two dots\n"
             ".\n"
             "..\n"
             "> a quote\n"
             "\n"
             "Grüße ✓\n"
             "last line\n")


def _group_high(srv, group):
    s = nntp(srv)
    try:
        return s.group(group)[3]
    finally:
        s.quit()


def test_post_then_read(run, inn_post):
    before = _group_high(inn_post, "wharf.test")
    tag = uuid.uuid4().hex[:12]
    subject = f"Posted by wharf {tag}"
    r = run("news", "post", inn_post.url("wharf.test"), "--subject", subject,
            "--from", "Wharf Tester <tester@example.org>", input=POST_BODY.encode())
    ok(r)
    high = _group_high(inn_post, "wharf.test")
    assert high == before + 1
    s = nntp(inn_post)
    try:
        s.group("wharf.test")
        resp, info = s.article(high)
    finally:
        s.quit()
    lines = info.lines
    sep = lines.index(b"")
    head = {}
    for l in lines[:sep]:
        k, _, v = l.decode().partition(": ")
        head[k.lower()] = v
    assert dec(head["subject"]) == subject
    assert dec(head["from"]) == "Wharf Tester <tester@example.org>"
    assert head["newsgroups"] == "wharf.test"
    assert "message-id" in head
    assert b"\n".join(lines[sep + 1:]) + b"\n" == POST_BODY.encode()
    # and through wharf itself, by the new highest number
    got = ok(run("news", "read", inn_post.url("wharf.test"), high))
    assert got.partition(b"\n\n")[2] == POST_BODY.encode()
    assert got == b"\n".join(lines) + b"\n"


def test_post_non_ascii_subject(run, inn_post):
    tag = uuid.uuid4().hex[:8]
    subject = f"Grüße aus Wharf {tag}"
    ok(run("news", "post", inn_post.url("wharf.other"), "--subject", subject,
           "--from", "Rene <rene@example.org>", input="Grüße\n".encode()))
    last = text(ok(run("news", "list", inn_post.url("wharf.other"), "--last", "1"))).splitlines()
    assert len(last) == 1
    assert last[0].split("\t")[2:] == ["Rene <rene@example.org>", subject]


@pytest.mark.parametrize("frm", ["René <rene@example.org>", '"Dupont, René" <rene@example.org>',
                                 "rene@example.org (René Dupont)"])
def test_post_non_ascii_from(run, inn_post, frm):
    """Only the display name may become RFC 2047 encoded words (RFC 2047 section 5:
    in a phrase or comment, never in an addr-spec); encoding the address too makes
    the From header unparseable, and INN refuses the article (441)."""
    tag = uuid.uuid4().hex[:8]
    r = run("news", "post", inn_post.url("wharf.other"), "--subject", f"from test {tag}",
            "--from", frm, input=b"x\n")
    ok(r)
    s = nntp(inn_post)
    try:
        last = s.group("wharf.other")[3]
        resp, info = s.head(last)
    finally:
        s.quit()
    raw = [l for l in info.lines if l.lower().startswith(b"from:")][0].split(b":", 1)[1].strip()
    raw = raw.decode("ascii")  # netnews headers are ASCII (RFC 5536); non-ASCII goes in encoded words
    name, addr = parseaddr(raw)
    assert addr == "rene@example.org", raw         # the address stays a plain addr-spec
    assert dec(name) == parseaddr(frm)[0], raw     # the display name round-trips
    got = text(ok(run("news", "list", inn_post.url("wharf.other"), "--last", "1"))).splitlines()
    assert got[0].split("\t")[2:] == [dec(raw), f"from test {tag}"]


def test_post_body_without_final_newline(run, inn_post):
    tag = uuid.uuid4().hex[:8]
    ok(run("news", "post", inn_post.url("wharf.other"), "--subject", f"no newline {tag}",
           "--from", "t@example.org", input=b"only line, no newline at the end\n.\n."))
    got = ok(run("news", "read", inn_post.url("wharf.other")))
    assert got.partition(b"\n\n")[2] == b"only line, no newline at the end\n.\n.\n"


def test_post_refused(run, inn_post):
    # INN refuses articles for groups it does not carry (441)
    r = run("news", "post", inn_post.url("wharf.no-such-group"), "--subject", "x",
            "--from", "t@example.org", input=b"x\n")
    clean_failure(r)


# ------------------------------------------------------------------- TLS

def test_nntps(run, inn):
    plain = ok(run("news", "list", inn.url("wharf.test")))
    got = ok(run("news", "list", inn.url("wharf.test", tls=True), "--cacert", inn.cafile))
    assert got == plain
    got = ok(run("news", "read", inn.url("wharf.test", tls=True), "3", "--cacert", inn.cafile))
    assert got == article_bytes(inn, "wharf.test", 3)
    groups = parse_groups(ok(run("news", "groups", inn.url(tls=True), "wharf.*",
                                 "--cacert", inn.cafile)))
    assert set(groups) == {"wharf.test", "wharf.other", "wharf.empty"}


def test_nntps_untrusted_certificate(run, inn):
    # without --cacert the throw-away CA is not trusted
    clean_failure(run("news", "list", inn.url("wharf.test", tls=True)))


def test_starttls(run, inn):
    r = run("news", "list", inn.url("wharf.test"), "--tls", "--cacert", inn.cafile, "--verbose")
    assert ok(r) == ok(run("news", "list", inn.url("wharf.test")))
    assert b"STARTTLS" in r.stderr.upper(), describe(r)


def test_starttls_untrusted_certificate(run, inn):
    clean_failure(run("news", "list", inn.url("wharf.test"), "--tls"))


def test_latest_over_nntps_and_starttls(run, inn):
    want = decode_seed(seed_output(inn, "wharf.test"))
    got = text(ok(run("news", "latest", inn.url("wharf.test", tls=True), "--cacert", inn.cafile)))
    assert got == want, _diff(want, got)
    got = text(ok(run("news", "latest", inn.url("wharf.test"), "--tls", "--cacert", inn.cafile)))
    assert got == want, _diff(want, got)


# ------------------------------------------------------------------ auth

def _netrc(path, login, password, machine="127.0.0.1"):
    path.write_text(f"machine {machine}\n  login {login}\n  password {password}\n")
    path.chmod(0o600)
    return path


def test_auth_credentials_in_url(run, inn_auth):
    want = overview_lines(inn_auth, "wharf.test", login=("reader", "reader-pw"))
    got = text(ok(run("news", "list", inn_auth.url("wharf.test", userinfo="reader:reader-pw"))))
    assert got.splitlines() == want
    got = ok(run("news", "read", inn_auth.url("wharf.test", userinfo="reader:reader-pw"), "2"))
    assert got == article_bytes(inn_auth, "wharf.test", 2, login=("reader", "reader-pw"))


def test_auth_percent_encoded_url(run, inn_auth):
    # odd@user / p@ss:w/rd%  ->  odd%40user:p%40ss%3Aw%2Frd%25
    assert AUTH_USERS["odd@user"] == "p@ss:w/rd%"
    r = run("news", "groups", inn_auth.url(userinfo="odd%40user:p%40ss%3Aw%2Frd%25"), "wharf.*")
    assert set(parse_groups(ok(r))) == {"wharf.test", "wharf.other", "wharf.empty"}


def test_auth_netrc(run, inn_auth, tmp_path):
    netrc = _netrc(tmp_path / "netrc", "reader", "reader-pw")
    r = run("news", "read", inn_auth.url("wharf.test"), "1", env={"NETRC": str(netrc)})
    assert ok(r) == article_bytes(inn_auth, "wharf.test", 1, login=("reader", "reader-pw"))


def test_auth_home_netrc(run, inn_auth, home):
    _netrc(home / ".netrc", "reader", "reader-pw")
    r = run("news", "read", inn_auth.url("wharf.test"), "<w1@wharf.test>")
    assert b"\nMessage-ID: <w1@wharf.test>\n" in b"\n" + ok(r)


def test_auth_latest(run, inn_auth):
    got = text(ok(run("news", "latest", inn_auth.url("wharf.other", userinfo="reader:reader-pw"))))
    assert got.split("\n")[:3] == ["*** Connected to host 127.0.0.1",
                                   "*** Found newsgroup wharf.other", "*** Found last article (#1)"]


def test_auth_wrong_password_url(run, inn_auth):
    r = run("news", "list", inn_auth.url("wharf.test", userinfo="reader:wrong-pw"))
    clean_failure(r, 5)
    assert r.stdout == b""


def test_auth_wrong_password_netrc(run, inn_auth, tmp_path):
    netrc = _netrc(tmp_path / "netrc", "reader", "wrong-pw")
    r = run("news", "groups", inn_auth.url(), env={"NETRC": str(netrc)})
    clean_failure(r, 5)


def test_auth_unknown_user(run, inn_auth):
    clean_failure(run("news", "groups", inn_auth.url(userinfo="nobody:reader-pw")), 5)


def test_auth_required_without_credentials(run, inn_auth):
    # no user anywhere (empty HOME, no NETRC, stdin not a terminal): the server's
    # 480 must end in a clean failure, not a hang or a prompt
    r = run("news", "list", inn_auth.url("wharf.test"), timeout=30)
    clean_failure(r)


@pytest.mark.parametrize("how", ["url", "netrc"])
def test_verbose_masks_password(run, inn_auth, tmp_path, how):
    if how == "url":
        r = run("news", "list", inn_auth.url("wharf.test", userinfo="reader:reader-pw"), "--verbose")
    else:
        netrc = _netrc(tmp_path / "netrc", "reader", "reader-pw")
        r = run("news", "list", inn_auth.url("wharf.test"), "--verbose", env={"NETRC": str(netrc)})
    ok(r)
    err = r.stderr.decode(errors="replace")
    assert "AUTHINFO USER reader" in err, err      # the dialogue is shown ...
    assert "AUTHINFO PASS" in err, err
    assert "GROUP wharf.test" in err, err
    assert "reader-pw" not in err, err             # ... with the password masked
    assert b"reader-pw" not in r.stdout


def test_verbose_masks_percent_encoded_password(run, inn_auth):
    r = run("news", "groups", inn_auth.url(userinfo="odd%40user:p%40ss%3Aw%2Frd%25"), "--verbose")
    ok(r)
    err = r.stderr.decode(errors="replace")
    assert "AUTHINFO PASS" in err
    assert "p@ss:w/rd%" not in err and "p%40ss" not in err, err


# ------------------------------------------------------------- errors

def test_connection_refused(run):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    clean_failure(run("news", "groups", f"nntp://127.0.0.1:{port}/", timeout=30), 4)


@pytest.mark.parametrize("url", ["http://127.0.0.1/wharf.test", "nntp://"])
def test_bad_url_is_usage_error(run, url):
    clean_failure(run("news", "list", url, timeout=30))


# --------------------------------------------------------- hostile server

HOSTILE_LIMIT_S = 90     # the client must give up (or finish) well within this
HOSTILE_RSS_MIB = 512    # ... without holding an endless answer in memory

HOSTILE_CASES = [
    # (mode, wharf arguments after the URL's group, group or "")
    ("endless-body", ["read"], "hostile.test", ["1"]),
    ("endless-body", ["read"], "hostile.test", []),
    ("endless-quoted", ["latest"], "hostile.test", []),
    ("endless-over", ["list"], "hostile.test", []),
    ("endless-list", ["groups"], "", []),
    ("no-terminator", ["read"], "hostile.test", ["1"]),
    ("no-terminator", ["latest"], "hostile.test", []),
    ("no-terminator", ["list"], "hostile.test", []),
    ("no-terminator", ["groups"], "", []),
    ("long-greeting", ["groups"], "", []),
    ("long-status", ["list"], "hostile.test", []),
    ("long-body-line", ["read"], "hostile.test", ["1"]),
]


@pytest.mark.time_limit(HOSTILE_LIMIT_S + 30)
@pytest.mark.parametrize("mode,cmd,group,extra", HOSTILE_CASES,
                         ids=[f"{m}-{c[0]}{'-' + e[0] if e else ''}" for m, c, g, e in HOSTILE_CASES])
def test_hostile_server(wharf, home, mode, cmd, group, extra):

    env = Runner(wharf, home).env()
    with HostileNNTP(mode) as h:
        url = f"nntp://127.0.0.1:{h.port}/{group}"
        res = run_bounded([wharf, "news", *cmd, url, *extra], env, HOSTILE_LIMIT_S, HOSTILE_RSS_MIB)
        sent = sum(h.sent)
    info = (f"mode {mode}: exit {res['rc']} after {res['elapsed']:.1f} s, server sent {sent >> 20} MiB, "
            f"client wrote {res['out_bytes']} bytes, peak RSS {res['peak_rss_mib']} MiB\n"
            f"stderr: {res['stderr'][-2000:]}")
    assert res["killed"] is None, f"{res['killed']}\n{info}"
    assert res["rc"] != 0, info
    assert res["rc"] > 0, f"killed by signal {-res['rc']}\n{info}"
    assert not PANIC.search(res["stderr"]), info
    assert res["stderr"].strip(), "no error message\n" + info


@pytest.mark.time_limit(150)
def test_large_article_is_streamed(wharf, home):
    """Issue 7: multi-line blocks are "streamed, and bounded".  A well-formed
    48 MiB article (under the client's bound) must come out whole, dot-unstuffed,
    without the client holding it in memory: its peak RSS must stay well under the
    article's size (a debug build idles at about 30 MiB)."""
    import hashlib

    want = hashlib.sha256()
    want.update(b"".join(l + b"\n" for l in head_lines(1)) + b"\n")
    for l in big_body():
        want.update(l + b"\n")
    env = Runner(wharf, home).env()
    with HostileNNTP("big-article") as h:
        res = run_bounded([wharf, "news", "read", f"nntp://127.0.0.1:{h.port}/hostile.test", "1"],
                          env, 120, 1024)
    info = (f"exit {res['rc']} after {res['elapsed']:.1f} s, wrote {res['out_bytes']} bytes, "
            f"peak RSS {res['peak_rss_mib']} MiB\nstderr: {res['stderr'][-2000:]}")
    assert res["killed"] is None and res["rc"] == 0, info
    assert res["out_sha256"] == want.hexdigest(), info
    assert res["peak_rss_mib"] < (BIG_BYTES >> 20), "article held in memory, not streamed: " + info
