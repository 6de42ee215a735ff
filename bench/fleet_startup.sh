#!/usr/bin/env bash
# bench/fleet_startup.sh [N] - the cost of the PostgreSQL store at start-up
# (issue 14): N managed sets (default 1,000; provider custom, valid EC P-256
# certificates made by bench/scale_gen.py, so nothing is due) started with the
# file store, then with a PostgreSQL store on a cluster of the benchmark's own
# (start_postgres): a fresh database (every set's pair imported) and again
# with the database filled. Prints, for each: time from start to the first
# correct handshake of a random set, and for the database runs the time until
# every set is in the database / compared with it.
set -euo pipefail
source "$(dirname "$0")/bench_lib.sh"
N=${1:-1000}
cd "$TESTENV_DIR"
python3 "$ROOT/bench/scale_gen.py" sets "$N" >/dev/null
start_postgres
DB=$(pg_new_db bench)
KEY=$(head -c 32 /dev/urandom | base64)
TLS=$(free_port)
ADMIN=$(free_port)

# the generated sets as managed ones (their names configured)
python3 - "$N" "$TLS" "$ADMIN" <<'PY'
import sys
n, tls, admin = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def dom(i):
    return "site%d.example%d.com" % (i, i % 100)
out = ["autocert:"]
for i in range(n):
    ind = "  " if i == 0 else "      "
    head = "  " if i == 0 else "    - "
    if i == 1:
        out.append("  extra:")
    out.append("%sprovider: custom" % head)
    out.append("%sdomains: [%s, '*.%s']" % (ind, dom(i), dom(i)))
    out.append("%scert_path: certs/%d/s%d.crt" % (ind, i // 1000, i))
    out.append("%skey_path: certs/%d/s%d.key" % (ind, i // 1000, i))
    if i == 0:
        out.append("  ca_dir_url: https://127.0.0.1:9/dir")
        out.append("  email: bench@example.test")
out += ["serve:", "  listen: 127.0.0.1:%s" % tls, "admin:", "  listen: 127.0.0.1:%s" % admin]
open("sets/files.yml", "w").write("\n".join(out) + "\n")
PY
{ cat sets/files.yml; echo "store:"; echo "  url: $DB"; echo "  encryption_key: $KEY"; } >sets/pg.yml

first_handshake() { # config log: MS = ms from start to a correct handshake
  local i=$((RANDOM % N)) t0 pid
  t0=$(date +%s%N)
  (cd sets && exec "$BIN" serve -c "$1" >"../$2" 2>&1) &
  pid=$!
  TESTENV_PIDS+=("$pid")
  wait_until 300 bash -c 'echo | gnutls-cli --port "$0" --sni-hostname "$1" --insecure 127.0.0.1 2>/dev/null | grep -q "$1"' \
    "$TLS" "site$i.example$((i % 100)).com" || fail "no handshake"
  MS=$(( ($(date +%s%N) - t0) / 1000000 ))
  BENCH_PID=$pid
  BENCH_T0=$t0
}
rows() { pg_psql bench "select count(*) from autocert_sets where chain is not null"; }

first_handshake files.yml files.log
testenv_stop "$BENCH_PID"
echo "files:      start to first handshake ${MS} ms ($N sets)"

first_handshake pg.yml pg1.log
wait_until 600 bash -c '[[ "$(psql "$0" -XAtqc "select count(*) from autocert_sets where chain is not null")" == "$1" ]]' "$DB" "$N" ||
  fail "not every set imported ($(rows))"
imp=$(( ($(date +%s%N) - BENCH_T0) / 1000000 ))
testenv_stop "$BENCH_PID"
echo "postgresql: start to first handshake ${MS} ms; every set imported into a fresh database ${imp} ms after start"

first_handshake pg.yml pg2.log
testenv_stop "$BENCH_PID"
echo "postgresql: start to first handshake ${MS} ms with the database already filled"
