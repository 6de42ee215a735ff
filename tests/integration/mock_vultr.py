#!/usr/bin/env python3
"""A local stand-in for the Vultr API v2 DNS endpoints (python3 stdlib).

Follows the public API documentation: GET /v2/domains/{domain} (404 when not
in the account), GET/POST /v2/domains/{domain}/records (list: {"records",
"meta":{"total","links":{"next","prev"}}}, per_page and cursor; create:
{name,type,data,ttl} -> 201 {"record":...}), DELETE
/v2/domains/{domain}/records/{id} (204). Auth: "Authorization: Bearer <key>",
else 401 {"error":"Invalid API token.","status":401}. A request that does not
match the documented form is answered 400 and recorded as a violation. The
record list is served in pages of 2 to exercise the cursor.

Control (test only, no auth): POST /__control/ratelimit?count=N (next N API
requests answer 429 with Retry-After: 1); GET /__control/state returns
{"records", "violations", "log"}.

Usage: mock_vultr.py PORTFILE APIKEY
"""
import json
import os
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORTFILE, APIKEY = sys.argv[1:3]
DOMAINS = ["example.com", "sub.example.com"]
PAGE = 2
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
        self.reply(400, {"error": "mock: " + what, "status": 400})

    def handle_any(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with LOCK:
            if u.path == "/__control/ratelimit":
                STATE["ratelimit"] = int(q.get("count", ["1"])[0])
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
                return self.reply(429, {"error": "Rate limit reached", "status": 429},
                                  {"Retry-After": "1"})
            if self.headers.get("Authorization") != "Bearer " + APIKEY:
                entry["answer"] = 401
                return self.reply(401, {"error": "Invalid API token.", "status": 401})
            entry["answer"] = 200
            return self.route(u, q, body, entry)

    def route(self, u, q, body, entry):
        m = re.fullmatch(r"/v2/domains/([a-z0-9._-]+)(?:/records(?:/([0-9a-f-]+))?)?", u.path)
        if not m:
            return self.violation("unexpected path")
        dom, rid = m.group(1), m.group(2)
        if dom not in DOMAINS:
            entry["answer"] = 404
            return self.reply(404, {"error": "Domain not found.", "status": 404})
        if not u.path.endswith("/records") and rid is None:
            if self.command != "GET" or body or q:
                return self.violation("domain look-up is a plain GET")
            return self.reply(200, {"domain": {"domain": dom, "date_created": "2024-01-01T00:00:00+00:00",
                                               "dns_sec": "disabled"}})
        if self.command == "POST" and rid is None:
            if self.headers.get("Content-Type") != "application/json":
                return self.violation("Content-Type must be application/json")
            try:
                b = json.loads(body)
            except ValueError:
                return self.violation("body is not JSON")
            if (not isinstance(b, dict) or set(b) != {"name", "type", "data", "ttl"} or
                    b["type"] != "TXT" or not isinstance(b["ttl"], int) or
                    not isinstance(b["name"], str) or not isinstance(b["data"], str)):
                return self.violation("body must be {name,type:TXT,data,ttl:int}: %r" % (b,))
            rec = dict(b, id=str(uuid.uuid4()), priority=-1, domain=dom)
            STATE["records"].append(rec)
            entry["answer"] = 201
            return self.reply(201, {"record": {k: v for k, v in rec.items() if k != "domain"}})
        if self.command == "GET" and rid is None:
            if set(q) - {"per_page", "cursor"}:
                return self.violation("records list takes per_page, cursor")
            mine = [{k: v for k, v in r.items() if k != "domain"} for r in STATE["records"]
                    if r["domain"] == dom]
            start = int(q.get("cursor", ["0"])[0])
            nxt = str(start + PAGE) if start + PAGE < len(mine) else ""
            return self.reply(200, {"records": mine[start:start + PAGE],
                                    "meta": {"total": len(mine), "links": {"next": nxt, "prev": ""}}})
        if self.command == "DELETE" and rid is not None:
            if body:
                return self.violation("DELETE has no body")
            before = len(STATE["records"])
            STATE["records"] = [r for r in STATE["records"] if r["id"] != rid]
            if len(STATE["records"]) == before:
                entry["answer"] = 404
                return self.reply(404, {"error": "Record not found.", "status": 404})
            entry["answer"] = 204
            return self.reply(204, None)
        return self.violation("unexpected request")

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
