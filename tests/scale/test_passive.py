"""Per-instance passive settings: the address announced in PASV replies
and a small fixed passive port range, with a clear reply when every port
of it is taken."""

from __future__ import annotations

import ftplib
import socket

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_announced_address_and_exhausted_range(instances, tmp_path):
    port = free_port()
    inst = instances(tmp_path / "data", ["--passive-address", "127.0.0.9",
                                         "--passive-ports", f"{port}-{port}"])
    first = inst.ftp("anonymous", "guest@")
    reply = first.sendcmd("PASV")
    nums = reply[reply.index("(") + 1:reply.index(")")].split(",")
    assert nums[:4] == ["127", "0", "0", "9"], reply
    assert int(nums[4]) * 256 + int(nums[5]) == port, reply
    # The range's only port is held by the first session's listener.
    second = inst.ftp("anonymous", "guest@")
    with pytest.raises(ftplib.error_temp, match="425 No free passive port"):
        second.sendcmd("EPSV")
    inst.wait_log(r"passive port range exhausted.*widen --passive-ports"
                  r"|widen --passive-ports.*passive port range exhausted")
    first.quit()
    second.quit()
