#!/usr/bin/env python3
"""A local stand-in for the Porkbun API v3 DNS endpoints (python3 stdlib).

Follows the public API documentation (base /api/json/v3, every call a POST
with a JSON body carrying "apikey" and "secretapikey"):
POST /domain/listAll {start}, POST /dns/create/{domain}
{name,type,content,ttl}, POST /dns/retrieveByNameType/{domain}/{type}/{sub},
POST /dns/delete/{domain}/{id}; answers {"status":"SUCCESS",...} or
{"status":"ERROR","message":...}. Wrong keys get 403 "Invalid API key.".
A request that does not match the documented form is answered 400 and
recorded as a violation.

Control (test only, no auth): POST /__control/ratelimit?count=N makes the
next N API requests answer 429 with Retry-After: 1; GET /__control/state
returns {"records", "violations", "log"}.

Usage: mock_porkbun.py PORTFILE APIKEY SECRET
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORTFILE, APIKEY, SECRET = sys.argv[1:4]
DOMAINS = ["example.com", "sub.example.com", "other.org"]
LOCK = threading.Lock()
STATE = {"records": [], "violations": [], "log": [], "ratelimit": 0, "next_id": 106926650}


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
        self.reply(400, {"status": "ERROR", "message": "mock: " + what})

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
            try:
                b = json.loads(body) if body else None
            except ValueError:
                b = None
            shown = {k: v for k, v in b.items() if k not in ("apikey", "secretapikey")} \
                if isinstance(b, dict) else None
            entry = {"method": self.command, "path": u.path, "query": u.query, "body": shown,
                     "content_type": self.headers.get("Content-Type")}
            STATE["log"].append(entry)
            if STATE["ratelimit"] > 0:
                STATE["ratelimit"] -= 1
                entry["answer"] = 429
                return self.reply(429, {"status": "ERROR", "message": "Rate limit exceeded"},
                                  {"Retry-After": "1"})
            entry["answer"] = 400
            if self.command != "POST":
                return self.violation("every Porkbun API call is a POST")
            if self.headers.get("Content-Type") != "application/json":
                return self.violation("Content-Type must be application/json")
            if not isinstance(b, dict):
                return self.violation("body must be a JSON object")
            if b.get("apikey") != APIKEY or b.get("secretapikey") != SECRET:
                entry["answer"] = 403
                return self.reply(403, {"status": "ERROR", "message": "Invalid API key. (002)"})
            entry["answer"] = 200
            return self.route(u.path, shown)

    def route(self, path, b):
        if path == "/api/json/v3/domain/listAll":
            if set(b) - {"start", "includeLabels"} or not str(b.get("start", "0")).isdigit():
                return self.violation("listAll takes start (numeric string), includeLabels")
            start = int(b.get("start", "0"))
            return self.reply(200, {"status": "SUCCESS", "domains": [
                {"domain": d, "status": "ACTIVE", "tld": d.rsplit(".", 1)[1]}
                for d in DOMAINS[start:start + 1000]]})
        m = re.fullmatch(r"/api/json/v3/dns/create/([a-z0-9.-]+)", path)
        if m:
            dom = m.group(1)
            if dom not in DOMAINS:
                return self.reply(400, {"status": "ERROR", "message": "Invalid domain."})
            if (set(b) != {"name", "type", "content", "ttl"} or b["type"] != "TXT" or
                    not isinstance(b["name"], str) or not isinstance(b["content"], str) or
                    not isinstance(b["ttl"], str) or not b["ttl"].isdigit()):
                return self.violation("create body must be {name,type:TXT,content,ttl:string}: %r" % (b,))
            STATE["next_id"] += 1
            full = (b["name"] + "." + dom) if b["name"] else dom
            STATE["records"].append({"id": str(STATE["next_id"]), "name": full, "type": "TXT",
                                     "content": b["content"], "ttl": b["ttl"], "prio": "0",
                                     "notes": "", "domain": dom})
            return self.reply(200, {"status": "SUCCESS", "id": STATE["next_id"]})
        m = re.fullmatch(r"/api/json/v3/dns/retrieveByNameType/([a-z0-9.-]+)/([A-Z]+)(?:/([^/]*))?", path)
        if m:
            dom, typ, sub = m.group(1), m.group(2), m.group(3) or ""
            if b:
                return self.violation("retrieveByNameType takes only the credentials")
            full = (sub + "." + dom) if sub else dom
            recs = [{k: v for k, v in r.items() if k != "domain"} for r in STATE["records"]
                    if r["domain"] == dom and r["name"] == full and r["type"] == typ]
            return self.reply(200, {"status": "SUCCESS", "records": recs})
        m = re.fullmatch(r"/api/json/v3/dns/delete/([a-z0-9.-]+)/([0-9]+)", path)
        if m:
            if b:
                return self.violation("delete takes only the credentials")
            before = len(STATE["records"])
            STATE["records"] = [r for r in STATE["records"]
                                if not (r["domain"] == m.group(1) and r["id"] == m.group(2))]
            if len(STATE["records"]) == before:
                return self.reply(400, {"status": "ERROR", "message": "Invalid record ID."})
            return self.reply(200, {"status": "SUCCESS"})
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
