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

Control and log: mock_base.py (a 429 also carries retryAfterSec), plus POST
/__control/add?domain=D&name=N&data=V&ttl=T (adds a record as another client
would); GET /__control/state returns {"records", "violations", "log"}.

Usage: mock_godaddy.py PORT|PORTFILE KEY SECRET
"""
import re
import sys
from urllib.parse import unquote

from mock_base import MockHandler, serve

KEY, SECRET = sys.argv[2:4]
DOMAINS = ["example.com", "sub.example.com"]
ITEM_KEYS = {"data", "port", "priority", "protocol", "service", "ttl", "weight"}


class Handler(MockHandler):
    STATE = {"records": [], "violations": [], "log": [], "ratelimit": 0}
    SHOWN = ("records", "violations", "log")
    RATE_LIMITED_BODY = {"code": "TOO_MANY_REQUESTS", "message": "Too many requests",
                         "retryAfterSec": 1}

    def violation_body(self, message):
        return {"code": "MOCK_VIOLATION", "message": message}

    def control(self, name, q):
        if name != "add":
            return super().control(name, q)
        self.STATE["records"].append({"domain": q["domain"][0], "name": q["name"][0],
                                      "type": "TXT", "data": q["data"][0],
                                      "ttl": int(q.get("ttl", ["3600"])[0])})
        return self.reply(200, {"ok": True})

    def check_auth(self, u, q, body, entry):
        if self.headers.get("Authorization") == "sso-key %s:%s" % (KEY, SECRET):
            return True
        self.reply(401, {"code": "UNABLE_TO_AUTHENTICATE",
                         "message": "Unauthorized : Could not authenticate API key/secret"})
        return False

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
            return self.reply(404, {"code": "NOT_FOUND", "message": "Domain not found"})
        if rtype is None:
            if self.command != "GET" or body:
                return self.violation("domain look-up is a plain GET")
            return self.reply(200, {"domain": dom, "domainId": 1000 + DOMAINS.index(dom),
                                    "status": "ACTIVE"})
        if rtype != "TXT" or not re.fullmatch(r"[A-Za-z0-9_.@-]+", name):
            return self.violation("record type must be TXT and name relative")
        here = [r for r in self.STATE["records"] if r["domain"] == dom and r["name"] == name]
        if self.command == "GET":
            if body:
                return self.violation("GET has no body")
            return self.reply(200, [{k: r[k] for k in ("data", "name", "ttl", "type")}
                                    for r in here])
        if self.command == "PUT":
            b = self.json_body(body)
            if b is None:
                return None
            if (not isinstance(b, list) or not b or
                    any(not isinstance(i, dict) or set(i) - ITEM_KEYS or
                        not isinstance(i.get("data"), str) for i in b)):
                return self.violation("body must be a non-empty array of {data, ttl, ...}: %r" % (b,))
            if any(not isinstance(i.get("ttl", 3600), int) or i.get("ttl", 3600) < 600 for i in b):
                return self.reply(422, {"code": "INVALID_BODY", "message": "ttl must be >= 600"})
            self.STATE["records"] = [r for r in self.STATE["records"] if r not in here]
            for i in b:
                self.STATE["records"].append({"domain": dom, "name": name, "type": "TXT",
                                         "data": i["data"], "ttl": i.get("ttl", 3600)})
            return self.reply(200, None)
        if self.command == "DELETE":
            if body:
                return self.violation("DELETE has no body")
            if not here:
                return self.reply(404, {"code": "NOT_FOUND", "message": "Record not found"})
            self.STATE["records"] = [r for r in self.STATE["records"] if r not in here]
            return self.reply(204, None)
        return self.violation("unexpected request")


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
