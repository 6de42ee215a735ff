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

Control and log: mock_base.py (429 answers also carry RateLimit-* headers);
GET /__control/state -> {"records", "violations", "log"}.

Initial data: domain example.com with a foreign TXT record
_acme-challenge = "keep-me" (id 1).

Usage: mock_digitalocean.py PORT|PORTFILE TOKEN
"""
import re
import sys

from mock_base import MockHandler, serve

TOKEN = sys.argv[2]
DOMAINS = ["example.com", "other.org"]


class Handler(MockHandler):
    STATE = {"records": [{"id": 1, "domain": "example.com", "type": "TXT", "name": "_acme-challenge",
                          "data": "keep-me", "ttl": 1800}],
             "violations": [], "log": [], "ratelimit": 0, "next": 100}
    SHOWN = ("records", "violations", "log")
    RATE_LIMITED_BODY = {"id": "too_many_requests", "message": "API Rate limit exceeded."}
    RATE_LIMITED_HEADERS = {"Retry-After": "1", "RateLimit-Limit": "5000",
                            "RateLimit-Remaining": "0", "RateLimit-Reset": "0"}

    def violation_body(self, message):
        return {"id": "bad_request", "message": message}

    def check_auth(self, u, q, body, entry):
        return self.bearer_ok(TOKEN, 401, {"id": "Unauthorized",
                                           "message": "Unable to authenticate you"})

    def route(self, u, q, body, entry):
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
            b = self.body_shaped(body, {"type": "TXT", "name": str, "data": str, "ttl": int})
            if b is None:
                return None
            if b["name"].endswith(dom) or b["name"].endswith("."):
                return self.violation("name must be relative to the domain: %r" % b["name"])
            self.STATE["next"] += 1
            rec = {"id": self.STATE["next"], "domain": dom, "type": "TXT", "name": b["name"],
                   "data": b["data"], "ttl": b["ttl"], "priority": None, "port": None,
                   "weight": None, "flags": None, "tag": None}
            self.STATE["records"].append(rec)
            return self.reply(201, {"domain_record": {k: v for k, v in rec.items() if k != "domain"}})
        if self.command == "GET" and rid is None:
            if set(q) - {"type", "name", "per_page", "page"}:
                return self.violation("unknown query parameter")
            if "name" in q and not q["name"][0].endswith("." + dom):
                return self.violation("name filter must be the fully qualified name")
            res = [dict((k, v) for k, v in r.items() if k != "domain") for r in self.STATE["records"]
                   if r["domain"] == dom and ("type" not in q or r["type"] == q["type"][0]) and
                   ("name" not in q or r["name"] + "." + dom == q["name"][0])]
            return self.reply(200, {"domain_records": res, "links": {}, "meta": {"total": len(res)}})
        if self.command == "DELETE" and rid is not None:
            if body:
                return self.violation("DELETE has no body")
            before = len(self.STATE["records"])
            self.STATE["records"] = [r for r in self.STATE["records"] if not (r["id"] == int(rid) and r["domain"] == dom)]
            if len(self.STATE["records"]) == before:
                return self.reply(404, {"id": "not_found", "message": "not found"})
            return self.reply(204, None)
        return self.violation("unexpected request")


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
