#!/usr/bin/env python3
"""admin_hostile_client.py - crafted HTTP clients for test_admin_hostile.sh.

  raw PORT [--src IP] REQUEST
      Sends REQUEST (Python escapes such as \\r\\n are decoded) on one
      connection and prints one JSON line: {"status", "headers", "body",
      "utf8", "json"} - utf8: the body is valid UTF-8; json: it parses as a
      JSON object with a "message" string.
  slowloris PORT --count N --interval S --hold T [--src IP] [--ready FILE]
      Opens N connections that send a request line and then one header line
      every S seconds, never ending the header block. Touches FILE once all
      are connected. Stops when the server has closed every one or after T
      seconds; prints {"opened", "closed_by_server", "got_408", "json_408",
      "max_open_s"}.
  burst PORT --count N --path PATH [--src IP]
      Opens N connections, then sends one GET on each, then reads every
      answer; prints {"answers": {status: count}, "resets", "errors"}.
Loopback only; every socket has a timeout.
"""
import argparse
import json
import os
import select
import socket
import sys
import threading
import time


def connect(port, src, timeout=30):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_answer(s):
    """Reads until the peer closes or the Content-Length is complete."""
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    if len(body) >= int(value.strip()):
                        return data
    return data


def parse(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = 0
    if lines and lines[0].startswith(b"HTTP/1."):
        status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    try:
        text = body.decode("utf-8", errors="strict")
        utf8 = True
    except UnicodeDecodeError:
        text, utf8 = body.decode("latin-1"), False
    is_json = False
    if utf8:
        try:
            obj = json.loads(text)
            is_json = isinstance(obj, dict) and isinstance(obj.get("message"), str)
        except ValueError:
            pass
    return {"status": status, "headers": headers, "body": text, "utf8": utf8, "json": is_json}


def cmd_raw(a):
    req = a.request.encode("latin-1").decode("unicode_escape").encode("latin-1")
    s = connect(a.port, a.src)
    s.sendall(req)
    out = parse(read_answer(s))
    s.close()
    print(json.dumps(out))


def cmd_slowloris(a):
    conns, start = [], time.monotonic()
    for _ in range(a.count):
        s = connect(a.port, a.src)
        s.sendall(b"GET /api/v1/cert/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        s.setblocking(False)
        conns.append({"s": s, "data": b"", "closed": None, "opened": time.monotonic()})
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("%d\n" % len(conns))
    next_drip = time.monotonic() + a.interval
    while time.monotonic() - start < a.hold:
        live = [c for c in conns if c["closed"] is None]
        if not live:
            break
        r, _, _ = select.select([c["s"] for c in live], [], [], 0.2)
        for c in live:
            if c["s"] not in r:
                continue
            try:
                chunk = c["s"].recv(65536)
            except (ConnectionResetError, BlockingIOError):
                chunk = b""
            if chunk:
                c["data"] += chunk
            else:
                c["closed"] = time.monotonic()
        if time.monotonic() >= next_drip:
            for c in live:
                if c["closed"] is None:
                    try:
                        c["s"].send(b"X-Drip: 1\r\n")
                    except OSError:
                        pass
            next_drip += a.interval
    closed = [c for c in conns if c["closed"] is not None]
    got = [parse(c["data"]) for c in closed if c["data"]]
    out = {
        "opened": len(conns),
        "closed_by_server": len(closed),
        "got_408": sum(1 for g in got if g["status"] == 408),
        "json_408": sum(1 for g in got if g["status"] == 408 and g["json"]),
        "max_open_s": round(max([c["closed"] - c["opened"] for c in closed] or [0]), 1),
    }
    for c in conns:
        c["s"].close()
    print(json.dumps(out))


def cmd_burst(a):
    socks, answers, resets, errors = [], {}, 0, []
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % a.path).encode()
    for _ in range(a.count):  # every connection is open before any request goes out
        socks.append(connect(a.port, a.src))
    for s in socks:
        s.sendall(req)
    lock = threading.Lock()

    def one(s):
        nonlocal resets
        try:
            data = read_answer(s)
            st = parse(data)["status"] if data else 0
            with lock:
                answers[st] = answers.get(st, 0) + 1
        except ConnectionResetError:
            with lock:
                resets += 1
        except OSError as e:
            with lock:
                errors.append(str(e))
        finally:
            s.close()

    threads = [threading.Thread(target=one, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"answers": {str(k): v for k, v in answers.items()},
                      "resets": resets, "errors": errors}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("raw")
    r.add_argument("port", type=int)
    r.add_argument("request")
    r.add_argument("--src")
    s = sub.add_parser("slowloris")
    s.add_argument("port", type=int)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--interval", type=float, required=True)
    s.add_argument("--hold", type=float, required=True)
    s.add_argument("--src")
    s.add_argument("--ready")
    b = sub.add_parser("burst")
    b.add_argument("port", type=int)
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--path", required=True)
    b.add_argument("--src")
    a = p.parse_args()
    {"raw": cmd_raw, "slowloris": cmd_slowloris, "burst": cmd_burst}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
