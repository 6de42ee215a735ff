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

Control and log: mock_base.py (429 answers are rate_limit_exceeded);
GET /__control/state -> {"rrsets", "violations", "log"}.

Initial data: zone example.com (id 4711) with RRSet _acme-challenge/TXT
holding the foreign value "keep-me" (TTL 3600).

Usage: mock_hetzner.py PORT|PORTFILE TOKEN
"""
import re
import sys
from urllib.parse import unquote

from mock_base import MockHandler, serve

TOKEN = sys.argv[2]
ZONES = {"example.com": 4711, "other.org": 4712}


def err(code, msg):
    return {"error": {"code": code, "message": msg, "details": {}}}


class Handler(MockHandler):
    STATE = {"rrsets": {"4711|_acme-challenge|TXT": {"ttl": 3600, "values": ['"keep-me"']}},
             "violations": [], "log": [], "ratelimit": 0, "actions": {}, "next": 900}
    SHOWN = ("rrsets", "violations", "log")
    RATE_LIMITED_BODY = err("rate_limit_exceeded", "rate limit exceeded")
    RATE_LIMITED_HEADERS = {"Retry-After": "1", "RateLimit-Limit": "3600",
                            "RateLimit-Remaining": "0"}

    def violation_body(self, message):
        return err("invalid_input", message)

    def check_auth(self, u, q, body, entry):
        return self.bearer_ok(TOKEN, 401, err("unauthorized", "unable to authenticate"))

    def new_action(self, cmd, zid):
        self.STATE["next"] += 1
        a = {"id": self.STATE["next"], "command": cmd, "status": "running", "progress": 0,
             "started": "2026-01-01T00:00:00+00:00", "finished": None,
             "resources": [{"id": zid, "type": "zone"}], "error": None}
        self.STATE["actions"][a["id"]] = a
        return a

    def route(self, u, q, body, entry):
        if u.path == "/v1/zones" and self.command == "GET":
            if set(q) - {"name", "page", "per_page"} or "name" not in q:
                return self.violation("zones query must have name=")
            n = q["name"][0]
            res = [{"id": ZONES[n], "name": n, "mode": "primary", "ttl": 3600}] if n in ZONES else []
            return self.reply(200, {"zones": res, "meta": {"pagination": {"page": 1, "per_page": 25,
                                    "total_entries": len(res)}}})
        m = re.fullmatch(r"/v1/actions/(\d+)", u.path)
        if m and self.command == "GET":
            a = self.STATE["actions"].get(int(m.group(1)))
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
        b = self.json_body(body)
        if b is None:
            return None
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
            rr = self.STATE["rrsets"].setdefault(key, {"ttl": b.get("ttl", 3600), "values": []})
            for v in vals:
                if v not in rr["values"]:
                    rr["values"].append(v)
        else:
            rr = self.STATE["rrsets"].get(key)
            if rr is None:
                return self.reply(404, err("not_found", "rrset not found"))
            rr["values"] = [v for v in rr["values"] if v not in vals]
            if not rr["values"]:
                del self.STATE["rrsets"][key]
        return self.reply(201, {"action": self.new_action(act.replace("_", "_rrset_"), zid)})


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
