"""Issue 14: shared folders. A folder is a directory the operator mounts
into several accounts' (or a group's) trees; every byte in it counts once,
to the folder's own quota, whoever uploaded it, and two accounts uploading
into it in parallel never pass that quota. Its mount point cannot be
renamed or removed, and nothing moves between it and a home by rename.

Every test ends with each account's usage equal to the bytes in its home
and the folder's usage equal to the bytes in its directory.
"""

from __future__ import annotations

import ftplib
import io
import re
from pathlib import Path

from test_groups import ACCOUNTS, add, groups, login, usage_is_disk
from test_permissions import assert_not_permitted, reply_of
from test_registration_quota import close, code_of, disk_usage, put, users

KIB = 1024


def folders(srv, bin: Path, *args: str, ok: bool = True) -> str:
    return users(bin, srv.data, *args, ok=ok, family="folders")


def folder_used(srv, bin: Path, name: str) -> int:
    out = folders(srv, bin, "show", name)
    m = re.search(r"using .*\((\d+) bytes\)", out)
    assert m, out
    return int(m.group(1))


def make_folder(srv, bin: Path, tmp: Path, quota: str | None = None) -> Path:
    d = tmp / "team-files"
    args = ["add", "team", "--dir", str(d)]
    if quota:
        args += ["--quota", quota]
    out = folders(srv, bin, *args)
    assert "wharfd users mount" in out, out
    return d


def test_two_accounts_share_a_folder_and_its_quota(wharfd, wharfd_bin, tmp_path):
    homes = {n: add(wharfd, wharfd_bin, n) for n in ACCOUNTS}
    team = make_folder(wharfd, wharfd_bin, tmp_path, quota="200K")
    for n in ACCOUNTS:
        users(wharfd_bin, wharfd.data, "mount", n, "team", "/team")
    shown = folders(wharfd, wharfd_bin, "show", "team")
    assert "user pat at /team" in shown and "user quin at /team" in shown, shown

    # two sessions of each account upload 60 KiB each at once, their bytes
    # interleaved: 240 KiB into 200 KiB
    sessions = [(n, login(wharfd, n)) for n in ACCOUNTS for _ in range(2)]
    try:
        socks = [f.transfercmd(f"STOR /team/{n}-{i}.bin") for i, (n, f) in enumerate(sessions)]
        for _ in range(6):
            for sock in socks:
                try:
                    sock.sendall(b"t" * 10 * KIB)
                except OSError:
                    pass  # this one was refused mid-way; its reply says so
        for sock in socks:
            sock.close()
        codes = [code_of(reply_of(f.voidresp)) for _, f in sessions]
    finally:
        for _, f in sessions:
            close(f)
    # Bytes are reserved as they arrive, so all four may stall at 50 KiB
    # each and all be refused; what can never happen is passing the quota.
    done = codes.count("226")
    assert all(c in ("226", "552") for c in codes), codes
    on_disk = disk_usage(team)
    assert on_disk == done * 60 * KIB <= 200 * KIB, (on_disk, codes)
    assert folder_used(wharfd, wharfd_bin, "team") == on_disk
    # then one at a time, alternating accounts, until the folder is full
    for i in range(4):
        name = list(ACCOUNTS)[i % 2]
        f = login(wharfd, name)
        try:
            r = put(f, f"/team/seq-{i}.bin", b"s" * 60 * KIB)
        finally:
            close(f)
        if disk_usage(team) + 60 * KIB > 200 * KIB and code_of(r) == "552":
            break
        assert code_of(r) == "226", r
    else:
        raise AssertionError("four more 60 KiB files fitted into 200 KiB")
    done = len(list(team.iterdir()))
    assert disk_usage(team) == done * 60 * KIB == 180 * KIB
    assert folder_used(wharfd, wharfd_bin, "team") == 180 * KIB

    # each sees the other's files; a delete by one frees space for both
    quin = login(wharfd, "quin")
    try:
        names = [n.split("/")[-1] for n in quin.nlst("/team")]
        assert len(names) == done, names
        assert "team" in quin.nlst("/"), "the mount point is not listed in its parent"
        quin.delete(f"/team/{names[0]}")
        assert code_of(put(quin, "/team/after.bin", b"x" * 60 * KIB)) == "226"
    finally:
        close(quin)
    assert folder_used(wharfd, wharfd_bin, "team") == disk_usage(team)
    for n, home in homes.items():
        usage_is_disk(wharfd, n, home)
        assert not (home / "team").exists() or disk_usage(home / "team") == 0


