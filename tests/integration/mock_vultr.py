#!/usr/bin/env python3
"""A local stand-in for the Vultr API v2 DNS endpoints (python3 stdlib).

Follows the public API documentation: GET /v2/domains/{domain} (404 when not
in the account), GET/POST /v2/domains/{domain}/records (list: {"records",
"meta":{"total","links":{"next","prev"}}}, per_page and cursor; create:
{name,type,data,ttl} -> 201 {"record":...}), DELETE
/v2/domains/{domain}/records/{id} (204). Auth: "Authorization: Bearer <key>",
else 401 {"error":"Invalid API token.","status":401}. A request that does not
match the documented form is answered 400 and recorded as a violation. The
record list is served in pages of 2 to exercise the cursor. Control and log:
mock_base.py; GET /__control/state returns {"records", "violations", "log"}.

Usage: mock_vultr.py PORT|PORTFILE APIKEY
"""
import re
import sys
import uuid

from mock_base import MockHandler, serve

APIKEY = sys.argv[2]
DOMAINS = ["example.com", "sub.example.com"]
PAGE = 2


class Handler(MockHandler):
    STATE = {"records": [], "violations": [], "log": [], "ratelimit": 0}
    SHOWN = ("records", "violations", "log")
    RATE_LIMITED_BODY = {"error": "Rate limit reached", "status": 429}

    def violation_body(self, message):
        return {"error": message, "status": 400}

    def check_auth(self, u, q, body, entry):
        return self.bearer_ok(APIKEY, 401, {"error": "Invalid API token.", "status": 401})

    def route(self, u, q, body, entry):
        st = self.STATE
        m = re.fullmatch(r"/v2/domains/([a-z0-9._-]+)(?:/records(?:/([0-9a-f-]+))?)?", u.path)
        if not m:
            return self.violation("unexpected path")
        dom, rid = m.group(1), m.group(2)
        if dom not in DOMAINS:
            return self.reply(404, {"error": "Domain not found.", "status": 404})
        if not u.path.endswith("/records") and rid is None:
            if self.command != "GET" or body or q:
                return self.violation("domain look-up is a plain GET")
            return self.reply(200, {"domain": {"domain": dom, "date_created": "2024-01-01T00:00:00+00:00",
                                               "dns_sec": "disabled"}})
        if self.command == "POST" and rid is None:
            b = self.body_shaped(body, {"name": str, "type": "TXT", "data": str, "ttl": int})
            if b is None:
                return None
            rec = dict(b, id=str(uuid.uuid4()), priority=-1, domain=dom)
            st["records"].append(rec)
            return self.reply(201, {"record": {k: v for k, v in rec.items() if k != "domain"}})
        if self.command == "GET" and rid is None:
            if set(q) - {"per_page", "cursor"}:
                return self.violation("records list takes per_page, cursor")
            mine = [{k: v for k, v in r.items() if k != "domain"} for r in st["records"]
                    if r["domain"] == dom]
            start = int(q.get("cursor", ["0"])[0])
            nxt = str(start + PAGE) if start + PAGE < len(mine) else ""
            return self.reply(200, {"records": mine[start:start + PAGE],
                                    "meta": {"total": len(mine), "links": {"next": nxt, "prev": ""}}})
        if self.command == "DELETE" and rid is not None:
            if body:
                return self.violation("DELETE has no body")
            before = len(st["records"])
            st["records"] = [r for r in st["records"] if r["id"] != rid]
            if len(st["records"]) == before:
                return self.reply(404, {"error": "Record not found.", "status": 404})
            return self.reply(204, None)
        return self.violation("unexpected request")


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
