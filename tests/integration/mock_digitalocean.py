#!/usr/bin/env python3
"""A local stand-in for the DigitalOcean API v2 domain endpoints (python3 stdlib).

Follows the public API reference: GET /v2/domains/{name} (200 {"domain"} or
404 {"id":"not_found"}), GET /v2/domains/{name}/records?type=&name=<fqdn>
(&per_page, &page), POST /v2/domains/{name}/records (201 {"domain_record"}),
DELETE /v2/domains/{name}/records/{id} (204, no body). Auth:
"Authorization: Bearer <token>", else 401 {"id":"Unauthorized"}. Requests not
matching the documented form (method, path, query, Content-Type, body keys
and types, the record name relative to the domain) are answered 400
{"id":"bad_request"} and recorded as violations.

Control (tests only, no auth): POST /__control/ratelimit?count=N (next N API
requests answer 429 with Retry-After: 1 and RateLimit-* headers);
GET /__control/state -> {"records", "violations", "log"}.

Initial data: domain example.com with a foreign TXT record
_acme-challenge = "keep-me" (id 1).

Usage: mock_digitalocean.py PORTFILE TOKEN
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORTFILE, TOKEN = sys.argv[1:3]
DOMAINS = ["example.com", "other.org"]
LOCK = threading.Lock()
STATE = {"records": [{"id": 1, "domain": "example.com", "type": "TXT", "name": "_acme-challenge",
                      "data": "keep-me", "ttl": 1800}],
         "violations": [], "log": [], "ratelimit": 0, "next": 100}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=None):
        data = json.dumps(obj).encode() if obj is not None else b""
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
        self.reply(400, {"id": "bad_request", "message": "mock: " + what})

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
                return self.reply(429, {"id": "too_many_requests", "message": "API Rate limit exceeded."},
                                  {"Retry-After": "1", "RateLimit-Limit": "5000",
                                   "RateLimit-Remaining": "0", "RateLimit-Reset": "0"})
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                entry["answer"] = 401
                return self.reply(401, {"id": "Unauthorized", "message": "Unable to authenticate you"})
            entry["answer"] = 200
            return self.route(u, q, body)

    def route(self, u, q, body):
        m = re.fullmatch(r"/v2/domains/([a-z0-9.-]+)", u.path)
        if m and self.command == "GET":
            if q:
                return self.violation("no query on GET domain")
            if m.group(1) not in DOMAINS:
                return self.reply(404, {"id": "not_found", "message":
                                        "The resource you were accessing could not be found."})
            return self.reply(200, {"domain": {"name": m.group(1), "ttl": 1800, "zone_file": ""}})
        m = re.fullmatch(r"/v2/domains/([a-z0-9.-]+)/records(?:/(\d+))?", u.path)
        if not m or m.group(1) not in DOMAINS:
            return self.reply(404, {"id": "not_found", "message": "not found"})
        dom, rid = m.group(1), m.group(2)
        if self.command == "POST" and rid is None:
            if self.headers.get("Content-Type") != "application/json":
                return self.violation("Content-Type must be application/json")
            try:
                b = json.loads(body)
            except ValueError:
                return self.violation("body is not JSON")
            if (not isinstance(b, dict) or set(b) != {"type", "name", "data", "ttl"} or
                    b["type"] != "TXT" or not isinstance(b["ttl"], int) or
                    not isinstance(b["name"], str) or not isinstance(b["data"], str)):
                return self.violation("body must be {type:TXT,name,data,ttl:int}: %r" % (b,))
            if b["name"].endswith(dom) or b["name"].endswith("."):
                return self.violation("name must be relative to the domain: %r" % b["name"])
            STATE["next"] += 1
            rec = {"id": STATE["next"], "domain": dom, "type": "TXT", "name": b["name"],
                   "data": b["data"], "ttl": b["ttl"], "priority": None, "port": None,
                   "weight": None, "flags": None, "tag": None}
            STATE["records"].append(rec)
            return self.reply(201, {"domain_record": {k: v for k, v in rec.items() if k != "domain"}})
        if self.command == "GET" and rid is None:
            if set(q) - {"type", "name", "per_page", "page"}:
                return self.violation("unknown query parameter")
            if "name" in q and not q["name"][0].endswith("." + dom):
                return self.violation("name filter must be the fully qualified name")
            res = [dict((k, v) for k, v in r.items() if k != "domain") for r in STATE["records"]
                   if r["domain"] == dom and ("type" not in q or r["type"] == q["type"][0]) and
                   ("name" not in q or r["name"] + "." + dom == q["name"][0])]
            return self.reply(200, {"domain_records": res, "links": {}, "meta": {"total": len(res)}})
        if self.command == "DELETE" and rid is not None:
            if body:
                return self.violation("DELETE has no body")
            before = len(STATE["records"])
            STATE["records"] = [r for r in STATE["records"] if not (r["id"] == int(rid) and r["domain"] == dom)]
            if len(STATE["records"]) == before:
                return self.reply(404, {"id": "not_found", "message": "not found"})
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
