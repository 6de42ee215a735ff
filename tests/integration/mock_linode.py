#!/usr/bin/env python3
"""A local stand-in for the Linode API v4 DNS endpoints (python3 stdlib).

Follows the public API documentation: GET /v4/domains (X-Filter JSON header,
paginated envelope {"data","page","pages","results"}), GET/POST
/v4/domains/{id}/records ({type,name,target,ttl_sec}), DELETE
/v4/domains/{id}/records/{rid} ({}). Auth: "Authorization: Bearer <token>",
else 401 {"errors":[{"reason":"Invalid Token"}]}. A request that does not
match the documented form is answered 400 and recorded as a violation.
Log entries also carry "filter" (X-Filter). Control and log: mock_base.py;
GET /__control/state returns {"records", "violations", "log"}.

Usage: mock_linode.py PORT|PORTFILE TOKEN
"""
import json
import re
import sys

from mock_base import MockHandler, serve

TOKEN = sys.argv[2]
DOMAINS = {"example.com": 1234, "sub.example.com": 5678}


def page(items):
    return {"data": items, "page": 1, "pages": 1, "results": len(items)}


class Handler(MockHandler):
    STATE = {"records": [], "violations": [], "log": [], "ratelimit": 0, "next_id": 900000}
    SHOWN = ("records", "violations", "log")
    RATE_LIMITED_BODY = {"errors": [{"reason": "Too Many Requests"}]}

    def violation_body(self, message):
        return {"errors": [{"reason": message}]}

    def log_entry(self, u, body):
        return dict(super().log_entry(u, body), filter=self.headers.get("X-Filter"))

    def check_auth(self, u, q, body, entry):
        return self.bearer_ok(TOKEN, 401, {"errors": [{"reason": "Invalid Token"}]})

    def route(self, u, q, body, entry):
        st = self.STATE
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
            b = self.body_shaped(body, {"type": "TXT", "name": str, "target": str, "ttl_sec": int})
            if b is None:
                return None
            st["next_id"] += 1
            rec = dict(b, id=st["next_id"], domain_id=did, priority=0, weight=0, port=0)
            st["records"].append(rec)
            return self.reply(200, rec)
        if self.command == "GET" and rid is None:
            if set(q) - {"page", "page_size"}:
                return self.violation("records list takes page, page_size")
            return self.reply(200, page([r for r in st["records"] if r["domain_id"] == did]))
        if self.command == "DELETE" and rid is not None:
            if body:
                return self.violation("DELETE has no body")
            before = len(st["records"])
            st["records"] = [r for r in st["records"] if r["id"] != int(rid)]
            if len(st["records"]) == before:
                return self.reply(404, {"errors": [{"reason": "Not found"}]})
            return self.reply(200, {})
        return self.violation("unexpected request")


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
