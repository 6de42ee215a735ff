"""mock_base.py - the common part of the DNS provider API mocks (python3 stdlib).

A mock subclasses MockHandler, sets STATE (a dict holding at least
"violations", "log" and "ratelimit"), SHOWN (the STATE keys that
GET /__control/state returns) and implements route(u, q, body, entry); it may
override check_auth (True, or False after answering the failure itself),
dispatch (the order of auth and routing), log_entry (the recorded fields),
control (its own /__control/ endpoints), violation_body and RATE_LIMITED_BODY.
Then it calls serve(Handler, sys.argv[1]).

Common behaviour:
- every request but /__control/ is appended to STATE["log"] as a dict
  (method, path, query, body, content_type, answer = the status sent, plus
  what log_entry adds; always t = monotonic arrival time in s) and, when the environment names MOCK_REQUEST_LOG, also
  written there as one JSON line once answered;
- violation(what) records "METHOD PATH: what" (path without the query: it may
  carry a secret) and answers 400;
- POST /__control/ratelimit?count=N[&after=M]: after M more API requests, the
  next N answer 429 with Retry-After: 1 (before any auth check);
- GET /__control/state: {key: STATE[key] for key in SHOWN};
- the answer body is JSON unless reply() is given str/bytes (sent as they are)
  or None (no body).
- serve(): PORT_ARG is a port number to bind on 127.0.0.1, or a file name
  (the mock binds a free port and writes it there atomically); SIGTERM ends
  the server cleanly; a client closing its connection early is not an error.
"""
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1 << 20


class MockHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    LOCK = threading.Lock()
    STATE = None
    SHOWN = ("violations", "log")
    RATE_LIMITED_BODY = {"message": "Too many requests"}
    RATE_LIMITED_HEADERS = {"Retry-After": "1"}
    PORT = 0
    JSON_TYPE = "application/json"
    entry = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=None, ctype="application/json"):
        if obj is None:
            data = b""
        elif isinstance(obj, bytes):
            data = obj
        elif isinstance(obj, str):
            data = obj.encode()
        else:
            data = json.dumps(obj).encode()
        if self.entry is not None:
            self.entry["answer"] = status
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def violation_body(self, message):
        return {"message": message}

    def violation(self, what):
        self.STATE["violations"].append("%s %s: %s" % (self.command, urlsplit(self.path).path,
                                                        what))
        return self.reply(400, self.violation_body("mock: " + what))

    def json_body(self, body):
        """The request body as JSON, or None after a violation."""
        if self.headers.get("Content-Type") != self.JSON_TYPE:
            self.violation("Content-Type must be " + self.JSON_TYPE)
            return None
        try:
            return json.loads(body)
        except ValueError:
            self.violation("body is not JSON")
            return None

    def body_shaped(self, body, spec):
        """The JSON body when it is an object with exactly spec's keys, each
        value of spec's type (spec value a type) or equal to it; else None
        after a violation."""
        b = self.json_body(body)
        if b is None:
            return None
        if not isinstance(b, dict) or set(b) != set(spec) or not all(
                isinstance(b[k], v) if isinstance(v, type) else b[k] == v
                for k, v in spec.items()):
            self.violation("body must be %s: %r" % (
                {k: getattr(v, "__name__", v) for k, v in spec.items()}, b))
            return None
        return b

    def bearer_ok(self, token, status, obj):
        """True when Authorization is "Bearer token", else False after
        answering status with obj."""
        if self.headers.get("Authorization") == "Bearer " + token:
            return True
        self.reply(status, obj)
        return False

    def log_entry(self, u, body):
        return {"method": self.command, "path": u.path, "query": u.query,
                "body": body.decode(errors="replace"),
                "content_type": self.headers.get("Content-Type")}

    def control(self, name, q):
        if name == "ratelimit":
            self.STATE["ratelimit"] = int(q.get("count", ["1"])[0])
            self.STATE["rl_after"] = int(q.get("after", ["0"])[0])
            return self.reply(200, {"ok": True})
        if name == "state":
            return self.reply(200, {k: self.STATE[k] for k in self.SHOWN})
        return self.reply(404, {"message": "no control " + name})

    def rate_limited(self):
        """True when this request is to be answered 429 (then counted)."""
        if self.STATE["ratelimit"] <= 0:
            return False
        if self.STATE.get("rl_after", 0) > 0:
            self.STATE["rl_after"] -= 1
            return False
        self.STATE["ratelimit"] -= 1
        return True

    def check_auth(self, u, q, body, entry):
        return True

    def dispatch(self, u, q, body, entry):
        if self.check_auth(u, q, body, entry):
            self.route(u, q, body, entry)

    def route(self, u, q, body, entry):
        self.violation("unexpected request")

    def handle_any(self):
        self.entry = None
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            return self.reply(413, {"message": "body too large"})
        body = self.rfile.read(length) if length else b""
        with self.LOCK:
            if u.path.startswith("/__control/"):
                return self.control(u.path[len("/__control/"):], q)
            self.entry = entry = self.log_entry(u, body)
            entry["t"] = time.monotonic()
            self.STATE["log"].append(entry)
            try:
                if self.rate_limited():
                    return self.reply(429, self.RATE_LIMITED_BODY, self.RATE_LIMITED_HEADERS)
                return self.dispatch(u, q, body, entry)
            finally:
                path = os.environ.get("MOCK_REQUEST_LOG")
                if path:
                    with open(path, "a") as f:
                        f.write(json.dumps(entry) + "\n")

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any


class MockServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def _stop(signum, frame):
    raise SystemExit(0)


def serve(handler, port_arg):
    """Serves handler on 127.0.0.1 until SIGTERM (see the module comment)."""
    port = int(port_arg) if port_arg.isdigit() else 0
    srv = MockServer(("127.0.0.1", port), handler)
    handler.PORT = srv.server_address[1]
    signal.signal(signal.SIGTERM, _stop)
    if not port_arg.isdigit():
        with open(port_arg + ".tmp", "w") as f:
            f.write(str(handler.PORT))
        os.rename(port_arg + ".tmp", port_arg)
    try:
        srv.serve_forever()
    finally:
        srv.server_close()
