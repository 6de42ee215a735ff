#!/usr/bin/env python3
"""A local stand-in for the Amazon Route 53 REST API 2013-04-01 (python3 stdlib).

Follows the public API reference: GET /2013-04-01/hostedzonesbyname,
GET /2013-04-01/hostedzone/{Id}/rrset (ListResourceRecordSets),
POST /2013-04-01/hostedzone/{Id}/rrset/ (ChangeResourceRecordSets, XML),
GET /2013-04-01/change/{Id} (GetChange). Every request must carry a valid AWS
Signature V4 (recomputed here with the shared secret; region us-east-1,
service route53) or it is answered 403 (InvalidClientTokenId for an unknown
key, SignatureDoesNotMatch otherwise), as the real API does. A change batch is
applied atomically with Route 53's rules: DELETE must match the current set
exactly (TTL and values), CREATE must not find a set; otherwise 400
InvalidChangeBatch. UPSERT is recorded as a violation (the provider must not
replace sets blindly). Requests that do not match the documented form are
answered 400 and recorded as violations.

Log entries also carry "signed_headers" and "scope" (from a well-formed
Authorization) and, for an applied change, "actions". Control and log:
mock_base.py, plus POST /__control/sneak?value=V (right after the next
ListResourceRecordSets answer, V is added to that set, as a concurrent writer
would); GET /__control/state -> {"sets", "violations", "log"}.

Initial data: zone example.com (public Z1EXAMPLE, and a private zone of the
same name Z9PRIVATE listed first), TXT set _acme-challenge.example.com. with
one foreign value "keep-me" and TTL 600.

Usage: mock_route53.py PORT|PORTFILE ACCESS_KEY_ID SECRET
"""
import hashlib
import hmac
import re
import sys
import xml.etree.ElementTree as ET

from mock_base import MockHandler, serve

AKID, SECRET = sys.argv[2:4]
NS = "https://route53.amazonaws.com/doc/2013-04-01/"
ZONES = [("Z9PRIVATE", "example.com.", True), ("Z1EXAMPLE", "example.com.", False),
         ("Z2OTHER", "other.org.", False)]


def err_doc(code, msg):
    return ('<?xml version="1.0"?>\n<ErrorResponse xmlns="%s"><Error><Type>Sender</Type>'
            '<Code>%s</Code><Message>%s</Message></Error><RequestId>mock</RequestId>'
            '</ErrorResponse>' % (NS, code, msg))


