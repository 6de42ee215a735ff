#!/usr/bin/env python3
"""A local stand-in for the Linode API v4 DNS endpoints (python3 stdlib).

Follows the public API documentation: GET /v4/domains (X-Filter JSON header,
paginated envelope {"data","page","pages","results"}), GET/POST
/v4/domains/{id}/records ({type,name,target,ttl_sec}), DELETE
/v4/domains/{id}/records/{rid} ({}). Auth: "Authorization: Bearer <token>",
else 401 {"errors":[{"reason":"Invalid Token"}]}. A request that does not
match the documented form is answered 400 and recorded as a violation.

Control (test only, no auth): POST /__control/ratelimit?count=N (next N API
requests answer 429 with Retry-After: 1); GET /__control/state returns
{"records", "violations", "log"}.

Usage: mock_linode.py PORTFILE TOKEN
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORTFILE, TOKEN = sys.argv[1:3]
DOMAINS = {"example.com": 1234, "sub.example.com": 5678}
LOCK = threading.Lock()
STATE = {"records": [], "violations": [], "log": [], "ratelimit": 0, "next_id": 900000}


def page(items):
    return {"data": items, "page": 1, "pages": 1, "results": len(items)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def violation(self, what):
        STATE["violations"].append("%s %s: %s" % (self.command, self.path, what))
        self.reply(400, {"errors": [{"reason": "mock: " + what}]})

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
                     "body": body.decode(errors="replace"), "filter": self.headers.get("X-Filter"),
                     "content_type": self.headers.get("Content-Type")}
            STATE["log"].append(entry)
            if STATE["ratelimit"] > 0:
                STATE["ratelimit"] -= 1
                entry["answer"] = 429
                return self.reply(429, {"errors": [{"reason": "Too Many Requests"}]},
                                  {"Retry-After": "1"})
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                entry["answer"] = 401
                return self.reply(401, {"errors": [{"reason": "Invalid Token"}]})
            entry["answer"] = 200
            return self.route(u, q, body)

    def route(self, u, q, body):
        if u.path == "/v4/domains" and self.command == "GET":
            try:
                f = json.loads(self.headers.get("X-Filter") or "{}")
            except ValueError:
                return self.violation("X-Filter is not JSON")
            if set(f) - {"domain"} or body:
                return self.violation("domain look-up filters on domain only")
            res = [{"id": i, "domain": d, "type": "master", "status": "active"}
                   for d, i in DOMAINS.items() if "domain" not in f or f["domain"] == d]
            return self.reply(200, page(res))
        m = re.fullmatch(r"/v4/domains/([0-9]+)/records(?:/([0-9]+))?", u.path)
        if not m or int(m.group(1)) not in DOMAINS.values():
            return self.reply(404, {"errors": [{"reason": "Not found"}]})
        did, rid = int(m.group(1)), m.group(2)
        if self.command == "POST" and rid is None:
            if self.headers.get("Content-Type") != "application/json":
                return self.violation("Content-Type must be application/json")
            try:
                b = json.loads(body)
            except ValueError:
                return self.violation("body is not JSON")
            if (not isinstance(b, dict) or set(b) != {"type", "name", "target", "ttl_sec"} or
                    b["type"] != "TXT" or not isinstance(b["ttl_sec"], int) or
                    not isinstance(b["name"], str) or not isinstance(b["target"], str)):
                return self.violation("body must be {type:TXT,name,target,ttl_sec:int}: %r" % (b,))
            STATE["next_id"] += 1
            rec = dict(b, id=STATE["next_id"], domain_id=did, priority=0, weight=0, port=0)
            STATE["records"].append(rec)
            return self.reply(200, rec)
        if self.command == "GET" and rid is None:
            if set(q) - {"page", "page_size"}:
                return self.violation("records list takes page, page_size")
            return self.reply(200, page([r for r in STATE["records"] if r["domain_id"] == did]))
        if self.command == "DELETE" and rid is not None:
            if body:
                return self.violation("DELETE has no body")
            before = len(STATE["records"])
            STATE["records"] = [r for r in STATE["records"] if r["id"] != int(rid)]
            if len(STATE["records"]) == before:
                return self.reply(404, {"errors": [{"reason": "Not found"}]})
            return self.reply(200, {})
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
