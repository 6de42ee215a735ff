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

Control (no auth): POST /__control/ratelimit?count=N (next N ARM requests
answer 429, Retry-After: 1); POST /__control/conflict (before the next PUT
or DELETE of a record set, another writer adds "intruder" to it: new etag);
GET /__control/state -> {"sets", "violations", "log"}.

Subscription SUB, resource group rg1: public zone example.com, private zone
internal.example.com. Initial data: public _acme-challenge.example.com TXT
"keep-me".

Usage: mock_azuredns.py PORTFILE TENANT CLIENT_ID CLIENT_SECRET SUB
"""
import json
import os
import re
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

PORTFILE, TENANT, CID, SECRET, SUB = sys.argv[1:6]
SCOPE = "https://management.azure.com/.default"
KINDS = {"dnsZones": ("2018-05-01", "TTL", "TXTRecords", {"example.com"}),
         "privateDnsZones": ("2018-09-01", "ttl", "txtRecords", {"internal.example.com"})}
LOCK = threading.Lock()
STATE = {"sets": {"dnsZones/example.com/_acme-challenge": {"ttl": 3600, "values": ["keep-me"],
                                                           "etag": "e-0"}},
         "violations": [], "log": [], "ratelimit": 0, "conflict": False, "tokens": set(),
         "next": 0}


def etag():
    STATE["next"] += 1
    return "e-%d" % STATE["next"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=None):
        data = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def arm_error(self, status, code, message):
        return self.reply(status, {"error": {"code": code, "message": message}})

    def violation(self, what):
        STATE["violations"].append("%s %s: %s" % (self.command, self.path, what))
        return self.arm_error(400, "BadRequest", "mock: " + what)

    def handle_any(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with LOCK:
            if u.path == "/__control/ratelimit":
                STATE["ratelimit"] = int(q.get("count", ["1"])[0])
                return self.reply(200, {"ok": True})
            if u.path == "/__control/conflict":
                STATE["conflict"] = True
                return self.reply(200, {"ok": True})
            if u.path == "/__control/state":
                return self.reply(200, {k: STATE[k] for k in ("sets", "violations", "log")})
            entry = {"method": self.command, "path": u.path, "query": u.query,
                     "body": body.decode(errors="replace"),
                     "content_type": self.headers.get("Content-Type"),
                     "if_match": self.headers.get("If-Match"),
                     "if_none_match": self.headers.get("If-None-Match"), "answer": 200}
            STATE["log"].append(entry)
            m = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", u.path)
            if m:
                return self.token(unquote(m.group(1)), body, entry)
            if STATE["ratelimit"] > 0:
                STATE["ratelimit"] -= 1
                entry["answer"] = 429
                return self.reply(429, {"error": {"code": "TooManyRequests", "message":
                                                  "The request is being throttled."}},
                                  {"Retry-After": "1"})
            auth = self.headers.get("Authorization") or ""
            if not auth.startswith("Bearer ") or auth[7:] not in STATE["tokens"]:
                entry["answer"] = 401
                return self.arm_error(401, "AuthenticationFailed",
                                      "Authentication failed. The 'Authorization' header is "
                                      "missing or invalid.")
            return self.arm(u, q, body, entry)

    def token(self, tenant, body, entry):
        if self.command != "POST" or entry["content_type"] != "application/x-www-form-urlencoded":
            return self.violation("token: POST application/x-www-form-urlencoded expected")
        f = parse_qs(body.decode(), keep_blank_values=True)
        if set(f) != {"grant_type", "client_id", "client_secret", "scope"} or \
                f["grant_type"] != ["client_credentials"] or f["scope"] != [SCOPE]:
            return self.violation("token: form %r" % sorted(f))
        if tenant != TENANT:
            entry["answer"] = 400
            return self.reply(400, {"error": "invalid_request", "error_description":
                                    "AADSTS90002: Tenant '%s' not found." % tenant})
        if f["client_id"] != [CID] or f["client_secret"] != [SECRET]:
            entry["answer"] = 401
            return self.reply(401, {"error": "invalid_client", "error_description":
                                    "AADSTS7000215: Invalid client secret provided.",
                                    "error_codes": [7000215]})
        tok = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(32)
        STATE["tokens"].add(tok)
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
            entry["answer"] = 404
            return self.arm_error(404, "SubscriptionNotFound", "The subscription could not be found.")
        if rg != "rg1":
            entry["answer"] = 404
            return self.arm_error(404, "ResourceGroupNotFound", "Resource group '%s' could not be found." % rg)
        if zone not in zones:
            entry["answer"] = 404
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
        cur = STATE["sets"].get(key)

        def view(rs, status=200):
            return self.reply(status, {
                "id": u.path, "name": rel, "type": "Microsoft.Network/%s/TXT" % kind,
                "etag": rs["etag"], "properties": {
                    "fqdn": ("%s.%s." % (rel, zone)) if rel != "@" else zone + ".",
                    kttl: rs["ttl"], krecs: [{"value": [v]} for v in rs["values"]]}})

        if self.command == "GET":
            if cur is None:
                entry["answer"] = 404
                return self.arm_error(404, "NotFound", "The resource record '%s' does not exist "
                                      "in resource group 'rg1' of subscription '%s'." % (rel, sub))
            return view(cur)
        if self.command not in ("PUT", "DELETE"):
            return self.violation("unexpected method")
        if STATE["conflict"]:
            STATE["conflict"] = False
            if cur is None:
                cur = STATE["sets"][key] = {"ttl": 60, "values": [], "etag": ""}
            cur["values"].append("intruder")
            cur["etag"] = etag()
        im, inm = entry["if_match"], entry["if_none_match"]
        if self.command == "DELETE":
            if body:
                return self.violation("DELETE has no body")
            if cur is None:
                entry["answer"] = 204
                return self.reply(204, None)
            if im is None:
                return self.violation("DELETE without If-Match")
            if im != cur["etag"]:
                entry["answer"] = 412
                return self.arm_error(412, "PreconditionFailed", "The condition '%s' in the "
                                      "If-Match header was not satisfied." % im)
            del STATE["sets"][key]
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
            entry["answer"] = 412
            return self.arm_error(412, "PreconditionFailed", "The precondition was not satisfied.")
        new = {"ttl": p[kttl], "values": ["".join(r["value"]) for r in p[krecs]], "etag": etag()}
        STATE["sets"][key] = new
        entry["answer"] = 201 if cur is None else 200
        return view(new, entry["answer"])

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