def test_mount_points_and_permissions(wharfd, wharfd_bin, tmp_path):
    homes = {n: add(wharfd, wharfd_bin, n) for n in ACCOUNTS}
    team = make_folder(wharfd, wharfd_bin, tmp_path)
    (team / "plan.txt").write_bytes(b"the plan")
    folders(wharfd, wharfd_bin, "recount", "team")
    users(wharfd_bin, wharfd.data, "mount", "pat", "team", "/team")
    # quin gets it through a group, read-only and deeper in the tree
    groups(wharfd, wharfd_bin, "add", "viewers")
    groups(wharfd, wharfd_bin, "mount", "viewers", "team", "/shared/team", "--read-only")
    users(wharfd_bin, wharfd.data, "groups", "quin", "viewers")
    shown = users(wharfd_bin, wharfd.data, "show", "quin")
    assert "/shared/team" in shown and "folder team" in shown, shown

    pat, quin = login(wharfd, "pat"), login(wharfd, "quin")
    try:
        assert code_of(put(pat, "/team/new.txt", b"from pat")) == "226"
        got = bytearray()
        quin.retrbinary("RETR /shared/team/new.txt", got.extend)
        assert bytes(got) == b"from pat"
        assert_not_permitted(put(quin, "/shared/team/q.txt", b"q"), "STOR into a read-only mount")
        assert_not_permitted(reply_of(lambda: quin.delete("/shared/team/plan.txt")),
                             "DELE in a read-only mount")
        # the mount point is the operator's: not renamed, not removed
        assert_not_permitted(reply_of(lambda: pat.sendcmd("RNFR /team")), "RNFR /team")
        assert_not_permitted(reply_of(lambda: pat.sendcmd("RMD /team")), "RMD /team")
        assert_not_permitted(reply_of(lambda: quin.sendcmd("RNFR /shared")), "RNFR /shared")
        # nothing moves between the folder and the home by rename
        pat.sendcmd("RNFR /team/new.txt")
        r = reply_of(lambda: pat.sendcmd("RNTO /mine.txt"))
        assert r.startswith("553") and "copy" in r, r
        pat.cwd("/team")
        assert "plan.txt" in pat.nlst()
        pat.cwd("/")
        # a rename inside the folder works and keeps the usage
        pat.rename("/team/new.txt", "/team/renamed.txt")
    finally:
        close(pat)
        close(quin)
    assert (team / "renamed.txt").read_bytes() == b"from pat"
    assert folder_used(wharfd, wharfd_bin, "team") == disk_usage(team)
    for n, home in homes.items():
        usage_is_disk(wharfd, n, home)

    # misuse: clear errors, nothing changed
    out = folders(wharfd, wharfd_bin, "remove", "team", ok=False)
    assert "user pat at /team" in out and "--force" in out, out
    out = users(wharfd_bin, wharfd.data, "mount", "pat", "ghost", "/g", ok=False)
    assert 'no folder named "ghost"' in out, out
    out = users(wharfd_bin, wharfd.data, "mount", "pat", "team", "/", ok=False)
    assert "root" in out, out
    out = folders(wharfd, wharfd_bin, "add", "rel", "--dir", "relative/dir", ok=False)
    assert "absolute" in out, out
    users(wharfd_bin, wharfd.data, "unmount", "pat", "/team")
    out = users(wharfd_bin, wharfd.data, "unmount", "pat", "/team", ok=False)
    assert "no folder mounted at /team" in out, out
    # folder ledgers are not accounts
    assert "folder:" not in users(wharfd_bin, wharfd.data, "list")
    f = ftplib.FTP(timeout=10)
    f.connect(wharfd.host, wharfd.port)
    try:
        r = reply_of(lambda: f.login("folder:team", "!"))
        assert r.startswith("530"), r
    finally:
        close(f)
    listed = folders(wharfd, wharfd_bin, "list")
    assert "team" in listed and str(team) in listed, listed


def test_a_lowered_folder_quota_and_a_session_that_mounted_it_earlier(wharfd, wharfd_bin,
                                                                      tmp_path):
    home = add(wharfd, wharfd_bin, "pat")
    team = make_folder(wharfd, wharfd_bin, tmp_path, quota="1M")
    users(wharfd_bin, wharfd.data, "mount", "pat", "team", "/team")
    f = login(wharfd, "pat")
    try:
        assert code_of(put(f, "/team/a.bin", b"a" * 100 * KIB)) == "226"
        folders(wharfd, wharfd_bin, "quota", "team", "150K")
        r = put(f, "/team/b.bin", b"b" * 100 * KIB)
        assert code_of(r) == "552", r
        # the home has its own quota, untouched by the folder's
        assert code_of(put(f, "/home-file.bin", b"h" * 100 * KIB)) == "226"
        f.storbinary("STOR /team/small.bin", io.BytesIO(b"s" * 10 * KIB))
    finally:
        close(f)
    assert folder_used(wharfd, wharfd_bin, "team") == disk_usage(team) == 110 * KIB
    usage_is_disk(wharfd, "pat", home)


