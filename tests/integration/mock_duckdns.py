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

Usage: mock_duckdns.py PORT|PORTFILE TOKEN SUBDOMAIN
"""
import sys
from urllib.parse import parse_qsl

from mock_base import MockHandler, serve

TOKEN, SUB = sys.argv[2:4]


class Handler(MockHandler):
    STATE = {"txt": {SUB: ""}, "violations": [], "log": [], "ratelimit": 0}
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

    def route(self, u, q, body, entry):
        st = self.STATE
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
