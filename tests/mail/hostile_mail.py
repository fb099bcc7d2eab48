"""Hostile mail servers for client tests (standard library only).

    from hostile_mail import HostileServer, CASES
    with HostileServer("smtp", "endless-reply") as srv:
        run wharf against smtp://127.0.0.1:{srv.port}/ ...

A case is a function `case(conn)` that plays one connection; `conn` (a
`Peer`) can send bytes, read a command line, and tell whether the client
has gone. Register a case with `@case("proto", "name")`; CASES maps
(proto, name) to it. Every case is bounded: it stops after HOLD seconds or
MAX_BYTES sent, or as soon as the client closes, so a client that does not
give up cannot hang the test forever (the test's own timeout still fails it).

The cases here: for SMTP and POP3, `endless-reply` (lines that never end the
reply or block), `no-crlf` (a reply without its final CRLF, then silence),
`huge-line` (one 16 MiB line); two quirky but lawful SMTP servers,
`helo-only` (EHLO refused) and `size-1000` (SIZE 1000 announced); and for
IMAP, `endless-line`, `huge-literal` (a literal of 999999999999 bytes
announced) and `no-crlf`.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable

HOST = "127.0.0.1"
#: How long any case keeps a connection before closing it.
HOLD = 40.0
#: Most bytes any case sends on one connection.
MAX_BYTES = 256 << 20
HUGE_LINE = 16 << 20

CASES: dict[tuple[str, str], Callable[["Peer"], None]] = {}


def case(proto: str, name: str):
    def register(fn):
        CASES[(proto, name)] = fn
        return fn
    return register


class Peer:
    """One accepted connection, as a case sees it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.settimeout(1.0)
        self.buf = b""
        self.sent = 0
        self.deadline = time.monotonic() + HOLD

    def alive(self) -> bool:
        return time.monotonic() < self.deadline and self.sent < MAX_BYTES

    def send(self, data: bytes) -> bool:
        """Sends data; False once the client is gone or a bound is reached."""
        if not self.alive():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.sent += len(data)
        return True

    def line(self) -> bytes | None:
        """The next command line (without CRLF); None when the client is gone."""
        while b"\n" not in self.buf:
            if not self.alive() or len(self.buf) > 65536:
                return None
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def hold(self) -> None:
        """Stays silent until the client closes or HOLD passes."""
        while self.alive():
            try:
                if not self.sock.recv(4096):
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    def endless(self, line: bytes) -> None:
        """Sends `line` over and over in 64 KiB bursts."""
        burst = line * max(1, 65536 // len(line))
        while self.send(burst):
            pass


# ---- SMTP --------------------------------------------------------------------

@case("smtp", "endless-reply")
def _smtp_endless(peer: Peer) -> None:
    peer.send(b"220 hostile ESMTP\r\n")
    if peer.line() is not None:  # EHLO
        peer.endless(b"250-and another extension\r\n")


@case("smtp", "no-crlf")
def _smtp_no_crlf(peer: Peer) -> None:
    peer.send(b"220 hostile ESMTP without a line end")
    peer.hold()


@case("smtp", "huge-line")
def _smtp_huge(peer: Peer) -> None:
    peer.send(b"220 " + b"x" * HUGE_LINE + b"\r\n")
    peer.hold()


def _smtp_session(peer: Peer, ehlo: bytes) -> None:
    """A minimal, well-behaved SMTP dialogue whose EHLO answer is `ehlo`."""
    peer.send(b"220 quirky ESMTP\r\n")
    while True:
        line = peer.line()
        if line is None:
            return
        verb = line.split(b" ")[0].upper()
        if verb == b"EHLO":
            peer.send(ehlo)
        elif verb == b"DATA":
            peer.send(b"354 go ahead\r\n")
            while (body := peer.line()) is not None and body != b".":
                pass
            peer.send(b"250 accepted\r\n")
        elif verb == b"QUIT":
            peer.send(b"221 bye\r\n")
            return
        else:
            peer.send(b"250 ok\r\n")


@case("smtp", "helo-only")
def _smtp_helo_only(peer: Peer) -> None:
    """Not hostile, just old: EHLO is unknown (RFC 821 server)."""
    _smtp_session(peer, b"502 5.5.2 EHLO not implemented\r\n")


@case("smtp", "size-1000")
def _smtp_size_1000(peer: Peer) -> None:
    """Announces SIZE 1000: a larger message must not be sent at all."""
    _smtp_session(peer, b"250-quirky\r\n250-SIZE 1000\r\n250 8BITMIME\r\n")


# ---- POP3 --------------------------------------------------------------------

@case("pop3", "endless-reply")
def _pop3_endless(peer: Peer) -> None:
    """Logs anyone in, says every message has 1000 bytes (LIST n), then
    answers LIST/RETR/UIDL/TOP/CAPA with a block that never ends."""
    peer.send(b"+OK hostile POP3\r\n")
    while True:
        line = peer.line()
        if line is None:
            return
        words = line.upper().split()
        if words[:1] == [b"LIST"] and len(words) == 2:
            peer.send(b"+OK " + words[1] + b" 1000\r\n")
            continue
        if words[:1] in ([b"LIST"], [b"RETR"], [b"UIDL"], [b"TOP"], [b"CAPA"]):
            peer.send(b"+OK here it comes\r\n")
            peer.endless(b"1 1000 and more\r\n")
            return
        peer.send(b"+OK\r\n")


@case("pop3", "no-crlf")
def _pop3_no_crlf(peer: Peer) -> None:
    peer.send(b"+OK hostile POP3 without a line end")
    peer.hold()


@case("pop3", "huge-line")
def _pop3_huge(peer: Peer) -> None:
    peer.send(b"+OK " + b"x" * HUGE_LINE + b"\r\n")
    peer.hold()


# ---- IMAP --------------------------------------------------------------------

@case("imap", "endless-line")
def _imap_endless(peer: Peer) -> None:
    peer.send(b"* OK ")
    peer.endless(b"x" * 4096)


@case("imap", "huge-literal")
def _imap_huge_literal(peer: Peer) -> None:
    """Greets, then at once announces a literal of 999999999999 bytes and
    starts sending it (a client reads it as the answer to its first command)."""
    peer.send(b"* OK [CAPABILITY IMAP4rev1] hostile IMAP\r\n")
    peer.send(b'* LIST () "/" {999999999999}\r\n')
    peer.endless(b"x" * 4096)


@case("imap", "no-crlf")
def _imap_no_crlf(peer: Peer) -> None:
    peer.send(b"* OK hostile IMAP without a line end")
    peer.hold()


# ---- the server --------------------------------------------------------------

class HostileServer:
    """Serves one case on 127.0.0.1 (a free port) from a thread, one
    connection at a time, until stop()."""

    def __init__(self, proto: str, name: str):
        try:
            self.play = CASES[(proto, name)]
        except KeyError:
            raise ValueError(f"no hostile case {proto}/{name}; known: {sorted(CASES)}") from None
        self.host = HOST
        self.listener = socket.socket()
        self.listener.bind((HOST, 0))
        self.listener.listen(4)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "HostileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=HOLD + 5)
        self.listener.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with sock:
                peer = Peer(sock)
                peer.deadline = min(peer.deadline, time.monotonic() + HOLD)
                stop_watch = threading.Thread(target=self._cut_on_stop, args=(peer,), daemon=True)
                stop_watch.start()
                try:
                    self.play(peer)
                except OSError:
                    pass

    def _cut_on_stop(self, peer: Peer) -> None:
        """Ends the case early when the server is stopped."""
        while peer.alive():
            if self.stopping.wait(0.2):
                peer.deadline = 0
                return
