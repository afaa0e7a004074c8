"""A throwaway PKI for the TLS tests, made with the ``openssl`` command line.

The ``pki`` fixture of ``conftest.py`` makes one per test session.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

__all__ = ["Pki"]

OPENSSL_TIMEOUT = 10.0


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=OPENSSL_TIMEOUT)


def make_ca(directory: Path, name: str) -> None:
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip


def make_leaf(directory: Path, name: str, ca: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n" + extensions
    )
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-set_serial",
        str(abs(hash(name)) % 100000 + 2), "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip


class Pki:
    """A test CA, a server certificate for 127.0.0.1 and ::1, client certificates from two CAs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        make_ca(directory, "ca")
        make_ca(directory, "other-ca")
        make_leaf(directory, "server", "ca", "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1\n")
        make_leaf(directory, "client", "ca", "extendedKeyUsage=clientAuth\n")
        make_leaf(directory, "stranger", "other-ca", "extendedKeyUsage=clientAuth\n")

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def server_args(self, *, client_auth: bool = False) -> list[str]:
        args = ["-t", "-k", self.path("server.key"), "-c", self.path("server.pem")]
        if client_auth:
            args += ["--tls-client-auth", "--tls-client-ca", self.path("ca.pem")]
        return args

    def client_context(self, certificate: str | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.path("ca.pem"))
        if certificate is not None:
            context.load_cert_chain(self.path(f"{certificate}.pem"), self.path(f"{certificate}.key"))
        return context
