"""A small, deliberately hostile FTP server for testing our client.

It accepts any login, refuses EPSV (so clients fall back to PASV), and in
its 227 replies names another loopback address (127.0.0.2) than the one the
client connected to, while actually listening on both: a client that
follows the PASV address connects to 127.0.0.2 and the server notes it.
Its listings name files that would escape a local target directory
(`../evil`, `/tmp/…/abs`, `a\\b`, names with NUL-like bytes), next to one
honest file and one honest directory. RETR of any name returns the same
bytes, except in two folders:

- `sized/`: `short.bin` is announced (SIZE, listings) as 1000 bytes and
  500 arrive before `226` (in `sized-many/`, three `.bin` files, each
  announced as 1000 bytes, are short too); `endless.bin` is announced as 1000 bytes and
  never ends (the server counts what it managed to send).
- `ansi/`: a name and a refusal that carry terminal escape sequences
  (`ESC ] 0 ; … BEL` sets the window title, `ESC [ 2 J` clears the screen).
- `flaky/`: the first RETR of `ok.txt` is refused with 450, later ones work.
- `reset/`: the first RETR of `ok.txt` resets the control connection,
  later ones work.
- `hashed/`: HASH (SHA-256) tells the truth about `ok.txt` and lies about
  `bad.txt`.

Every RETR is counted by path (`retrs`).

Only 127.0.0.0/8 is used; the server is a thread in the test process and
stops with it.
"""

from __future__ import annotations

import collections
import hashlib
import socket
import socketserver
import struct
import threading

HONEST = b"honest file contents\n"
EVIL = b"PWNED\n"
ANNOUNCED = 1000
SHORT = b"s" * 500
ESCAPES = b"\x1b]0;pwned-title\x07\x1b[2J\x9b31m"
ANSI_NAME = b"evil" + ESCAPES + b".txt"


