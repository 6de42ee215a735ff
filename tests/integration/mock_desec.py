#!/usr/bin/env python3
"""A local stand-in for the deSEC API v1 DNS endpoints (python3 stdlib).

Follows the public API documentation: GET /api/v1/domains/?owns_qname=,
GET/PATCH /api/v1/domains/{name}/rrsets/{subname}/{type}/ (PATCH with
records [] deletes the set, 204), POST /api/v1/domains/{name}/rrsets/
{subname,type,ttl,records} (201). TXT records are zone-file strings ("\"v\"").
Auth: "Authorization: Token <token>", else 401 {"detail":"Invalid token."}.
A TTL below the domain's minimum_ttl is refused (400). A request that does not
match the documented form is answered 400 and recorded as a violation.

Control and log: mock_base.py, plus POST /__control/seed?sub=&value= (adds a
foreign value to example.com); GET /__control/state returns {"rrsets",
"violations", "log"}.

Usage: mock_desec.py PORT|PORTFILE TOKEN
"""
import re
import sys

from mock_base import MockHandler, serve

TOKEN = sys.argv[2]
DOMAINS = {"example.com": 3600, "sub.example.com": 60}


class Handler(MockHandler):
    # rrsets: key "domain|subname|type" -> {"ttl", "records"}
    STATE = {"rrsets": {}, "violations": [], "log": [], "ratelimit": 0}
    SHOWN = ("rrsets", "violations", "log")
    RATE_LIMITED_BODY = {"detail": "Request was throttled. Expected available in 1 second."}

    def violation_body(self, message):
        return {"detail": message}

    def control(self, name, q):
        if name != "seed":
            return super().control(name, q)
        key = "example.com|%s|TXT" % q["sub"][0]
        rr = self.STATE["rrsets"].setdefault(key, {"ttl": 3600, "records": []})
        rr["records"].append('"%s"' % q["value"][0])
        return self.reply(200, {"ok": True})

    def check_auth(self, u, q, body, entry):
        if self.headers.get("Authorization") == "Token " + TOKEN:
            return True
        self.reply(401, {"detail": "Invalid token."})
        return False

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
            if b is None:
                return None
            if (not isinstance(b, dict) or set(b) != {"subname", "type", "ttl", "records"} or
                    b["type"] != "TXT" or not isinstance(b["ttl"], int) or
                    not isinstance(b["records"], list) or
                    not all(isinstance(r, str) and r.startswith('"') and r.endswith('"')
                            for r in b["records"])):
                return self.violation("POST body must be {subname,type:TXT,ttl:int,records:[quoted]}: %r" % (b,))
            if b["ttl"] < DOMAINS[dom]:
                return self.reply(400, {"ttl": ["Ensure this value is greater than or equal to %d." % DOMAINS[dom]]})
            key = "%s|%s|TXT" % (dom, b["subname"])
            if key in self.STATE["rrsets"]:
                return self.reply(400, {"non_field_errors": ["Another RRset with the same subdomain and type exists for this domain."]})
            self.STATE["rrsets"][key] = {"ttl": b["ttl"], "records": b["records"]}
            return self.reply(201, dict(b, domain=dom, name=b["subname"] + "." + dom + "."))
        key = "%s|%s|%s" % (dom, sub, typ)
        if self.command == "GET":
            if body:
                return self.violation("GET has no body")
            rr = self.STATE["rrsets"].get(key)
            if rr is None:
                return self.reply(404, {"detail": "Not found."})
            return self.reply(200, {"domain": dom, "subname": sub, "name": sub + "." + dom + ".",
                                    "type": typ, "ttl": rr["ttl"], "records": rr["records"]})
        if self.command == "PATCH":
            b = self.json_body(body)
            if b is None:
                return None
            if (not isinstance(b, dict) or set(b) != {"records"} or
                    not isinstance(b["records"], list)):
                return self.violation("PATCH body must be {records:[...]}: %r" % (b,))
            if key not in self.STATE["rrsets"]:
                return self.reply(404, {"detail": "Not found."})
            if not b["records"]:
                del self.STATE["rrsets"][key]
                return self.reply(204, None)
            self.STATE["rrsets"][key]["records"] = b["records"]
            return self.reply(200, {"subname": sub, "type": typ, "records": b["records"]})
        return self.violation("unexpected request")


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
