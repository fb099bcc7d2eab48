"""Issue 14: groups. Accounts inherit a group's permissions and limits;
an account's own settings beat its groups', the first of its groups beats
the later ones, and path rules of every layer compete by length. Running
sessions see a group change within a second, as they see an account's.

Two accounts (`pat`, `quin`) share groups here; every test that writes
ends with each account's usage equal to the bytes in its home.
"""

from __future__ import annotations

import ftplib
import time
from pathlib import Path

from test_permissions import assert_not_permitted, reply_of
from test_registration_quota import close, code_of, disk_usage, put, site_quota, users
from wharf_helpers import TIMEOUT, wait_until

ACCOUNTS = {"pat": "pat-password-1", "quin": "quin-password-1"}


def add(srv, bin: Path, name: str) -> Path:
    users(bin, srv.data, "add", name, "--password-stdin", input=ACCOUNTS[name] + "\n")
    home = srv.data / "home" / name
    (home / "archive").mkdir(parents=True, exist_ok=True)
    (home / "archive" / "a.txt").write_bytes(b"archived")
    users(bin, srv.data, "recount", name)
    return home


def groups(srv, bin: Path, *args: str, ok: bool = True) -> str:
    return users(bin, srv.data, *args, ok=ok, family="groups")


def login(srv, name: str) -> ftplib.FTP:
    f = ftplib.FTP(timeout=TIMEOUT, encoding="utf-8")
    f.connect(srv.host, srv.port)
    f.login(name, ACCOUNTS[name])
    f.voidcmd("TYPE I")
    return f


def try_login(srv, name: str) -> str:
    f = ftplib.FTP(timeout=TIMEOUT, encoding="utf-8")
    try:
        f.connect(srv.host, srv.port)
        reply = f.login(name, ACCOUNTS[name])
        close(f)
        return reply
    except ftplib.Error as e:
        return str(e)


def usage_is_disk(srv, name: str, home: Path) -> None:
    f = login(srv, name)
    try:
        used = site_quota(f)["used"]
    finally:
        close(f)
    assert used == disk_usage(home), f"{name}: usage {used} != {disk_usage(home)} on disk"


def test_members_inherit_and_their_own_settings_win(wharfd, wharfd_bin):
    homes = {n: add(wharfd, wharfd_bin, n) for n in ACCOUNTS}
    out = groups(wharfd, wharfd_bin, "add", "readers")
    assert "wharfd users groups" in out, out
    groups(wharfd, wharfd_bin, "perms", "readers", "--read-only")
    groups(wharfd, wharfd_bin, "set", "readers", "--max-sessions", "1")
    for n in ACCOUNTS:
        users(wharfd_bin, wharfd.data, "groups", n, "readers")
    # pat's own permissions beat the group's; quin has none of its own
    users(wharfd_bin, wharfd.data, "perms", "pat", "all")

    shown = users(wharfd_bin, wharfd.data, "show", "quin")
    assert "groups: readers" in shown and "(group readers)" in shown, shown
    shown = groups(wharfd, wharfd_bin, "show", "readers")
    assert "2 members (pat, quin)" in shown, shown
    assert "list,download" in shown, shown

    pat, quin = login(wharfd, "pat"), login(wharfd, "quin")
    try:
        assert code_of(put(pat, "mine.txt", b"pat's")) == "226"
        assert_not_permitted(put(quin, "mine.txt", b"quin's"), "STOR as a reader")
        assert_not_permitted(reply_of(lambda: quin.delete("archive/a.txt")), "DELE as a reader")
        got = bytearray()
        quin.retrbinary("RETR archive/a.txt", got.extend)
        assert bytes(got) == b"archived"
        # the group's session limit holds for each member
        for n in ACCOUNTS:
            r = try_login(wharfd, n)
            assert r.startswith("530") and "limit 1" in r, f"{n}: {r}"
        # a running session sees the group change within a second
        groups(wharfd, wharfd_bin, "perms", "readers", "all")
        time.sleep(1.3)
        assert code_of(put(quin, "later.txt", b"now allowed")) == "226"
    finally:
        close(pat)
        close(quin)
    assert (homes["quin"] / "archive" / "a.txt").read_bytes() == b"archived"
    assert not (homes["quin"] / "mine.txt").exists()
    for n, home in homes.items():
        usage_is_disk(wharfd, n, home)


def test_path_rules_compete_across_layers(wharfd, wharfd_bin):
    home = add(wharfd, wharfd_bin, "pat")
    (home / "drop").mkdir()
    users(wharfd_bin, wharfd.data, "recount", "pat")
    for g in ("first", "second"):
        groups(wharfd, wharfd_bin, "add", g)
    # on the same path the earlier group wins; a longer path wins over both
    groups(wharfd, wharfd_bin, "perms", "first", "--upload-only", "--path", "/drop")
    groups(wharfd, wharfd_bin, "perms", "second", "--read-only", "--path", "/drop")
    groups(wharfd, wharfd_bin, "perms", "second", "--read-only", "--path", "/archive")
    users(wharfd_bin, wharfd.data, "groups", "pat", "first,second")
    shown = users(wharfd_bin, wharfd.data, "show", "pat")
    assert "(group first, rule for /drop)" in shown, shown
    assert "(group second, rule for /archive)" in shown, shown

    f = login(wharfd, "pat")
    try:
        assert code_of(put(f, "/drop/in.bin", b"dropped")) == "226"
        assert_not_permitted(reply_of(lambda: f.retrlines("LIST /drop", print)), "LIST /drop")
        assert_not_permitted(put(f, "/archive/x.txt", b"x"), "STOR into /archive")
        # renaming a folder that holds a group's rule is refused too
        assert_not_permitted(reply_of(lambda: f.sendcmd("RNFR /archive")), "RNFR /archive")
        assert code_of(put(f, "/free.txt", b"free")) == "226"
    finally:
        close(f)
    # the order is the account's: second first now
    users(wharfd_bin, wharfd.data, "groups", "pat", "second,first")
    f = login(wharfd, "pat")
    try:
        assert_not_permitted(put(f, "/drop/in2.bin", b"x"), "STOR into /drop (read-only now)")
        f.retrlines("LIST /drop", lambda _l: None)
    finally:
        close(f)
    assert (home / "drop" / "in.bin").read_bytes() == b"dropped"
    usage_is_disk(wharfd, "pat", home)


