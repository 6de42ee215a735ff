#!/usr/bin/env python3
"""A local stand-in for the Microsoft identity platform token endpoint and the
Azure Resource Manager DNS API (python3 stdlib).

Follows the public documentation:
- POST /<tenant>/oauth2/v2.0/token, application/x-www-form-urlencoded with
  exactly grant_type=client_credentials, client_id, client_secret,
  scope=https://management.azure.com/.default. Unknown tenant: 400
  {"error":"invalid_request"}; wrong client or secret: 401
  {"error":"invalid_client"}. Success: {"token_type":"Bearer","expires_in",
  "ext_expires_in","access_token"}.
- /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Network/
  dnsZones/<zone>[/TXT/<relative>] ?api-version=2018-05-01 (properties
  "TTL", "TXTRecords") and privateDnsZones/... ?api-version=2018-09-01
  (properties "ttl", "txtRecords"): GET zone (200 or 404 ResourceNotFound),
  GET record set (200 with "etag", or 404), PUT (If-Match: current etag, or
  If-None-Match: * for a new set; else 412 PreconditionFailed; 200 updated,
  201 created), DELETE (If-Match; 200, 204 when absent). Bearer token from the
  token endpoint, else 401 AuthenticationFailed.
Requests not matching the documented form are answered 400 and recorded as
violations.

Log entries also carry "if_match" and "if_none_match". Control and log:
mock_base.py (the token endpoint is never rate limited), plus POST
/__control/conflict (before the next PUT or DELETE of a record set, another
writer adds "intruder" to it: new etag); GET /__control/state -> {"sets",
"violations", "log"}.

Subscription SUB, resource group rg1: public zone example.com, private zone
internal.example.com. Initial data: public _acme-challenge.example.com TXT
"keep-me".

Usage: mock_azuredns.py PORT|PORTFILE TENANT CLIENT_ID CLIENT_SECRET SUB
"""
import json
import re
import secrets
import sys
from urllib.parse import parse_qs, unquote, urlsplit

from mock_base import MockHandler, serve

TENANT, CID, SECRET, SUB = sys.argv[2:6]
SCOPE = "https://management.azure.com/.default"
KINDS = {"dnsZones": ("2018-05-01", "TTL", "TXTRecords", {"example.com"}),
         "privateDnsZones": ("2018-09-01", "ttl", "txtRecords", {"internal.example.com"})}
TOKEN_PATH = r"/([^/]+)/oauth2/v2\.0/token"


