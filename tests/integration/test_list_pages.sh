#!/usr/bin/env bash
# `autocert list` at scale (issue 12 item 4): the filters --name, --domain,
# --state, one page with --limit (the next cursor on stderr, --cursor goes
# on), every page without --limit, a limit over 1000 (exit 2), in both forms:
# in-process (-c FILE) and against a running daemon (--admin URL), whose
# /api/v1/cert/status also answers Link: rel="next" and 400 for a bad cursor.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
cd "$TESTENV_DIR"
mkdir certs
N=7
python3 - "$N" <<'PY' || fail "cannot make the test certificates"
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
def make(name, cert, key):
    k = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    c = (x509.CertificateBuilder().subject_name(n).issuer_name(n).public_key(k.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
         .sign(k, hashes.SHA256()))
    open(cert, "wb").write(c.public_bytes(serialization.Encoding.PEM))
    open(key, "wb").write(k.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
make("main.test", "certs/main.crt", "certs/main.key")
for i in range(1, int(sys.argv[1]) + 1):
    make("s%d.test" % i, "certs/s%d.crt" % i, "certs/s%d.key" % i)
PY
APORT=$(free_port)
{
  printf 'autocert:\n  provider: local\n  cert_path: certs/main.crt\n  key_path: certs/main.key\n  extra:\n'
  for i in $(seq 1 "$N"); do
    printf '    - cert_path: certs/s%d.crt\n      key_path: certs/s%d.key\n' "$i" "$i"
  done
  # one more, managed, without files: bootstrap (served a stand-in)
  printf '    - provider: custom\n      email: a@example.test\n      ca_dir_url: https://127.0.0.1:1/dir\n'
  printf '      domains: [p.example.test]\n      cert_path: certs/p.crt\n      key_path: certs/p.key\n'
  printf 'admin:\n  listen: 127.0.0.1:%s\n' "$APORT"
} >l.yml

# rows of a list output (without the header line), names only
names() { awk 'NR > 1 { print $1 }' "$1" | paste -sd, -; }

check_form() { # $1: label, rest: the source options
  local label=$1 rc
  shift
  "$AUTOCERT_BIN" list "$@" >all.out 2>all.err || { cat all.err >&2; fail "$label: list"; }
  assert_eq "main,extra[1],extra[2],extra[3],extra[4],extra[5],extra[6],extra[7],extra[8]" \
    "$(names all.out)" "$label: every set"
  assert_contains "$(cat all.out)" "s3.test" "$label: certificate names of a local set"

  "$AUTOCERT_BIN" list "$@" --limit 3 >p1.out 2>p1.err || fail "$label: list --limit 3"
  assert_eq "main,extra[1],extra[2]" "$(names p1.out)" "$label: first page"
  local cur
  cur=$(sed -n 's/^next cursor: //p' p1.err)
  [[ -n "$cur" ]] || fail "$label: no next cursor printed: $(cat p1.err)"
  "$AUTOCERT_BIN" list "$@" --limit 3 --cursor "$cur" >p2.out 2>p2.err || fail "$label: page 2"
  assert_eq "extra[3],extra[4],extra[5]" "$(names p2.out)" "$label: second page"
  cur=$(sed -n 's/^next cursor: //p' p2.err)
  "$AUTOCERT_BIN" list "$@" --cursor "$cur" >p3.out 2>p3.err || fail "$label: the rest"
  assert_eq "extra[6],extra[7],extra[8]" "$(names p3.out)" "$label: the rest from a cursor"
  if grep -q "^next cursor" p3.err; then fail "$label: a cursor after the last page"; fi

  "$AUTOCERT_BIN" list "$@" --state pending,due,renewing,backoff >st.out 2>st.err || fail "$label: --state"
  assert_eq "" "$(names st.out)" "$label: --state pending (none: a managed set without files is bootstrap)"
  "$AUTOCERT_BIN" list "$@" --state bootstrap >st.out 2>st.err || fail "$label: --state bootstrap"
  assert_eq "extra[8]" "$(names st.out)" "$label: --state bootstrap"
  "$AUTOCERT_BIN" list "$@" --state unmanaged --domain s4.test >d.out 2>d.err || fail "$label: --domain"
  assert_eq "extra[4]" "$(names d.out)" "$label: --domain with --state"
  "$AUTOCERT_BIN" list "$@" --name extra2 --domain s4.test >e.out 2>e.err || fail "$label: AND"
  assert_eq "" "$(names e.out)" "$label: name AND domain of different sets"

  set +e
  "$AUTOCERT_BIN" list "$@" --limit 5000 >bad.out 2>&1; rc=$?
  set -e
  assert_eq 2 "$rc" "$label: --limit 5000 $(cat bad.out)"
  set +e
  "$AUTOCERT_BIN" list "$@" --state bogus >bad.out 2>&1; rc=$?
  set -e
  assert_eq 2 "$rc" "$label: --state bogus"
  assert_contains "$(cat bad.out)" "unknown state" "$label: --state bogus message"
  set +e
  "$AUTOCERT_BIN" list "$@" --cursor nonsense >bad.out 2>&1; rc=$?
  set -e
  assert_eq 2 "$rc" "$label: a bad cursor"
  assert_contains "$(cat bad.out)" "invalid cursor" "$label: bad cursor message"
}

check_form "in-process" -c l.yml

start_daemon l.yml serve
wait_until 20 curl -sf "http://127.0.0.1:$APORT/healthz" || { cat serve.log >&2; fail "daemon did not start"; }
check_form "--admin" --admin "http://127.0.0.1:$APORT"

# the API itself: Link header, 400 JSON for a bad cursor and a limit over 1000
hdr=$(curl -s -D - -o page.json "http://127.0.0.1:$APORT/api/v1/cert/status?state=unmanaged&limit=2")
assert_contains "$hdr" 'Link: </api/v1/cert/status?state=unmanaged&limit=2&cursor=' "Link header"
assert_contains "$hdr" '>; rel="next"' "Link rel"
code=$(curl -s -o bad.json -w '%{http_code}' "http://127.0.0.1:$APORT/api/v1/cert/info?limit=1001")
assert_eq 400 "$code" "limit=1001"
assert_contains "$(cat bad.json)" '"message":' "JSON error for limit=1001"
code=$(curl -s -o bad.json -w '%{http_code}' "http://127.0.0.1:$APORT/api/v1/cert/info?cursor=xyz")
assert_eq 400 "$code" "a bad cursor"
# GoDoxy's /info: the whole array without limit, no Link
hdr=$(curl -s -D - -o info.json "http://127.0.0.1:$APORT/api/v1/cert/info")
[[ "$hdr" != *"Link:"* ]] || fail "Link header without limit"
assert_eq 8 "$(python3 -c 'import json,sys; print(len(json.load(open("info.json"))))')" "/info length"
stop_daemon
echo "ok"
