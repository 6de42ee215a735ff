#!/usr/bin/env bash
# The PostgreSQL store's keys and administration (issue 14):
#  - `check` refuses store.url without encryption_key (exit 2), and a key
#    that is not 32 bytes of base64, naming store.encryption_key, never the value;
#  - keys in the database are ciphertext;
#  - a node with the wrong encryption_key says so at start, serves its file
#    cache, places no order and leaves the database as it was;
#  - `autocert store rekey` re-encrypts under a new key: the old key is then
#    refused, the new one works;
#  - `autocert store migrate --to-files` writes a database's certificates into
#    an empty node's files; `migrate-schema` is idempotent.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/fleet_lib.sh"
testenv_init
start_challtestsrv
start_pebble
start_postgres
cd "$TESTENV_DIR"
pebble_root root.pem
FLEET_DB_URL=$(pg_new_db fleet)

# --- check -------------------------------------------------------------------------
fleet_node 1 '[keys.test]'
sed '/encryption_key:/d' node1/d.yml >nokey.yml
set +e; "$AUTOCERT_BIN" check -c nokey.yml >nokey.out 2>&1; rc=$?; set -e
assert_eq 2 "$rc" "check without encryption_key"
assert_contains "$(cat nokey.out)" "store.encryption_key" "check's message"
sed "s|encryption_key: .*|encryption_key: c2hvcnQta2V5LW5vdC0zMi1ieXRlcw==|" node1/d.yml >short.yml
set +e; "$AUTOCERT_BIN" check -c short.yml >short.out 2>&1; rc=$?; set -e
assert_eq 2 "$rc" "check with a short key"
assert_contains "$(cat short.out)" "must be 32 bytes" "check's message"
[[ "$(cat short.out)" != *c2hvcnQta2V5* ]] || fail "check printed the key"
"$AUTOCERT_BIN" check -c node1/d.yml >ok.out 2>&1 || { cat ok.out >&2; fail "check refused a good store section"; }
[[ "$(cat ok.out)" != *"$FLEET_KEY"* ]] || fail "check printed the encryption key"

# --- a certificate in the database, its key encrypted ------------------------------
fleet_start 1
wait_until 60 grep -q "in service: obtained" node1.log || { tail -n 30 node1.log >&2; fail "no certificate"; }
s1=$(node_serial 1 keys.test)
fleet_stop 1
keyrow=$(fleet_sql "select encode(key_ct, 'escape') from autocert_sets")
[[ -n "$keyrow" && "$keyrow" != *"PRIVATE KEY"* && "$keyrow" != *"MII"* ]] || fail "the key in the database is not ciphertext"
row0=$(fleet_sql "select md5(key_ct) || md5(chain) || token from autocert_sets")
orders0=$(pebble_orders)

# --- the wrong key -----------------------------------------------------------------
good_key=$FLEET_KEY
wrong_key=$(head -c 32 /dev/urandom | base64)
sed -i "s|encryption_key: .*|encryption_key: $wrong_key|" node1/d.yml
fleet_start 1
wait_until 20 grep -q "encryption_key does not match" node1.log || { tail -n 20 node1.log >&2; fail "no clear error for the wrong key"; }
node_serves 1 keys.test "$s1" || fail "the file cache is not served with the wrong key"
assert_contains "$(node_status 1)" '"up":false' "status with the wrong key"
set +e; node_renew 1 main >renew.out 2>&1; set -e
assert_eq "$orders0" "$(pebble_orders)" "orders with the wrong key"
assert_eq "$row0" "$(fleet_sql "select md5(key_ct) || md5(chain) || token from autocert_sets")" "database row after the wrong key"
fleet_stop 1
! grep -q "$wrong_key" node1.log || fail "the key was logged"

# --- rekey -------------------------------------------------------------------------
sed -i "s|encryption_key: .*|encryption_key: $good_key|" node1/d.yml
new_key=$(head -c 32 /dev/urandom | base64)
AUTOCERT_STORE_NEW_KEY=$new_key "$AUTOCERT_BIN" store rekey -c node1/d.yml >rekey.out 2>&1 ||
  { cat rekey.out >&2; fail "rekey failed"; }
set +e; AUTOCERT_STORE_NEW_KEY=$new_key "$AUTOCERT_BIN" store rekey -c node1/d.yml >rekey2.out 2>&1; rc=$?; set -e
assert_eq 1 "$rc" "rekey with the old key after rekeying"
assert_contains "$(cat rekey2.out)" "store.key" "second rekey's error"
sed -i "s|encryption_key: .*|encryption_key: $new_key|" node1/d.yml
"$AUTOCERT_BIN" store migrate-schema -c node1/d.yml >schema.out 2>&1 || { cat schema.out >&2; fail "migrate-schema failed"; }

# --- migrate --to-files into an empty node -----------------------------------------
FLEET_KEY=$new_key fleet_node 2 '[keys.test]'
(cd node2 && "$AUTOCERT_BIN" store migrate -c d.yml --to-files) >migrate.out 2>&1 || { cat migrate.out >&2; fail "migrate --to-files failed"; }
assert_contains "$(cat migrate.out)" "certificate copied to the files" "migrate's report"
check_pair node2/certs/cert.crt node2/certs/priv.key root.pem keys.test
assert_eq "$s1" "$(serial_of node2/certs/cert.crt | tr -d ':' | tr 'A-F' 'a-f')" "migrated certificate"
set +e; (cd node2 && "$AUTOCERT_BIN" store migrate -c d.yml) >m2.out 2>&1; rc=$?; set -e
assert_eq 2 "$rc" "migrate without a direction"

# the node with the new key serves and connects
fleet_start 1
wait_until 20 grep -q "store: connected to PostgreSQL" node1.log || { tail -n 20 node1.log >&2; fail "the new key is refused"; }
assert_contains "$(node_status 1)" '"up":true' "status with the new key"
fleet_stop 1
echo "PASS"
