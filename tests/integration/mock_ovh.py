#!/usr/bin/env python3
"""A local stand-in for the OVHcloud API 1.0 DNS zone endpoints (python3 stdlib).

Follows the public API documentation. Base path /1.0.
- GET /1.0/auth/time: the server's Unix time (no auth). This mock's clock runs
  SKEW seconds ahead of the machine's, so a client that signs with its own
  clock instead of the server's is refused.
- Signed requests: X-Ovh-Application (403 INVALID_KEY when unknown),
  X-Ovh-Consumer (403 INVALID_CREDENTIAL), X-Ovh-Timestamp (400
  QUERY_TIME_OUT when more than 30 s off the server's clock), X-Ovh-Signature
  = "$1$" + sha1_hex(AS+"+"+CK+"+"+METHOD+"+"+URL+"+"+BODY+"+"+TS), URL being
  the full URL requested (400 INVALID_SIGNATURE when it does not match). Or
  "Authorization: Bearer <token>" (401 INVALID_CREDENTIAL when wrong).
- GET /1.0/domain/zone/{zone} (404 when not in the account);
  POST /1.0/domain/zone/{zone}/record {fieldType, subDomain, target, ttl}
  answers the record with its id; GET .../record?fieldType=&subDomain= answers
  the list of ids; GET .../record/{id} the record (TXT targets shown in
  quotes, as the API does); DELETE .../record/{id}; POST .../refresh publishes
  the zone (copies the records to "published").
A request that does not match the documented form is answered 400 and
recorded as a violation.

Control (test only, no auth): POST /__control/ratelimit?count=N (next N API
requests, after the first M with &after=M, answer 429 with Retry-After: 1);
POST
/__control/add?zone=Z&sub=S&target=T adds a record as another client would;
GET /__control/state returns {"records", "published", "violations", "log"}.

Usage: mock_ovh.py PORTFILE AK AS CK TOKEN
"""
import hashlib
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

PORTFILE, AK, AS, CK, TOKEN = sys.argv[1:6]
SKEW = 5000
ZONES = ["example.com", "sub.example.com"]
RECORD_KEYS = {"fieldType", "subDomain", "target", "ttl"}
LOCK = threading.Lock()
STATE = {"records": [], "published": [], "violations": [], "log": [], "ratelimit": 0, "rl_after": 0,
         "next_id": 1000}


def now():
    return int(time.time()) + SKEW


