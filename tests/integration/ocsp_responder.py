#!/usr/bin/env python3
"""A test OCSP responder: answers every POST (and GET) with the bytes of the
file RESPONSE (read per request, so a test switches answers by replacing
it: good / garbage) as application/ocsp-response, and appends one line per
request to RESPONSE.log. Bound to 127.0.0.1 only (never `openssl ocsp
-port`, which binds every interface).

  ocsp_responder.py PORT RESPONSE
"""
import http.server
import sys

PORT, RESPONSE = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, body_len):
        with open(RESPONSE, "rb") as f:
            data = f.read()
        with open(RESPONSE + ".log", "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, body_len))
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        self.answer(n)

    def do_GET(self):
        self.answer(0)

    def log_message(self, fmt, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
