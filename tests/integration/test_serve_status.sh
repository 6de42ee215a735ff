#!/usr/bin/env bash
# What the daemon says about sets it cannot serve normally (issue 10 item 16,
# the lifecycle part): a set whose key does not load logs that reason at boot
# (not "no certificate on disk") and shows it as last_error in
# /api/v1/cert/status; an unmanaged (local) set whose certificate has expired
# is in state "expired" (DESIGN.md §5.5), not "unmanaged".
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
cd "$TESTENV_DIR"
mkdir certs
python3 - <<'PY' || fail "cannot make the test certificates"
import datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
def make(name, start_days, end_days, cert, key):
    k = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    c = (x509.CertificateBuilder().subject_name(n).issuer_name(n).public_key(k.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now + datetime.timedelta(days=start_days))
         .not_valid_after(now + datetime.timedelta(days=end_days))
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
         .sign(k, hashes.SHA256()))
    open(cert, "wb").write(c.public_bytes(serialization.Encoding.PEM))
    open(key, "wb").write(k.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
make("main.test", -1, 30, "certs/main.crt", "certs/main.key")
make("broken.test", -1, 30, "certs/broken.crt", "certs/broken.key")
make("old.test", -10, -1, "certs/old.crt", "certs/old.key")
PY
# broken.key: a PEM block whose body is not a key
printf -- '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n' >certs/broken.key
APORT=$(free_port)
cat >st.yml <<YAML
autocert:
  provider: local
  cert_path: certs/main.crt
  key_path: certs/main.key
  extra:
    - cert_path: certs/broken.crt
      key_path: certs/broken.key
    - cert_path: certs/old.crt
      key_path: certs/old.key
admin:
  listen: 127.0.0.1:$APORT
YAML
start_daemon st.yml serve
wait_until 20 curl -sf "http://127.0.0.1:$APORT/healthz" || { cat serve.log >&2; fail "daemon did not start"; }
curl -s "http://127.0.0.1:$APORT/api/v1/cert/status" >status.json
cat status.json; echo

line=$(grep '\[extra\[1\]\]' serve.log | grep -v "certificate loaded" | tail -1)
assert_contains "$line" "no certificate served:" "boot log of the set whose key does not load"
if grep '\[extra\[1\]\]' serve.log | grep -q "no certificate on disk"; then
  fail "boot log says 'no certificate on disk' for a set whose key does not load"
fi
python3 - <<'PY' || fail "status wrong"
import json
st = {s["name"]: s for s in json.load(open("status.json"))}
b = st["extra[1]"]
assert b["last_error"] is not None, b
assert "broken.key" in b["last_error"]["message"], b
assert b["last_error"]["kind"], b
assert isinstance(b["last_error"]["at"], int) and b["last_error"]["at"] > 0, b
assert st["extra[2]"]["state"] == "expired", st["extra[2]"]
assert st["main"]["state"] == "unmanaged", st["main"]
assert st["main"]["last_error"] is None, st["main"]
PY
echo "PASS"
