"""A hostile NNTP server on 127.0.0.1 for client robustness tests (stdlib only).

    with HostileNNTP("endless-body") as h:
        run(["wharf", "news", "read", f"nntp://127.0.0.1:{h.port}/hostile.test", "1"])

It answers the usual reader commands well enough for a client to get to the
point of attack (CAPABILITIES, MODE READER, GROUP, LISTGROUP, LIST, STAT, HEAD,
ARTICLE, BODY, OVER/XOVER, HDR/XHDR, NEXT/LAST, DATE, AUTHINFO, QUIT), then,
depending on the mode:

  endless-body      ARTICLE/BODY: headers, then body lines that never end
  endless-quoted    ARTICLE/BODY: an endless body of "> quoted" lines (so a
                    "first N meaningful lines" reader never reaches N)
  endless-over      OVER/XOVER: overview lines that never end
  endless-list      LIST (ACTIVE): group lines that never end
  no-terminator     every multi-line answer but CAPABILITIES: a few lines, no
                    terminating ".", then the connection is closed
  long-greeting     the greeting line never ends (no CRLF, ever)
  long-status       normal greeting; the GROUP answer line never ends
  long-body-line    ARTICLE/BODY: one body line that never ends
  big-article       ARTICLE/BODY: a large but finite, well-formed body
                    (big_body(), BIG_BYTES by default), for streaming checks
  normal            a well-behaved server (to check the fixture itself)

"Never ends" means: until the client closes the connection, the fixture is
stopped, or MAX_BYTES (8 GiB) were sent.  Each connection's byte count is kept in
.sent (list of ints, one per connection).
"""
from __future__ import annotations

import socket
import threading
import time

MODES = ("normal", "endless-body", "endless-quoted", "endless-over", "endless-list",
         "no-terminator", "long-greeting", "long-status", "long-body-line", "big-article")
MAX_BYTES = 8 << 30
BIG_BYTES = 48 << 20
GROUP = "hostile.test"


def head_lines(n: int) -> list[bytes]:
    """The header lines of article n (no line ends)."""
    return [b"From: Mallory <mallory@hostile.test>", b"Newsgroups: " + GROUP.encode(),
            b"Subject: hostile", b"Date: Mon, 01 Jan 2024 00:00:00 +0000",
            b"Message-ID: <%d@hostile.test>" % n]


def big_body(nbytes: int = BIG_BYTES):
    """Body lines (bytes, no line end) of about nbytes in all; every 1000th starts with '.'."""
    i, total = 0, 0
    while total < nbytes:
        line = b"%sline %08d of the big article, 70 octets or so, as news lines are." % (
            b"." if i % 1000 == 999 else b"", i)
        yield line
        total += len(line) + 1
        i += 1


