#!/usr/bin/env python3
"""mock_acme.py - a scriptable, misbehaving ACME CA for tests (python3 stdlib +
python3-cryptography). Loopback only (127.0.0.1), HTTPS with a throwaway TLS
certificate that it makes itself: clients trust DIR/tls-ca.pem (autocert's
`ca_certs`). It speaks enough RFC 8555 for autocert's client: directory,
newNonce, newAccount, newOrder, authorizations (already valid, or pending with
dns-01, http-01 and tls-alpn-01 challenges, one token for all three, that
become valid when one is answered), finalize with a CSR,
certificate download (leaf + its issuing CA), revokeCert. JWS signatures are
not checked.

Usage:
  mock_acme.py serve --dir DIR [--mode MODE] [--retry-after VALUE]
                     [--drip SECONDS] [--validity SECONDS] [--backdate SECONDS]
      Writes DIR/tls-ca.pem, then DIR/port (atomically) once it listens; the
      directory URL is https://127.0.0.1:PORT/dir. Every request is appended
      to DIR/requests.log on arrival as "METHOD PATH" (count newOrder with
      grep -c '^POST /new-order'); a newOrder line also carries the order's
      first identifier ("POST /new-order a.example.test"), logged once its
      body is read. SIGTERM stops it.
  mock_acme.py pair --cert FILE --key FILE --from SECONDS --to SECONDS NAME...
      Writes a certificate pair (PEM chain of a throwaway CA, PKCS#8 key
      0600) valid from now+FROM to now+TO (negative = in the past): a stand-in
      for a certificate the CA issued earlier.

Modes (global; --mode, or POST /control {"mode": M}):
  ok                  authorizations valid, a good certificate (validity
                      --validity s from now - --backdate s; default 90 days, 1 h)
  dns01               like ok, but authorizations are pending with a dns-01
                      challenge that becomes valid once answered (not checked)
  garbage             every answer body is non-JSON text (the directory too)
  slow_drip           every answer body is sent one byte every --drip s (2)
  endless_429         every POST answers 429 rateLimited with Retry-After
                      --retry-after (a number or an HTTP-date; default 60)
  wrong_cert          the leaf names evil.example instead of the identifiers
  expired_cert        the leaf expired yesterday
  not_yet_valid_cert  the leaf becomes valid tomorrow
  wrong_key           the leaf is for another key than the CSR's
  big_nonce           every Replay-Nonce is 60 KB
  slow_poll           like dns01, but authorizations stay pending (Retry-After: 1)
  hang_poll           like dns01, but once a challenge is answered every
                      authorization poll is held for 300 s before it answers

Per-order modes: an order whose first identifier starts with the label
"mode-<M>." (M with '-' for '_', e.g. mode-wrong-cert.example.test) runs mode
M (the order-level modes: ok, dns01, wrong_cert, expired_cert,
not_yet_valid_cert, wrong_key, slow_poll, hang_poll, endless_429 - the last
answering 429 to that newOrder). So one daemon with several sets exercises
several modes against one mock.

Control: POST /control {"mode": M, "retry_after": "99999999", "drip": 2} sets
any of them; GET /control answers {"mode", "retry_after", "requests": {PATH
prefix: count}}. Control requests are not logged.
"""
import argparse
import base64
import datetime
import json
import os
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MODES = ("ok", "dns01", "garbage", "slow_drip", "endless_429", "wrong_cert", "expired_cert",
         "not_yet_valid_cert", "wrong_key", "big_nonce", "slow_poll", "hang_poll")
ORDER_MODES = ("ok", "dns01", "wrong_cert", "expired_cert", "not_yet_valid_cert", "wrong_key",
               "slow_poll", "hang_poll", "endless_429")
