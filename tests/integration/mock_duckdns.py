#!/usr/bin/env python3
"""A local stand-in for the DuckDNS update API (python3 stdlib).

Follows https://www.duckdns.org/spec.jsp: GET /update?domains=<sub>&token=
<token>&txt=<value>[&clear=true][&verbose=true]; the answer is text/plain
"OK" or "KO" (with verbose: "OK\\n<txt>\\nUPDATED|NOCHANGE"). A bad token or
a subdomain of another account gives "KO" with status 200, as the real API.
Each subdomain holds one TXT value. Requests not matching the documented form
(method, path, parameters) are answered 400 and recorded as violations.

Control (tests only): POST /__control/ratelimit?count=N (next N API requests
answer 429 with Retry-After: 1); GET /__control/state ->
{"txt", "violations", "log"} (log entries have the token masked).

Usage: mock_duckdns.py PORTFILE TOKEN SUBDOMAIN
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

PORTFILE, TOKEN, SUB = sys.argv[1:4]
LOCK = threading.Lock()
STATE = {"txt": {SUB: ""}, "violations": [], "log": [], "ratelimit": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, text, headers=None, ctype="text/plain; charset=UTF-8"):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def violation(self, what):
        STATE["violations"].append("%s %s: %s" % (self.command, urlsplit(self.path).path, what))
        self.reply(400, "mock: " + what)

    def handle_any(self):
        u = urlsplit(self.path)
        pairs = parse_qsl(u.query, keep_blank_values=True)
        q = dict(pairs)
        with LOCK:
            if u.path == "/__control/ratelimit":
                STATE["ratelimit"] = int(q.get("count", "1"))
                return self.reply(200, "{}", ctype="application/json")
            if u.path == "/__control/state":
                return self.reply(200, json.dumps({k: STATE[k] for k in ("txt", "violations", "log")}),
                                  ctype="application/json")
            entry = {"method": self.command, "path": u.path,
                     "params": {k: ("<token>" if k == "token" else v) for k, v in pairs}}
            STATE["log"].append(entry)
            if STATE["ratelimit"] > 0:
                STATE["ratelimit"] -= 1
                entry["answer"] = 429
                return self.reply(429, "Too Many Requests", {"Retry-After": "1"})
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
                entry["answer"] = "KO"
                return self.reply(200, "KO")
            old = STATE["txt"][SUB]
            STATE["txt"][SUB] = "" if "clear" in q else q["txt"]
            entry["answer"] = "OK"
            if "verbose" in q:
                return self.reply(200, "OK\n%s\n%s" % (STATE["txt"][SUB],
                                  "UPDATED" if old != STATE["txt"][SUB] else "NOCHANGE"))
            return self.reply(200, "OK")

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