def test_anonymous_incoming_takes_uploads_and_gives_nothing_back(wharfd_bin, tmp_path, request):
    from test_registration_quota import OwnServer
    from wharfd_process import report_servers

    data = tmp_path / "data"
    data.mkdir()
    drop = tmp_path / "drop"
    users(wharfd_bin, data, "add", "drop", "--dir", str(drop), "--quota", "100K",
          family="folders")
    srv = OwnServer(bin=wharfd_bin, data=data, args=["--anon-incoming", "drop"])
    report_servers(request.node, [srv])
    srv.start()
    try:
        f = ftplib.FTP(timeout=10)
        f.connect(srv.host, srv.port)
        f.login("anonymous", "guest@example.org")
        f.voidcmd("TYPE I")
        try:
            assert "incoming" in f.nlst("/"), "the incoming folder is not listed"
            assert code_of(put(f, "/incoming/report.txt", b"for the operator")) == "226"
            # nothing comes back, nothing is replaced or extended
            assert_not_permitted(reply_of(lambda: f.retrlines("LIST /incoming", print)),
                                 "LIST /incoming")
            assert_not_permitted(
                reply_of(lambda: f.retrbinary("RETR /incoming/report.txt", lambda _b: None)),
                "RETR /incoming/report.txt")
            assert_not_permitted(reply_of(lambda: f.sendcmd("SIZE /incoming/report.txt")),
                                 "SIZE in /incoming")
            assert_not_permitted(put(f, "/incoming/report.txt", b"replaced"), "STOR over it")
            assert_not_permitted(put(f, "/incoming/report.txt", b"more", cmd="APPE"),
                                 "APPE to it")
            assert_not_permitted(reply_of(lambda: f.delete("/incoming/report.txt")), "DELE")
            # the rest of the anonymous tree stays read-only
            r = put(f, "/elsewhere.txt", b"x")
            assert code_of(r) == "550", r
            # the folder's quota bounds every anonymous upload together
            r = put(f, "/incoming/big.bin", b"b" * 200 * KIB)
            assert code_of(r) == "552", r
        finally:
            close(f)
    finally:
        srv.stop()
    assert (drop / "report.txt").read_bytes() == b"for the operator"
    assert sorted(p.name for p in drop.iterdir()) == ["report.txt"]
    assert folder_used(srv, wharfd_bin, "drop") == disk_usage(drop)


def test_anon_incoming_naming_a_missing_folder_refuses_to_start(wharfd_bin, tmp_path):
    import subprocess

    data = tmp_path / "data"
    data.mkdir()
    cp = subprocess.run([str(wharfd_bin), "serve", "--data", str(data), "--listen",
                         "127.0.0.1:0", "--anon-incoming", "nothere"],
                        capture_output=True, timeout=30)
    out = (cp.stdout + cp.stderr).decode(errors="replace")
    assert cp.returncode != 0 and "wharfd folders add nothere" in out, out


def test_a_second_account_overwrites_and_deletes_the_name_mid_upload(wharfd, wharfd_bin,
                                                                     tmp_path):
    """The two-session twin in a folder: while pat's STOR of `x.bin` is still
    sending, quin replaces `x.bin` and then deletes it; pat's upload then
    completes. The folder's usage ends equal to its bytes on disk."""
    homes = {n: add(wharfd, wharfd_bin, n) for n in ACCOUNTS}
    team = make_folder(wharfd, wharfd_bin, tmp_path, quota="1M")
    for n in ACCOUNTS:
        users(wharfd_bin, wharfd.data, "mount", n, "team", "/team")
    pat, quin = login(wharfd, "pat"), login(wharfd, "quin")
    try:
        sock = pat.transfercmd("STOR /team/x.bin")
        sock.sendall(b"p" * 100 * KIB)
        assert code_of(put(quin, "/team/x.bin", b"q" * 30 * KIB)) == "226"
        assert folder_used(wharfd, wharfd_bin, "team") == disk_usage(team)
        quin.delete("/team/x.bin")
        sock.sendall(b"p" * 50 * KIB)
        sock.close()
        assert code_of(pat.voidresp()) == "226"
    finally:
        close(pat)
        close(quin)
    assert (team / "x.bin").read_bytes() == b"p" * 150 * KIB
    assert folder_used(wharfd, wharfd_bin, "team") == disk_usage(team) == 150 * KIB
    for n, home in homes.items():
        usage_is_disk(wharfd, n, home)


def test_account_commands_never_touch_a_folder_ledger(wharfd, wharfd_bin, tmp_path):
    """`folder:NAME` rows are no accounts: disable, quota, perms, passwd and
    remove say there is no such account, and the folder stays whole."""
    team = make_folder(wharfd, wharfd_bin, tmp_path, quota="1M")
    for args in (["disable", "folder:team"], ["enable", "folder:team"],
                 ["quota", "folder:team", "5M"], ["perms", "folder:team", "--read-only"],
                 ["remove", "folder:team"]):
        out = users(wharfd_bin, wharfd.data, *args, ok=False)
        assert "no account named" in out, (args, out)
    out = users(wharfd_bin, wharfd.data, "passwd", "folder:team", "--password-stdin",
                input="new-password-1\n", ok=False)
    assert "no account" in out.lower(), out
    shown = folders(wharfd, wharfd_bin, "show", "team")
    assert "quota 1.0 MiB" in shown and str(team) in shown, shown
