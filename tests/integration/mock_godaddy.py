#!/usr/bin/env python3
"""A local stand-in for the GoDaddy Domains API v1 DNS endpoints (python3 stdlib).

Follows the public API documentation: GET /v1/domains/{domain} (404
{"code":"NOT_FOUND"} when not in the account), GET
/v1/domains/{domain}/records/{type}/{name} (an array of {data,name,ttl,type};
[] when none), PUT of the same path (replaces the whole set with the body: an
array of {data, ttl, ...}; ttl at least 600, else 422 INVALID_BODY; answer 200
with an empty body), DELETE of the same path (204; 404 when there is no such
record). Auth: "Authorization: sso-key <key>:<secret>", else 401
{"code":"UNABLE_TO_AUTHENTICATE"}. A request that does not match the
documented form is answered 400 and recorded as a violation.

Control (test only, no auth): POST /__control/ratelimit?count=N (next N API
requests answer 429 with Retry-After: 1 and retryAfterSec); POST
/__control/add?domain=D&name=N&data=V&ttl=T adds a record as another client
would; GET /__control/state returns {"records", "violations", "log"}.

Usage: mock_godaddy.py PORTFILE KEY SECRET
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

PORTFILE, KEY, SECRET = sys.argv[1:4]
DOMAINS = ["example.com", "sub.example.com"]
ITEM_KEYS = {"data", "port", "priority", "protocol", "service", "ttl", "weight"}
LOCK = threading.Lock()
STATE = {"records": [], "violations": [], "log": [], "ratelimit": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=None):
        data = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def violation(self, what):
        STATE["violations"].append("%s %s: %s" % (self.command, self.path, what))
        self.reply(400, {"code": "MOCK_VIOLATION", "message": "mock: " + what})

    def handle_any(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with LOCK:
            if u.path == "/__control/ratelimit":
                STATE["ratelimit"] = int(q.get("count", ["1"])[0])
                return self.reply(200, {"ok": True})
            if u.path == "/__control/add":
                STATE["records"].append({"domain": q["domain"][0], "name": q["name"][0],
                                         "type": "TXT", "data": q["data"][0],
                                         "ttl": int(q.get("ttl", ["3600"])[0])})
                return self.reply(200, {"ok": True})
            if u.path == "/__control/state":
                return self.reply(200, {k: STATE[k] for k in ("records", "violations", "log")})
            entry = {"method": self.command, "path": u.path, "query": u.query,
                     "body": body.decode(errors="replace"),
                     "content_type": self.headers.get("Content-Type")}
            STATE["log"].append(entry)
            if STATE["ratelimit"] > 0:
                STATE["ratelimit"] -= 1
                entry["answer"] = 429
                return self.reply(429, {"code": "TOO_MANY_REQUESTS",
                                        "message": "Too many requests", "retryAfterSec": 1},
                                  {"Retry-After": "1"})
            if self.headers.get("Authorization") != "sso-key %s:%s" % (KEY, SECRET):
                entry["answer"] = 401
                return self.reply(401, {"code": "UNABLE_TO_AUTHENTICATE",
                                        "message": "Unauthorized : Could not authenticate API key/secret"})
            entry["answer"] = 200
            return self.route(u, q, body, entry)

    def route(self, u, q, body, entry):
        if q:
            return self.violation("no query parameters expected")
        m = re.fullmatch(r"/v1/domains/([^/]+)(?:/records/([^/]+)/([^/]+))?", u.path)
        if not m:
            return self.violation("unexpected path")
        dom = unquote(m.group(1))
        rtype = m.group(2) and unquote(m.group(2))
        name = m.group(3) and unquote(m.group(3))
        if dom not in DOMAINS:
            entry["answer"] = 404
            return self.reply(404, {"code": "NOT_FOUND", "message": "Domain not found"})
        if rtype is None:
            if self.command != "GET" or body:
                return self.violation("domain look-up is a plain GET")
            return self.reply(200, {"domain": dom, "domainId": 1000 + DOMAINS.index(dom),
                                    "status": "ACTIVE"})
        if rtype != "TXT" or not re.fullmatch(r"[A-Za-z0-9_.@-]+", name):
            return self.violation("record type must be TXT and name relative")
        here = [r for r in STATE["records"] if r["domain"] == dom and r["name"] == name]
        if self.command == "GET":
            if body:
                return self.violation("GET has no body")
            return self.reply(200, [{k: r[k] for k in ("data", "name", "ttl", "type")}
                                    for r in here])
        if self.command == "PUT":
            if self.headers.get("Content-Type") != "application/json":
                return self.violation("Content-Type must be application/json")
            try:
                b = json.loads(body)
            except ValueError:
                return self.violation("body is not JSON")
            if (not isinstance(b, list) or not b or
                    any(not isinstance(i, dict) or set(i) - ITEM_KEYS or
                        not isinstance(i.get("data"), str) for i in b)):
                return self.violation("body must be a non-empty array of {data, ttl, ...}: %r" % (b,))
            if any(not isinstance(i.get("ttl", 3600), int) or i.get("ttl", 3600) < 600 for i in b):
                entry["answer"] = 422
                return self.reply(422, {"code": "INVALID_BODY", "message": "ttl must be >= 600"})
            STATE["records"] = [r for r in STATE["records"] if r not in here]
            for i in b:
                STATE["records"].append({"domain": dom, "name": name, "type": "TXT",
                                         "data": i["data"], "ttl": i.get("ttl", 3600)})
            return self.reply(200, None)
        if self.command == "DELETE":
            if body:
                return self.violation("DELETE has no body")
            if not here:
                entry["answer"] = 404
                return self.reply(404, {"code": "NOT_FOUND", "message": "Record not found"})
            STATE["records"] = [r for r in STATE["records"] if r not in here]
            entry["answer"] = 204
            return self.reply(204, None)
        return self.violation("unexpected request")

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionResetError):  # a client closing is fine
            super().handle_error(request, client_address)


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
