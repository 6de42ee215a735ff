#!/usr/bin/env bash
# test_storage_pg.sh - the storage suite against the PostgreSQL store: both
# backends' cases (tests/unit/test_storage.c) and the PostgreSQL store's own
# (tests/unit/test_storage_pg.c). A cluster of our own (start_postgres, the
# postgres user, a free loopback port, the socket in the test's dir), the same
# cmocka binaries as unit.test_storage and unit.test_storage_pg with
# AUTOCERT_TEST_PG_URL set (a fresh database per case), and the commands that
# stop and start the cluster for the case where the database goes away and
# comes back.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"

bin=${AUTOCERT_TEST_STORAGE:?AUTOCERT_TEST_STORAGE: the test_storage binary}
[[ -x "$bin" ]] || fail "$bin is not built"
bin_pg=${AUTOCERT_TEST_STORAGE_PG:?AUTOCERT_TEST_STORAGE_PG: the test_storage_pg binary}
[[ -x "$bin_pg" ]] || fail "$bin_pg is not built"

testenv_init
start_postgres

AUTOCERT_TEST_PG_URL=$PG_URL AUTOCERT_TEST_PG_STOP=$PG_STOP_CMD \
  AUTOCERT_TEST_PG_START=$PG_START_CMD "$bin" || fail "the storage suite failed against PostgreSQL"
AUTOCERT_TEST_PG_URL=$PG_URL AUTOCERT_TEST_PG_STOP=$PG_STOP_CMD \
  AUTOCERT_TEST_PG_START=$PG_START_CMD "$bin_pg" ||
  fail "the PostgreSQL store's own storage cases failed"

# the cluster is up again after the restart case, and no test database leaked a
# key in clear: every key column of every test database is ciphertext
for db in $(pg_psql postgres "SELECT datname FROM pg_database WHERE datname LIKE 'ts\_%'"); do
  n=$(pg_psql "$db" "SELECT count(*) FROM autocert_sets WHERE position('PRIVATE KEY'::bytea IN key_ct) > 0" 2>/dev/null || echo 0)
  assert_eq 0 "$n" "clear keys in $db"
done
echo "PASS"
