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

Control and log: mock_base.py (log bodies without the credentials);
GET /__control/state returns {"records", "violations", "log"}.

Usage: mock_porkbun.py PORT|PORTFILE APIKEY SECRET
"""
import json
import re
import sys

from mock_base import MockHandler, serve

APIKEY, SECRET = sys.argv[2:4]
DOMAINS = ["example.com", "sub.example.com", "other.org"]


class Handler(MockHandler):
    STATE = {"records": [], "violations": [], "log": [], "ratelimit": 0, "next_id": 106926650}
    SHOWN = ("records", "violations", "log")
    RATE_LIMITED_BODY = {"status": "ERROR", "message": "Rate limit exceeded"}
    parsed = None

    def violation_body(self, message):
        return {"status": "ERROR", "message": message}

    def log_entry(self, u, body):
        """The body is logged without the credentials."""
        try:
            self.parsed = json.loads(body) if body else None
        except ValueError:
            self.parsed = None
        b = self.parsed
        shown = {k: v for k, v in b.items() if k not in ("apikey", "secretapikey")} \
            if isinstance(b, dict) else None
        return dict(super().log_entry(u, body), body=shown)

    def check_auth(self, u, q, body, entry):
        b = self.parsed
        if self.command != "POST":
            return self.violation("every Porkbun API call is a POST") and False
        if self.headers.get("Content-Type") != "application/json":
            return self.violation("Content-Type must be application/json") and False
        if not isinstance(b, dict):
            return self.violation("body must be a JSON object") and False
        if b.get("apikey") != APIKEY or b.get("secretapikey") != SECRET:
            self.reply(403, {"status": "ERROR", "message": "Invalid API key. (002)"})
            return False
        return True

    def route(self, u, q, body, entry):
        path, b = u.path, entry["body"]
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
            self.STATE["next_id"] += 1
            full = (b["name"] + "." + dom) if b["name"] else dom
            self.STATE["records"].append({"id": str(self.STATE["next_id"]), "name": full, "type": "TXT",
                                     "content": b["content"], "ttl": b["ttl"], "prio": "0",
                                     "notes": "", "domain": dom})
            return self.reply(200, {"status": "SUCCESS", "id": self.STATE["next_id"]})
        m = re.fullmatch(r"/api/json/v3/dns/retrieveByNameType/([a-z0-9.-]+)/([A-Z]+)(?:/([^/]*))?", path)
        if m:
            dom, typ, sub = m.group(1), m.group(2), m.group(3) or ""
            if b:
                return self.violation("retrieveByNameType takes only the credentials")
            full = (sub + "." + dom) if sub else dom
            recs = [{k: v for k, v in r.items() if k != "domain"} for r in self.STATE["records"]
                    if r["domain"] == dom and r["name"] == full and r["type"] == typ]
            return self.reply(200, {"status": "SUCCESS", "records": recs})
        m = re.fullmatch(r"/api/json/v3/dns/delete/([a-z0-9.-]+)/([0-9]+)", path)
        if m:
            if b:
                return self.violation("delete takes only the credentials")
            before = len(self.STATE["records"])
            self.STATE["records"] = [r for r in self.STATE["records"]
                                if not (r["domain"] == m.group(1) and r["id"] == m.group(2))]
            if len(self.STATE["records"]) == before:
                return self.reply(400, {"status": "ERROR", "message": "Invalid record ID."})
            return self.reply(200, {"status": "SUCCESS"})
        return self.violation("unexpected request")


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
