#!/usr/bin/env python3
"""A local stand-in for Google's OAuth 2.0 token endpoint, the IAM Credentials
API and the Cloud DNS API v1 (python3 stdlib).

Follows the public documentation:
- POST /token (application/x-www-form-urlencoded: grant_type=
  urn:ietf:params:oauth:grant-type:jwt-bearer, assertion=<JWT>): the JWT's
  header must be {"alg":"RS256","typ":"JWT"}, its claims exactly iss, scope,
  aud (this endpoint's URL), iat (now +- 5 min), exp = iat + 3600, and its
  RS256 signature must verify with the test's RSA public key (modulus given
  on the command line; e = 65537; PKCS#1 v1.5 checked with pow()). Else 400
  {"error":"invalid_grant"}. Success: {"access_token","expires_in":3599,
  "token_type":"Bearer"}.
- POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken (Bearer
  token of scope cloud-platform; body {"scope":[...],"lifetime"}) ->
  {"accessToken","expireTime"}.
- /dns/v1/projects/<project>/managedZones?dnsName=, .../managedZones/<zone>/
  rrsets?name=&type=, POST .../changes {additions, deletions} (deletions
  must equal the current set: else 412 conditionNotMet; additions of an
  existing set not deleted: 409 alreadyExists), GET .../changes/<id>
  (pending when created, done when polled). Bearer token of the DNS scope
  (or cloud-platform), else 401 UNAUTHENTICATED.
Requests not matching the documented form are answered 400 and recorded as
violations.

Control and log: mock_base.py (only DNS API requests are rate limited), plus
POST /__control/conflict (before the next change, another writer adds
"intruder" to the set it changes); GET /__control/state -> {"rrsets",
"violations", "log", "assertions"}.

Zones of project my-proj: example-com (example.com., public) and
internal-example-com (internal.example.com., private). Initial data:
_acme-challenge.example.com. TXT "keep-me".

Usage: mock_gcloud.py PORT|PORTFILE CLIENT_EMAIL MODULUS_HEX IMPERSONATE_TARGET
"""
import base64
import hashlib
import json
import re
import secrets
import sys
import time
from urllib.parse import parse_qs, unquote, urlsplit

from mock_base import MockHandler, serve

