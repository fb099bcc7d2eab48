"""The interactive `wharf ftp` shell in a real terminal (a pty from
Python's `pty` module), against wharfd: tab completion of a remote path two
directories deep and of a local path, history recalled with the Up arrow in
the session and in the next one, a background mirror listed by `jobs` and
awaited by `wait`, `set` kept in the settings file, a bookmark opened in a
second session (password from ~/.netrc, never from the file), and `!cmd`.

HOME is the test's own folder, so the history, ~/.netrc and
~/.config/wharf/config.toml are the test's."""

from __future__ import annotations

import ftplib
import io
import os
import pty
import select
import signal
import time
from pathlib import Path

import pytest

from wharf_helpers import PASSWORD, TIMEOUT, USER

UP = "\x1b[A"
PROMPT = b"wharf> "


def wharf_bin() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/wharf-target"))
    path = Path(os.environ.get("WHARF", target / "debug/wharf"))
    if not path.exists():
        pytest.fail(f"wharf binary not found at {path}; run `cargo build -p wharf`",
                    pytrace=False)
    return path


class Tty:
    """`wharf ftp ARGS` on a pty; everything it wrote is in `self.out`."""

    def __init__(self, args: list[str], home: Path, cwd: Path):
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "TERM": "xterm", "LANG": "C.UTF-8"}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes wharf
            os.chdir(cwd)
            os.execve(str(wharf_bin()), [str(wharf_bin()), "ftp", *args], env)
        self.out = b""

    def read_until(self, want: bytes, timeout: float = 15) -> bytes:
        """Reads until `want` appears after what was read before; returns
        what came, failing the test on timeout."""
        start = len(self.out)
        deadline = time.monotonic() + timeout
        while want not in self.out[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {want!r} within {timeout} s; the terminal shows:\n"
                            f"{self.out[start:].decode(errors='replace')}", pytrace=False)
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    pytest.fail(f"wharf ended before {want!r}:\n"
                                f"{self.out[start:].decode(errors='replace')}", pytrace=False)
                self.out += chunk
        return self.out[start:]

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def command(self, line: str, timeout: float = 15) -> str:
        """Types `line` and Enter; the output up to the next prompt."""
        self.send(line + "\r")
        return self.read_until(PROMPT, timeout).decode(errors="replace")

    def close(self) -> int:
        self.send("quit\r")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.out += os.read(self.fd, 4096)
            except OSError:
                pass
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        pytest.fail("wharf did not quit", pytrace=False)