def sign_key(date, region, service):
    k = hmac.new(("AWS4" + SECRET).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


class Handler(MockHandler):
    STATE = {"sets": {"Z1EXAMPLE|_acme-challenge.example.com.": {"ttl": 600,
                                                                 "values": ['"keep-me"']}},
             "violations": [], "log": [], "ratelimit": 0, "sneak": None, "changes": {},
             "nchange": 0}
    SHOWN = ("sets", "violations", "log")
    RATE_LIMITED_BODY = err_doc("Throttling", "Rate exceeded")

    def reply(self, status, obj, headers=None, ctype=None):
        if ctype is None:
            ctype = "text/xml" if isinstance(obj, str) else "application/json"
        return super().reply(status, obj, headers, ctype)

    def violation_body(self, message):
        return err_doc("InvalidInput", message)

    def control(self, name, q):
        if name != "sneak":
            return super().control(name, q)
        self.STATE["sneak"] = q["value"][0]
        return self.reply(200, {})

    def check_sig(self, u, body, entry):
        """Returns None when the SigV4 signature is valid, else (code, message)."""
        auth = self.headers.get("Authorization") or ""
        m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                         r" ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})", auth)
        if not m:
            return ("MissingAuthenticationToken", "Missing Authentication Token")
        akid, date, region, service, signed, sig = m.groups()
        entry["signed_headers"] = signed
        entry["scope"] = "%s/%s" % (region, service)
        if akid != AKID:
            return ("InvalidClientTokenId", "The security token included in the request is invalid.")
        amzdate = self.headers.get("X-Amz-Date") or ""
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names or not amzdate.startswith(date):
            return ("IncompleteSignature", "host and x-amz-date must be signed")
        if region != "us-east-1" or service != "route53":
            return ("SignatureDoesNotMatch", "Credential should be scoped to a valid region")
        canon_headers = "".join("%s:%s\n" % (n, " ".join((self.headers.get(n) or "").split()))
                                for n in names)
        creq = "\n".join([self.command, u.path, u.query, canon_headers, signed,
                          hashlib.sha256(body).hexdigest()])
        sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, "%s/%s/%s/aws4_request" % (date, region, service),
                         hashlib.sha256(creq.encode()).hexdigest()])
        want = hmac.new(sign_key(date, region, service), sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            return ("SignatureDoesNotMatch", "The request signature we calculated does not match "
                    "the signature you provided.")
        return None

    def check_auth(self, u, q, body, entry):
        bad = self.check_sig(u, body, entry)
        if bad:
            self.reply(403, err_doc(*bad))
        return not bad

    def route(self, u, q, body, entry):
        if u.path == "/2013-04-01/hostedzonesbyname" and self.command == "GET":
            if set(q) - {"dnsname", "maxitems", "hostedzoneid"} or "dnsname" not in q:
                return self.violation("hostedzonesbyname query: dnsname, maxitems")
            if list(q) != sorted(q):
                return self.violation("query parameters not in canonical (sorted) order")
            name = q["dnsname"][0].rstrip(".") + "."
            zs = [z for z in ZONES if z[1] >= name][:int(q.get("maxitems", ["100"])[0])]
            x = "".join("<HostedZone><Id>/hostedzone/%s</Id><Name>%s</Name><CallerReference>r"
                        "</CallerReference><Config><PrivateZone>%s</PrivateZone></Config>"
                        "<ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>"
                        % (i, n, "true" if p else "false") for i, n, p in zs)
            return self.reply(200, '<?xml version="1.0"?>\n<ListHostedZonesByNameResponse xmlns="%s">'
                              "<HostedZones>%s</HostedZones><DNSName>%s</DNSName><IsTruncated>false"
                              "</IsTruncated><MaxItems>%s</MaxItems></ListHostedZonesByNameResponse>"
                              % (NS, x, name, q.get("maxitems", ["100"])[0]))
        m = re.fullmatch(r"/2013-04-01/change/(C[0-9A-Z]+)", u.path)
        if m and self.command == "GET":
            c = self.STATE["changes"].get(m.group(1))
            if c is None:
                return self.reply(404, err_doc("NoSuchChange", "no such change"))
            c["polls"] += 1
            return self.reply(200, '<?xml version="1.0"?>\n<GetChangeResponse xmlns="%s"><ChangeInfo>'
                              "<Id>/change/%s</Id><Status>INSYNC</Status><SubmittedAt>"
                              "2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>"
                              % (NS, m.group(1)))
        m = re.fullmatch(r"/2013-04-01/hostedzone/([0-9A-Z]+)/rrset(/?)", u.path)
        if not m or m.group(1) not in [z[0] for z in ZONES]:
            return self.reply(404, err_doc("NoSuchHostedZone", "No hosted zone found"))
        zid = m.group(1)
        if self.command == "GET" and m.group(2) == "":
            if set(q) - {"name", "type", "maxitems", "identifier"} or "name" not in q:
                return self.violation("rrset query: name, type, maxitems")
            if list(q) != sorted(q):
                return self.violation("query parameters not in canonical (sorted) order")
            name = q["name"][0]
            keys = sorted(k for k in self.STATE["sets"] if k.startswith(zid + "|") and k.split("|")[1] >= name)
            x = ""
            for k in keys[:int(q.get("maxitems", ["100"])[0])]:
                s = self.STATE["sets"][k]
                x += ("<ResourceRecordSet><Name>%s</Name><Type>TXT</Type><TTL>%d</TTL><ResourceRecords>"
                      % (k.split("|")[1], s["ttl"]) +
                      "".join("<ResourceRecord><Value>%s</Value></ResourceRecord>" % v
                              for v in s["values"]) + "</ResourceRecords></ResourceRecordSet>")
            self.reply(200, '<?xml version="1.0"?>\n<ListResourceRecordSetsResponse xmlns="%s">'
                       "<ResourceRecordSets>%s</ResourceRecordSets><IsTruncated>false</IsTruncated>"
                       "<MaxItems>%s</MaxItems></ListResourceRecordSetsResponse>"
                       % (NS, x, q.get("maxitems", ["100"])[0]))
            if self.STATE["sneak"]:
                s = self.STATE["sets"].setdefault(zid + "|" + name, {"ttl": 60, "values": []})
                s["values"].append('"%s"' % self.STATE["sneak"])
                self.STATE["sneak"] = None
            return None
        if self.command == "POST" and m.group(2) == "/":
            return self.change(zid, body, entry)
        return self.violation("unexpected request")

    def change(self, zid, body, entry):
        if self.headers.get("Content-Type") not in ("application/xml", "text/xml"):
            return self.violation("Content-Type must be XML")
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return self.violation("body is not XML")
        if root.tag != "{%s}ChangeResourceRecordSetsRequest" % NS:
            return self.violation("root element must be ChangeResourceRecordSetsRequest in the API namespace")
        changes = root.findall("./{%s}ChangeBatch/{%s}Changes/{%s}Change" % (NS, NS, NS))
        if not changes:
            return self.violation("no changes")
        new = {k: {"ttl": v["ttl"], "values": list(v["values"])} for k, v in self.STATE["sets"].items()}
        actions = []
        for c in changes:
            act = c.findtext("{%s}Action" % NS)
            rs = c.find("{%s}ResourceRecordSet" % NS)
            if rs is None or act not in ("CREATE", "DELETE", "UPSERT"):
                return self.violation("bad Change")
            if act == "UPSERT":
                return self.violation("UPSERT replaces the whole set; not append-only")
            name = rs.findtext("{%s}Name" % NS)
            typ = rs.findtext("{%s}Type" % NS)
            ttl = rs.findtext("{%s}TTL" % NS)
            vals = [v.text for v in rs.findall("./{%s}ResourceRecords/{%s}ResourceRecord/{%s}Value"
                                               % (NS, NS, NS))]
            if typ != "TXT" or not name or not name.endswith(".") or not ttl or not ttl.isdigit() or not vals:
                return self.violation("ResourceRecordSet must have Name (absolute), Type TXT, TTL, values")
            if any(not (v and len(v) >= 2 and v[0] == '"' and v[-1] == '"') for v in vals):
                return self.violation("TXT values must be quoted")
            if len(set(vals)) != len(vals):
                return self.reply(400, err_doc("InvalidChangeBatch", "Duplicate Resource Record"))
            key = zid + "|" + name
            actions.append(act)
            if act == "DELETE":
                cur = new.get(key)
                if cur is None or cur["ttl"] != int(ttl) or sorted(cur["values"]) != sorted(vals):
                    return self.reply(400, err_doc("InvalidChangeBatch", "[Tried to delete resource "
                                      "record set [name='%s', type='TXT'] but the values provided do "
                                      "not match the current values]" % name))
                del new[key]
            else:
                if key in new:
                    return self.reply(400, err_doc("InvalidChangeBatch", "[Tried to create resource "
                                      "record set [name='%s', type='TXT'] but it already exists]" % name))
                new[key] = {"ttl": int(ttl), "values": vals}
        self.STATE["sets"] = new
        entry["actions"] = actions
        self.STATE["nchange"] += 1
        cid = "C%08dMOCK" % self.STATE["nchange"]
        self.STATE["changes"][cid] = {"polls": 0}
        return self.reply(200, '<?xml version="1.0"?>\n<ChangeResourceRecordSetsResponse xmlns="%s">'
                          "<ChangeInfo><Id>/change/%s</Id><Status>PENDING</Status><SubmittedAt>"
                          "2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo>"
                          "</ChangeResourceRecordSetsResponse>" % (NS, cid))


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
