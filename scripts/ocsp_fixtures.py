#!/usr/bin/env python3
"""Test fixtures for OCSP stapling (python3-cryptography), made fresh by the
tests that need them: nothing binary is committed.

  ocsp_fixtures.py pki DIR URL [NAME...]
      DIR/ca.{key,crt}        a test CA
      DIR/leaf.{key,crt}      a leaf for NAME... (default localhost) with an
                              AIA OCSP URL, signed by the CA; DIR/chain.pem =
                              leaf + CA
      DIR/other.{key,crt}     a second leaf of the same CA (for "wrong cert")
      DIR/noocsp.{key,crt}    a leaf without an OCSP URL for noocsp-NAME...;
                              DIR/noocsp_chain.pem
      DIR/delegate.{key,crt}  an OCSP responder the CA delegated (OCSPSigning)
      DIR/rogue.{key,crt}     a CA of its own (a signature nobody delegated)
  ocsp_fixtures.py resp DIR OUT [--cert leaf|other] [--status good|revoked]
                   [--this SECONDS] [--next SECONDS|none]
                   [--signer ca|delegate|rogue] [--tamper] [--unsuccessful]
      writes a DER OCSPResponse about DIR/<cert>.crt to OUT; thisUpdate and
      nextUpdate are now + SECONDS (second-granular, unlike `openssl ocsp`).
"""
import argparse
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, AuthorityInformationAccessOID

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def key():
    return ec.generate_private_key(ec.SECP256R1())


def save(d, name, k, crt):
    with open(os.path.join(d, name + ".key"), "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))
    with open(os.path.join(d, name + ".crt"), "wb") as f:
        f.write(crt.public_bytes(serialization.Encoding.PEM))


def load(d, name):
    with open(os.path.join(d, name + ".key"), "rb") as f:
        k = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(d, name + ".crt"), "rb") as f:
        c = x509.load_pem_x509_certificate(f.read())
    return k, c


def cert(subject_cn, k, issuer_name, issuer_key, ca=False, names=None, url=None, eku=None):
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
         .issuer_name(issuer_name)
         .public_key(k.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(NOW - datetime.timedelta(hours=1))
         .not_valid_after(NOW + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                          False), critical=True)
    if names:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                            critical=False)
    if url:
        b = b.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                   x509.UniformResourceIdentifier(url))]), critical=False)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def pki(d, url, names):
    os.makedirs(d, exist_ok=True)
    names = names or ["localhost"]
    ca_k = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "autocert OCSP test CA")])
    ca = cert("autocert OCSP test CA", ca_k, ca_name, ca_k, ca=True)
    save(d, "ca", ca_k, ca)
    for n, u in (("leaf", url), ("other", url), ("noocsp", None)):
        k = key()
        ns = names if u else ["noocsp-" + x for x in names]
        save(d, n, k, cert(ns[0], k, ca_name, ca_k, names=ns, url=u))
    k = key()
    save(d, "delegate", k, cert("autocert OCSP responder", k, ca_name, ca_k,
                                eku=[ExtendedKeyUsageOID.OCSP_SIGNING]))
    rk = key()
    rn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "autocert OCSP test CA")])
    save(d, "rogue", rk, cert("autocert OCSP test CA", rk, rn, rk, ca=True))
    for chain, leaf in (("chain.pem", "leaf"), ("noocsp_chain.pem", "noocsp")):
        with open(os.path.join(d, chain), "wb") as f:
            for n in (leaf, "ca"):
                with open(os.path.join(d, n + ".crt"), "rb") as g:
                    f.write(g.read())


def resp(d, out, a):
    ca_k, ca = load(d, "ca")
    _, c = load(d, a.cert)
    if a.unsuccessful:
        r = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
    else:
        signer_k, signer = load(d, a.signer) if a.signer != "ca" else (ca_k, ca)
        status = ocsp.OCSPCertStatus.GOOD if a.status == "good" else ocsp.OCSPCertStatus.REVOKED
        nxt = None if a.next == "none" else NOW + datetime.timedelta(seconds=int(a.next))
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=c, issuer=ca, algorithm=hashes.SHA1(), cert_status=status,
            this_update=NOW + datetime.timedelta(seconds=a.this), next_update=nxt,
            revocation_time=NOW - datetime.timedelta(hours=1) if a.status == "revoked" else None,
            revocation_reason=None)
        b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, signer)
        if a.signer == "delegate":
            b = b.certificates([signer])
        r = b.sign(signer_k, hashes.SHA256())
    der = bytearray(r.public_bytes(serialization.Encoding.DER))
    if a.tamper:
        der[-5] ^= 0x01  # inside the signature value
    with open(out, "wb") as f:
        f.write(bytes(der))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "pki":
        pki(sys.argv[2], sys.argv[3], sys.argv[4:])
        return 0
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["resp"])
    p.add_argument("dir")
    p.add_argument("out")
    p.add_argument("--cert", default="leaf")
    p.add_argument("--status", default="good", choices=["good", "revoked"])
    p.add_argument("--this", type=int, default=-60)
    p.add_argument("--next", default="3600")
    p.add_argument("--signer", default="ca", choices=["ca", "delegate", "rogue"])
    p.add_argument("--tamper", action="store_true")
    p.add_argument("--unsuccessful", action="store_true")
    a = p.parse_args()
    resp(a.dir, a.out, a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
