#!/usr/bin/env python3
"""A local stand-in for the Cloudflare API v4 DNS endpoints (python3 stdlib).

Follows the public API documentation: GET /client/v4/zones?name=,
GET/POST /client/v4/zones/{id}/dns_records, DELETE .../dns_records/{rid},
envelope {"success","errors","messages","result"}. Auth: "Authorization:
Bearer <token>" or X-Auth-Email + X-Auth-Key; anything else gets 403 with
error 10000 as the real API does. It asserts on what it receives: a request
that does not match the documented form (method, path, query, headers, body
keys and types) is answered 400 and recorded as a violation.

Control (for the test only, no auth): POST /__control/ratelimit?count=N makes
the next N API requests answer 429 with Retry-After: 1;
GET /__control/state returns {"records": [...], "violations": [...],
"log": [...]}.

Usage: mock_cloudflare.py PORTFILE TOKEN EMAIL KEY
"""
import json
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORTFILE, TOKEN, EMAIL, KEY = sys.argv[1:5]
ZONES = {"example.com": "023e105f4ecef8ad9ca31a8372d0c353",
         "other.org": "9a7806061c88ada191ed06f989cc3dac"}
LOCK = threading.Lock()
STATE = {"records": [], "violations": [], "log": [], "ratelimit": 0}


def envelope(result, success=True, errors=None):
    return {"success": success, "errors": errors or [], "messages": [], "result": result}


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
        self.reply(400, envelope(None, False, [{"code": 1004, "message": "mock: " + what}]))

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
                     "content_type": self.headers.get("Content-Type"),
                     "auth": "bearer" if self.headers.get("Authorization") else
                             ("email_key" if self.headers.get("X-Auth-Key") else "none")}
            STATE["log"].append(entry)
            if STATE["ratelimit"] > 0:
                STATE["ratelimit"] -= 1
                entry["answer"] = 429
                return self.reply(429, envelope(None, False, [{"code": 971, "message":
                                  "Please wait and consider throttling your request speed"}]),
                                  {"Retry-After": "1"})
            auth = self.headers.get("Authorization")
            if auth is not None:
                ok = auth == "Bearer " + TOKEN
            else:
                ok = (self.headers.get("X-Auth-Email") == EMAIL and
                      self.headers.get("X-Auth-Key") == KEY)
            if not ok:
                entry["answer"] = 403
                return self.reply(403, envelope(None, False, [{"code": 10000,
                                  "message": "Authentication error"}]))
            entry["answer"] = 200
            return self.route(u, q, body)

    def route(self, u, q, body):
        m = re.fullmatch(r"/client/v4/zones", u.path)
        if m and self.command == "GET":
            if set(q) - {"name"} or "name" not in q:
                return self.violation("zones query must be exactly name=")
            name = q["name"][0]
            res = [{"id": ZONES[name], "name": name, "status": "active"}] if name in ZONES else []
            return self.reply(200, dict(envelope(res), result_info={
                "page": 1, "per_page": 20, "count": len(res), "total_count": len(res)}))
        m = re.fullmatch(r"/client/v4/zones/([0-9a-f]{32})/dns_records(?:/([0-9a-f]{32}))?", u.path)
        if not m or m.group(1) not in ZONES.values():
            return self.reply(404, envelope(None, False, [{"code": 7003,
                              "message": "Could not route to %s" % u.path}]))
        zid, rid = m.group(1), m.group(2)
        if self.command == "POST" and rid is None:
            if self.headers.get("Content-Type") != "application/json":
                return self.violation("Content-Type must be application/json")
            try:
                b = json.loads(body)
            except ValueError:
                return self.violation("body is not JSON")
            if (not isinstance(b, dict) or set(b) != {"type", "name", "content", "ttl"} or
                    b["type"] != "TXT" or not isinstance(b["ttl"], int) or
                    not isinstance(b["name"], str) or not isinstance(b["content"], str)):
                return self.violation("body must be {type:TXT,name,content,ttl:int}: %r" % (b,))
            for r in STATE["records"]:
                if r["zone_id"] == zid and r["name"] == b["name"] and r["content"] == b["content"]:
                    return self.reply(400, envelope(None, False, [{"code": 81058,
                                      "message": "An identical record already exists."}]))
            rec = {"id": uuid.uuid4().hex, "zone_id": zid, "type": "TXT", "name": b["name"],
                   "content": b["content"], "ttl": b["ttl"]}
            STATE["records"].append(rec)
            return self.reply(200, envelope(rec))
        if self.command == "GET" and rid is None:
            if q.get("type") != ["TXT"] or "name" not in q:
                return self.violation("dns_records list must filter type=TXT and name=")
            res = [r for r in STATE["records"] if r["zone_id"] == zid and r["name"] == q["name"][0]
                   and ("content" not in q or r["content"] == q["content"][0])]
            return self.reply(200, envelope(res))
        if self.command == "DELETE" and rid is not None:
            if body:
                return self.violation("DELETE has no body")
            before = len(STATE["records"])
            STATE["records"] = [r for r in STATE["records"] if r["id"] != rid]
            if len(STATE["records"]) == before:
                return self.reply(404, envelope(None, False, [{"code": 81044,
                                  "message": "Record does not exist."}]))
            return self.reply(200, envelope({"id": rid}))
        return self.violation("unexpected request")

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
