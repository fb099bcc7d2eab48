"""Our FTP client against real servers nobody here wrote — vsftpd,
pure-ftpd, ProFTPD, pyftpdlib (started by tests/peers/peers.py) — and
against our own wharfd: every library call (through the `exercise`
example), `wharf get`/`put`/`ls`, mirror both ways, resumed transfers,
active and passive mode, FTPS against vsftpd and pure-ftpd, and the
interactive shell driven through standard input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wharf_helpers import build_tree, diff_manifests, file_sha256, tree_manifest, write_random

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))
from peers import KINDS, PeerServer  # noqa: E402

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/wharf-target"))
WHARF = Path(os.environ.get("WHARF", TARGET / "debug/wharf"))
EXERCISE = Path(os.environ.get("WHARF_EXERCISE", TARGET / "debug/examples/exercise"))


def need(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path} is missing; run `cargo build -p wharf && cargo build -p ftp-client --example exercise`",
                    pytrace=False)
    return str(path)


def wharf(*args: str, cwd: Path | None = None, input: bytes | None = None, timeout: float = 180,
          check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([need(WHARF), *args], cwd=cwd, input=input, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"wharf {' '.join(args)} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}",
                    pytrace=False)
    return proc


class Peer:
    """A server and its URL, whatever kind."""

    def __init__(self, kind: str, url: str, root: Path, cafile: Path | None, log):
        self.kind = kind
        self.url = url
        self.root = root
        self.cafile = cafile
        self.log = log


@pytest.fixture(params=list(KINDS) + ["wharfd"])
def peer(request, tmp_path, wharfd_factory):
    root = tmp_path / "root"
    root.mkdir()
    # Made before the server starts, which hands the tree to its account.
    (root / "scratch").mkdir()
    if request.param == "wharfd":
        srv = wharfd_factory([])
        yield Peer("wharfd", f"ftp://alice:alice-secret-pw@127.0.0.1:{srv.port}", srv.home, None, srv.log)
        return
    with PeerServer(request.param, root) as srv:
        yield Peer(request.param, f"ftp://{srv.user}:{srv.password}@{srv.host}:{srv.port}", srv.root, None,
                   srv.log_text)


@pytest.mark.time_limit(240)
@pytest.mark.parametrize("active", [False, True], ids=["passive", "active"])
def test_every_library_call(peer, active):
    (peer.root / "scratch").mkdir(exist_ok=True)
    args = [need(EXERCISE), f"{peer.url}/scratch/"] + (["--active"] if active else [])
    proc = subprocess.run(args, capture_output=True, timeout=180)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, f"{out}\n{proc.stderr.decode(errors='replace')}"
    assert "FAIL" not in out


@pytest.mark.time_limit(300)
def test_get_put_ls_and_resume(peer, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    digest = write_random(work / "blob.bin", 30 << 20)
    wharf("put", "-q", str(work / "blob.bin"), f"{peer.url}/")
    assert file_sha256(peer.root / "blob.bin") == digest
    listing = wharf("ls", f"{peer.url}/").stdout
    assert b"blob.bin" in listing
    assert b"blob.bin" in wharf("ls", "-1", f"{peer.url}/").stdout.split()
    wharf("get", "-q", f"{peer.url}/blob.bin", "-o", str(work / "copy.bin"))
    assert file_sha256(work / "copy.bin") == digest
    # resume an interrupted download: keep the first 7 MB and continue
    with open(work / "copy.bin", "r+b") as f:
        f.truncate(7 << 20)
    wharf("get", "-q", "-c", f"{peer.url}/blob.bin", "-o", str(work / "copy.bin"))
    assert file_sha256(work / "copy.bin") == digest
    # resume an interrupted upload: the server has the first 5 MB
    with open(peer.root / "blob.bin", "r+b") as f:
        f.truncate(5 << 20)
    wharf("put", "-q", "-c", str(work / "blob.bin"), f"{peer.url}/blob.bin")
    assert file_sha256(peer.root / "blob.bin") == digest
    # segmented download
    wharf("get", "-q", "--segments", "4", f"{peer.url}/blob.bin", "-o", str(work / "seg.bin"))
    assert file_sha256(work / "seg.bin") == digest
    # active mode
    wharf("get", "-q", "--active", f"{peer.url}/blob.bin", "-o", str(work / "act.bin"))
    assert file_sha256(work / "act.bin") == digest


@pytest.mark.time_limit(400)
def test_mirror_both_ways(peer, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    want = build_tree(src, big_size=100 << 20)
    (src / "empty dir").mkdir(exist_ok=True)
    wharf("mirror", "-q", "--reverse", "-j", "3", str(src), f"{peer.url}/tree/")
    back = tmp_path / "back"
    wharf("mirror", "-q", "-j", "3", f"{peer.url}/tree/", str(back))
    got = tree_manifest(back)
    assert got == tree_manifest(src), diff_manifests(tree_manifest(src), got)
    assert (back / "empty dir").is_dir()
    # a second run transfers nothing
    again = wharf("mirror", f"{peer.url}/tree/", str(back)).stderr
    assert b"0 files transferred" in again, again
    # --delete removes what the source no longer has
    victim = "top.txt"
    assert victim in want
    os.remove(src / victim)
    wharf("mirror", "-q", "--reverse", "--delete", str(src), f"{peer.url}/tree/")
    assert not (peer.root / "tree" / victim).exists()
    # lftp-like options against every server (issue 19): a dry run of
    # --delete names the victim and changes nothing; then the real one,
    # --exclude and --verify (HASH where the server has it, sizes otherwise)
    before = tree_manifest(back)
    out = wharf("mirror", "--delete", "--dry-run", f"{peer.url}/tree/", str(back)).stdout
    assert f"delete {victim}".encode() in out, out
    assert tree_manifest(back) == before
    wharf("mirror", "-q", "--delete", f"{peer.url}/tree/", str(back))
    assert not (back / victim).exists()
    fresh = tmp_path / "fresh"
    wharf("mirror", "-q", "--verify", "--exclude", "*.bin", "--parallel", "2", f"{peer.url}/tree/", str(fresh))
    want = {k: v for k, v in tree_manifest(src).items() if v != "<dir>" and not k.endswith(".bin")}
    got = {k: v for k, v in tree_manifest(fresh).items() if v != "<dir>"}
    assert got == want, diff_manifests(want, got)


def test_shell_through_stdin(peer, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_bytes(b"alpha\n")
    (work / "b.txt").write_bytes(b"beta\n")
    script = b"mkdir box\ncd box\nmput *.txt\nls\nrename a.txt c.txt\nmget c.txt b.txt\npwd\ncdup\nrmdir nothing\nquit\n"
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    script = script.replace(b"mget", b"lcd " + str(fetched).encode() + b"\nmget")
    proc = wharf("ftp", "-q", f"{peer.url}/", cwd=work, input=script, check=False)
    out = proc.stdout.decode(errors="replace")
    assert (peer.root / "box" / "c.txt").read_bytes() == b"alpha\n"
    assert (fetched / "c.txt").read_bytes() == b"alpha\n"
    assert (fetched / "b.txt").read_bytes() == b"beta\n"
    assert "box" in out
    # the failed rmdir makes the script's exit code non-zero (3: refused)
    assert proc.returncode == 3, proc.stderr


@pytest.mark.time_limit(240)
@pytest.mark.parametrize("kind", ["vsftpd", "pure-ftpd"])
def test_ftps_against_peers(kind, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "scratch").mkdir()
    with PeerServer(kind, root, tls=True) as srv:
        url = f"ftp://{srv.user}:{srv.password}@{srv.host}:{srv.port}"
        proc = subprocess.run([need(EXERCISE), f"{url}/scratch/", "--tls", "--cacert", str(srv.cafile)],
                              capture_output=True, timeout=180)
        assert proc.returncode == 0, proc.stdout.decode(errors="replace") + srv.log_text()
        work = tmp_path / "work"
        work.mkdir()
        digest = write_random(work / "f.bin", 8 << 20)
        for i in range(3):
            wharf("put", "-q", "--tls", "--cacert", str(srv.cafile), str(work / "f.bin"), f"{url}/f{i}.bin")
        wharf("get", "-q", "--tls", "--cacert", str(srv.cafile), f"{url}/f2.bin", "-o", str(work / "back.bin"))
        assert file_sha256(work / "back.bin") == digest
        # without the CA the certificate is refused
        bad = wharf("get", "-q", "--tls", f"{url}/f2.bin", "-o", str(work / "x.bin"), check=False)
        assert bad.returncode != 0 and b"TLS" in bad.stderr


def test_mirror_symbolic_links(peer, tmp_path):
    """Links on the server: by default a download recreates those that stay
    inside the tree (never one pointing outside it); `--dereference`
    fetches what they point to; `--no-symlinks` leaves them out; an upload
    skips local links unless `--dereference`. Servers list links
    differently (some follow them in listings), so what each reports is
    checked, never a link out of the tree."""
    tree = peer.root / "links"
    (tree / "d").mkdir(parents=True)
    (tree / "real.txt").write_bytes(b"the real file\n")
    os.symlink("real.txt", tree / "inside")
    os.symlink("../real.txt", tree / "d" / "up")
    os.symlink("/etc/hostname", tree / "outside")
    os.symlink("../../..", tree / "escape")

    kept = tmp_path / "kept"
    out = wharf("mirror", f"{peer.url}/links/", str(kept), check=False)
    # pyftpdlib lists a link out of its root as a file and then refuses it:
    # that one file fails, the rest arrive.
    assert out.returncode == 0 or b"links/outside" in out.stderr, out.stderr
    for name in ("inside", "d/up", "outside", "escape"):
        p = kept / name
        if p.is_symlink():
            assert not os.readlink(p).startswith("/") and ".." not in os.readlink(p).split("/")[:3] \
                or os.path.realpath(p).startswith(str(kept)), (name, os.readlink(p))
    assert os.path.realpath(kept / "outside") != "/etc/hostname"
    if peer.kind == "wharfd":
        # wharfd names the targets of links inside the home and hides the
        # others' (both of which lead out of it): those two are left out.
        assert (kept / "inside").is_symlink() and (kept / "d" / "up").is_symlink()
        assert b"2 symbolic links left out" in out.stderr, out.stderr
        assert b"/etc/hostname" not in out.stdout + out.stderr
    if (kept / "inside").is_symlink():  # the server tells links and their targets
        assert os.readlink(kept / "inside") == "real.txt"
        assert os.readlink(kept / "d" / "up") == "../real.txt"
        assert not (kept / "outside").exists() and not (kept / "escape").exists()
    elif (kept / "inside").exists():  # the server follows links in its listings
        assert (kept / "inside").read_bytes() == b"the real file\n"
    else:  # the server lists links without their targets: left out, and said
        assert b"symbolic link" in out.stderr and b"left out" in out.stderr, out.stderr

    followed = tmp_path / "followed"
    wharf("mirror", "-q", "--dereference", "--exclude", "outside", "--exclude", "escape",
          f"{peer.url}/links/", str(followed))
    assert not (followed / "inside").is_symlink()
    assert (followed / "inside").read_bytes() == b"the real file\n"
    assert (followed / "d" / "up").read_bytes() == b"the real file\n"

    none = tmp_path / "none"
    wharf("mirror", "-q", "--no-symlinks", "--exclude", "outside", f"{peer.url}/links/", str(none))
    assert (none / "real.txt").exists()
    assert not (none / "inside").is_symlink() and not (none / "outside").is_symlink()

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a\n")
    os.symlink("a.txt", src / "alias")
    out = wharf("mirror", "--reverse", str(src), f"{peer.url}/up1/")
    assert b"1 symbolic link left out" in out.stderr, out.stderr
    wharf("mirror", "-q", "--reverse", "--dereference", str(src), f"{peer.url}/up2/")
    back = tmp_path / "back"
    wharf("mirror", "-q", f"{peer.url}/up2/", str(back))
    assert (back / "alias").read_bytes() == b"a\n" and not (back / "alias").is_symlink()
