#!/usr/bin/env python3
"""scale_gen.py - writes N local certificate sets for bench/scale.sh and the
many-set integration test, with Debian's python3-cryptography (one process,
no certtool per set).

    scale_gen.py DIR N [--serve-listen HOST:PORT] [--admin-listen HOST:PORT]

Writes DIR/ca.pem (the root), DIR/autocert.yml (main plus N-1 `extra:` entries,
GoDoxy's form, `provider: local`) and, for set i (0 = main), an EC P-256 key
and a certificate for site<i>.example<i mod 100>.com and *.site<i>.example<i
mod 100>.com, signed by one intermediate that every chain carries:
DIR/certs/<i // 1000>/s<i>.crt (leaf + intermediate) and .key (PKCS#8).
Files are grouped 1,000 to a directory (one inotify watch per directory).
"""
import argparse
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ca_cert(subject, issuer, key, signer, serial, now, path_len):
    b = (x509.CertificateBuilder()
         .subject_name(name(subject))
         .issuer_name(name(issuer))
         .public_key(key.public_key())
         .serial_number(serial)
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
         .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                      False), critical=True))
    return b.sign(signer, hashes.SHA256())


def host_of(i):
    return "site%d.example%d.com" % (i, i % 100)


def set_paths(i):
    d = "certs/%d" % (i // 1000)
    return d, "%s/s%d.crt" % (d, i), "%s/s%d.key" % (d, i)


def write_set(out, i, inter, inter_key, inter_pem, now, serial):
    d, crt, key = set_paths(i)
    k = ec.generate_private_key(ec.SECP256R1())
    h = host_of(i)
    c = (x509.CertificateBuilder()
         .subject_name(name(h))
         .issuer_name(inter.subject)
         .public_key(k.public_key())
         .serial_number(serial)
         .not_valid_before(now - datetime.timedelta(hours=1))
         .not_valid_after(now + datetime.timedelta(days=90))
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(h), x509.DNSName("*." + h)]),
                        critical=False)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .sign(inter_key, hashes.SHA256()))
    os.makedirs(os.path.join(out, d), exist_ok=True)
    with open(os.path.join(out, crt), "wb") as f:
        f.write(c.public_bytes(serialization.Encoding.PEM) + inter_pem)
    kp = os.path.join(out, key)
    fd = os.open(kp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("n", type=int)
    ap.add_argument("--serve-listen")
    ap.add_argument("--admin-listen")
    ap.add_argument("--only", type=int, default=-1,
                    help="rewrite only set ONLY's pair (a new key and certificate)")
    a = ap.parse_args()
    if a.n < 1:
        sys.exit("scale_gen.py: N must be at least 1")
    now = datetime.datetime.now(datetime.timezone.utc)
    os.makedirs(a.dir, exist_ok=True)
    # The CA is kept in DIR so that --only can sign with the same intermediate.
    ca_path = os.path.join(a.dir, "ca-keys.pem")
    if os.path.exists(ca_path):
        with open(ca_path, "rb") as f:
            blob = f.read()
        inter_key = serialization.load_pem_private_key(blob, None)
        with open(os.path.join(a.dir, "inter.pem"), "rb") as f:
            inter_pem = f.read()
        inter = x509.load_pem_x509_certificate(inter_pem)
    else:
        root_key = ec.generate_private_key(ec.SECP256R1())
        inter_key = ec.generate_private_key(ec.SECP256R1())
        root = ca_cert("autocert scale root", "autocert scale root", root_key, root_key, 1, now,
                       1)
        inter = ca_cert("autocert scale intermediate", "autocert scale root", inter_key,
                        root_key, 2, now, 0)
        inter_pem = inter.public_bytes(serialization.Encoding.PEM)
        with open(os.path.join(a.dir, "ca.pem"), "wb") as f:
            f.write(root.public_bytes(serialization.Encoding.PEM))
        with open(os.path.join(a.dir, "inter.pem"), "wb") as f:
            f.write(inter_pem)
        fd = os.open(ca_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(inter_key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    if a.only >= 0:
        write_set(a.dir, a.only, inter, inter_key, inter_pem, now,
                  x509.random_serial_number())
        return
    for i in range(a.n):
        write_set(a.dir, i, inter, inter_key, inter_pem, now, 1000 + i)
    lines = ["autocert:", "  provider: local"]
    _, crt, key = set_paths(0)
    lines += ["  cert_path: " + crt, "  key_path: " + key]
    if a.n > 1:
        lines.append("  extra:")
        for i in range(1, a.n):
            _, crt, key = set_paths(i)
            lines += ["    - provider: local", "      cert_path: " + crt,
                      "      key_path: " + key]
    if a.serve_listen:
        lines += ["serve:", "  listen: " + a.serve_listen]
    if a.admin_listen:
        lines += ["admin:", "  listen: " + a.admin_listen]
    with open(os.path.join(a.dir, "autocert.yml"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