EMAIL, MODULUS, TARGET = sys.argv[2:5]
N = int(MODULUS, 16)
SCOPE_DNS = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
SCOPE_CLOUD = "https://www.googleapis.com/auth/cloud-platform"
PROJECT = "my-proj"
ZONES = {"example-com": ("example.com.", "public"),
         "internal-example-com": ("internal.example.com.", "private")}


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rsa_verify(msg, sig):
    k = (N.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    m = pow(int.from_bytes(sig, "big"), 65537, N).to_bytes(k, "big")
    di = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(msg).digest()
    return m == b"\x00\x01" + b"\xff" * (k - 3 - len(di)) + b"\x00" + di


def gerror_body(status, reason, message, st):
    return {"error": {"code": status, "message": message, "status": st,
                      "errors": [{"reason": reason, "message": message}]}}


class Handler(MockHandler):
    STATE = {"rrsets": {"example-com": [{"name": "_acme-challenge.example.com.", "type": "TXT",
                                         "ttl": 300, "rrdatas": ["\"keep-me\""]}],
                        "internal-example-com": []},
             "violations": [], "log": [], "assertions": [], "ratelimit": 0, "conflict": False,
             "tokens": {}, "changes": {}, "next": 0}
    SHOWN = ("rrsets", "violations", "log", "assertions")
    RATE_LIMITED_BODY = {"error": {"code": 429, "message": "Quota exceeded",
                                   "status": "RESOURCE_EXHAUSTED"}}

    def gerror(self, status, reason, message, st):
        return self.reply(status, gerror_body(status, reason, message, st))

    def violation_body(self, message):
        return gerror_body(400, "invalid", message, "INVALID_ARGUMENT")

    def control(self, name, q):
        if name != "conflict":
            return super().control(name, q)
        self.STATE["conflict"] = True
        return self.reply(200, {"ok": True})

    def rate_limited(self):
        if not urlsplit(self.path).path.startswith("/dns/v1/"):
            return False
        return super().rate_limited()

    def check_auth(self, u, q, body, entry):
        auth = self.headers.get("Authorization") or ""
        scope = self.STATE["tokens"].get(auth[7:]) if auth.startswith("Bearer ") else None
        if scope in (SCOPE_DNS, SCOPE_CLOUD):
            return True
        self.gerror(401, "authError", "Request had invalid authentication credentials.",
                    "UNAUTHENTICATED")
        return False

    def dispatch(self, u, q, body, entry):
        if u.path == "/token":
            return self.token(body, entry)
        m = re.fullmatch(r"/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken", u.path)
        if m:
            return self.impersonate(unquote(m.group(1)), body, entry)
        if not u.path.startswith("/dns/v1/"):
            return self.violation("unknown endpoint")
        return super().dispatch(u, q, body, entry)

    def route(self, u, q, body, entry):
        return self.dns(u, q, body, entry)

    def token(self, body, entry):
        if self.command != "POST" or entry["content_type"] != "application/x-www-form-urlencoded":
            return self.violation("token: POST application/x-www-form-urlencoded expected")
        f = parse_qs(body.decode(), keep_blank_values=True)
        if set(f) != {"grant_type", "assertion"} or \
                f["grant_type"] != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return self.violation("token: form must be grant_type=jwt-bearer&assertion")
        jwt = f["assertion"][0]
        self.STATE["assertions"].append(jwt)
        parts = jwt.split(".")
        try:
            hdr, claims, sig = json.loads(b64d(parts[0])), json.loads(b64d(parts[1])), b64d(parts[2])
        except (ValueError, IndexError):
            return self.violation("token: assertion is not a JWT")
        if len(parts) != 3 or hdr != {"alg": "RS256", "typ": "JWT"}:
            return self.violation("token: JWT header must be {alg:RS256,typ:JWT}: %r" % (hdr,))
        now = int(time.time())
        if (set(claims) != {"iss", "scope", "aud", "iat", "exp"} or
                claims["aud"] != "http://127.0.0.1:%d/token" % self.PORT or
                claims["scope"] not in (SCOPE_DNS, SCOPE_CLOUD) or
                not isinstance(claims["iat"], int) or abs(claims["iat"] - now) > 300 or
                claims["exp"] != claims["iat"] + 3600):
            return self.violation("token: bad claims %r" % (claims,))
        if claims["iss"] != EMAIL or not rsa_verify((parts[0] + "." + parts[1]).encode(), sig):
            return self.reply(400, {"error": "invalid_grant",
                                    "error_description": "Invalid JWT Signature."})
        tok = "ya29." + secrets.token_urlsafe(24)
        self.STATE["tokens"][tok] = claims["scope"]
        return self.reply(200, {"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})

    def impersonate(self, target, body, entry):
        auth = self.headers.get("Authorization") or ""
        if self.STATE["tokens"].get(auth[7:]) != SCOPE_CLOUD:
            return self.gerror(401, "authError", "invalid credentials", "UNAUTHENTICATED")
        try:
            b = json.loads(body)
        except ValueError:
            return self.violation("generateAccessToken: body is not JSON")
        if self.command != "POST" or entry["content_type"] != "application/json" or \
                not isinstance(b, dict) or b.get("scope") != [SCOPE_DNS] or \
                set(b) - {"scope", "lifetime", "delegates"}:
            return self.violation("generateAccessToken: bad request %r" % (b,))
        if target != TARGET:
            return self.gerror(403, "forbidden", "Permission iam.serviceAccounts."
                               "getAccessToken denied", "PERMISSION_DENIED")
        tok = "ya29.imp-" + secrets.token_urlsafe(24)
        self.STATE["tokens"][tok] = SCOPE_DNS
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return self.reply(200, {"accessToken": tok, "expireTime": exp})

    def dns(self, u, q, body, entry):
        m = re.fullmatch(r"/dns/v1/projects/([^/]+)/managedZones(?:/([^/]+)(/rrsets|/changes(?:/([^/]+))?)?)?",
                         u.path)
        if not m:
            return self.violation("unknown DNS path")
        if m.group(1) != PROJECT:
            return self.gerror(403, "forbidden", "Forbidden", "PERMISSION_DENIED")
        zone, sub, cid = m.group(2), m.group(3), m.group(4)
        if zone is None:
            if self.command != "GET" or set(q) != {"dnsName"} or not q["dnsName"][0].endswith("."):
                return self.violation("managedZones list: GET ?dnsName=<name.> expected")
            res = [{"kind": "dns#managedZone", "name": n, "dnsName": d, "visibility": v, "id": str(i)}
                   for i, (n, (d, v)) in enumerate(sorted(ZONES.items())) if d == q["dnsName"][0]]
            return self.reply(200, {"kind": "dns#managedZonesListResponse", "managedZones": res})
        if zone not in ZONES:
            return self.gerror(404, "notFound", "The 'parameters.managedZone' resource named "
                               "'%s' does not exist." % zone, "NOT_FOUND")
        sets = self.STATE["rrsets"][zone]
        if sub == "/rrsets":
            if self.command != "GET" or set(q) != {"name", "type"} or q["type"] != ["TXT"] or \
                    not q["name"][0].endswith("."):
                return self.violation("rrsets: GET ?name=<fqdn.>&type=TXT expected")
            res = [r for r in sets if r["name"] == q["name"][0] and r["type"] == "TXT"]
            return self.reply(200, {"kind": "dns#resourceRecordSetsListResponse", "rrsets": res})
        if cid is not None:
            if self.command != "GET" or cid not in self.STATE["changes"]:
                return self.violation("changes/<id>: GET of a known change expected")
            self.STATE["changes"][cid]["status"] = "done"
            return self.reply(200, self.STATE["changes"][cid])
        if sub != "/changes" or self.command != "POST" or entry["content_type"] != "application/json":
            return self.violation("changes: POST application/json expected")
        try:
            b = json.loads(body)
        except ValueError:
            return self.violation("changes: body is not JSON")
        if not isinstance(b, dict) or not b or set(b) - {"additions", "deletions"}:
            return self.violation("changes: body must be {additions, deletions}")
        dom = ZONES[zone][0]
        for r in b.get("additions", []) + b.get("deletions", []):
            if (not isinstance(r, dict) or set(r) - {"name", "type", "ttl", "rrdatas", "kind"} or
                    r.get("type") != "TXT" or not isinstance(r.get("ttl"), int) or
                    not isinstance(r.get("name"), str) or not r["name"].endswith("." + dom) or
                    not isinstance(r.get("rrdatas"), list) or not r["rrdatas"] or
                    not all(isinstance(d, str) and len(d) >= 2 and d[0] == d[-1] == '"'
                            for d in r["rrdatas"])):
                return self.violation("changes: bad rrset %r" % (r,))
        if self.STATE["conflict"]:
            self.STATE["conflict"] = False
            name = (b.get("additions") or b.get("deletions"))[0]["name"]
            cur = [r for r in sets if r["name"] == name]
            if cur:
                cur[0]["rrdatas"].append("\"intruder\"")
            else:
                sets.append({"name": name, "type": "TXT", "ttl": 60, "rrdatas": ["\"intruder\""]})
        for d in b.get("deletions", []):
            cur = [r for r in sets if r["name"] == d["name"] and r["type"] == "TXT"]
            if not cur or cur[0]["ttl"] != d["ttl"] or cur[0]["rrdatas"] != d["rrdatas"]:
                return self.gerror(412, "conditionNotMet", "Precondition not met for "
                                   "'entity.change.deletions[0]'", "FAILED_PRECONDITION")
        deleted = {d["name"] for d in b.get("deletions", [])}
        for a in b.get("additions", []):
            if a["name"] not in deleted and any(r["name"] == a["name"] for r in sets):
                return self.gerror(409, "alreadyExists", "The resource 'entity.change.additions"
                                   "[0]' named '%s (TXT)' already exists" % a["name"], "ALREADY_EXISTS")
        self.STATE["rrsets"][zone] = sets = [r for r in sets if r["name"] not in deleted]
        for a in b.get("additions", []):
            sets.append({"name": a["name"], "type": "TXT", "ttl": a["ttl"], "rrdatas": a["rrdatas"]})
        self.STATE["next"] += 1
        cid = str(self.STATE["next"])
        self.STATE["changes"][cid] = {"kind": "dns#change", "id": cid, "status": "pending",
                                      "additions": b.get("additions", []),
                                      "deletions": b.get("deletions", [])}
        return self.reply(200, self.STATE["changes"][cid])


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
