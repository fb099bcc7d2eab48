"""A randomised interleaving test (issue 13): several sessions of ONE account
run random STOR / APPE / REST+STOR / STOU / DELE / RNFR+RNTO / MKD / RMD, ABOR
mid-upload and clients that vanish mid-upload (RST on both connections),
against a small tree where names collide a lot, under a quota small enough
that 552s happen. Every reply is recorded; afterwards a model of what the
acknowledged replies (226, 250) imply is checked against the disk:

- every file's content is *derivable* from acknowledged writes to a name
  that could have become that file's name: a STOR/STOU's bytes, an APPE's
  bytes after a derivable base (or after nothing: APPE creates), a
  REST k + STOR's bytes after the first k bytes of a derivable content;
  each write used at most once. So a torn, mixed or duplicated file, or
  bytes of an aborted, refused or vanished upload, fail it;
- no acknowledged write is lost: if none of the names it could have moved
  to holds a file at the end, an acknowledged DELE of one of them must
  explain it;
- no temporary file (`.wharf-part-*`) remains, SITE QUOTA's used equals the
  bytes on disk with nothing in flight, a recount changes nothing, and the
  account is within its quota (sampled during the run too).

The model is deliberately not over-strict about order: which of several
concurrent acknowledged writes wins is not checked, renames (of files and
of directories, which uploads in them follow) only ever add names a
content may reach, and 4xx/5xx replies change nothing.

Reproduce a failure with the seed it prints:
`WHARF_INTERLEAVING_SEED=N python3 -m pytest tests/interop/test_interleaving.py`
(the threads still interleave differently; the op log of the failing run
is written next to the server's data and quoted in the failure).

Below it: the races the random test (or reading the code for its model)
found, each made deterministic with two raw sessions, and a test of the
model itself without a server.

Only 127.0.0.1; the server is the fixture's, stopped by its PID.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from test_registration_quota import disk_usage, site_quota, users
from wharf_helpers import PART_PREFIX, RawFtp, Reply, part_files, rst_close

KIB = 1024
MIB = 1024 * KIB

SESSIONS = 4
RUN_SECONDS = 20          # no new operation starts after this
MAX_OPS_PER_SESSION = 600
OP_TIMEOUT = 15           # seconds, every socket operation
QUOTA = 3 * MIB
SETTLE_SECONDS = 8        # after every session closed: uploads undone, counts settled

DIRS = ["", "a", "b", "c"]          # "" is the home; "c" exists only after a rename
TOP_DIRS = ["a", "b", "c"]          # what MKD/RMD/directory renames pick from
BASE_NAMES = ["x", "y"]
CHUNK = 16 * KIB


def seed_of_run() -> int:
    env = os.environ.get("WHARF_INTERLEAVING_SEED")
    return int(env) if env else random.SystemRandom().randrange(1 << 32)


def attempt_bytes(seed: int, tag: str, n: int) -> bytes:
    """The bytes upload `tag` of run `seed` sends (kept out of memory)."""
    return random.Random(f"{seed}/{tag}/data").randbytes(n)


def explain(content: bytes, seed: int, attempts: list[tuple[str, int]],
            pieces: int = 6) -> str:
    """Which uploads (acknowledged or not) the bytes of `content` come from."""
    out, o = [], 0
    datas = [(tag, attempt_bytes(seed, tag, n)) for tag, n in attempts]
    while o < len(content) and len(out) < pieces:
        probe = content[o:o + 32]
        best = None
        for tag, data in datas:
            i = data.find(probe)
            if i < 0:
                continue
            lo, hi = len(probe), min(len(content) - o, len(data) - i)
            while lo < hi:  # the longest common run, by bisection
                mid = (lo + hi + 1) // 2
                if content[o:o + mid] == data[i:i + mid]:
                    lo = mid
                else:
                    hi = mid - 1
            if best is None or lo > best[0]:
                best = (lo, tag, i)
        if best is None:
            out.append(f"[{o}:] from no upload of this run")
            break
        n, tag, i = best
        out.append(f"[{o}:{o + n}] = bytes [{i}:{i + n}] of {tag}")
        o += n
    return "; ".join(out)


def short(b: bytes) -> str:
    return f"{len(b)}B:{hashlib.sha256(b).hexdigest()[:10]}"


def join(d: str, name: str) -> str:
    return f"{d}/{name}" if d else name


# --------------------------------------------------------------------------
# what happened: the op log and the acknowledged facts


@dataclass
class Write:
    """An acknowledged write: `target` holds, right after it, `data` after
    a base: nothing ("lit"), a whole derivable content ("app"), or the
    first `offset` bytes of one ("rest")."""
    wid: int
    kind: str          # "lit" | "app" | "rest"
    target: str
    data: bytes
    offset: int = 0
    what: str = ""


@dataclass
class History:
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    renames: list[tuple[str, str]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=lambda: set(BASE_NAMES))
    # every upload tried, acknowledged or not: (tag, size), see attempt_bytes
    attempts: list[tuple[str, int]] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def note(self, line: str) -> None:
        with self.lock:
            self.log.append(f"{time.monotonic() - self.t0:7.3f} {line}")

    def count(self, key: str) -> None:
        with self.lock:
            self.codes[key] = self.codes.get(key, 0) + 1

    def wrote(self, kind: str, target: str, data: bytes, offset: int = 0,
              what: str = "") -> None:
        with self.lock:
            self.writes.append(Write(len(self.writes), kind, target, data, offset, what))

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)
            self.log.append(f"{time.monotonic() - self.t0:7.3f} PROBLEM {text}")


# --------------------------------------------------------------------------
# one session: raw control connection, passive data connections


class Gone(Exception):
    """The control connection failed (not on purpose)."""


class Session:
    def __init__(self, srv, label: str):
        self.srv, self.label = srv, label
        self.ctl: RawFtp | None = None
        self.connect()

    def connect(self) -> None:
        self.ctl = RawFtp(self.srv.host, self.srv.port, timeout=OP_TIMEOUT)
        self.ctl.login()
        r = self.ctl.cmd("TYPE I")
        assert r.code == 200, f"TYPE I: {r!r}"

    def cmd(self, line: str) -> Reply:
        try:
            return self.ctl.cmd(line)
        except (OSError, ConnectionError) as e:
            raise Gone(f"{line}: {e!r}") from e

    def reply(self) -> Reply:
        try:
            return self.ctl.reply()
        except (OSError, ConnectionError) as e:
            raise Gone(f"reading a reply: {e!r}") from e

    def close(self) -> None:
        if self.ctl is None:
            return
        try:
            self.ctl.cmd("QUIT")
        except (OSError, ConnectionError, AssertionError):
            pass
        self.ctl.close()
        self.ctl = None

    def upload(self, verb: str, path: str, data: bytes, *, mode: str = "complete",
               rest: int | None = None, cut: int = 0,
               pause: float = 0.0) -> tuple[list[Reply], Reply | None]:
        """PASV, [REST], VERB path; then send `data` and close (complete),
        or send `cut` bytes and ABOR (abor), or send `cut` bytes and RST
        both connections (vanish). Returns every reply read, in order, and
        the one that says what became of the upload (None: vanished)."""
        r = self.cmd("PASV")
        if r.code != 227:
            return [r], r
        port = int.from_bytes(bytes(map(int, re.search(
            rb"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", r.lines[0]).groups()[4:])), "big")
        d = socket.create_connection((self.srv.host, port), timeout=OP_TIMEOUT)
        try:
            replies = []
            if rest is not None:
                r = self.cmd(f"REST {rest}")
                replies.append(r)
                if r.code != 350:
                    return replies, r
            r = self.cmd(f"{verb} {path}" if path else verb)
            replies.append(r)
            if r.code // 100 != 1:
                return replies, r
            body = data if mode == "complete" else data[:cut]
            try:
                for i in range(0, len(body), CHUNK):
                    d.sendall(body[i:i + CHUNK])
                    if pause:
                        time.sleep(pause)
                if mode == "complete":
                    d.close()
            except (ConnectionResetError, BrokenPipeError, socket.timeout):
                pass  # the server ended the transfer (552, ...): its reply says why
            if mode == "vanish":
                rst_close(d)
                self.ctl.abort_rst()
                self.ctl = None
                return replies, None
            if mode == "abor":
                try:
                    self.ctl.send_raw(b"ABOR\r\n")
                except OSError as e:
                    raise Gone(f"ABOR: {e!r}") from e
                outcome = self.reply()         # the transfer's outcome
                replies += [outcome, self.reply()]   # and ABOR's own 226
                return replies, outcome
            replies.append(self.reply())
            return replies, replies[-1]
        finally:
            rst_close(d)


# --------------------------------------------------------------------------
# the random workload of one session


class Worker(threading.Thread):
    def __init__(self, srv, idx: int, seed: int, hist: History, deadline: float):
        super().__init__(daemon=True, name=f"s{idx}")
        self.srv, self.idx, self.hist, self.deadline = srv, idx, hist, deadline
        self.seed = seed
        self.rng = random.Random(f"{seed}/{idx}")
        self.ops = 0
        self.error: str | None = None
        self.done = False

    # -- choices
    def pick_path(self) -> str:
        with self.hist.lock:
            names = sorted(self.hist.names)
        name = self.rng.choice(BASE_NAMES if self.rng.random() < 0.75 else names)
        return join(self.rng.choice(DIRS), name)

    def payload(self, tag: str) -> bytes:
        """Random bytes, regenerated on demand by `attempt_bytes(seed, tag, n)`."""
        r = self.rng.random()
        if r < 0.5:
            n = self.rng.randint(1, 16 * KIB)
        elif r < 0.85:
            n = self.rng.randint(16 * KIB, 160 * KIB)
        else:
            n = self.rng.randint(256 * KIB, 900 * KIB)
        data = attempt_bytes(self.seed, tag, n)
        with self.hist.lock:
            self.hist.attempts.append((tag, n))
        return data

    def pause(self) -> float:
        # slow uploads hold their file (APPE) or temp file long enough for
        # the other sessions to collide with them
        return self.rng.choice([0.0, 0.0, 0.002, 0.01, 0.03])

    # -- the loop
    def run(self) -> None:
        sess = None
        try:
            sess = Session(self.srv, self.name)
            while self.ops < MAX_OPS_PER_SESSION and time.monotonic() < self.deadline:
                self.ops += 1
                tag = f"{self.name}#{self.ops}"
                try:
                    self.one(sess, tag)
                except Gone as e:
                    self.hist.problem(f"{tag}: control connection lost: {e}")
                    sess.ctl = None
                if sess.ctl is None:
                    sess.connect()
            self.done = True
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = f"{self.name} after {self.ops} ops: {e!r}"
        finally:
            if sess is not None:
                sess.close()

    def one(self, sess: Session, tag: str) -> None:
        h, rng = self.hist, self.rng
        op = rng.choices(
            ["stor", "appe", "rest", "stou", "dele", "rename", "mkd", "rmd", "abor", "vanish"],
            weights=[20, 15, 10, 6, 10, 10, 4, 4, 6, 4])[0]
        if op in ("stor", "appe", "rest", "stou"):
            self.transfer(sess, tag, op, "complete")
        elif op in ("abor", "vanish"):
            self.transfer(sess, tag, rng.choice(["stor", "appe", "rest", "stou"]), op)
        elif op == "dele":
            p = self.pick_path()
            r = sess.cmd(f"DELE {p}")
            h.note(f"{tag} DELE {p} -> {r.text}")
            h.count(f"DELE {r.code}")
            if r.code == 250:
                with h.lock:
                    h.deletes.append(p)
        elif op == "rename":
            if rng.random() < 0.25:
                src, dst = rng.sample(TOP_DIRS, 2)
            else:
                src, dst = self.pick_path(), self.pick_path()
            r1 = sess.cmd(f"RNFR {src}")
            if r1.code != 350:
                h.note(f"{tag} RNFR {src} -> {r1.text}")
                h.count(f"RNFR {r1.code}")
                return
            r2 = sess.cmd(f"RNTO {dst}")
            h.note(f"{tag} RNFR {src} / RNTO {dst} -> {r2.text}")
            h.count(f"RNTO {r2.code}")
            if r2.code == 250:
                with h.lock:
                    h.renames.append((src, dst))
        elif op in ("mkd", "rmd"):
            d = rng.choice(TOP_DIRS)
            r = sess.cmd(f"{op.upper()} {d}")
            h.note(f"{tag} {op.upper()} {d} -> {r.text}")
            h.count(f"{op.upper()} {r.code}")

    def transfer(self, sess: Session, tag: str, kind: str, mode: str) -> None:
        h, rng = self.hist, self.rng
        path, data = self.pick_path(), self.payload(tag)
        cut = rng.randint(0, len(data) - 1) if mode != "complete" else 0
        pause = self.pause()
        rest = None
        verb = {"stor": "STOR", "appe": "APPE", "rest": "STOR", "stou": "STOU"}[kind]
        if kind == "rest":
            r = sess.cmd(f"SIZE {path}")
            if r.code != 213:
                h.note(f"{tag} SIZE {path} -> {r.text} (no REST+STOR)")
                h.count(f"SIZE {r.code}")
                return
            size = int(r.text.split()[1])
            rest = size if rng.random() < 0.5 else rng.randint(0, size)
        what = (f"{tag} {'REST %d + ' % rest if rest is not None else ''}{verb} {path} "
                f"{short(data)}{'' if mode == 'complete' else f' [{mode} after {cut}B]'}")
        replies, final = sess.upload(verb, path, data, mode=mode, rest=rest, cut=cut,
                                     pause=pause)
        h.note(f"{what} -> " + " | ".join(r.text for r in replies)
               + (" | (vanished)" if final is None else ""))
        h.count(f"{verb}{'+REST' if rest is not None else ''} {mode} "
                f"{final.code if final else 'gone'}")
        if final is None or final.code != 226:
            return
        if mode != "complete":
            h.problem(f"{what}: an upload that was {mode}ed was acknowledged: {final!r}")
            return
        # acknowledged: record what the target holds now
        if kind == "stou":
            announced = re.search(r"FILE: (\S+)", replies[-2].text)
            stored = re.search(r"stored as (.+)\.$", final.text)
            name = (stored or announced).group(1) if (stored or announced) else None
            if name is None:
                h.problem(f"{what}: STOU's replies name no file: {replies!r}")
                return
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            target = join(parent, name)
            with h.lock:
                h.names.add(name)
            h.wrote("lit", target, data, what=what)
        elif kind == "appe":
            h.wrote("app", path, data, what=what)
        elif kind == "rest" and rest:
            h.wrote("rest", path, data, rest, what=what)
        else:
            h.wrote("lit", path, data, what=what)


# --------------------------------------------------------------------------
# the model


class Model:
    def __init__(self, hist: History, initial: dict[str, bytes]):
        self.hist = hist
        self.writes = [Write(-1 - i, "lit", p, b, what=f"initial {p}")
                       for i, (p, b) in enumerate(sorted(initial.items()))] + hist.writes
        universe = {w.target for w in self.writes} | set(hist.deletes)
        for s, d in hist.renames:
            universe |= {s, d}
        # rename edges: the file itself, and everything under it if it is a
        # directory; closed over the names they produce
        edges: dict[str, set[str]] = {}
        changed = True
        while changed:
            changed = False
            for s, d in hist.renames:
                for p in list(universe):
                    if p == s or p.startswith(s + "/"):
                        q = d + p[len(s):]
                        if q not in edges.setdefault(p, set()):
                            edges[p].add(q)
                            changed = True
                        if q not in universe:
                            universe.add(q)
                            changed = True
        self.edges = edges
        self.universe = universe
        self._back: dict[str, frozenset[str]] = {}
        self._memo: dict = {}

    def forward(self, p: str) -> set[str]:
        seen, todo = {p}, [p]
        while todo:
            for q in self.edges.get(todo.pop(), ()):
                if q not in seen:
                    seen.add(q)
                    todo.append(q)
        return seen

    def back(self, p: str) -> frozenset[str]:
        if p not in self._back:
            rev: dict[str, set[str]] = {}
            for a, bs in self.edges.items():
                for b in bs:
                    rev.setdefault(b, set()).add(a)
            seen, todo = {p}, [p]
            while todo:
                for q in rev.get(todo.pop(), ()):
                    if q not in seen:
                        seen.add(q)
                        todo.append(q)
            self._back[p] = frozenset(seen)
        return self._back[p]

    def writes_into(self, p: str) -> list[Write]:
        names = self.back(p)
        return [w for w in self.writes if w.target in names]

    def derivable(self, p: str, content: bytes, used: frozenset = frozenset()) -> Write | None:
        """An acknowledged write that can have left `content` at `p`."""
        key = ("d", p, hashlib.sha256(content).digest(), used)
        if key in self._memo:
            return self._memo[key]
        found = None
        for w in self.writes_into(p):
            if w.wid in used or not content.endswith(w.data):
                continue
            base = content[:len(content) - len(w.data)]
            u = used | {w.wid}
            if w.kind == "lit":
                ok = base == b""
            elif w.kind == "app":
                ok = base == b"" or self.derivable(w.target, base, u) is not None
            else:
                ok = len(base) == w.offset and self.prefix_derivable(w.target, base, u)
            if ok:
                found = w
                break
        self._memo[key] = found
        return found

    def prefix_derivable(self, p: str, q: bytes, used: frozenset) -> bool:
        """Whether some derivable content at `p` starts with `q`."""
        if not q:
            return True
        key = ("p", p, hashlib.sha256(q).digest(), used)
        if key in self._memo:
            return self._memo[key]
        ok = False
        for w in self.writes_into(p):
            if w.wid in used:
                continue
            u = used | {w.wid}
            d = w.data
            if w.kind == "lit":
                ok = d.startswith(q)
            elif w.kind == "app":
                # q = base + d[:j] with 1 <= j <= len(d) and base whole
                ok = any(q[:len(q) - j] == b"" or
                         self.derivable(w.target, q[:len(q) - j], u) is not None
                         for j in tail_matches(q, d))
            else:
                k = w.offset
                ok = (len(q) > k and d.startswith(q[k:])
                      and self.prefix_derivable(w.target, q[:k], u))
            if ok:
                break
        self._memo[key] = ok
        return ok


def tail_matches(q: bytes, d: bytes) -> list[int]:
    """Every j >= 1 with q ending in d[:j]."""
    out = []
    m = min(len(q), len(d))
    probe = d[:8]
    # tails of 8 bytes or more start where d's first 8 bytes occur in q
    start = max(0, len(q) - m)
    while True:
        i = q.find(probe, start)
        if i < 0 or len(q) - i < 8:
            break
        j = len(q) - i
        if j <= m and q[i:] == d[:j]:
            out.append(j)
        start = i + 1
    for j in range(1, min(8, m + 1)):
        if j < 8 and q[-j:] == d[:j]:
            out.append(j)
    return out


def files_under(home) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, names in os.walk(home):
        for n in names:
            full = os.path.join(dirpath, n)
            if n.startswith(PART_PREFIX) or os.path.islink(full):
                continue
            out[os.path.relpath(full, home)] = open(full, "rb").read()
    return out


def check_model(hist: History, initial: dict[str, bytes], final: dict[str, bytes],
                seed: int | None = None) -> list[str]:
    model = Model(hist, initial)
    problems = []
    for path, content in sorted(final.items()):
        if model.derivable(path, content) is None:
            cands = [f"{w.what or w.kind} -> {w.target}" for w in model.writes_into(path)]
            origin = explain(content, seed, hist.attempts) if seed is not None else ""
            tags = re.findall(r"of (s\d+#\d+)", origin)
            sources = [line for line in hist.log
                       if any(re.match(rf"\s*[\d.]+ {re.escape(t)} ", line) for t in tags)]
            problems.append(
                f"{path} holds {short(content)}, which no acknowledged write explains "
                f"(torn, mixed, or from an unacknowledged upload)"
                + (f"; its bytes: {origin}; those uploads:\n    " + "\n    ".join(sources)
                   if seed is not None else "")
                + f"\n  writes that could reach {path} (via {sorted(model.back(path))}):\n    "
                + "\n    ".join(cands[-25:]))
    deleted = set(hist.deletes)
    for w in model.writes:
        reach = model.forward(w.target)
        if not (reach & final.keys()) and not (reach & deleted):
            problems.append(f"lost: acknowledged `{w.what}` ({w.target}); none of "
                            f"{sorted(reach)} holds a file and no acknowledged DELE removed one")
    return problems


# --------------------------------------------------------------------------
# the test


@pytest.mark.time_limit(100)
def test_random_interleavings_of_one_account_keep_every_acknowledged_byte(
        wharfd, wharfd_bin, tmp_path):
    srv = wharfd
    seed = seed_of_run()
    print(f"interleaving seed {seed}")
    home = srv.home
    users(wharfd_bin, srv.data, "recount", srv.user)
    users(wharfd_bin, srv.data, "quota", srv.user, str(QUOTA))

    boss = srv.ftp()
    boss.voidcmd("TYPE I")
    for d in ("a", "b"):
        boss.mkd(d)
    q = site_quota(boss)
    assert q["used"] == disk_usage(home) and q["limit"] == QUOTA, \
        f"before the run: SITE QUOTA {q}, on disk {disk_usage(home)}"
    initial = files_under(home)

    hist = History()
    deadline = time.monotonic() + RUN_SECONDS
    workers = [Worker(srv, i, seed, hist, deadline) for i in range(SESSIONS)]
    samples: list[dict] = []
    stop = threading.Event()

    def sample_quota():
        while not stop.is_set():
            try:
                samples.append(site_quota(boss))
            except Exception as e:  # noqa: BLE001 - reported below
                hist.problem(f"SITE QUOTA during the run: {e!r}")
                return
            stop.wait(0.2)

    sampler = threading.Thread(target=sample_quota, daemon=True)
    for w in workers:
        w.start()
    sampler.start()
    for w in workers:
        w.join(RUN_SECONDS + 4 * OP_TIMEOUT)
    stop.set()
    sampler.join(OP_TIMEOUT)

    # settle: every session is closed; vanished uploads must be undone
    settled = False
    end = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < end:
        q = site_quota(boss)
        if q["in_flight"] == 0 and not part_files(home):
            settled = True
            break
        time.sleep(0.1)
    q = site_quota(boss)
    final = files_under(home)
    on_disk = disk_usage(home)

    failures = [f"worker failed: {w.error}" for w in workers if w.error]
    failures += [f"{w.name} still running after its deadline" for w in workers if w.is_alive()]
    failures += hist.problems
    if not settled:
        failures.append(f"{SETTLE_SECONDS} s after every session closed: in-flight "
                        f"{q['in_flight']}, temp files {part_files(home)}")
    failures += check_model(hist, initial, final, seed)
    if q["used"] != on_disk or q["in_flight"] != 0:
        failures.append(f"SITE QUOTA says used={q['used']} in-flight={q['in_flight']}, but "
                        f"{on_disk} bytes are on disk")
    if on_disk > QUOTA:
        failures.append(f"{on_disk} bytes on disk, past the {QUOTA}-byte quota")
    over = [s for s in samples if s["used"] > QUOTA]
    if over:
        failures.append(f"SITE QUOTA showed usage past the quota during the run: {over[:3]}")
    out = users(wharfd_bin, srv.data, "recount", srv.user)
    m = re.search(rf"{srv.user}: (.+) \(was (.+)\)", out)
    if not m or m.group(1) != m.group(2):
        failures.append(f"`users recount` had to correct the usage: {out.strip()!r}")
    boss.quit()

    ops = sum(w.ops for w in workers)
    summary = (f"seed {seed}: {ops} ops in {SESSIONS} sessions, {len(hist.writes)} "
               f"acknowledged writes, {len(hist.renames)} renames, {len(hist.deletes)} "
               f"deletes; outcomes {dict(sorted(hist.codes.items()))}")
    print(summary)
    log_file = tmp_path / "interleaving-ops.log"
    log_file.write_text("\n".join(hist.log) + "\n")
    if failures:
        names = set(re.findall(r"(?:^|\s)((?:[abc]/)?[xyz](?:\.\d+)?)\b", "\n".join(failures)))
        related = [l for l in hist.log if any(n in l for n in names)][-60:]
        pytest.fail(f"{summary}\nreproduce with WHARF_INTERLEAVING_SEED={seed}; full op log "
                    f"in {log_file}\n\n" + "\n".join(failures[:12])
                    + "\n\nops on the names involved (last 60):\n" + "\n".join(related),
                    pytrace=False)
    # the workload must really have exercised what it claims to
    kinds = " ".join(hist.codes)
    assert any(k.endswith(" 552") for k in hist.codes), f"no 552 happened: {summary}"
    assert "abor" in kinds and "vanish" in kinds and "STOU" in kinds, summary


# --------------------------------------------------------------------------
# what the random test found, made deterministic


@pytest.mark.parametrize("append", ["APPE", "REST+STOR at the end"])
def test_rest_mid_file_never_publishes_bytes_of_an_unfinished_append(wharfd, wharfd_bin,
                                                                    append):
    """A appends to f.bin in place and holds; B asks SIZE (which counts A's
    bytes so far), REST k + STOR f.bin with k inside A's bytes; A aborts.
    B's file must not carry A's aborted bytes (found by the random test,
    seed 875012369: `REST 25140 + STOR a/y.1.1` got 226 with 16537 bytes of
    a resume that got 552)."""
    srv = wharfd
    users(wharfd_bin, srv.data, "recount", srv.user)  # the fixture's files count
    base, theirs, mine = os.urandom(1000), os.urandom(50_000), os.urandom(3000)
    a, b = Session(srv, "A"), Session(srv, "B")
    try:
        _, r = a.upload("STOR", "f.bin", base)
        assert r.code == 226, f"STOR f.bin: {r!r}"
        port = a.ctl.pasv()[1]
        da = socket.create_connection((srv.host, port), timeout=OP_TIMEOUT)
        try:
            if append == "APPE":
                r = a.cmd("APPE f.bin")
            else:
                assert a.cmd("REST 1000").code == 350
                r = a.cmd("STOR f.bin")
            assert r.code == 150, f"A {append} f.bin: {r!r}"
            da.sendall(theirs)
            deadline = time.monotonic() + 10
            size = 0
            while size < 21_000 and time.monotonic() < deadline:
                r = b.cmd("SIZE f.bin")
                size = int(r.text.split()[1]) if r.code == 213 else 0
                time.sleep(0.02)
            assert size >= 21_000, f"A's {append} did not reach the disk: SIZE {size}"

            pasv = b.cmd("PASV")
            port = int.from_bytes(bytes(map(int, re.search(
                rb"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", pasv.lines[0]).groups()[4:])), "big")
            db = socket.create_connection((srv.host, port), timeout=OP_TIMEOUT)
            rb_rest = b.cmd("REST 20000")
            rb_stor = b.cmd("STOR f.bin")
            if rb_stor.code == 150:
                db.sendall(mine)
            db.close()
            time.sleep(0.3)  # B's commit waits for A's lock meanwhile
            a.ctl.send_raw(b"ABOR\r\n")
            ra = [a.reply(), a.reply()]
        finally:
            rst_close(da)
        rb_final = b.reply() if rb_stor.code == 150 else rb_stor
        got = (srv.home / "f.bin").read_bytes()
        story = (f"A: STOR f.bin (1000 B), {append} f.bin 50000 B and holds; B: SIZE f.bin -> "
                 f"{size}, REST 20000 -> {rb_rest.text!r}, STOR f.bin 3000 B -> "
                 f"{rb_stor.text!r} ... {rb_final.text!r}; A: ABOR -> "
                 f"{[r.text for r in ra]!r}; f.bin is now {len(got)} B")
        leaked = theirs[:1000] in got
        assert not leaked, f"{story}: it holds bytes of A's aborted {append}"
        old = got == base
        assert old and rb_final.code != 226, \
            f"{story}: want the old 1000 bytes, and no 226 for B (its offset is past them)"
        assert not part_files(srv.home), f"{story}: temp files left {part_files(srv.home)}"
    finally:
        a.close()
        b.close()
    f = srv.ftp()
    q = site_quota(f)
    f.quit()
    assert q["used"] == disk_usage(srv.home) and q["in_flight"] == 0, \
        f"SITE QUOTA {q}, on disk {disk_usage(srv.home)}"


def test_an_aborted_append_that_raced_to_create_a_file_never_removes_an_acknowledged_one(
        wharfd, wharfd_bin):
    """A and B send `APPE n.bin` (a new name) at the same moment: one
    creates the file, both queue for its lock. Whoever gets 150 first
    sends 1000 bytes and gets 226; the other then gets its 150, sends a
    little and ABORs. The acknowledged 1000 bytes must stay. Found while
    reading `open_in_place` for the interleaving model: when the session
    that did NOT create the file takes the lock first, the creator later
    aborts with `created = true` and unlinks the other session's file.
    Tried up to 300 times (about 10 s)."""
    srv = wharfd
    users(wharfd_bin, srv.data, "recount", srv.user)  # the fixture's files count
    a, b = Session(srv, "A"), Session(srv, "B")
    deadline = time.monotonic() + 20
    trials, lost = 0, []
    try:
        while trials < 300 and time.monotonic() < deadline and not lost:
            trials += 1
            name = f"n{trials}.bin"
            got: dict[str, tuple] = {}
            ready = threading.Barrier(2)

            def start(sess: Session, who: str) -> None:
                d = socket.create_connection((srv.host, sess.ctl.pasv()[1]), timeout=OP_TIMEOUT)
                ready.wait(OP_TIMEOUT)
                sess.ctl.send_raw(f"APPE {name}\r\n".encode())
                r = sess.reply()
                got[who] = (r, d)

            ts = [threading.Thread(target=start, args=(s, w), daemon=True)
                  for s, w in ((a, "A"), (b, "B"))]
            for t in ts:
                t.start()
            end = time.monotonic() + OP_TIMEOUT
            while not got and time.monotonic() < end:
                time.sleep(0.0005)
            assert got, f"trial {trials}: neither APPE {name} was answered"
            first = next(iter(got))
            other = "B" if first == "A" else "A"
            fs, os_ = (a, b) if first == "A" else (b, a)
            r1, d1 = got[first]
            assert r1.code == 150, f"trial {trials}: {first} APPE {name}: {r1!r}"
            data = os.urandom(1000)
            d1.sendall(data)
            d1.close()
            f1 = fs.reply()
            for t in ts:
                t.join(OP_TIMEOUT)
            r2, d2 = got[other]
            replies = [r2.text]
            if r2.code == 150:
                d2.sendall(b"x" * 10)
                time.sleep(0.01)
                os_.ctl.send_raw(b"ABOR\r\n")
                replies += [os_.reply().text, os_.reply().text]
            rst_close(d2)
            path = srv.home / name
            now = path.read_bytes() if path.exists() else None
            if f1.code == 226 and now != data:
                lost.append(f"trial {trials}: {first}: APPE {name} (new) -> 150, 1000 B -> "
                            f"{f1.text!r}; {other}: APPE {name} sent at the same moment -> "
                            f"{' | '.join(replies[:1])}, 10 B, ABOR -> {replies[1:]}; "
                            f"{name} now {'absent' if now is None else short(now)}")
    finally:
        a.close()
        b.close()
    f = srv.ftp()
    q = site_quota(f)
    f.quit()
    usage = f"SITE QUOTA used={q['used']} in-flight={q['in_flight']}, on disk " \
            f"{disk_usage(srv.home)}"
    assert not lost, f"an acknowledged APPE lost after {trials} trials:\n" + \
        "\n".join(lost) + f"\n({usage})"
    assert q["used"] == disk_usage(srv.home) and q["in_flight"] == 0, usage


# --------------------------------------------------------------------------
# the model itself, without a server: it accepts what acknowledgements
# allow and catches what they do not


def test_the_model_accepts_what_replies_allow_and_catches_the_rest():
    rng = random.Random(7)
    A, B, C, D, E = (rng.randbytes(n) for n in (3000, 500, 40, 7000, 2000))
    hist = History()
    hist.wrote("lit", "y", E, what="STOR y E")
    hist.wrote("lit", "a/x", A, what="STOR a/x A")
    hist.wrote("app", "a/x", B, what="APPE a/x B")
    hist.wrote("app", "a/x", C, what="APPE a/x C")
    hist.wrote("rest", "y", D, 1000, what="REST 1000 + STOR y D")
    hist.wrote("app", "n", C, what="APPE n C (new)")
    hist.renames.append(("a", "c"))          # a directory, uploads follow it
    hist.renames.append(("c/x", "z"))
    initial = {"hello.txt": b"hi\n"}

    ok = {
        "hello.txt": b"hi\n",
        "c/x": A + C + B,                    # appends in either order
        "z": A + B,                          # renamed after one append
        "y": E[:1000] + D,                   # REST: a prefix of what y held
        "n": C,
    }
    assert check_model(hist, initial, ok) == []
    assert check_model(hist, initial, {**ok, "a/x": A}) == []

    bad = {
        "torn append": {**ok, "c/x": A + B[:100]},
        "mixed": {**ok, "c/x": A[:1500] + B},
        "unacknowledged file": {**ok, "b/x": rng.randbytes(10)},
        "append applied twice": {**ok, "c/x": A + B + B},
        "REST prefix no content had": {**ok, "y": rng.randbytes(1000) + D},
        "content on a name it cannot reach": {**ok, "b/y": A},
    }
    for what, final in bad.items():
        assert check_model(hist, initial, final), f"the model accepted a {what}"
    # lost: y (and everything A reached) gone, with no DELE to explain it
    lost = {k: v for k, v in ok.items() if k != "y"}
    assert any("lost" in p and "y" in p for p in check_model(hist, initial, lost))
    hist.deletes.append("y")
    assert check_model(hist, initial, lost) == []
