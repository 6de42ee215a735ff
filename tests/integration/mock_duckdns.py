#!/usr/bin/env python3
"""A local stand-in for the DuckDNS update API (python3 stdlib).

Follows https://www.duckdns.org/spec.jsp: GET /update?domains=<sub>&token=
<token>&txt=<value>[&clear=true][&verbose=true]; the answer is text/plain
"OK" or "KO" (with verbose: "OK\\n<txt>\\nUPDATED|NOCHANGE"). A bad token or
a subdomain of another account gives "KO" with status 200, as the real API.
Each subdomain holds one TXT value. Requests not matching the documented form
(method, path, parameters) are answered 400 and recorded as violations.

Log entries are {"method", "path", "params" (the token masked), "answer"
("OK", "KO" or the status)}. Control and log: mock_base.py; GET
/__control/state returns {"txt", "violations", "log"}.

Echo mode (a misbehaving endpoint that repeats the request, secrets
included, in its error page): POST /__control/echo?mode=M makes every later
/update answer 500 with a text body built from the request:
  raw       the request line, then the query
  pct       the query with every byte percent-encoded (%XX, upper case)
  pctlower  the same with lower-case hex
  plus      the query form-encoded (quote_plus), then the raw query
mode=off ends it.

Usage: mock_duckdns.py PORT|PORTFILE TOKEN SUBDOMAIN
"""
import sys
from urllib.parse import parse_qsl, quote_plus

from mock_base import MockHandler, serve

TOKEN, SUB = sys.argv[2:4]


def pct_all(text, lower=False):
    out = "".join("%%%02X" % b for b in text.encode())
    return out.lower() if lower else out


class Handler(MockHandler):
    STATE = {"txt": {SUB: ""}, "violations": [], "log": [], "ratelimit": 0, "echo": "off"}
    SHOWN = ("txt", "violations", "log")
    RATE_LIMITED_BODY = "Too Many Requests"

    def reply(self, status, obj, headers=None, ctype=None):
        if ctype is None:
            ctype = "text/plain; charset=UTF-8" if isinstance(obj, str) else "application/json"
        return super().reply(status, obj, headers, ctype)

    def violation_body(self, message):
        return message

    def log_entry(self, u, body):
        return {"method": self.command, "path": u.path,
                "params": {k: ("<token>" if k == "token" else v)
                           for k, v in parse_qsl(u.query, keep_blank_values=True)}}

    def control(self, name, q):
        if name == "echo":
            self.STATE["echo"] = q.get("mode", ["off"])[0]
            return self.reply(200, {"ok": True})
        return super().control(name, q)

    def echo(self, u):
        mode = self.STATE["echo"]
        if mode == "raw":
            text = "%s %s %s\n%s\n" % (self.command, self.path, self.request_version, u.query)
        elif mode in ("pct", "pctlower"):
            text = "bad request: %s\n" % pct_all(u.query, mode == "pctlower")
        else:
            text = "bad request: %s\n%s\n" % (quote_plus(u.query), u.query)
        return self.reply(500, text)

    def route(self, u, q, body, entry):
        st = self.STATE
        if st["echo"] != "off":
            return self.echo(u)
        pairs = parse_qsl(u.query, keep_blank_values=True)
        q = dict(pairs)
        if self.command != "GET" or u.path != "/update":
            return self.violation("only GET /update")
        if len(pairs) != len(q):
            return self.violation("repeated parameter")
        keys = set(q)
        if not {"domains", "token", "txt"} <= keys or keys - {"domains", "token", "txt", "clear",
                                                              "verbose"}:
            return self.violation("parameters: domains, token, txt, clear?, verbose?")
        if "clear" in q and (q["clear"] != "true" or q["txt"] != ""):
            return self.violation("clear=true goes with an empty txt")
        if "clear" not in q and q["txt"] == "":
            return self.violation("empty txt without clear=true")
        if "verbose" in q and q["verbose"] != "true":
            return self.violation("verbose=true only")
        if q["token"] != TOKEN or q["domains"] != SUB:
            self.reply(200, "KO")
            entry["answer"] = "KO"
            return None
        old = st["txt"][SUB]
        st["txt"][SUB] = "" if "clear" in q else q["txt"]
        if "verbose" in q:
            self.reply(200, "OK\n%s\n%s" % (st["txt"][SUB],
                       "UPDATED" if old != st["txt"][SUB] else "NOCHANGE"))
        else:
            self.reply(200, "OK")
        entry["answer"] = "OK"
        return None


if __name__ == "__main__":
    serve(Handler, sys.argv[1])