def shown(r):
    t = r["target"]
    if r["fieldType"] == "TXT" and not t.startswith('"'):
        t = '"%s"' % t
    return {"id": r["id"], "zone": r["zone"], "fieldType": r["fieldType"],
            "subDomain": r["subDomain"], "target": t, "ttl": r["ttl"]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, entry, status, code, message):
        entry["answer"] = status
        return self.reply(status, {"errorCode": code, "httpCode": "%d" % status,
                                   "message": message})

    def violation(self, what):
        STATE["violations"].append("%s %s: %s" % (self.command, self.path, what))
        self.reply(400, {"message": "mock: " + what})

    def auth(self, body, entry):
        """None when the request is authenticated, else the answer sent."""
        h = self.headers
        if h.get("Authorization") is not None:
            entry["auth"] = "bearer"
            if h.get("X-Ovh-Application") or h.get("X-Ovh-Signature"):
                return self.violation("both OAuth2 and signature headers")
            if h.get("Authorization") != "Bearer " + TOKEN:
                return self.error(entry, 401, "INVALID_CREDENTIAL", "Invalid credentials")
            return None
        entry["auth"] = "signed"
        ts = h.get("X-Ovh-Timestamp") or ""
        entry["ts"] = ts
        if h.get("X-Ovh-Application") != AK:
            return self.error(entry, 403, "INVALID_KEY", "Invalid application key")
        if h.get("X-Ovh-Consumer") != CK:
            return self.error(entry, 403, "INVALID_CREDENTIAL", "This credential does not exist")
        if not re.fullmatch(r"[0-9]+", ts) or abs(int(ts) - now()) > 30:
            return self.error(entry, 400, "QUERY_TIME_OUT", "Query out of time")
        url = "http://%s%s" % (h.get("Host"), self.path)
        plain = "+".join([AS, CK, self.command, url, body.decode(), ts])
        want = "$1$" + hashlib.sha1(plain.encode()).hexdigest()
        if h.get("X-Ovh-Signature") != want:
            return self.error(entry, 400, "INVALID_SIGNATURE", "Invalid signature")
        return None

    def handle_any(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with LOCK:
            if u.path == "/__control/ratelimit":
                STATE["ratelimit"] = int(q.get("count", ["1"])[0])
                STATE["rl_after"] = int(q.get("after", ["0"])[0])
                return self.reply(200, {"ok": True})
            if u.path == "/__control/add":
                STATE["next_id"] += 1
                STATE["records"].append({"id": STATE["next_id"], "zone": q["zone"][0],
                                         "fieldType": "TXT", "subDomain": q["sub"][0],
                                         "target": q["target"][0], "ttl": 3600})
                STATE["published"] = [dict(r) for r in STATE["records"]]
                return self.reply(200, {"ok": True})
            if u.path == "/__control/state":
                return self.reply(200, {k: STATE[k] for k in
                                        ("records", "published", "violations", "log")})
            entry = {"method": self.command, "path": u.path, "query": u.query,
                     "body": body.decode(errors="replace"),
                     "content_type": self.headers.get("Content-Type")}
            STATE["log"].append(entry)
            if STATE["ratelimit"] > 0 and STATE["rl_after"] > 0:
                STATE["rl_after"] -= 1
            elif STATE["ratelimit"] > 0:
                STATE["ratelimit"] -= 1
                entry["answer"] = 429
                entry["ts"] = self.headers.get("X-Ovh-Timestamp")
                return self.reply(429, {"message": "Too many requests"}, {"Retry-After": "1"})
            if u.path == "/1.0/auth/time":
                if self.command != "GET" or body or q:
                    return self.violation("auth/time is a plain GET")
                entry["answer"] = 200
                return self.reply(200, now())
            if self.auth(body, entry) is None:
                entry["answer"] = 200
                self.route(u, q, body, entry)

    def route(self, u, q, body, entry):
        m = re.fullmatch(r"/1\.0/domain/zone/([^/]+)(/record(?:/([0-9]+))?|/refresh)?", u.path)
        if not m:
            return self.violation("unexpected path")
        zone, tail, rid = unquote(m.group(1)), m.group(2) or "", m.group(3)
        if zone not in ZONES:
            return self.error(entry, 404, "", "This service does not exist")
        if tail == "":
            if self.command != "GET" or body or q:
                return self.violation("zone look-up is a plain GET")
            return self.reply(200, {"name": zone, "hasDnsAnycast": False, "dnssecSupported": True,
                                    "nameServers": ["dns1.ovh.net", "ns1.ovh.net"]})
        if tail == "/refresh":
            if self.command != "POST" or body or q:
                return self.violation("refresh is a POST without body")
            STATE["published"] = [dict(r) for r in STATE["records"]]
            return self.reply(200, None)
        if rid is None and self.command == "POST":
            if q:
                return self.violation("record creation takes no query")
            if (self.headers.get("Content-Type") or "").split(";")[0] != "application/json":
                return self.violation("Content-Type must be application/json")
            try:
                b = json.loads(body)
            except ValueError:
                return self.violation("body is not JSON")
            if (not isinstance(b, dict) or set(b) - RECORD_KEYS or
                    not {"fieldType", "target"} <= set(b) or b["fieldType"] != "TXT" or
                    not isinstance(b.get("ttl", 0), int) or
                    not isinstance(b.get("subDomain", ""), str) or
                    not isinstance(b["target"], str)):
                return self.violation("body must be {fieldType:TXT,subDomain,target,ttl}: %r" % (b,))
            STATE["next_id"] += 1
            rec = {"id": STATE["next_id"], "zone": zone, "fieldType": "TXT",
                   "subDomain": b.get("subDomain", ""), "target": b["target"],
                   "ttl": b.get("ttl", 0)}
            STATE["records"].append(rec)
            return self.reply(200, shown(rec))
        if rid is None and self.command == "GET":
            if body or set(q) - {"fieldType", "subDomain"}:
                return self.violation("record list takes fieldType, subDomain")
            ft, sd = q.get("fieldType", [None])[0], q.get("subDomain", [None])[0]
            return self.reply(200, [r["id"] for r in STATE["records"] if r["zone"] == zone and
                                    (ft is None or r["fieldType"] == ft) and
                                    (sd is None or r["subDomain"] == sd)])
        if rid is not None and self.command in ("GET", "DELETE"):
            if body or q:
                return self.violation("record GET/DELETE take no body or query")
            rec = [r for r in STATE["records"] if r["zone"] == zone and r["id"] == int(rid)]
            if not rec:
                return self.error(entry, 404, "", "The requested object (id = %s) does not exist" % rid)
            if self.command == "GET":
                return self.reply(200, shown(rec[0]))
            STATE["records"].remove(rec[0])
            return self.reply(200, None)
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
