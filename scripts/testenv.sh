# shellcheck shell=bash
# testenv.sh - the shared test harness: a bash library sourced by integration
# tests and the demo. It starts real servers (Pebble, pebble-challtestsrv, Knot)
# on free loopback ports, remembers their PIDs, and stops them on exit.
#
#   source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
#   testenv_init
#   start_challtestsrv
#   start_pebble
#
# Call the start_* functions in the test's main shell (never inside $(...)):
# they export variables and record PIDs there.
#
# Functions
#   testenv_init            Makes the work dir $TESTENV_DIR and installs an EXIT
#                           trap that stops every process started through this
#                           file (SIGTERM, wait up to 5 s, then SIGKILL) and
#                           removes the dir (kept when TESTENV_KEEP=1; the logs
#                           of servers are in it: $TESTENV_DIR/*.log).
#   free_port               Prints a loopback port free for TCP and UDP, from a
#                           random range 20000-59999, reserved (mkdir under
#                           /tmp/autocert-testenv-ports) so parallel tests never
#                           get the same one; reservations end with the test
#                           (or when its process is found dead).
#                           Do not replace the EXIT trap: add clean-up steps
#                           with testenv_on_exit instead.
#   testenv_on_exit CMD     Runs CMD (eval) at exit, last added first, before
#                           the tracked processes are stopped.
#   testenv_spawn NAME CMD...  Starts CMD in the background, stdout+stderr to
#                           $TESTENV_DIR/NAME.log, tracks it; sets TESTENV_LAST_PID.
#   testenv_stop PID        Stops one tracked process (TERM, 5 s, KILL) and waits.
#   wait_until SECS CMD...  Retries CMD every 0.1 s until it succeeds; 1 on timeout.
#   pebble_certs            Throwaway CA + certificate for localhost, 127.0.0.1
#                           and ::1 (certtool); exports PEBBLE_CA_CERT (trust it
#                           for Pebble's HTTPS API), PEBBLE_TLS_CERT, PEBBLE_TLS_KEY.
#   start_challtestsrv      pebble-challtestsrv with only DNS (127.0.0.1) and
#                           management listeners; A queries answer 127.0.0.1,
#                           AAAA queries nothing (Pebble's VA asks AAAA first
#                           and tries only the first address: [::1] would be
#                           knocked on where nothing listens).
#                           Exports CHALLTESTSRV_DNS_PORT, CHALLTESTSRV_URL
#                           (http://127.0.0.1:Q), CHALLTESTSRV_PID.
#   start_pebble [--eab] [--always-valid] [--nonce-reject N] [--validity SECONDS]
#                [--dns HOST:PORT] [--authz-reuse N] [--http-port N] [--tls-port N]
#                [--alternate-roots N]
#                           Pebble on 127.0.0.1 with PEBBLE_VA_NOSLEEP=1,
#                           PEBBLE_WFE_NONCEREJECT=N (default 0),
#                           PEBBLE_AUTHZREUSE=N (default 0, which still reuses a
#                           valid authorization of the same account 1 time in
#                           100: Pebble reuses unless rand.Intn(100) > N); resolver is
#                           challtestsrv's DNS unless --dns. --eab requires EAB
#                           with the MAC keys of Debian's example (exports
#                           PEBBLE_EAB_KID=kid-1, PEBBLE_EAB_HMAC, and
#                           PEBBLE_EAB_KID2/PEBBLE_EAB_HMAC2 for kid-2).
#                           Exports PEBBLE_DIR_URL (https://127.0.0.1:P/dir),
#                           PEBBLE_MGMT_URL (https://127.0.0.1:Q), PEBBLE_PID,
#                           PEBBLE_PORT, PEBBLE_MGMT_PORT, PEBBLE_HTTP01_PORT
#                           and PEBBLE_TLSALPN_PORT (the ports its VA connects
#                           to for http-01 / tls-alpn-01: --http-port and
#                           --tls-port point them at our listeners; free ports
#                           otherwise). --alternate-roots N sets
#                           PEBBLE_ALTERNATE_ROOTS=N: N more chains, each to
#                           its own root (/roots/1..N), offered through
#                           Link: rel="alternate". A start after
#                           stop_pebble reuses the same ports (restart tests).
#   stop_pebble             Stops Pebble (it forgets accounts and its root).
#   pebble_root PATH [N]    Writes Pebble's current issuing root (PEM) to PATH
#                           (N: alternate root N, /roots/N; default 0).
#   start_knot ZONE         Knot serving ZONE (SOA, NS) on 127.0.0.1, with a
#                           TSIG key allowed to update TXT records. Exports
#                           KNOT_PORT, KNOT_TSIG_NAME, KNOT_TSIG_SECRET,
#                           KNOT_TSIG_ALG (hmac-sha256), KNOT_PID.
#   start_postgres          A PostgreSQL cluster of its own (the highest version
#                           under /usr/lib/postgresql/*/bin), initdb -A trust as
#                           the postgres user (runuser) in $TESTENV_DIR/pg (the
#                           work dir is made traversable, 0711: every parent
#                           must be for that user), listening on 127.0.0.1:<free
#                           port> with its socket in that dir. Stopped by PID
#                           (fast shutdown) at exit, also after a restart.
#                           Exports PG_BIN, PG_PORT, PG_DATA, PG_SOCKET_DIR,
#                           PG_PID, PG_URL (postgresql://postgres@127.0.0.1:P/
#                           postgres), PG_STOP_CMD and PG_START_CMD (commands
#                           for eval or system(3): stop -m fast / start, both
#                           waiting, the same port and socket).
#   pg_new_db NAME          Creates database NAME in that cluster and prints
#                           its URL (postgresql://postgres@127.0.0.1:P/NAME).
#   pg_psql DB SQL          Runs SQL (psql -At, ON_ERROR_STOP) on database DB.
#   fail MSG                Prints "FAIL: MSG" (with the caller's line) and exits 1.
#   assert_eq EXPECTED ACTUAL [WHAT]     Fails unless equal.
#   assert_contains HAYSTACK NEEDLE [WHAT]  Fails unless NEEDLE is in HAYSTACK.