def test_group_login_limits_and_removal(wharfd, wharfd_bin):
    add(wharfd, wharfd_bin, "pat")
    add(wharfd, wharfd_bin, "quin")
    groups(wharfd, wharfd_bin, "add", "gone")
    groups(wharfd, wharfd_bin, "set", "gone", "--expires", "2020-01-01")
    users(wharfd_bin, wharfd.data, "groups", "pat", "gone")
    r = try_login(wharfd, "pat")
    assert r.startswith("530") and "expired on 2020-01-01" in r, r
    # an account's own date beats its group's
    users(wharfd_bin, wharfd.data, "set", "quin", "--expires", "2099-12-31")
    users(wharfd_bin, wharfd.data, "groups", "quin", "gone")
    assert try_login(wharfd, "quin").startswith("230")

    groups(wharfd, wharfd_bin, "add", "local")
    groups(wharfd, wharfd_bin, "set", "local", "--deny-from", "127.0.0.0/8")
    users(wharfd_bin, wharfd.data, "groups", "quin", "local,gone")
    r = try_login(wharfd, "quin")
    assert r.startswith("530") and "may not log in from 127.0.0.1" in r, r

    # a group with members is not removed by accident; --force removes it
    out = groups(wharfd, wharfd_bin, "remove", "gone", ok=False)
    assert "pat, quin" in out and "--force" in out, out
    groups(wharfd, wharfd_bin, "remove", "gone", "--force")
    assert wait_until(lambda: try_login(wharfd, "pat").startswith("230"), 3)
    assert users(wharfd_bin, wharfd.data, "groups", "quin").strip().endswith("quin: local")
    # misuse gets a clear error and changes nothing
    out = users(wharfd_bin, wharfd.data, "groups", "quin", "local,ghost", ok=False)
    assert 'no group named "ghost"' in out and "unchanged" in out, out
    assert users(wharfd_bin, wharfd.data, "groups", "quin").strip().endswith("quin: local")
    out = groups(wharfd, wharfd_bin, "add", "local", ok=False)
    assert "already exists" in out, out
    out = groups(wharfd, wharfd_bin, "add", "bad/name", ok=False)
    assert "group name" in out, out
    out = groups(wharfd, wharfd_bin, "show", "ghost", ok=False)
    assert "wharfd groups list" in out, out
    listed = groups(wharfd, wharfd_bin, "list")
    assert "local" in listed and "1 member(s)" in listed, listed


def test_denied_commands_and_unlimited_overrides(wharfd, wharfd_bin):
    homes = {n: add(wharfd, wharfd_bin, n) for n in ACCOUNTS}
    groups(wharfd, wharfd_bin, "add", "careful")
    groups(wharfd, wharfd_bin, "set", "careful", "--deny-commands", "dele,site",
           "--max-sessions", "1")
    for n in ACCOUNTS:
        users(wharfd_bin, wharfd.data, "groups", n, "careful")
    # quin's own settings lift the group's
    users(wharfd_bin, wharfd.data, "set", "quin", "--deny-commands", "none",
          "--max-sessions", "unlimited")
    shown = users(wharfd_bin, wharfd.data, "show", "pat")
    assert "DELE,SITE" in shown and "(group careful)" in shown, shown
    shown = users(wharfd_bin, wharfd.data, "show", "quin")
    assert "unlimited" in shown, shown

    pat = login(wharfd, "pat")
    try:
        assert code_of(put(pat, "x.txt", b"x")) == "226"
        for line in ("DELE x.txt", "SITE QUOTA"):
            r = reply_of(lambda: pat.sendcmd(line))
            assert r.startswith("550") and "may not use" in r, f"{line}: {r}"
        assert (homes["pat"] / "x.txt").exists()
        assert pat.sendcmd("NOOP").startswith("200")
    finally:
        close(pat)
    q1, q2 = login(wharfd, "quin"), login(wharfd, "quin")
    try:
        assert code_of(put(q1, "y.txt", b"y")) == "226"
        q2.delete("y.txt")
    finally:
        close(q1)
        close(q2)
    out = users(wharfd_bin, wharfd.data, "set", "pat", "--deny-commands", "QUIT", ok=False)
    assert "cannot be denied" in out, out
    for n, home in homes.items():
        users(wharfd_bin, wharfd.data, "set", n, "--deny-commands", "none")
        usage_is_disk(wharfd, n, home)
