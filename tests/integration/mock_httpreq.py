#!/usr/bin/env python3
"""mock_httpreq.py - a stand-in for a lego "httpreq" backend (python3 stdlib).

Usage: mock_httpreq.py PORTFILE LOGFILE USER PASSWORD

Binds 127.0.0.1 on a free port, writes the port to PORTFILE, and records every
request as one JSON line in LOGFILE: method, path, content_type, authorization
(decoded "user:password" or null), body (raw text). Answers:
  401 {"error":"bad credentials"}  when Basic credentials do not match
  500 "backend exploded: zone locked" for paths under /fail/
  200 "ok" otherwise.
"""
import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PORTFILE, LOGFILE, USER, PASSWORD = sys.argv[1:5]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length > 65536:
            length = 65536
        body = self.rfile.read(length).decode("utf-8", "replace")
        auth = self.headers.get("Authorization")
        decoded = None
        if auth and auth.startswith("Basic "):
            decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
        with open(LOGFILE, "a") as f:
            f.write(json.dumps({
                "method": self.command,
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "authorization": decoded,
                "body": body,
            }) + "\n")
        if decoded != USER + ":" + PASSWORD:
            self.answer(401, b'{"error":"bad credentials"}')
        elif self.path.startswith("/fail/"):
            self.answer(500, b"backend exploded: zone locked")
        else:
            self.answer(200, b"ok")

    do_GET = do_POST
    do_PUT = do_POST

    def answer(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