TESTENV_PORT_DIR=/tmp/autocert-testenv-ports
declare -a TESTENV_PIDS=()
declare -a TESTENV_EXIT_HOOKS=()
TESTENV_OWNER=$$

testenv_log() { echo "testenv: $*" >&2; }

fail() {
  echo "FAIL: $* (at ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]})" >&2
  exit 1
}

assert_eq() { # expected actual [what]
  if [[ "$1" != "$2" ]]; then
    echo "FAIL: ${3:-values differ}: expected [$1], got [$2] (at ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]})" >&2
    exit 1
  fi
}

assert_contains() { # haystack needle [what]
  if [[ "$1" != *"$2"* ]]; then
    echo "FAIL: ${3:-text does not contain expected part}: [$2] not in [$1] (at ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]})" >&2
    exit 1
  fi
}

wait_until() { # seconds cmd...
  local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
  shift
  while (( $(date +%s%N) / 1000000 < deadline )); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

testenv_stop() { # pid
  local pid=$1 i
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      # a child of this shell stays a zombie (kill -0 succeeds) until waited
      if [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" == Z* ]]; then
        break
      fi
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z* ]]; then
      testenv_log "pid $pid ignored SIGTERM for 5 s, sending SIGKILL"
      # it may have ended meanwhile: a failed kill must not end the caller (set -e)
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${TESTENV_PIDS[@]}"; do
    [[ "$p" == "$pid" ]] || keep+=("$p")
  done
  TESTENV_PIDS=("${keep[@]}")
  return 0
}

testenv_on_exit() { # cmd: run (eval) at exit, before the servers are stopped
  TESTENV_EXIT_HOOKS+=("$1")
}

