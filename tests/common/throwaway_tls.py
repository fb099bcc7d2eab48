"""A throw-away certificate authority and server certificate for one test run,
made with the openssl command line (standard library only).

rustls (webpki) accepts only a CA:FALSE end-entity certificate signed by a
CA:TRUE root, so a self-signed server certificate will not do: make_ca_and_leaf
writes ca.pem + ca.key (the root) and cert.pem + key.pem (the leaf, for
localhost, 127.0.0.1 and ::1) into a directory.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
LEAF_EXT = ("basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")


class TlsError(RuntimeError):
    """openssl failed."""


def make_ca_and_leaf(d: Path, ca_name: str, days: int = 30) -> None:
    """ca.pem/ca.key (CN `ca_name`, CA:TRUE) and cert.pem/key.pem (CA:FALSE,
    signed by it) in `d`, valid for `days`; raises TlsError if openssl fails.
    The certificates are world-readable, the keys are as openssl leaves them."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "leaf.ext").write_text(LEAF_EXT)
    steps = [
        ["req", "-x509", *EC_KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", str(days),
         "-subj", f"/CN={ca_name}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *EC_KEY, "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "cert.pem", "-days", str(days), "-extfile", "leaf.ext"],
    ]
    for args in steps:
        r = subprocess.run(["openssl", *args], cwd=d, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise TlsError(f"openssl {args[0]} failed: {r.stderr.decode(errors='replace')}")
    for name in ("ca.pem", "cert.pem"):
        (d / name).chmod(0o644)