class Handler(MockHandler):
    STATE = {"sets": {"dnsZones/example.com/_acme-challenge": {"ttl": 3600, "values": ["keep-me"],
                                                               "etag": "e-0"}},
             "violations": [], "log": [], "ratelimit": 0, "conflict": False, "tokens": set(),
             "next": 0}
    SHOWN = ("sets", "violations", "log")
    RATE_LIMITED_BODY = {"error": {"code": "TooManyRequests",
                                   "message": "The request is being throttled."}}

    def etag(self):
        self.STATE["next"] += 1
        return "e-%d" % self.STATE["next"]

    def reply(self, status, obj, headers=None, ctype="application/json; charset=utf-8"):
        return super().reply(status, obj, headers, ctype)

    def arm_error(self, status, code, message):
        return self.reply(status, {"error": {"code": code, "message": message}})

    def violation_body(self, message):
        return {"error": {"code": "BadRequest", "message": message}}

    def log_entry(self, u, body):
        return dict(super().log_entry(u, body), if_match=self.headers.get("If-Match"),
                    if_none_match=self.headers.get("If-None-Match"))

    def control(self, name, q):
        if name != "conflict":
            return super().control(name, q)
        self.STATE["conflict"] = True
        return self.reply(200, {"ok": True})

    def rate_limited(self):
        if re.fullmatch(TOKEN_PATH, urlsplit(self.path).path):
            return False
        return super().rate_limited()

    def check_auth(self, u, q, body, entry):
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer ") and auth[7:] in self.STATE["tokens"]:
            return True
        self.arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' "
                       "header is missing or invalid.")
        return False

    def dispatch(self, u, q, body, entry):
        m = re.fullmatch(TOKEN_PATH, u.path)
        if m:
            return self.token(unquote(m.group(1)), body, entry)
        return super().dispatch(u, q, body, entry)

    def route(self, u, q, body, entry):
        return self.arm(u, q, body, entry)

    def token(self, tenant, body, entry):
        if self.command != "POST" or entry["content_type"] != "application/x-www-form-urlencoded":
            return self.violation("token: POST application/x-www-form-urlencoded expected")
        f = parse_qs(body.decode(), keep_blank_values=True)
        if set(f) != {"grant_type", "client_id", "client_secret", "scope"} or \
                f["grant_type"] != ["client_credentials"] or f["scope"] != [SCOPE]:
            return self.violation("token: form %r" % sorted(f))
        if tenant != TENANT:
            return self.reply(400, {"error": "invalid_request", "error_description":
                                    "AADSTS90002: Tenant '%s' not found." % tenant})
        if f["client_id"] != [CID] or f["client_secret"] != [SECRET]:
            return self.reply(401, {"error": "invalid_client", "error_description":
                                    "AADSTS7000215: Invalid client secret provided.",
                                    "error_codes": [7000215]})
        tok = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(32)
        self.STATE["tokens"].add(tok)
        return self.reply(200, {"token_type": "Bearer", "expires_in": 3599,
                                "ext_expires_in": 3599, "access_token": tok})

    def arm(self, u, q, body, entry):
        m = re.fullmatch(r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/"
                         r"Microsoft\.Network/(dnsZones|privateDnsZones)/([^/]+)(?:/TXT/([^/]+))?",
                         u.path)
        if not m:
            return self.violation("unknown path")
        sub, rg, kind, zone, rel = m.groups()
        ver, kttl, krecs, zones = KINDS[kind]
        if q.get("api-version") != [ver] or len(q) != 1:
            return self.violation("api-version must be %s" % ver)
        if sub != SUB:
            return self.arm_error(404, "SubscriptionNotFound", "The subscription could not be found.")
        if rg != "rg1":
            return self.arm_error(404, "ResourceGroupNotFound", "Resource group '%s' could not be found." % rg)
        if zone not in zones:
            return self.arm_error(404, "ResourceNotFound", "The Resource '%s' was not found." % zone)
        if rel is None:
            if self.command != "GET":
                return self.violation("only GET on a zone")
            return self.reply(200, {"id": u.path, "name": zone, "type": "Microsoft.Network/" + kind,
                                    "etag": "z", "location": "global", "properties": {}})
        rel = unquote(rel)
        if rel.endswith(zone) or rel.endswith("."):
            return self.violation("record set name must be relative to the zone: %r" % rel)
        key = "%s/%s/%s" % (kind, zone, rel)
        cur = self.STATE["sets"].get(key)

        def view(rs, status=200):
            return self.reply(status, {
                "id": u.path, "name": rel, "type": "Microsoft.Network/%s/TXT" % kind,
                "etag": rs["etag"], "properties": {
                    "fqdn": ("%s.%s." % (rel, zone)) if rel != "@" else zone + ".",
                    kttl: rs["ttl"], krecs: [{"value": [v]} for v in rs["values"]]}})

        if self.command == "GET":
            if cur is None:
                return self.arm_error(404, "NotFound", "The resource record '%s' does not exist "
                                      "in resource group 'rg1' of subscription '%s'." % (rel, sub))
            return view(cur)
        if self.command not in ("PUT", "DELETE"):
            return self.violation("unexpected method")
        if self.STATE["conflict"]:
            self.STATE["conflict"] = False
            if cur is None:
                cur = self.STATE["sets"][key] = {"ttl": 60, "values": [], "etag": ""}
            cur["values"].append("intruder")
            cur["etag"] = self.etag()
        im, inm = entry["if_match"], entry["if_none_match"]
        if self.command == "DELETE":
            if body:
                return self.violation("DELETE has no body")
            if cur is None:
                return self.reply(204, None)
            if im is None:
                return self.violation("DELETE without If-Match")
            if im != cur["etag"]:
                return self.arm_error(412, "PreconditionFailed", "The condition '%s' in the "
                                      "If-Match header was not satisfied." % im)
            del self.STATE["sets"][key]
            return self.reply(200, None)
        if entry["content_type"] != "application/json":
            return self.violation("PUT: Content-Type must be application/json")
        if (im is None) == (inm is None) or (inm is not None and inm != "*"):
            return self.violation("PUT: exactly one of If-Match: <etag> or If-None-Match: *")
        try:
            b = json.loads(body)
        except ValueError:
            return self.violation("PUT: body is not JSON")
        p = b.get("properties") if isinstance(b, dict) else None
        if set(b) != {"properties"} or not isinstance(p, dict) or set(p) != {kttl, krecs} or \
                not isinstance(p[kttl], int) or not isinstance(p[krecs], list) or not p[krecs] or \
                not all(isinstance(r, dict) and set(r) == {"value"} and isinstance(r["value"], list)
                        and r["value"] and all(isinstance(x, str) for x in r["value"])
                        for r in p[krecs]):
            return self.violation("PUT: body must be {properties:{%s:int,%s:[{value:[str]}]}}: %r"
                                  % (kttl, krecs, b))
        if (inm == "*" and cur is not None) or (im is not None and (cur is None or im != cur["etag"])):
            return self.arm_error(412, "PreconditionFailed", "The precondition was not satisfied.")
        new = {"ttl": p[kttl], "values": ["".join(r["value"]) for r in p[krecs]], "etag": self.etag()}
        self.STATE["sets"][key] = new
        return view(new, 201 if cur is None else 200)


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