testenv_cleanup() {
  local rc=$? i d
  trap - EXIT
  for ((i = ${#TESTENV_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
    eval "${TESTENV_EXIT_HOOKS[i]}"
  done
  for ((i = ${#TESTENV_PIDS[@]} - 1; i >= 0; i--)); do
    testenv_stop "${TESTENV_PIDS[i]}"
  done
  for d in "$TESTENV_PORT_DIR"/*; do
    [[ -f "$d/owner" && "$(cat "$d/owner" 2>/dev/null)" == "$TESTENV_OWNER" ]] && rm -rf "$d"
  done
  if [[ -n "${TESTENV_DIR:-}" && -d "$TESTENV_DIR" ]]; then
    if [[ "${TESTENV_KEEP:-0}" == 1 ]]; then
      testenv_log "kept $TESTENV_DIR"
    else
      rm -rf "$TESTENV_DIR"
    fi
  fi
  exit "$rc"
}

testenv_init() {
  TESTENV_DIR=$(mktemp -d /tmp/autocert-test.XXXXXX) || fail "mktemp failed"
  export TESTENV_DIR
  mkdir -p "$TESTENV_PORT_DIR"
  _testenv_prune_ports
  trap testenv_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

testenv_spawn() { # name cmd...
  local name=$1
  shift
  "$@" >"${TESTENV_DIR:?testenv_init first}/$name.log" 2>&1 &
  TESTENV_LAST_PID=$!
  TESTENV_PIDS+=("$TESTENV_LAST_PID")
}

# Drops reservations whose owner process is gone (a test killed by SIGKILL).
_testenv_prune_ports() {
  local d o
  for d in "$TESTENV_PORT_DIR"/*; do
    [[ -d "$d" ]] || continue
    # another test may remove its reservation at any moment: a vanished
    # owner file is not an error (set -e would end this test here)
    o=$(cat "$d/owner" 2>/dev/null || true)
    if [[ -z "$o" ]]; then
      # owner not written yet, or never: only reclaim when old
      [[ -n "$(find "$d" -maxdepth 0 -mmin +10 2>/dev/null)" ]] && rm -rf "$d"
    elif ! kill -0 "$o" 2>/dev/null; then
      rm -rf "$d"
    fi
  done
  return 0 # a young reservation left alone is not a failure
}

_testenv_port_free() { # port: free for TCP and UDP on 127.0.0.1
  python3 - "$1" <<'EOF'
import socket, sys
p = int(sys.argv[1])
for t in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, t)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}

free_port() {
  local i port
  mkdir -p "$TESTENV_PORT_DIR"
  for ((i = 0; i < 200; i++)); do
    ((i == 100)) && _testenv_prune_ports
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    mkdir "$TESTENV_PORT_DIR/$port" 2>/dev/null || continue
    echo "$TESTENV_OWNER" >"$TESTENV_PORT_DIR/$port/owner"
    if _testenv_port_free "$port"; then
      echo "$port"
      return 0
    fi
    rm -rf "${TESTENV_PORT_DIR:?}/$port"
  done
  fail "free_port: no free port found"
}

_testenv_need_dir() {
  [[ -n "${TESTENV_DIR:-}" && -d "$TESTENV_DIR" ]] || fail "call testenv_init first"
}

_testenv_died() { # name pid
  if ! kill -0 "$2" 2>/dev/null || [[ "$(ps -o stat= -p "$2" 2>/dev/null)" == Z* ]]; then
    tail -n 20 "$TESTENV_DIR/$1.log" >&2
    fail "$1 exited during start-up (log above)"
  fi
}

pebble_certs() {
  _testenv_need_dir
  local d=$TESTENV_DIR/pebble-tls
  if [[ -f "$d/ca.pem" && -f "$d/cert.pem" && -f "$d/key.pem" ]]; then
    export PEBBLE_CA_CERT=$d/ca.pem PEBBLE_TLS_CERT=$d/cert.pem PEBBLE_TLS_KEY=$d/key.pem
    return 0
  fi
  mkdir -p "$d"
  cat >"$d/ca.tmpl" <<'EOF'
cn = "autocert test CA (throwaway)"
ca
cert_signing_key
crl_signing_key
expiration_days = 30
EOF
  cat >"$d/server.tmpl" <<'EOF'
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
tls_www_server
signing_key
encryption_key
expiration_days = 30
EOF
  certtool --generate-privkey --key-type=ecdsa --outfile "$d/ca-key.pem" >/dev/null 2>&1 &&
    certtool --generate-self-signed --load-privkey "$d/ca-key.pem" \
      --template "$d/ca.tmpl" --outfile "$d/ca.pem" >/dev/null 2>&1 &&
    certtool --generate-privkey --key-type=ecdsa --outfile "$d/key.pem" >/dev/null 2>&1 &&
    certtool --generate-certificate --load-privkey "$d/key.pem" \
      --load-ca-certificate "$d/ca.pem" --load-ca-privkey "$d/ca-key.pem" \
      --template "$d/server.tmpl" --outfile "$d/cert.pem" >/dev/null 2>&1 ||
    fail "pebble_certs: certtool failed"
  export PEBBLE_CA_CERT=$d/ca.pem PEBBLE_TLS_CERT=$d/cert.pem PEBBLE_TLS_KEY=$d/key.pem
}

_testenv_http_answers() { # url: any HTTP status counts
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")
  [[ "$code" != 000 ]]
}

start_challtestsrv() {
  _testenv_need_dir
  local dns mgmt
  dns=$(free_port) && mgmt=$(free_port) || fail "start_challtestsrv: no ports"
  testenv_spawn challtestsrv pebble-challtestsrv -dns01 "127.0.0.1:$dns" \
    -management "127.0.0.1:$mgmt" -http01 "" -https01 "" -tlsalpn01 "" \
    -defaultIPv4 127.0.0.1 -defaultIPv6 ""
  CHALLTESTSRV_PID=$TESTENV_LAST_PID
  export CHALLTESTSRV_PID CHALLTESTSRV_DNS_PORT=$dns CHALLTESTSRV_URL=http://127.0.0.1:$mgmt
  if ! wait_until 20 _testenv_http_answers "$CHALLTESTSRV_URL/"; then
    _testenv_died challtestsrv "$CHALLTESTSRV_PID"
    fail "start_challtestsrv: management API on $CHALLTESTSRV_URL does not answer"
  fi
  wait_until 10 kdig +timeout=1 +retry=0 @127.0.0.1 -p "$dns" probe.test A ||
    fail "start_challtestsrv: DNS on 127.0.0.1:$dns does not answer"
  testenv_log "challtestsrv pid $CHALLTESTSRV_PID dns 127.0.0.1:$dns mgmt $CHALLTESTSRV_URL"
}

_testenv_pebble_up() {
  curl -fsS --max-time 2 --cacert "$PEBBLE_CA_CERT" "$PEBBLE_DIR_URL" -o /dev/null
}

start_pebble() {
  _testenv_need_dir
  local eab=0 always=0 nonce=0 validity="" dns="" reuse=0 altroots=0
  while (($#)); do
    case $1 in
      --eab) eab=1 ;;
      --always-valid) always=1 ;;
      --nonce-reject) nonce=${2:?--nonce-reject N}; shift ;;
      --validity) validity=${2:?--validity SECONDS}; shift ;;
      --dns) dns=${2:?--dns HOST:PORT}; shift ;;
      --authz-reuse) reuse=${2:?--authz-reuse N}; shift ;;
      --http-port) PEBBLE_HTTP01_PORT=${2:?--http-port N}; shift ;;
      --tls-port) PEBBLE_TLSALPN_PORT=${2:?--tls-port N}; shift ;;
      --alternate-roots) altroots=${2:?--alternate-roots N}; shift ;;
      *) fail "start_pebble: unknown option $1" ;;
    esac
    shift
  done
  [[ -z "${PEBBLE_PID:-}" ]] || fail "start_pebble: already running (pid $PEBBLE_PID)"
  pebble_certs
  if [[ -z "$dns" && -n "${CHALLTESTSRV_DNS_PORT:-}" ]]; then
    dns=127.0.0.1:$CHALLTESTSRV_DNS_PORT
  fi
  [[ -n "${PEBBLE_PORT:-}" ]] || PEBBLE_PORT=$(free_port) || fail "start_pebble: no port"
  [[ -n "${PEBBLE_MGMT_PORT:-}" ]] || PEBBLE_MGMT_PORT=$(free_port) || fail "start_pebble: no port"
  [[ -n "${PEBBLE_HTTP01_PORT:-}" ]] || PEBBLE_HTTP01_PORT=$(free_port)
  [[ -n "${PEBBLE_TLSALPN_PORT:-}" ]] || PEBBLE_TLSALPN_PORT=$(free_port)
  export PEBBLE_PORT PEBBLE_MGMT_PORT PEBBLE_HTTP01_PORT PEBBLE_TLSALPN_PORT
  local conf=$TESTENV_DIR/pebble-config.json
  PEBBLE_EAB_KID=kid-1
  PEBBLE_EAB_HMAC=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
  PEBBLE_EAB_KID2=kid-2
  PEBBLE_EAB_HMAC2=b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH
  export PEBBLE_EAB_KID PEBBLE_EAB_HMAC PEBBLE_EAB_KID2 PEBBLE_EAB_HMAC2
  python3 - "$conf" "$eab" "$validity" <<'EOF' || fail "start_pebble: cannot write config"
import json, os, sys
conf, eab, validity = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
e = os.environ
p = {
    "listenAddress": "127.0.0.1:" + e["PEBBLE_PORT"],
    "managementListenAddress": "127.0.0.1:" + e["PEBBLE_MGMT_PORT"],
    "certificate": e["PEBBLE_TLS_CERT"],
    "privateKey": e["PEBBLE_TLS_KEY"],
    "httpPort": int(e["PEBBLE_HTTP01_PORT"]),
    "tlsPort": int(e["PEBBLE_TLSALPN_PORT"]),
    "ocspResponderURL": "",
    "externalAccountBindingRequired": eab,
}
if eab:
    p["externalAccountMACKeys"] = {e["PEBBLE_EAB_KID"]: e["PEBBLE_EAB_HMAC"],
                                   e["PEBBLE_EAB_KID2"]: e["PEBBLE_EAB_HMAC2"]}
if validity:
    p["certificateValidityPeriod"] = int(validity)
with open(conf, "w") as f:
    json.dump({"pebble": p}, f, indent=2)
EOF
  local -a cmd=(env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT="$nonce" PEBBLE_AUTHZREUSE="$reuse")
  ((altroots > 0)) && cmd+=(PEBBLE_ALTERNATE_ROOTS="$altroots")
  ((always)) && cmd+=(PEBBLE_VA_ALWAYS_VALID=1)
  cmd+=(pebble -config "$conf")
  [[ -n "$dns" ]] && cmd+=(-dnsserver "$dns")
  testenv_spawn pebble "${cmd[@]}"
  PEBBLE_PID=$TESTENV_LAST_PID
  export PEBBLE_PID PEBBLE_DIR_URL=https://127.0.0.1:$PEBBLE_PORT/dir
  export PEBBLE_MGMT_URL=https://127.0.0.1:$PEBBLE_MGMT_PORT
  if ! wait_until 30 _testenv_pebble_up; then
    _testenv_died pebble "$PEBBLE_PID"
    fail "start_pebble: $PEBBLE_DIR_URL does not answer"
  fi
  testenv_log "pebble pid $PEBBLE_PID dir $PEBBLE_DIR_URL mgmt $PEBBLE_MGMT_URL dns ${dns:-system}"
}

stop_pebble() {
  [[ -n "${PEBBLE_PID:-}" ]] || return 0
  testenv_stop "$PEBBLE_PID"
  PEBBLE_PID=
  export PEBBLE_PID
}

pebble_root() { # path [index: 0 the default root, 1.. the alternate roots]
  [[ -n "${1:-}" ]] || fail "pebble_root PATH [INDEX]"
  local i=${2:-0}
  curl -fsS --max-time 10 --cacert "$PEBBLE_CA_CERT" "$PEBBLE_MGMT_URL/roots/$i" -o "$1" ||
    fail "pebble_root: cannot fetch $PEBBLE_MGMT_URL/roots/$i"
}

start_knot() { # zone
  _testenv_need_dir
  local zone=${1:?start_knot ZONE} port d out
  zone=${zone%.}
  port=$(free_port) || fail "start_knot: no port"
  d=$TESTENV_DIR/knot-$port
  mkdir -p "$d/run" "$d/db" "$d/zones"
  KNOT_TSIG_NAME=autocert-test-key
  KNOT_TSIG_ALG=hmac-sha256
  out=$(keymgr -t "$KNOT_TSIG_NAME" "$KNOT_TSIG_ALG") || fail "start_knot: keymgr failed"
  KNOT_TSIG_SECRET=$(awk '$1 == "secret:" {print $2}' <<<"$out")
  [[ -n "$KNOT_TSIG_SECRET" ]] || fail "start_knot: no TSIG secret from keymgr"
  cat >"$d/zones/$zone.zone" <<EOF
\$ORIGIN $zone.
\$TTL 60
@    SOA  ns1 hostmaster 1 3600 600 86400 60
@    NS   ns1
ns1  A    127.0.0.1
EOF
  cat >"$d/knot.conf" <<EOF
server:
    rundir: "$d/run"
    listen: 127.0.0.1@$port
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$d/run/knot.sock"
database:
    storage: "$d/db"
log:
  - target: stderr
    any: info
key:
  - id: $KNOT_TSIG_NAME
    algorithm: $KNOT_TSIG_ALG
    secret: $KNOT_TSIG_SECRET
acl:
  - id: txt_update
    key: $KNOT_TSIG_NAME
    action: update
    update-type: TXT
template:
  - id: default
    storage: "$d/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
zone:
  - domain: $zone.
    acl: txt_update
EOF
  chmod 600 "$d/knot.conf"
  testenv_spawn knot knotd -c "$d/knot.conf"
  KNOT_PID=$TESTENV_LAST_PID
  export KNOT_PID KNOT_PORT=$port KNOT_TSIG_NAME KNOT_TSIG_SECRET KNOT_TSIG_ALG KNOT_CONF=$d/knot.conf
  if ! wait_until 20 _testenv_knot_up "$zone" "$port"; then
    _testenv_died knot "$KNOT_PID"
    fail "start_knot: 127.0.0.1@$port does not answer for $zone"
  fi
  testenv_log "knot pid $KNOT_PID zone $zone. on 127.0.0.1@$port"
}

_testenv_knot_up() { # zone port
  local a
  a=$(kdig +short +timeout=1 +retry=0 @127.0.0.1 -p "$2" "$1." SOA) && [[ -n "$a" ]]
}

# ---- mock ACME CA (issue 10, helper B) -------------------------------------
# tests/integration/mock_acme.py: a scriptable, misbehaving ACME CA on
# 127.0.0.1 (modes and per-order "mode-<m>." names: see the top of that file).
#
# start_mock_acme [MODE [ARGS...]]: starts one (default mode ok; ARGS go to
# `mock_acme.py serve`, e.g. --retry-after 99999999 --validity 7200). Exports
# MOCK_ACME_PID, MOCK_ACME_DIR (its files; requests.log lists every request),
# MOCK_ACME_URL (the directory URL for ca_dir_url), MOCK_ACME_CA (the PEM for
# ca_certs) and MOCK_ACME_BASE. Several may run at once: each call starts a
# new one and overwrites the variables.
start_mock_acme() {
  _testenv_need_dir
  local mode=${1:-ok} src=${AUTOCERT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
  (($#)) && shift
  local dir
  dir=$(mktemp -d "$TESTENV_DIR/mock-acme.XXXXXX")
  testenv_spawn "$(basename "$dir")" python3 "$src/tests/integration/mock_acme.py" serve \
    --dir "$dir" --mode "$mode" "$@"
  MOCK_ACME_PID=$TESTENV_LAST_PID
  if ! wait_until 30 test -s "$dir/port"; then
    _testenv_died "$(basename "$dir")" "$MOCK_ACME_PID"
    fail "start_mock_acme: no port after 30 s"
  fi
  MOCK_ACME_DIR=$dir
  MOCK_ACME_BASE=https://127.0.0.1:$(cat "$dir/port")
  MOCK_ACME_URL=$MOCK_ACME_BASE/dir
  MOCK_ACME_CA=$dir/tls-ca.pem
  export MOCK_ACME_PID MOCK_ACME_DIR MOCK_ACME_BASE MOCK_ACME_URL MOCK_ACME_CA
  testenv_log "mock ACME CA pid $MOCK_ACME_PID at $MOCK_ACME_URL (mode $mode)"
}

# mock_acme_control JSON [BASE [CA]]: POST /control, e.g. '{"mode":"wrong_cert"}'.
mock_acme_control() {
  curl -fsS --max-time 10 --cacert "${3:-$MOCK_ACME_CA}" -X POST -d "$1" \
    "${2:-$MOCK_ACME_BASE}/control" >/dev/null || fail "mock_acme_control $1 failed"
}

# mock_acme_count PREFIX [DIR]: requests logged whose line starts with PREFIX
# ("POST /new-order", "POST /new-order mode-wrong-cert.example.test").
mock_acme_count() {
  local n
  n=$(grep -c -- "^$1" "${2:-$MOCK_ACME_DIR}/requests.log" 2>/dev/null) || true
  echo "${n:-0}"
}
# ---- end of the mock ACME CA block -----------------------------------------

# ---- PostgreSQL (the store's tests, issue 14) --------------------------------

_testenv_pg_pid() {
  [[ -n "${PG_DATA:-}" && -f "$PG_DATA/postmaster.pid" ]] && head -n 1 "$PG_DATA/postmaster.pid"
}

# Stops the cluster by its postmaster's PID: SIGINT (fast shutdown), then
# SIGQUIT (immediate) after 10 s.
_testenv_pg_stop() {
  local pid i
  pid=$(_testenv_pg_pid) || return 0
  [[ -n "$pid" ]] || return 0
  kill -INT "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  testenv_log "postgres pid $pid ignored SIGINT for 10 s, sending SIGQUIT"
  kill -QUIT "$pid" 2>/dev/null || true
}

start_postgres() {
  _testenv_need_dir
  local bin dir port
  bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
    sort -V | tail -n 1)
  [[ -n "$bin" && -x "$bin/initdb" && -x "$bin/pg_ctl" ]] ||
    fail "start_postgres: no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)"
  id postgres >/dev/null 2>&1 || fail "start_postgres: no postgres user"
  # the postgres user must traverse every parent (mktemp -d made this one 0700)
  chmod 0711 "$TESTENV_DIR"
  dir=$TESTENV_DIR/pg
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 0700 "$dir"
  runuser -u postgres -- "$bin/initdb" -A trust -U postgres -E UTF8 --no-sync \
    -D "$dir/data" >"$TESTENV_DIR/pg-initdb.log" 2>&1 ||
    { tail -n 20 "$TESTENV_DIR/pg-initdb.log" >&2; fail "start_postgres: initdb failed"; }
  port=$(free_port)
  PG_BIN=$bin
  PG_DATA=$dir/data
  PG_SOCKET_DIR=$dir
  PG_PORT=$port
  PG_URL=postgresql://postgres@127.0.0.1:$port/postgres
  PG_STOP_CMD="runuser -u postgres -- $bin/pg_ctl -D $dir/data -m fast -w -t 60 stop >/dev/null"
  PG_START_CMD="runuser -u postgres -- $bin/pg_ctl -D $dir/data -l $dir/postgres.log -w -t 60 \
-o '-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200' start >/dev/null"
  export PG_BIN PG_DATA PG_SOCKET_DIR PG_PORT PG_URL PG_STOP_CMD PG_START_CMD
  testenv_on_exit _testenv_pg_stop
  if ! eval "$PG_START_CMD"; then
    tail -n 20 "$dir/postgres.log" >&2
    fail "start_postgres: pg_ctl start failed (log above)"
  fi
  PG_PID=$(_testenv_pg_pid)
  export PG_PID
  testenv_log "postgres pid $PG_PID on 127.0.0.1:$port (socket dir $dir)"
}

pg_psql() { # db sql
  "${PG_BIN:?start_postgres first}/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 \
    -p "$PG_PORT" -U postgres -d "$1" -c "$2"
}

pg_new_db() { # name: prints its URL
  [[ "$1" =~ ^[a-z_][a-z0-9_]*$ ]] || fail "pg_new_db: bad database name [$1]"
  pg_psql postgres "CREATE DATABASE $1" >/dev/null || fail "pg_new_db: CREATE DATABASE $1 failed"
  echo "postgresql://postgres@127.0.0.1:$PG_PORT/$1"
}
