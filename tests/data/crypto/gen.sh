#!/bin/sh
# Regenerates the crypto unit-test fixtures (run once; the outputs are committed).
# Keys in every format autocert reads, made with openssl (independent of GnuTLS),
# and a CA + leaf certificate made with certtool with fixed dates and serials so
# test_crypto.c can assert exact values.
set -eu
cd "$(dirname "$0")"

# Keys: EC P-256, EC P-384, RSA 2048 in PKCS#8, PKCS#1 / SEC1, PEM and DER.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec256.pkcs8.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pkcs8.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.pkcs8.pem
for k in ec256 ec384 rsa2048; do
  openssl pkcs8 -topk8 -nocrypt -in $k.pkcs8.pem -outform DER -out $k.pkcs8.der
done
for k in ec256 ec384; do
  openssl ec -in $k.pkcs8.pem -out $k.sec1.pem
  openssl ec -in $k.pkcs8.pem -outform DER -out $k.sec1.der
done
openssl rsa -in rsa2048.pkcs8.pem -traditional -out rsa2048.pkcs1.pem
openssl rsa -in rsa2048.pkcs8.pem -traditional -outform DER -out rsa2048.pkcs1.der
# RSA 8192 takes 15+ s to generate; the tests load this one instead.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:8192 -out rsa8192.pkcs8.pem

# Test CA (EC P-256) and a leaf (the ec256 key) it signs.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key.pem
cat > ca.tmpl <<'T'
cn = "autocert test CA"
serial = 0x01
activation_date = "2025-01-01 00:00:00 UTC"
expiration_date = "2045-01-01 00:00:00 UTC"
ca
cert_signing_key
T
certtool --generate-self-signed --load-privkey ca.key.pem --template ca.tmpl \
  --outfile ca.pem
cat > leaf.tmpl <<'T'
cn = "www.example.test"
serial = 0x00f1e2d3c4b5a69788
activation_date = "2025-06-01 12:00:00 UTC"
expiration_date = "2035-06-01 12:00:00 UTC"
dns_name = "www.example.test"
dns_name = "*.example.test"
dns_name = "example.test"
email = "admin@example.test"
signing_key
T
certtool --generate-certificate --load-privkey ec256.pkcs8.pem --load-ca-certificate ca.pem \
  --load-ca-privkey ca.key.pem --template leaf.tmpl --outfile leaf.pem
cat leaf.pem ca.pem > chain.pem
# The AKI as certtool reads it, for the ARI certificate id test.
certtool -i --infile leaf.pem | awk '/Authority Key Identifier/ { getline; gsub(/[ \t]/, ""); print }' > leaf.aki
rm -f ca.tmpl leaf.tmpl

# An encrypted PKCS#8 key, which autocert must refuse (never prompt).
openssl pkcs8 -topk8 -in ec256.pkcs8.pem -passout pass:test-password -v2 aes-256-cbc \
  -out ec256.encrypted.pem
