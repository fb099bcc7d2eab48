"""PROXY protocol v1 and v2 on the control listener (and on passive data
connections) of one wharfd with the default SQLite store: the real client
address is what logs, the xferlog and the lockout use; a trusted proxy
that sends no header, or a malformed, truncated or oversized one, is
dropped; a header from an untrusted source is not honoured."""

from __future__ import annotations

import io
import re
import socket
import struct
import time

import ftplib
import pytest

from scale_helpers import (V2_SIG, ProxiedFTP, connect_from, proxy_v1, proxy_v2,
                           recv_all, wharfd_admin)

USER, PASSWORD = "alice", "alice-secret-pw"


@pytest.fixture
def proxied(wharfd_bin, instances, tmp_path):
    """A wharfd trusting 127.0.0.1 as its load balancer, with user alice."""
    data = tmp_path / "data"
    wharfd_admin(wharfd_bin, "users", "add", USER, "--password-stdin", "--data", str(data),
                 stdin=PASSWORD + "\n")
    (data / "home" / USER / "hello.txt").write_bytes(b"hello through a proxy\n")
    cfg = tmp_path / "w.toml"
    cfg.write_text("proxy_header_timeout = 1\nlockout_failures = 3\n")
    xferlog = tmp_path / "xferlog"
    inst = instances(data, ["--config", str(cfg), "--proxy-protocol",
                            "--proxy-from", "127.0.0.1/32", "--xferlog", str(xferlog)])
    inst.xferlog = xferlog
    return inst


@pytest.mark.parametrize("version,client", [(1, "203.0.113.7"), (2, "198.51.100.9"),
                                            (2, "2001:db8::7"), (1, "2001:db8::8")])
def test_real_address_in_log_and_xferlog(proxied, version, client):
    f = ProxiedFTP(client, version=version)
    f.connect("127.0.0.1", proxied.port)
    f.login(USER, PASSWORD)
    buf = io.BytesIO()
    f.retrbinary("RETR hello.txt", buf.write)
    assert buf.getvalue() == b"hello through a proxy\n"
    f.storbinary("STOR up.txt", io.BytesIO(b"x" * 1000))
    f.quit()
    peer = rf"peer=\[?{re.escape(client)}\]?:"
    proxied.wait_log(rf"{peer}.*session closed|session closed.*{peer}")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and proxied.xferlog.read_text().count("\n") < 2:
        time.sleep(0.05)
    lines = proxied.xferlog.read_text().splitlines()
    assert len(lines) == 2, lines
    assert all(f" {client} " in line for line in lines), lines
    # The proxy's own address is never taken for the client's.
    assert "peer=127.0.0.1:" not in proxied.log()


@pytest.mark.parametrize("name,payload", [
    ("garbage", b"USER alice\r\n"),
    ("bad v1", b"PROXY TCP4 1.2.3 127.0.0.1 1 21\r\n"),
    ("v1 too long", b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n"),
    ("truncated v1", b"PROXY TCP4 203.0.113.1 127"),
    ("truncated v2", proxy_v2("203.0.113.1", 5000)[:20]),
    ("oversized v2", V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", 60000) + b"\0" * 64),
    ("bad v2 command", V2_SIG + bytes([0x2f, 0x11, 0, 12]) + b"\0" * 12),
    ("nothing", b""),
])
def test_trusted_proxy_without_valid_header_is_dropped(proxied, name, payload):
    s = connect_from(proxied.port)
    if payload:
        s.sendall(payload)
    if name.startswith("truncated"):
        s.shutdown(socket.SHUT_WR)
    got = recv_all(s, limit=5)
    s.close()
    assert b"220" not in got, f"{name}: the server greeted: {got!r}"
    proxied.wait_log("no valid PROXY header")


def test_header_from_untrusted_source_is_not_honoured(wharfd_bin, instances, tmp_path):
    data = tmp_path / "data"
    inst = instances(data, ["--proxy-protocol", "--proxy-from", "127.0.0.2/32"])
    s = connect_from(inst.port, "127.0.0.1")
    s.sendall(proxy_v1("203.0.113.66", 4000, dport=inst.port))
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    # The header is just a bad command line to the FTP parser.
    assert f.readline()[:3] == b"500"
    s.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"221")
    s.close()
    inst.wait_log(r"peer=127\.0\.0\.1:\d+.*session closed|session closed.*peer=127\.0\.0\.1")
    assert "203.0.113.66" not in inst.log()


def test_lockout_applies_to_the_claimed_address(proxied):
    attacker = "203.0.113.50"
    for _ in range(3):
        f = ProxiedFTP(attacker)
        f.connect("127.0.0.1", proxied.port)
        with pytest.raises(ftplib.error_perm):
            f.login(USER, "wrong-password")
        f.close()
    # alice is now locked out from the attacker's address only...
    f = ProxiedFTP(attacker)
    f.connect("127.0.0.1", proxied.port)
    with pytest.raises(ftplib.error_temp, match="Too many failed logins"):
        f.login(USER, PASSWORD)
    f.close()
    # ...not from another client behind the same proxy.
    f = ProxiedFTP("203.0.113.51")
    f.connect("127.0.0.1", proxied.port)
    f.login(USER, PASSWORD)
    f.quit()


def test_passive_data_connection_must_name_the_same_client(proxied, tmp_path):
    f = ProxiedFTP("203.0.113.7")
    f.connect("127.0.0.1", proxied.port)
    f.login(USER, PASSWORD)
    f.voidcmd("TYPE I")
    host, port = f.makepasv()
    # Someone else behind the proxy races for the passive port.
    thief = socket.create_connection(("127.0.0.1", port), 5)
    thief.sendall(proxy_v1("203.0.113.99", 999, dport=port))
    f.putcmd("RETR hello.txt")
    time.sleep(0.5)
    ok = socket.create_connection(("127.0.0.1", port), 5)
    ok.sendall(proxy_v1("203.0.113.7", 41000, dport=port))
    assert f.getresp().startswith("150")
    assert recv_all(ok, 5) == b"hello through a proxy\n"
    assert f.getresp().startswith("226")
    assert recv_all(thief, 1) == b""
    thief.close()
    ok.close()
    f.quit()
    proxied.wait_log(r"refused a passive data connection from a foreign address")


def test_per_address_session_limit_counts_the_claimed_address(wharfd_bin, instances, tmp_path):
    inst = instances(tmp_path / "data", ["--proxy-protocol", "--proxy-from", "127.0.0.1",
                                         "--max-sessions-per-ip", "2"])
    held = []
    for _ in range(2):
        f = ProxiedFTP("203.0.113.20")
        assert f.connect("127.0.0.1", inst.port).startswith("220")
        held.append(f)
    f = ProxiedFTP("203.0.113.20")
    with pytest.raises(ftplib.error_temp, match="Too many connections"):
        f.connect("127.0.0.1", inst.port)
    f.close()
    # Another client behind the same proxy is not affected.
    g = ProxiedFTP("203.0.113.21")
    assert g.connect("127.0.0.1", inst.port).startswith("220")
    g.quit()
    for f in held:
        f.quit()