@pytest.fixture
def shell_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.mark.time_limit(120)
def test_completion_history_jobs_settings_and_bookmarks_in_a_terminal(
        wharfd, shell_home, tmp_path):
    f = ftplib.FTP(timeout=TIMEOUT)
    f.connect(wharfd.host, wharfd.port)
    f.login(USER, PASSWORD)
    f.mkd("projects")
    f.mkd("projects/reports")
    report = os.urandom(3000)
    f.storbinary("STOR projects/reports/annual-2026.txt", io.BytesIO(report))
    big = os.urandom(300_000)
    f.storbinary("STOR projects/big.bin", io.BytesIO(big))
    f.quit()
    work = tmp_path / "work"
    (work / "local-dir").mkdir(parents=True)
    (work / "local-dir" / "upload-me.txt").write_bytes(b"from the local side\n")
    url = f"ftp://{USER}:{PASSWORD}@{wharfd.host}:{wharfd.port}/"

    t = Tty([url], shell_home, work)
    t.read_until(PROMPT)

    # Remote completion, two levels deep: each Tab lists that directory.
    t.send("get proj\t")
    t.read_until(b"projects/")
    t.send("rep\t")
    t.read_until(b"reports/")
    t.send("ann\t")
    t.read_until(b"annual-2026.txt")
    t.send(" report.txt\r")
    t.read_until(PROMPT)
    assert (work / "report.txt").read_bytes() == report

    # Local completion for put's first argument.
    t.send("put local-d\t")
    t.read_until(b"local-dir/")
    t.send("upl\t")
    t.read_until(b"upload-me.txt")
    t.send("\r")
    t.read_until(PROMPT)

    # Logging in again with the password on the line: history keeps the
    # line without it.
    out = t.command(f"user {USER} {PASSWORD}")
    assert USER in out, out

    # History: Up recalls the last line.
    assert "/" in t.command("pwd")
    t.send(UP)
    t.read_until(b"pwd")
    t.send("\r")
    t.read_until(PROMPT)
    assert t.out.count(b"\r\n/\r\n") == 2, t.out[-400:]

    # A setting, kept in the settings file; a slow background mirror.
    t.command("set limit_rate 100K")
    config = shell_home / ".config" / "wharf" / "config.toml"
    assert 'limit_rate = "100K"' in config.read_text()
    out = t.command("mirror projects mirrored &")
    assert "[1] mirror projects mirrored" in out, out
    out = t.command("jobs")
    assert "[1] running" in out, out
    out = t.command("wait", timeout=60)
    assert "[1] done: mirror projects mirrored" in out, out
    assert (work / "mirrored" / "big.bin").read_bytes() == big
    assert (work / "mirrored" / "reports" / "annual-2026.txt").read_bytes() == report

    # A local command, and a bookmark of where we are.
    assert "hello from sh" in t.command("!echo hello from sh")
    t.command("cd projects")
    out = t.command("bookmark add work")
    assert f"ftp://{USER}@{wharfd.host}:{wharfd.port}/projects" in out, out
    assert t.close() == 0
    assert PASSWORD not in config.read_text(), "a password reached the settings file"
    history_file = shell_home / ".wharf_history"
    history = history_file.read_text()
    assert "mirror projects mirrored &" in history
    assert f"user {USER}" in history, history
    assert PASSWORD not in history, f"a password reached the shell history:\n{history}"
    assert history_file.stat().st_mode & 0o077 == 0, oct(history_file.stat().st_mode)

    # The next session: the bookmark opens (password from ~/.netrc), and
    # Up recalls the last session's lines.
    netrc = shell_home / ".netrc"
    netrc.write_text(f"machine {wharfd.host} login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    t = Tty([], shell_home, work)
    t.read_until(b"> ")
    t.send("open wo\t")
    t.read_until(b"work")
    t.send("\r")
    t.read_until(PROMPT)
    out = t.command("ls")
    assert "big.bin" in out and "reports" in out, out
    t.send(UP + UP)
    t.read_until(b"open work")
    t.send("\x15")  # Ctrl-U: clear the line
    out = t.command("set")
    assert "limit_rate" in out and "100K" in out, out
    assert t.close() == 0

    # Uploaded by the first session.
    f = ftplib.FTP(timeout=TIMEOUT)
    f.connect(wharfd.host, wharfd.port)
    f.login(USER, PASSWORD)
    got = io.BytesIO()
    f.retrbinary("RETR upload-me.txt", got.write)
    f.quit()
    assert got.getvalue() == b"from the local side\n"


@pytest.mark.time_limit(60)
def test_a_script_waits_for_its_background_jobs_and_misuse_says_so(wharfd, shell_home, tmp_path):
    import subprocess
    work = tmp_path / "w"
    work.mkdir()
    url = f"ftp://{USER}:{PASSWORD}@{wharfd.host}:{wharfd.port}/"
    script = ("pget -n 3 data.bin got.bin &\n"
              "ls &\n"
              "bookmark add bad ftp://u:pw@host/\n"
              "set parallel 0\n"
              "set colour red\n"
              "kill 9\n")
    cp = subprocess.run([str(wharf_bin()), "ftp", "-q", url], input=script.encode(),
                        capture_output=True, timeout=50, cwd=work,
                        env={"HOME": str(shell_home), "PATH": os.environ.get("PATH", "")})
    err = cp.stderr.decode()
    assert "ls cannot run in the background" in err, err
    assert "a bookmark keeps no password" in err, err
    assert "parallel: give a whole number from 1 to 64" in err, err
    assert 'no setting "colour"' in err, err
    assert "no job [9]" in err, err
    assert cp.returncode != 0
    # The pget finished before the shell left.
    f = ftplib.FTP(timeout=TIMEOUT)
    f.connect(wharfd.host, wharfd.port)
    f.login(USER, PASSWORD)
    f.voidcmd("TYPE I")
    size = f.size("data.bin")
    f.quit()
    assert (work / "got.bin").stat().st_size == size


@pytest.mark.time_limit(60)
def test_one_shot_commands_read_the_settings_file_under_their_flags(wharfd, shell_home, tmp_path):
    """`tls = true` in the settings file makes `wharf ls` demand TLS of a
    server that has none; `parallel` feeds `mirror`; a bad file stops the
    command with its name and what to fix."""
    import subprocess
    config = shell_home / ".config" / "wharf" / "config.toml"
    config.parent.mkdir(parents=True)
    url = f"ftp://{USER}:{PASSWORD}@{wharfd.host}:{wharfd.port}/"
    env = {"HOME": str(shell_home), "PATH": os.environ.get("PATH", "")}

    def wharf(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(wharf_bin()), *args], capture_output=True, timeout=50,
                              cwd=tmp_path, env=env)

    assert wharf("ls", "-1", url).returncode == 0
    config.write_text("# ours\ntls = true\n")
    refused = wharf("ls", "-1", url)
    assert refused.returncode != 0 and b"TLS" in refused.stderr, refused.stderr
    config.write_text("timeout = \"soon\"\n")
    bad = wharf("ls", "-1", url)
    assert bad.returncode == 2, bad
    assert b"config.toml" in bad.stderr and b"timeout must be a whole number" in bad.stderr
    config.write_text("parallel = 2\nlimit_rate = \"10M\"\n")
    done = wharf("mirror", url, str(tmp_path / "copy"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "copy" / "data.bin").stat().st_size == 1024 * 1024
