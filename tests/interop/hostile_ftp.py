"""A small, deliberately hostile FTP server for testing our client.

It accepts any login, refuses EPSV (so clients fall back to PASV), and in
its 227 replies names another loopback address (127.0.0.2) than the one the
client connected to, while actually listening on both: a client that
follows the PASV address connects to 127.0.0.2 and the server notes it.
Its listings name files that would escape a local target directory
(`../evil`, `/tmp/…/abs`, `a\\b`, names with NUL-like bytes), next to one
honest file and one honest directory. RETR of any name returns the same
bytes.

Only 127.0.0.0/8 is used; the server is a thread in the test process and
stops with it.
"""

from __future__ import annotations

import socket
import socketserver
import threading

HONEST = b"honest file contents\n"
EVIL = b"PWNED\n"


class HostileServer:
    def __init__(self, evil_abs_path: str):
        self.evil_abs = evil_abs_path.encode()
        self.foreign_connections = 0
        self.listings = {
            b"": [(b"file", b"ok.txt"), (b"dir", b"sub"), (b"file", b"../evil.txt"),
                  (b"file", self.evil_abs), (b"file", b"a\\b.txt"), (b"dir", b".."), (b"file", b"")],
            b"sub": [(b"file", b"inner.txt"), (b"file", b"../../escape.txt")],
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
                send(b"211-Features:\r\n MLST type*;size*;modify*;\r\n211 End")
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
                    payload = HONEST if arg.endswith(b"ok.txt") or arg.endswith(b"inner.txt") else EVIL
                else:
                    payload = self.render(verb, path or cwd)
                data.sendall(payload)
                data.close()
                send(b"226 done")
            elif verb == b"SIZE":
                send(b"213 %d" % len(HONEST))
            elif verb == b"QUIT":
                send(b"221 bye")
                return
            else:
                send(b"502 not here")

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
                size = b"" if kind == b"dir" else b"size=%d;" % len(HONEST)
                out += b"type=" + kind + b";" + size + b"modify=20240101000000; " + name + b"\r\n"
            elif verb == b"NLST":
                out += name + b"\r\n"
            else:
                t = b"d" if kind == b"dir" else b"-"
                out += t + b"rw-r--r--    1 ftp ftp %12d Jan  1  2024 " % len(HONEST) + name + b"\r\n"
        return out
