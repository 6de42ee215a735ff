#!/usr/bin/env python3
"""A local stand-in for the Hetzner Cloud API v1 DNS endpoints (python3 stdlib).

Follows the public API reference: GET /v1/zones?name= ({"zones": [...]}),
POST /v1/zones/{id}/rrsets/{name}/{type}/actions/add_records
({"ttl"?, "records": [{"value", "comment"?}]}, creates the RRSet when
missing) and .../actions/remove_records ({"records": [{"value"}]}; 404
not_found when the RRSet does not exist; the RRSet disappears when empty),
both answering 201 {"action": {"id", "status": "running", ...}};
GET /v1/actions/{id} (the action becomes "success" on its first poll).
TXT values must be quoted. Auth: "Authorization: Bearer <token>", else 401
{"error": {"code": "unauthorized"}}. Requests not matching the documented
form are answered 400 {"error": {"code": "invalid_input"}} and recorded as
violations.

Control (tests only, no auth): POST /__control/ratelimit?count=N (next N API
requests answer 429 rate_limit_exceeded with Retry-After: 1);
GET /__control/state -> {"rrsets", "violations", "log"}.

Initial data: zone example.com (id 4711) with RRSet _acme-challenge/TXT
holding the foreign value "keep-me" (TTL 3600).

Usage: mock_hetzner.py PORTFILE TOKEN
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit, unquote

PORTFILE, TOKEN = sys.argv[1:3]
ZONES = {"example.com": 4711, "other.org": 4712}
LOCK = threading.Lock()
STATE = {"rrsets": {"4711|_acme-challenge|TXT": {"ttl": 3600, "values": ['"keep-me"']}},
         "violations": [], "log": [], "ratelimit": 0, "actions": {}, "next": 900}


def err(code, msg):
    return {"error": {"code": code, "message": msg, "details": {}}}


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
        self.reply(400, err("invalid_input", "mock: " + what))

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
                return self.reply(200, {k: STATE[k] for k in ("rrsets", "violations", "log")})
            entry = {"method": self.command, "path": u.path, "query": u.query,
                     "body": body.decode(errors="replace"),
                     "content_type": self.headers.get("Content-Type")}
            STATE["log"].append(entry)
            if STATE["ratelimit"] > 0:
                STATE["ratelimit"] -= 1
                entry["answer"] = 429
                return self.reply(429, err("rate_limit_exceeded", "rate limit exceeded"),
                                  {"Retry-After": "1", "RateLimit-Limit": "3600",
                                   "RateLimit-Remaining": "0"})
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                entry["answer"] = 401
                return self.reply(401, err("unauthorized", "unable to authenticate"))
            entry["answer"] = 200
            return self.route(u, q, body)

    def new_action(self, cmd, zid):
        STATE["next"] += 1
        a = {"id": STATE["next"], "command": cmd, "status": "running", "progress": 0,
             "started": "2026-01-01T00:00:00+00:00", "finished": None,
             "resources": [{"id": zid, "type": "zone"}], "error": None}
        STATE["actions"][a["id"]] = a
        return a

    def route(self, u, q, body):
        if u.path == "/v1/zones" and self.command == "GET":
            if set(q) - {"name", "page", "per_page"} or "name" not in q:
                return self.violation("zones query must have name=")
            n = q["name"][0]
            res = [{"id": ZONES[n], "name": n, "mode": "primary", "ttl": 3600}] if n in ZONES else []
            return self.reply(200, {"zones": res, "meta": {"pagination": {"page": 1, "per_page": 25,
                                    "total_entries": len(res)}}})
        m = re.fullmatch(r"/v1/actions/(\d+)", u.path)
        if m and self.command == "GET":
            a = STATE["actions"].get(int(m.group(1)))
            if a is None:
                return self.reply(404, err("not_found", "action not found"))
            a["status"], a["progress"] = "success", 100
            return self.reply(200, {"action": a})
        m = re.fullmatch(r"/v1/zones/(\d+)/rrsets/([^/]+)/([A-Z]+)/actions/(add_records|remove_records)",
                         u.path)
        if not m or self.command != "POST":
            return self.violation("unexpected request")
        zid, name, typ, act = int(m.group(1)), unquote(m.group(2)), m.group(3), m.group(4)
        if zid not in ZONES.values():
            return self.reply(404, err("not_found", "zone not found"))
        if self.headers.get("Content-Type") != "application/json":
            return self.violation("Content-Type must be application/json")
        try:
            b = json.loads(body)
        except ValueError:
            return self.violation("body is not JSON")
        allowed = {"ttl", "records"} if act == "add_records" else {"records"}
        if (not isinstance(b, dict) or "records" not in b or set(b) - allowed or
                not isinstance(b["records"], list) or not b["records"] or
                any(not isinstance(r, dict) or set(r) - {"value", "comment"} or
                    not isinstance(r.get("value"), str) for r in b["records"]) or
                ("ttl" in b and not isinstance(b["ttl"], int))):
            return self.violation("body must be {ttl?:int, records:[{value}]}: %r" % (b,))
        if name.endswith(".") or name.endswith("example.com"):
            return self.violation("RRSet name must be relative to the zone")
        vals = [r["value"] for r in b["records"]]
        if typ == "TXT" and any(not (len(v) >= 2 and v[0] == '"' and v[-1] == '"') for v in vals):
            return self.violation("TXT values must be quoted")
        key = "%d|%s|%s" % (zid, name, typ)
        if act == "add_records":
            rr = STATE["rrsets"].setdefault(key, {"ttl": b.get("ttl", 3600), "values": []})
            for v in vals:
                if v not in rr["values"]:
                    rr["values"].append(v)
        else:
            rr = STATE["rrsets"].get(key)
            if rr is None:
                return self.reply(404, err("not_found", "rrset not found"))
            rr["values"] = [v for v in rr["values"] if v not in vals]
            if not rr["values"]:
                del STATE["rrsets"][key]
        return self.reply(201, {"action": self.new_action(act.replace("_", "_rrset_"), zid)})

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
