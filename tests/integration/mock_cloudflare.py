#!/usr/bin/env python3
"""A local stand-in for the Cloudflare API v4 DNS endpoints (python3 stdlib).

Follows the public API documentation: GET /client/v4/zones?name=,
GET/POST /client/v4/zones/{id}/dns_records, DELETE .../dns_records/{rid},
envelope {"success","errors","messages","result"}. Auth: "Authorization:
Bearer <token>" or X-Auth-Email + X-Auth-Key; anything else gets 403 with
error 10000 as the real API does. It asserts on what it receives: a request
that does not match the documented form (method, path, query, headers, body
keys and types) is answered 400 and recorded as a violation.

Control and log (entries also carry "auth": bearer, email_key or none):
mock_base.py; GET /__control/state returns {"records": [...], "violations": [...],
"log": [...]}.

Usage: mock_cloudflare.py PORT|PORTFILE TOKEN EMAIL KEY
"""
import re
import sys
import uuid

from mock_base import MockHandler, serve

TOKEN, EMAIL, KEY = sys.argv[2:5]
ZONES = {"example.com": "023e105f4ecef8ad9ca31a8372d0c353",
         "other.org": "9a7806061c88ada191ed06f989cc3dac"}


def envelope(result, success=True, errors=None):
    return {"success": success, "errors": errors or [], "messages": [], "result": result}


class Handler(MockHandler):
    STATE = {"records": [], "violations": [], "log": [], "ratelimit": 0}
    SHOWN = ("records", "violations", "log")
    RATE_LIMITED_BODY = envelope(None, False, [{"code": 971, "message":
                                 "Please wait and consider throttling your request speed"}])

    def violation_body(self, message):
        return envelope(None, False, [{"code": 1004, "message": message}])

    def log_entry(self, u, body):
        return dict(super().log_entry(u, body),
                    auth="bearer" if self.headers.get("Authorization") else
                         ("email_key" if self.headers.get("X-Auth-Key") else "none"))

    def check_auth(self, u, q, body, entry):
        auth = self.headers.get("Authorization")
        if auth is not None:
            ok = auth == "Bearer " + TOKEN
        else:
            ok = (self.headers.get("X-Auth-Email") == EMAIL and
                  self.headers.get("X-Auth-Key") == KEY)
        if not ok:
            self.reply(403, envelope(None, False, [{"code": 10000,
                                     "message": "Authentication error"}]))
        return ok

    def route(self, u, q, body, entry):
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
            b = self.body_shaped(body, {"type": "TXT", "name": str, "content": str, "ttl": int})
            if b is None:
                return None
            for r in self.STATE["records"]:
                if r["zone_id"] == zid and r["name"] == b["name"] and r["content"] == b["content"]:
                    return self.reply(400, envelope(None, False, [{"code": 81058,
                                      "message": "An identical record already exists."}]))
            rec = {"id": uuid.uuid4().hex, "zone_id": zid, "type": "TXT", "name": b["name"],
                   "content": b["content"], "ttl": b["ttl"]}
            self.STATE["records"].append(rec)
            return self.reply(200, envelope(rec))
        if self.command == "GET" and rid is None:
            if q.get("type") != ["TXT"] or "name" not in q:
                return self.violation("dns_records list must filter type=TXT and name=")
            res = [r for r in self.STATE["records"] if r["zone_id"] == zid and r["name"] == q["name"][0]
                   and ("content" not in q or r["content"] == q["content"][0])]
            return self.reply(200, envelope(res))
        if self.command == "DELETE" and rid is not None:
            if body:
                return self.violation("DELETE has no body")
            before = len(self.STATE["records"])
            self.STATE["records"] = [r for r in self.STATE["records"] if r["id"] != rid]
            if len(self.STATE["records"]) == before:
                return self.reply(404, envelope(None, False, [{"code": 81044,
                                  "message": "Record does not exist."}]))
            return self.reply(200, envelope({"id": rid}))
        return self.violation("unexpected request")


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
