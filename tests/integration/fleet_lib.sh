# fleet_lib.sh - helpers for the fleet tests (several `autocert serve` nodes
# sharing one PostgreSQL store; sourced after scripts/testenv.sh,
# obtain_lib.sh and serve_lib.sh, with Pebble, challtestsrv and PostgreSQL
# started).

FLEET_KEY=$(head -c 32 /dev/urandom | base64)

# fleet_node N DOMAINS_YAML [EXTRA_YAML_LINES...]: node N's directory
# node<N>/ with d.yml (the set in write_config's form, store: section on
# $FLEET_DB_URL, lease_ttl ${FLEET_LEASE_TTL:-6s}, node_id node<N>, a TLS
# listener on NODE_TLS[N]) and an admin port in NODE_ADMIN[N].
declare -a NODE_TLS NODE_HTTP NODE_ADMIN NODE_PID
fleet_node() {
  local n=$1 domains=$2; shift 2
  mkdir -p "node$n"
  NODE_TLS[$n]=${NODE_TLS[$n]:-$(free_port)}
  (cd "node$n" && write_config d.yml "${FLEET_PROVIDER:-challtestsrv}" "$domains" \
    "  retry_min: 1s" "  retry_max: 2s" "  failure_cooldown: 1s" "$@" \
    "serve:" "  listen: 127.0.0.1:${NODE_TLS[$n]}" ${NODE_HTTP[$n]:+"  http_listen: 127.0.0.1:${NODE_HTTP[$n]}"} \
    "store:" "  url: $FLEET_DB_URL" "  encryption_key: $FLEET_KEY" \
    "  lease_ttl: ${FLEET_LEASE_TTL:-6s}" "  node_id: node$n")
  NODE_ADMIN[$n]=$(awk '/^admin:/ {a=1} a && /listen:/ {print $2; exit}' "node$n/d.yml")
}

# fleet_start N: runs node N (log $TESTENV_DIR/node<N>.log), pid in NODE_PID[N].
fleet_start() {
  local n=$1
  pushd "node$1" >/dev/null
  testenv_spawn "node$n" "$AUTOCERT_BIN" serve -c d.yml
  NODE_PID[$n]=$TESTENV_LAST_PID
  popd >/dev/null
}

fleet_stop() {
  [[ -n "${NODE_PID[$1]:-}" ]] || return 0
  testenv_stop "${NODE_PID[$1]}"
  NODE_PID[$1]=
}

# node_serial N SNI: the serial node N serves for SNI (lowercase, no colons).
node_serial() {
  served_serial "${NODE_TLS[$1]}" "$2" "$TESTENV_DIR/root.pem" | tr -d ':' | tr 'A-F' 'a-f'
}

# node_serves N SNI SERIAL
node_serves() { [[ "$(node_serial "$1" "$2")" == "$3" && -n "$3" ]]; }

# pebble_orders / pebble_issued: how many orders Pebble created / certificates
# it issued so far.
pebble_orders() { grep -c "Added order" "$TESTENV_DIR/pebble.log" || true; }
pebble_issued() { grep -c "Issued certificate serial" "$TESTENV_DIR/pebble.log" || true; }

# node_renew N SET: forced renewal through node N's admin API.
node_renew() {
  curl -fsS --max-time 120 -X POST "http://${NODE_ADMIN[$1]}/api/v1/cert/renew?name=$2"
}

# node_status N: node N's /api/v1/cert/status.
node_status() { curl -fsS --max-time 10 "http://${NODE_ADMIN[$1]}/api/v1/cert/status"; }

# fleet_sql SQL: one query against the fleet's database (unaligned, tuples only).
fleet_sql() { psql "$FLEET_DB_URL" -XAtqc "$1"; }

# fleet_db_stop / fleet_db_start: the cluster of start_postgres down (fast
# shutdown) and up again on the same port.
fleet_db_stop() { eval "$PG_STOP_CMD"; }
fleet_db_start() { eval "$PG_START_CMD"; }
