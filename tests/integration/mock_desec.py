#!/usr/bin/env python3
"""A local stand-in for the deSEC API v1 DNS endpoints (python3 stdlib).

Follows the public API documentation: GET /api/v1/domains/?owns_qname=,
GET/PATCH /api/v1/domains/{name}/rrsets/{subname}/{type}/ (PATCH with
records [] deletes the set, 204), POST /api/v1/domains/{name}/rrsets/
{subname,type,ttl,records} (201). TXT records are zone-file strings ("\"v\"").
Auth: "Authorization: Token <token>", else 401 {"detail":"Invalid token."}.
A TTL below the domain's minimum_ttl is refused (400). A request that does not
match the documented form is answered 400 and recorded as a violation.

Control (test only, no auth): POST /__control/ratelimit?count=N (next N API
requests answer 429 with Retry-After: 1); POST /__control/seed?sub=&value=
(adds a foreign value to example.com); GET /__control/state returns
{"rrsets", "violations", "log"}.

Usage: mock_desec.py PORTFILE TOKEN
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORTFILE, TOKEN = sys.argv[1:3]
DOMAINS = {"example.com": 3600, "sub.example.com": 60}
LOCK = threading.Lock()
# rrsets: key "domain|subname|type" -> {"ttl", "records"}
STATE = {"rrsets": {}, "violations": [], "log": [], "ratelimit": 0}


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
        self.reply(400, {"detail": "mock: " + what})

    def handle_any(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with LOCK:
            if u.path == "/__control/ratelimit":
                STATE["ratelimit"] = int(q.get("count", ["1"])[0])
                return self.reply(200, {"ok": True})
            if u.path == "/__control/seed":
                key = "example.com|%s|TXT" % q["sub"][0]
                rr = STATE["rrsets"].setdefault(key, {"ttl": 3600, "records": []})
                rr["records"].append('"%s"' % q["value"][0])
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
                return self.reply(429, {"detail": "Request was throttled. Expected available in 1 second."},
                                  {"Retry-After": "1"})
            if self.headers.get("Authorization") != "Token " + TOKEN:
                entry["answer"] = 401
                return self.reply(401, {"detail": "Invalid token."})
            entry["answer"] = 200
            return self.route(u, q, body, entry)

    def json_body(self, body):
        if self.headers.get("Content-Type") != "application/json":
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def route(self, u, q, body, entry):
        if u.path == "/api/v1/domains/":
            if self.command != "GET" or set(q) != {"owns_qname"}:
                return self.violation("domain look-up is GET ?owns_qname=")
            qn = q["owns_qname"][0]
            best = None
            for d in DOMAINS:
                if (qn == d or qn.endswith("." + d)) and (best is None or len(d) > len(best)):
                    best = d
            res = [{"name": best, "minimum_ttl": DOMAINS[best]}] if best else []
            return self.reply(200, res)
        m = re.fullmatch(r"/api/v1/domains/([a-z0-9.-]+)/rrsets/(?:([^/]+)/([A-Z]+)/)?", u.path)
        if not m or m.group(1) not in DOMAINS:
            return self.reply(404, {"detail": "Not found."})
        dom, sub, typ = m.groups()
        if sub is None:
            if self.command != "POST":
                return self.violation("rrsets collection: only POST is used")
            b = self.json_body(body)
            if (not isinstance(b, dict) or set(b) != {"subname", "type", "ttl", "records"} or
                    b["type"] != "TXT" or not isinstance(b["ttl"], int) or
                    not isinstance(b["records"], list) or
                    not all(isinstance(r, str) and r.startswith('"') and r.endswith('"')
                            for r in b["records"])):
                return self.violation("POST body must be {subname,type:TXT,ttl:int,records:[quoted]}: %r" % (b,))
            if b["ttl"] < DOMAINS[dom]:
                entry["answer"] = 400
                return self.reply(400, {"ttl": ["Ensure this value is greater than or equal to %d." % DOMAINS[dom]]})
            key = "%s|%s|TXT" % (dom, b["subname"])
            if key in STATE["rrsets"]:
                entry["answer"] = 400
                return self.reply(400, {"non_field_errors": ["Another RRset with the same subdomain and type exists for this domain."]})
            STATE["rrsets"][key] = {"ttl": b["ttl"], "records": b["records"]}
            entry["answer"] = 201
            return self.reply(201, dict(b, domain=dom, name=b["subname"] + "." + dom + "."))
        key = "%s|%s|%s" % (dom, sub, typ)
        if self.command == "GET":
            if body:
                return self.violation("GET has no body")
            rr = STATE["rrsets"].get(key)
            if rr is None:
                entry["answer"] = 404
                return self.reply(404, {"detail": "Not found."})
            return self.reply(200, {"domain": dom, "subname": sub, "name": sub + "." + dom + ".",
                                    "type": typ, "ttl": rr["ttl"], "records": rr["records"]})
        if self.command == "PATCH":
            b = self.json_body(body)
            if (not isinstance(b, dict) or set(b) != {"records"} or
                    not isinstance(b["records"], list)):
                return self.violation("PATCH body must be {records:[...]}: %r" % (b,))
            if key not in STATE["rrsets"]:
                entry["answer"] = 404
                return self.reply(404, {"detail": "Not found."})
            if not b["records"]:
                del STATE["rrsets"][key]
                entry["answer"] = 204
                return self.reply(204, None)
            STATE["rrsets"][key]["records"] = b["records"]
            return self.reply(200, {"subname": sub, "type": typ, "records": b["records"]})
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