CHALLENGE_MODES = ("dns01", "slow_poll", "hang_poll")
HANG_S = 300
MAX_BODY = 1 << 20


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def new_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now_utc() - datetime.timedelta(days=1))
            .not_valid_after(now_utc() + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def san_entry(name):
    import ipaddress
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue(ca_key, ca_cert, public_key, names, not_before, not_after, server=False):
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
         .issuer_name(ca_cert.subject).public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.SubjectAlternativeName([san_entry(n) for n in names]),
                        critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                        critical=False))
    if server:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                            critical=False)
    return b.sign(ca_key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def write_atomic(path, data, mode=0o644):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class CA:
    """Everything the handlers share, under one lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.mode = args.mode
        self.retry_after = args.retry_after
        self.drip = args.drip
        self.validity = args.validity
        self.backdate = args.backdate
        self.orders = {}
        self.next_id = 1
        self.counts = {}
        self.log_path = os.path.join(args.dir, "requests.log")
        self.issuer_key, self.issuer_cert = new_ca("mock ACME issuing CA (throwaway)")
        self.base = None

    def log(self, method, path, what=None):
        if what is not None:
            path = "%s %s" % (path, what)
        with self.lock:
            key = "%s /%s" % (method, path.split(" ")[0].split("/")[1] if "/" in path else path)
            self.counts[key] = self.counts.get(key, 0) + 1
            with open(self.log_path, "a") as f:
                f.write("%s %s\n" % (method, path))

    def order_mode(self, identifiers):
        first = identifiers[0] if identifiers else ""
        label = first.split(".")[0]
        if label.startswith("mode-"):
            m = label[5:].replace("-", "_")
            if m in ORDER_MODES:
                return m
        return self.mode if self.mode in ORDER_MODES else "ok"

    def order_json(self, o):
        body = {"status": o["status"], "identifiers": o["identifiers"],
                "authorizations": ["%s/authz/%d/%d" % (self.base, o["id"], i)
                                   for i in range(len(o["identifiers"]))],
                "finalize": "%s/finalize/%d" % (self.base, o["id"]),
                "expires": (now_utc() + datetime.timedelta(days=1)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")}
        if o["status"] == "valid":
            body["certificate"] = "%s/cert/%d" % (self.base, o["id"])
        return body

    def authz_json(self, o, i):
        ident = o["identifiers"][i]
        value = ident["value"]
        wildcard = value.startswith("*.")
        status = o["authz"][i]
        body = {"status": status,
                "identifier": {"type": ident["type"], "value": value[2:] if wildcard else value},
                "challenges": []}
        if wildcard:
            body["wildcard"] = True
        if o["mode"] in CHALLENGE_MODES:
            # one challenge of each type, one token and URL for all three
            for ctype in ("dns-01", "http-01", "tls-alpn-01"):
                body["challenges"].append({
                    "type": ctype, "url": "%s/chal/%d/%d" % (self.base, o["id"], i),
                    "token": o["tokens"][i],
                    "status": "valid" if status == "valid" else
                              ("processing" if o["answered"][i] else "pending")})
        return body

    def make_chain(self, o, csr):
        names = [i["value"] for i in o["identifiers"]]
        pub = csr.public_key()
        t = now_utc()
        nb = t - datetime.timedelta(seconds=self.backdate)
        na = nb + datetime.timedelta(seconds=self.validity)
        mode = o["mode"]
        if mode == "wrong_cert":
            names = ["evil.example"]
        elif mode == "expired_cert":
            nb, na = t - datetime.timedelta(days=91), t - datetime.timedelta(days=1)
        elif mode == "not_yet_valid_cert":
            nb, na = t + datetime.timedelta(days=1), t + datetime.timedelta(days=91)
        elif mode == "wrong_key":
            pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        leaf = issue(self.issuer_key, self.issuer_cert, pub, names, nb, na)
        return pem(leaf) + pem(self.issuer_cert)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ca = None

    def log_message(self, fmt, *args):
        pass

    def nonce(self):
        if self.ca.mode == "big_nonce":
            return "N" * (60 * 1024)
        return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")

    def send(self, status, body=None, headers=None, ctype="application/json"):
        mode = self.ca.mode
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            if mode == "garbage":
                data = b"<html><body>502 Bad Gateway \x00\xff garbage</body></html>"
                ctype = "text/html"
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body or b""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Replay-Nonce", self.nonce())
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        if mode == "slow_drip" and data:
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(self.ca.drip)
        else:
            self.wfile.write(data)

    def problem(self, status, kind, detail, headers=None):
        self.send(status, {"type": "urn:ietf:params:acme:error:" + kind, "detail": detail,
                           "status": status}, headers, "application/problem+json")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def jws_payload(self, raw):
        try:
            jws = json.loads(raw)
            p = jws.get("payload", "")
            return None if p == "" else json.loads(b64u_decode(p))
        except (ValueError, KeyError, TypeError):
            return None

    # ---- verbs ----

    def do_HEAD(self):
        self.ca.log("HEAD", self.path)
        self.send(200 if self.path == "/nonce" else 404)

    def do_GET(self):
        ca = self.ca
        if self.path == "/control":
            with ca.lock:
                state = {"mode": ca.mode, "retry_after": ca.retry_after,
                         "requests": dict(ca.counts)}
            data = json.dumps(state).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        ca.log("GET", self.path)
        if self.path == "/dir":
            b = ca.base
            return self.send(200, {"newNonce": b + "/nonce", "newAccount": b + "/acct",
                                   "newOrder": b + "/new-order", "revokeCert": b + "/revoke",
                                   "keyChange": b + "/key-change",
                                   "meta": {"termsOfService": b + "/terms"}})
        if self.path == "/nonce":
            return self.send(204)
        self.problem(404, "malformed", "no such resource")

    def do_POST(self):
        ca = self.ca
        try:
            raw = self.read_body()
        except ValueError:
            return self.problem(413, "malformed", "body too large")
        if self.path == "/control":
            try:
                c = json.loads(raw or b"{}")
                with ca.lock:
                    if "mode" in c:
                        if c["mode"] not in MODES:
                            raise ValueError("unknown mode")
                        ca.mode = c["mode"]
                    if "retry_after" in c:
                        ca.retry_after = str(c["retry_after"])
                    if "drip" in c:
                        ca.drip = float(c["drip"])
            except (ValueError, TypeError) as exc:
                data = json.dumps({"error": str(exc)}).encode()
                self.send_response(400)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = self.jws_payload(raw)
        first = None
        if self.path == "/new-order" and isinstance(payload, dict):
            ids = payload.get("identifiers") or [{}]
            first = str(ids[0].get("value", "")) if isinstance(ids[0], dict) else ""
        ca.log("POST", self.path, first)
        if ca.mode == "endless_429":
            return self.problem(429, "rateLimited", "mock: rate limited (endless)",
                                {"Retry-After": ca.retry_after})
        parts = self.path.strip("/").split("/")
        if parts[0] == "acct":
            return self.send(200, {"status": "valid", "contact": []},
                             {"Location": ca.base + "/acct/1"})
        if parts[0] == "new-order":
            return self.new_order(payload)
        if parts[0] == "revoke":
            return self.send(200, b"", ctype="text/plain")
        with ca.lock:
            o = ca.orders.get(int(parts[1])) if len(parts) > 1 and parts[1].isdigit() else None
        if o is None:
            return self.problem(404, "malformed", "no such resource")
        if parts[0] == "order":
            with ca.lock:
                body = ca.order_json(o)
            return self.send(200, body, {"Retry-After": "1"} if o["status"] != "valid" else {})
        if parts[0] in ("authz", "chal") and len(parts) == 3 and parts[2].isdigit():
            return self.authz_or_challenge(o, parts[0], int(parts[2]))
        if parts[0] == "finalize":
            return self.finalize(o, payload)
        if parts[0] == "cert":
            return self.send(200, o.get("chain", b""), ctype="application/pem-certificate-chain")
        self.problem(404, "malformed", "no such resource")

    def new_order(self, payload):
        ca = self.ca
        if not isinstance(payload, dict) or not payload.get("identifiers"):
            return self.problem(400, "malformed", "newOrder without identifiers")
        ids = payload["identifiers"]
        mode = ca.order_mode([i.get("value", "") for i in ids])
        if mode == "endless_429":
            return self.problem(429, "rateLimited", "mock: too many new orders",
                                {"Retry-After": ca.retry_after})
        with ca.lock:
            oid = ca.next_id
            ca.next_id += 1
            challenge = mode in CHALLENGE_MODES
            o = {"id": oid, "identifiers": ids, "mode": mode,
                 "status": "pending" if challenge else "ready",
                 "authz": ["pending" if challenge else "valid" for _ in ids],
                 "answered": [False for _ in ids],
                 "tokens": [base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()
                            .rstrip("=") for _ in ids]}
            ca.orders[oid] = o
            body = ca.order_json(o)
        self.send(201, body, {"Location": "%s/order/%d" % (ca.base, oid)})

    def authz_or_challenge(self, o, kind, i):
        ca = self.ca
        if i >= len(o["identifiers"]):
            return self.problem(404, "malformed", "no such authorization")
        if kind == "chal":
            with ca.lock:
                o["answered"][i] = True
                if o["mode"] in ("dns01", "hang_poll"):
                    o["authz"][i] = "valid"
                if all(a == "valid" for a in o["authz"]):
                    o["status"] = "ready"
                body = ca.authz_json(o, i)["challenges"][0]
            return self.send(200, body)
        if o["mode"] == "hang_poll" and any(o["answered"]):
            time.sleep(HANG_S)
        with ca.lock:
            body = ca.authz_json(o, i)
        self.send(200, body, {"Retry-After": "1"} if body["status"] == "pending" else {})

    def finalize(self, o, payload):
        ca = self.ca
        if o["status"] != "ready":
            return self.problem(403, "orderNotReady", "order is %s" % o["status"])
        try:
            csr = x509.load_der_x509_csr(b64u_decode(payload["csr"]))
        except (ValueError, KeyError, TypeError):
            return self.problem(400, "badCSR", "mock: unreadable CSR")
        chain = ca.make_chain(o, csr)
        with ca.lock:
            o["chain"] = chain
            o["status"] = "valid"
            body = ca.order_json(o)
        self.send(200, body, {"Location": "%s/order/%d" % (ca.base, o["id"])})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    if args.mode not in MODES:
        sys.exit("mock_acme: unknown mode %s (modes: %s)" % (args.mode, ", ".join(MODES)))
    ca = CA(args)
    tls_key, tls_ca = new_ca("mock ACME TLS CA (throwaway)")
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = issue(tls_key, tls_ca, server_key.public_key(), ["localhost", "127.0.0.1"],
                        now_utc() - datetime.timedelta(days=1),
                        now_utc() + datetime.timedelta(days=30), server=True)
    write_atomic(os.path.join(args.dir, "tls-ca.pem"), pem(tls_ca))
    write_atomic(os.path.join(args.dir, "tls-cert.pem"), pem(server_cert) + pem(tls_ca))
    write_atomic(os.path.join(args.dir, "tls-key.pem"), server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(args.dir, "tls-cert.pem"),
                        os.path.join(args.dir, "tls-key.pem"))
    Handler.ca = ca
    httpd = Server(("127.0.0.1", args.port), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    ca.base = "https://127.0.0.1:%d" % port
    open(ca.log_path, "a").close()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
    write_atomic(os.path.join(args.dir, "port"), ("%d\n" % port).encode())
    httpd.serve_forever(poll_interval=0.2)
    httpd.server_close()


def make_pair(args):
    ca_key, ca_cert = new_ca("mock ACME earlier CA (throwaway)")
    key = ec.generate_private_key(ec.SECP256R1())
    t = now_utc()
    leaf = issue(ca_key, ca_cert, key.public_key(), args.names,
                 t + datetime.timedelta(seconds=args.valid_from),
                 t + datetime.timedelta(seconds=args.valid_to))
    write_atomic(args.cert, pem(leaf) + pem(ca_cert))
    write_atomic(args.key, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), 0o600)


def main():
    ap = argparse.ArgumentParser(description="scriptable misbehaving ACME CA (see the top of "
                                             "this file)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--dir", required=True)
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--mode", default="ok")
    s.add_argument("--retry-after", default="60")
    s.add_argument("--drip", type=float, default=2.0)
    s.add_argument("--validity", type=int, default=90 * 86400)
    s.add_argument("--backdate", type=int, default=3600)
    p = sub.add_parser("pair")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--from", dest="valid_from", type=int, required=True)
    p.add_argument("--to", dest="valid_to", type=int, required=True)
    p.add_argument("names", nargs="+")
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args)
    else:
        make_pair(args)


if __name__ == "__main__":
    main()