class HostileServer:
    def __init__(self, evil_abs_path: str):
        self.evil_abs = evil_abs_path.encode()
        self.foreign_connections = 0
        self.endless_sent = 0
        self.rest_offsets: list[int] = []
        self.retrs: collections.Counter[bytes] = collections.Counter()
        self.listings = {
            b"": [(b"file", b"ok.txt"), (b"dir", b"sub"), (b"file", b"../evil.txt"),
                  (b"file", self.evil_abs), (b"file", b"a\\b.txt"), (b"dir", b".."), (b"file", b"")],
            b"sub": [(b"file", b"inner.txt"), (b"file", b"../../escape.txt")],
            b"sized": [(b"file", b"short.bin")],
            b"sized-endless": [(b"file", b"endless.bin")],
            b"sized-many": [(b"file", b"a.bin"), (b"file", b"b.bin"), (b"file", b"c.bin")],
            b"ansi": [(b"file", ANSI_NAME)],
            b"flaky": [(b"file", b"ok.txt")],
            b"reset": [(b"file", b"ok.txt")],
            b"hashed": [(b"file", b"ok.txt"), (b"file", b"bad.txt")],
        }
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                outer.session(self.connection)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # one control connection
    def session(self, conn: socket.socket):
        conn.settimeout(20)
        f = conn.makefile("rb")
        send = lambda line: conn.sendall(line + b"\r\n")
        send(b"220 hostile test server")
        cwd = b""
        data_sockets = []
        while True:
            line = f.readline(4096)
            if not line:
                return
            line = line.rstrip(b"\r\n")
            verb, _, arg = line.partition(b" ")
            verb = verb.upper()
            if verb == b"USER":
                send(b"331 password please")
            elif verb == b"PASS":
                send(b"230 logged in")
            elif verb == b"FEAT":
                send(b"211-Features:\r\n MLST type*;size*;modify*;\r\n HASH SHA-256*\r\n211 End")
            elif verb == b"OPTS":
                send(b"200 SHA-256")
            elif verb == b"HASH":
                content = b"not what was sent" if arg.endswith(b"bad.txt") else self.content_of(arg)
                digest = hashlib.sha256(content).hexdigest().encode()
                send(b"213 SHA-256 0-%d %s %s" % (len(content), digest, arg))
            elif verb in (b"TYPE", b"NOOP", b"MODE", b"STRU"):
                send(b"200 ok")
            elif verb == b"PWD":
                send(b'257 "/' + cwd + b'"')
            elif verb == b"CWD":
                cwd = arg.strip(b"/")
                send(b"250 ok")
            elif verb == b"EPSV":
                send(b"500 EPSV not understood")
            elif verb == b"PASV":
                data_sockets = self.listen_twice()
                port = data_sockets[0].getsockname()[1]
                send(b"227 Entering Passive Mode (127,0,0,2,%d,%d)" % (port >> 8, port & 255))
            elif verb == b"RETR" and arg.strip(b"/") == b"sub":
                send(b"550 not a plain file")
            elif verb == b"RETR" and arg.startswith(b"ansi"):
                send(b"550 no such file" + ESCAPES)
            elif verb == b"REST":
                self.rest_offsets.append(int(arg))
                send(b"350 restarting")
            elif verb == b"ABOR":
                send(b"226 abort done")
            elif verb == b"RETR" and arg.startswith(b"flaky") and not self.retrs[arg]:
                self.retrs[arg] += 1
                send(b"450 busy, try later")
            elif verb == b"RETR" and arg.startswith(b"reset") and not self.retrs[arg]:
                self.retrs[arg] += 1
                for s in data_sockets:
                    s.close()
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                return
            elif verb in (b"MLSD", b"LIST", b"NLST", b"RETR"):
                if not data_sockets:
                    send(b"425 use PASV first")
                    continue
                send(b"150 here it comes")
                data = self.accept_any(data_sockets)
                data_sockets = []
                if data is None:
                    send(b"425 no data connection")
                    continue
                path = (arg if verb != b"RETR" else b"").strip(b"/")
                if verb == b"RETR":
                    self.retrs[arg] += 1
                if verb == b"RETR" and arg.endswith(b"endless.bin"):
                    send(self.send_endlessly(data))
                    continue
                if verb == b"RETR" and arg.endswith(b"short.bin"):
                    payload = SHORT[self.rest_offsets[-1] if self.rest_offsets else 0:]
                elif verb == b"RETR":
                    payload = self.content_of(arg)
                else:
                    payload = self.render(verb, path or cwd)
                data.sendall(payload)
                data.close()
                send(b"226 done")
            elif verb == b"SIZE":
                sized = arg.endswith(b"short.bin") or arg.endswith(b"endless.bin")
                send(b"213 %d" % (ANNOUNCED if sized else len(self.content_of(arg))))
            elif verb == b"QUIT":
                send(b"221 bye")
                return
            else:
                send(b"502 not here")

    def send_endlessly(self, data: socket.socket) -> bytes:
        """Sends until the client hangs up (or 1 GiB, a bound for a broken
        client); returns the reply that ends the transfer."""
        block = b"e" * 65536
        data.settimeout(10)
        try:
            while self.endless_sent < 1 << 30:
                data.sendall(block)
                self.endless_sent += len(block)
        except OSError:
            return b"426 the client went away"
        finally:
            data.close()
        return b"226 done"

    def listen_twice(self):
        socks = []
        port = 0
        for host in ("127.0.0.1", "127.0.0.2"):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
            port = s.getsockname()[1]
            s.listen(1)
            s.settimeout(10)
            socks.append(s)
        return socks

    def accept_any(self, socks):
        import select
        ready, _, _ = select.select(socks, [], [], 10)
        result = None
        for s in ready:
            conn, _ = s.accept()
            if s.getsockname()[0] == "127.0.0.2":
                self.foreign_connections += 1
                conn.close()
            else:
                result = conn
        for s in socks:
            s.close()
        return result

    def render(self, verb: bytes, path: bytes) -> bytes:
        out = b""
        for kind, name in self.listings.get(path, []):
            if verb == b"MLSD":
                size = b"" if kind == b"dir" else b"size=%d;" % self.size_of(name)
                out += b"type=" + kind + b";" + size + b"modify=20240101000000; " + name + b"\r\n"
            elif verb == b"NLST":
                out += name + b"\r\n"
            else:
                t = b"d" if kind == b"dir" else b"-"
                out += t + b"rw-r--r--    1 ftp ftp %12d Jan  1  2024 " % self.size_of(name) + name + b"\r\n"
        return out

    @staticmethod
    def content_of(path: bytes) -> bytes:
        return HONEST if path.endswith(b"ok.txt") or path.endswith(b"inner.txt") else EVIL

    @classmethod
    def size_of(cls, name: bytes) -> int:
        return ANNOUNCED if name.endswith(b".bin") else len(cls.content_of(name))