def _chunk(line: bytes, size: int = 1 << 16) -> bytes:
    return line * (size // len(line) + 1)


class HostileNNTP:
    def __init__(self, mode: str, big_bytes: int = BIG_BYTES):
        self.big_bytes = big_bytes
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        self.mode = mode
        self.host = "127.0.0.1"
        self._stop = threading.Event()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((self.host, 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.sent: list[int] = []
        self.commands: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> "HostileNNTP":
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        try:
            self._lsock.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(5)

    # ------------------------------------------------------------------
    def _accept_loop(self) -> None:
        self._lsock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                c, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(c)
                idx = len(self.sent)
                self.sent.append(0)
            t = threading.Thread(target=self._serve, args=(c, idx), daemon=True)
            t.start()
            self._threads.append(t)

    def _send(self, c: socket.socket, idx: int, data: bytes) -> None:
        c.sendall(data)
        self.sent[idx] += len(data)

    def _endless(self, c: socket.socket, idx: int, chunk: bytes) -> None:
        while not self._stop.is_set() and self.sent[idx] < MAX_BYTES:
            self._send(c, idx, chunk)

    def _truncate(self, c: socket.socket, idx: int, first: bytes, lines: list[bytes]) -> None:
        """Multi-line answer without its terminating '.', then close."""
        self._send(c, idx, first + b"".join(l + b"\r\n" for l in lines))
        time.sleep(0.05)
        raise ConnectionAbortedError("closing without terminator (by design)")

    def _serve(self, c: socket.socket, idx: int) -> None:
        c.settimeout(120)
        try:
            self._serve_inner(c, idx)
        except (OSError, ConnectionError):
            pass
        finally:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _serve_inner(self, c: socket.socket, idx: int) -> None:
        mode = self.mode
        if mode == "long-greeting":
            self._send(c, idx, b"200 ")
            self._endless(c, idx, _chunk(b"x"))
            return
        self._send(c, idx, b"200 hostile.test NNTP service ready (posting ok)\r\n")
        f = c.makefile("rb")
        selected = 1
        while not self._stop.is_set():
            raw = f.readline(4096)
            if not raw:
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            self.commands.append(line)
            words = line.split()
            if not words:
                self._send(c, idx, b"500 What?\r\n")
                continue
            cmd = words[0].upper()
            args = words[1:]
            trunc = mode == "no-terminator"

            def multi(first: bytes, lines: list[bytes]) -> None:
                if trunc:
                    self._truncate(c, idx, first, lines)
                body = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
                self._send(c, idx, first + body + b".\r\n")

            def num_arg() -> int:
                if args and args[0].isdigit():
                    return int(args[0])
                return selected

            if cmd == "QUIT":
                self._send(c, idx, b"205 bye\r\n")
                return
            if cmd == "CAPABILITIES":
                self._send(c, idx, b"101 Capability list:\r\nVERSION 2\r\nREADER\r\nPOST\r\n"
                                   b"OVER\r\nHDR\r\nLIST ACTIVE NEWSGROUPS OVERVIEW.FMT\r\n.\r\n")
            elif cmd == "MODE":
                self._send(c, idx, b"200 Posting allowed\r\n")
            elif cmd == "AUTHINFO":
                if args and args[0].upper() == "USER":
                    self._send(c, idx, b"381 Password required\r\n")
                else:
                    self._send(c, idx, b"281 Authentication accepted\r\n")
            elif cmd == "DATE":
                self._send(c, idx, b"111 20240101000000\r\n")
            elif cmd == "GROUP":
                if mode == "long-status":
                    self._send(c, idx, b"211 3 1 3 ")
                    self._endless(c, idx, _chunk(b"y"))
                    return
                g = args[0].encode() if args else GROUP.encode()
                self._send(c, idx, b"211 3 1 3 " + g + b"\r\n")
            elif cmd == "LISTGROUP":
                g = args[0].encode() if args else GROUP.encode()
                multi(b"211 3 1 3 " + g + b" list follows\r\n", [b"1", b"2", b"3"])
            elif cmd == "LIST":
                kw = args[0].upper() if args else "ACTIVE"
                if kw == "OVERVIEW.FMT":
                    multi(b"215 Order of fields in overview database.\r\n",
                          [b"Subject:", b"From:", b"Date:", b"Message-ID:", b"References:",
                           b"Bytes:", b"Lines:", b"Xref:full"])
                elif kw == "NEWSGROUPS":
                    multi(b"215 Descriptions follow.\r\n", [GROUP.encode() + b"\tHostile."])
                elif mode == "endless-list":
                    self._send(c, idx, b"215 Newsgroups follow.\r\n")
                    self._endless(c, idx, _chunk(b"hostile.endless.group 0000000003 0000000001 y\r\n"))
                    return
                else:
                    multi(b"215 Newsgroups follow.\r\n", [GROUP.encode() + b" 3 1 y"])
            elif cmd in ("STAT", "NEXT", "LAST"):
                n = num_arg()
                selected = n
                self._send(c, idx, b"223 %d <%d@hostile.test>\r\n" % (n, n))
            elif cmd in ("HEAD", "ARTICLE", "BODY"):
                n = num_arg()
                selected = n
                code = {"HEAD": b"221", "ARTICLE": b"220", "BODY": b"222"}[cmd]
                first = code + b" %d <%d@hostile.test>\r\n" % (n, n)
                head = head_lines(n)
                if cmd == "HEAD":
                    multi(first, head)
                    continue
                pre = head + [b""] if cmd == "ARTICLE" else []
                if mode in ("endless-body", "endless-quoted", "long-body-line"):
                    self._send(c, idx, first + b"".join(l + b"\r\n" for l in pre))
                    if mode == "endless-body":
                        self._endless(c, idx, _chunk(b"endless body line, the terminator never comes\r\n"))
                    elif mode == "endless-quoted":
                        self._endless(c, idx, _chunk(b"> an endless quoted line\r\n"))
                    else:
                        self._send(c, idx, b"the start of a line that never ends: ")
                        self._endless(c, idx, _chunk(b"z"))
                    return
                if mode == "big-article":
                    self._send(c, idx, first + b"".join(l + b"\r\n" for l in pre))
                    buf = []
                    for l in big_body(self.big_bytes):
                        buf.append((b"." + l if l.startswith(b".") else l) + b"\r\n")
                        if len(buf) == 1000:
                            self._send(c, idx, b"".join(buf))
                            buf = []
                    self._send(c, idx, b"".join(buf) + b".\r\n")
                    continue
                multi(first, pre + [b"first body line", b"second body line", b"> a quote",
                                    b"third body line", b"fourth body line"])
            elif cmd in ("OVER", "XOVER"):
                if mode == "endless-over":
                    self._send(c, idx, b"224 Overview information follows\r\n")
                    self._endless(c, idx, _chunk(
                        b"3\thostile\tMallory <mallory@hostile.test>\tMon, 01 Jan 2024 00:00:00 +0000"
                        b"\t<3@hostile.test>\t\t100\t5\r\n"))
                    return
                multi(b"224 Overview information follows\r\n",
                      [b"%d\thostile %d\tMallory <mallory@hostile.test>\tMon, 01 Jan 2024 00:00:00 +0000"
                       b"\t<%d@hostile.test>\t\t100\t5" % (i, i, i) for i in (1, 2, 3)])
            elif cmd in ("HDR", "XHDR"):
                field = args[0].lower() if args else "subject"
                val = {"from": b"Mallory <mallory@hostile.test>", "subject": b"hostile",
                       "date": b"Mon, 01 Jan 2024 00:00:00 +0000"}.get(field, b"x")
                rng = args[1] if len(args) > 1 else str(selected)
                n = int(rng.split("-")[-1]) if rng.split("-")[-1].isdigit() else 3
                code = b"225" if cmd == "HDR" else b"221"
                multi(code + b" Headers follow\r\n", [b"%d " % n + val])
            elif cmd == "POST":
                self._send(c, idx, b"440 Posting not permitted\r\n")
            else:
                self._send(c, idx, b"500 What?\r\n")


if __name__ == "__main__":  # manual use: python3 hostile_nntp.py MODE
    import sys
    with HostileNNTP(sys.argv[1] if len(sys.argv) > 1 else "normal") as h:
        print(f"HOSTILE_PORT={h.port}", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
