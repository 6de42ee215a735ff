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

Log entries also carry "ts" (X-Ovh-Timestamp) and, past the rate limit,
"auth" (signed or bearer). Control and log: mock_base.py, plus POST
/__control/add?zone=Z&sub=S&target=T (adds a record as another client would);
GET /__control/state returns {"records", "published", "violations", "log"}.

Usage: mock_ovh.py PORT|PORTFILE AK AS CK TOKEN
"""
import hashlib
import json
import re
import sys
import time
from urllib.parse import unquote

from mock_base import MockHandler, serve

AK, AS, CK, TOKEN = sys.argv[2:6]
SKEW = 5000
ZONES = ["example.com", "sub.example.com"]
RECORD_KEYS = {"fieldType", "subDomain", "target", "ttl"}


def now():
    return int(time.time()) + SKEW


def shown(r):
    t = r["target"]
    if r["fieldType"] == "TXT" and not t.startswith('"'):
        t = '"%s"' % t
    return {"id": r["id"], "zone": r["zone"], "fieldType": r["fieldType"],
            "subDomain": r["subDomain"], "target": t, "ttl": r["ttl"]}


class Handler(MockHandler):
    STATE = {"records": [], "published": [], "violations": [], "log": [], "ratelimit": 0,
             "next_id": 1000}
    SHOWN = ("records", "published", "violations", "log")

    def reply(self, status, obj, headers=None, ctype="application/json; charset=utf-8"):
        return super().reply(status, obj, headers, ctype)

    def error(self, status, code, message):
        return self.reply(status, {"errorCode": code, "httpCode": "%d" % status,
                                   "message": message})

    def log_entry(self, u, body):
        return dict(super().log_entry(u, body), ts=self.headers.get("X-Ovh-Timestamp"))

    def control(self, name, q):
        if name != "add":
            return super().control(name, q)
        st = self.STATE
        st["next_id"] += 1
        st["records"].append({"id": st["next_id"], "zone": q["zone"][0], "fieldType": "TXT",
                              "subDomain": q["sub"][0], "target": q["target"][0], "ttl": 3600})
        st["published"] = [dict(r) for r in st["records"]]
        return self.reply(200, {"ok": True})

    def check_auth(self, u, q, body, entry):
        h = self.headers
        if h.get("Authorization") is not None:
            entry["auth"] = "bearer"
            if h.get("X-Ovh-Application") or h.get("X-Ovh-Signature"):
                self.violation("both OAuth2 and signature headers")
                return False
            if h.get("Authorization") != "Bearer " + TOKEN:
                self.error(401, "INVALID_CREDENTIAL", "Invalid credentials")
                return False
            return True
        entry["auth"] = "signed"
        ts = h.get("X-Ovh-Timestamp") or ""
        if h.get("X-Ovh-Application") != AK:
            self.error(403, "INVALID_KEY", "Invalid application key")
            return False
        if h.get("X-Ovh-Consumer") != CK:
            self.error(403, "INVALID_CREDENTIAL", "This credential does not exist")
            return False
        if not re.fullmatch(r"[0-9]+", ts) or abs(int(ts) - now()) > 30:
            self.error(400, "QUERY_TIME_OUT", "Query out of time")
            return False
        url = "http://%s%s" % (h.get("Host"), self.path)
        plain = "+".join([AS, CK, self.command, url, body.decode(), ts])
        if h.get("X-Ovh-Signature") != "$1$" + hashlib.sha1(plain.encode()).hexdigest():
            self.error(400, "INVALID_SIGNATURE", "Invalid signature")
            return False
        return True

    def dispatch(self, u, q, body, entry):
        if u.path == "/1.0/auth/time":
            if self.command != "GET" or body or q:
                return self.violation("auth/time is a plain GET")
            return self.reply(200, now())
        return super().dispatch(u, q, body, entry)

    def route(self, u, q, body, entry):
        st = self.STATE
        m = re.fullmatch(r"/1\.0/domain/zone/([^/]+)(/record(?:/([0-9]+))?|/refresh)?", u.path)
        if not m:
            return self.violation("unexpected path")
        zone, tail, rid = unquote(m.group(1)), m.group(2) or "", m.group(3)
        if zone not in ZONES:
            return self.error(404, "", "This service does not exist")
        if tail == "":
            if self.command != "GET" or body or q:
                return self.violation("zone look-up is a plain GET")
            return self.reply(200, {"name": zone, "hasDnsAnycast": False, "dnssecSupported": True,
                                    "nameServers": ["dns1.ovh.net", "ns1.ovh.net"]})
        if tail == "/refresh":
            if self.command != "POST" or body or q:
                return self.violation("refresh is a POST without body")
            st["published"] = [dict(r) for r in st["records"]]
            return self.reply(200, "null")
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
            st["next_id"] += 1
            rec = {"id": st["next_id"], "zone": zone, "fieldType": "TXT",
                   "subDomain": b.get("subDomain", ""), "target": b["target"],
                   "ttl": b.get("ttl", 0)}
            st["records"].append(rec)
            return self.reply(200, shown(rec))
        if rid is None and self.command == "GET":
            if body or set(q) - {"fieldType", "subDomain"}:
                return self.violation("record list takes fieldType, subDomain")
            ft, sd = q.get("fieldType", [None])[0], q.get("subDomain", [None])[0]
            return self.reply(200, [r["id"] for r in st["records"] if r["zone"] == zone and
                                    (ft is None or r["fieldType"] == ft) and
                                    (sd is None or r["subDomain"] == sd)])
        if rid is not None and self.command in ("GET", "DELETE"):
            if body or q:
                return self.violation("record GET/DELETE take no body or query")
            rec = [r for r in st["records"] if r["zone"] == zone and r["id"] == int(rid)]
            if not rec:
                return self.error(404, "", "The requested object (id = %s) does not exist" % rid)
            if self.command == "GET":
                return self.reply(200, shown(rec[0]))
            st["records"].remove(rec[0])
            return self.reply(200, "null")
        return self.violation("unexpected request")


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
