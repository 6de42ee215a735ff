#!/usr/bin/env bash
# The TLS listener of `autocert serve` against hostile clients (issue 10 items
# 10 and 17): a client silent after the handshake and one that drips a byte
# every 2 s are both disconnected by the whole-request deadline (10 s); one
# address cannot hold more than 16 connections (the 17th is refused while
# another address still gets in); SIGTERM with idle connections open stops at
# once; an SNI GnuTLS refuses (foo_bar.example) gets an illegal_parameter
# alert instead of a silent close, and an odd but allowed one (a..b) gets
# main's certificate.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
cd "$TESTENV_DIR"
mkdir certs
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout certs/priv.key \
  -out certs/cert.crt -days 30 -subj /CN=example.test -addext "subjectAltName=DNS:example.test" \
  2>/dev/null || fail "openssl req failed"
PORT=$(free_port)
cat >l.yml <<YAML
autocert:
  provider: local
  cert_path: certs/cert.crt
  key_path: certs/priv.key
admin:
  listen: 127.0.0.1:$(free_port)
serve:
  listen: 127.0.0.1:$PORT
YAML

cat >probe.py <<'PY'
# probe.py PORT MODE: TLS clients for the listener limits.
import socket, ssl, sys, threading, time
port, mode = int(sys.argv[1]), sys.argv[2]

def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c

def connect(src="127.0.0.1", sni="example.test"):
    s = socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(src, 0))
    return ctx().wrap_socket(s, server_hostname=sni)

def closed_after(t, drip):
    """Seconds until the server ends the session (None: still open at 40 s)."""
    t0 = time.monotonic()
    t.settimeout(2)
    sent = 0
    while time.monotonic() - t0 < 40:
        try:
            if drip:
                t.send(b"GET / HTTP/1.1\r\nHost: x\r\n"[sent:sent + 1] or b"X")
                sent += 1
            if t.recv(100) == b"":
                return time.monotonic() - t0
        except (socket.timeout, TimeoutError):
            continue
        except (ssl.SSLError, OSError):
            return time.monotonic() - t0
    return None

if mode == "deadline":
    res = {}
    def run(name, drip):
        res[name] = closed_after(connect(), drip)
    th = [threading.Thread(target=run, args=(n, d)) for n, d in (("idle", False), ("drip", True))]
    [x.start() for x in th]
    [x.join() for x in th]
    for name in ("idle", "drip"):
        r = res[name]
        print(name, "open" if r is None else "closed after %.1f s" % r)
        assert r is not None and r <= 30, "%s client not disconnected by the deadline" % name
elif mode == "per-ip":
    held = [connect() for _ in range(16)]
    try:
        t = connect()
        t.settimeout(5)
        t.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = t.recv(100)
        assert got == b"", "17th connection from one address was served: %r" % got
    except (ssl.SSLError, OSError) as e:
        print("17th refused:", type(e).__name__)
    t = connect(src="127.0.0.2")
    t.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    body = b""
    while b"from main" not in body:
        more = t.recv(1000)
        assert more, body
        body += more
    assert b"hello example.test from main" in body, body
    print("another address served")
    for h in held:
        h.close()
elif mode == "hold":
    held = [connect() for _ in range(int(sys.argv[3]))]
    print("holding", len(held), flush=True)
    time.sleep(60)
elif mode == "sni":
    try:
        connect(sni=sys.argv[3])
        print("handshake completed")
    except ssl.SSLError as e:
        print("alert" if "ALERT" in str(e) else "error", e)
    except OSError as e:
        print("closed", e)
PY

start_daemon l.yml serve
wait_until 20 grep -q "serving; pid" serve.log || { cat serve.log >&2; fail "daemon did not start"; }

# --- silent and dripping clients are disconnected by the deadline -----------------
python3 probe.py "$PORT" deadline >deadline.out 2>&1 || { cat deadline.out >&2; fail "deadline"; }
cat deadline.out

# --- per-address cap -------------------------------------------------------------------
python3 probe.py "$PORT" per-ip >perip.out 2>&1 || { cat perip.out >&2; fail "per-address cap"; }
cat perip.out
assert_contains "$(cat serve.log)" "per-address connection limit reached" "refusal logged"

# --- SNI that GnuTLS refuses: an alert, not a silent close -----------------------------
out=$(python3 probe.py "$PORT" sni foo_bar.example 2>&1)
assert_contains "$out" "alert" "handshake with SNI foo_bar.example"
assert_contains "$out" "ILLEGAL_PARAMETER" "alert sent for SNI foo_bar.example"
out=$(gnutls-cli --no-ca-verification --sni-hostname a..b -p "$PORT" 127.0.0.1 </dev/null 2>&1) || true
assert_contains "$out" "Handshake was completed" "odd but allowed SNI a..b gets main's certificate"

# --- SIGTERM with idle connections open: prompt stop ---------------------------------------
python3 probe.py "$PORT" hold 12 >hold.out 2>&1 &
HOLD=$!
TESTENV_PIDS+=("$HOLD")
wait_until 20 grep -q holding hold.out || { cat hold.out >&2; fail "clients did not connect"; }
t0=$(date +%s%N)
kill -TERM "$SERVE_PID"
wait_exit "$SERVE_PID" 30 || fail "daemon still runs 30 s after SIGTERM"
ms=$(elapsed_ms "$t0")
SERVE_PID=
echo "figure: stop with 12 idle TLS connections: $ms ms"
assert_eq 0 "$WAIT_RC" "exit status after SIGTERM"
(( ms <= 8000 )) || fail "stop took $ms ms with idle connections open"
if grep -q "still open at shutdown" serve.log; then fail "connections left open at shutdown"; fi
echo "PASS"
