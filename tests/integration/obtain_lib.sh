# obtain_lib.sh - helpers shared by the `autocert obtain` integration tests
# (sourced after scripts/testenv.sh).

# write_config FILE PROVIDER DOMAINS_YAML [EXTRA_YAML_LINES...]
# A main set against the running Pebble + challtestsrv; extra lines are appended
# after it (inside the autocert: block when two-space indented, or new sections
# such as serve:). An admin: section with a free loopback port comes last.
write_config() {
  local file=$1 provider=$2 domains=$3; shift 3
  {
    echo "autocert:"
    echo "  provider: $provider"
    echo "  email: admin@example.test"
    echo "  domains: $domains"
    echo "  ca_dir_url: $PEBBLE_DIR_URL"
    echo "  ca_certs: [$PEBBLE_CA_CERT]"
    echo "  resolvers: [127.0.0.1:$CHALLTESTSRV_DNS_PORT]"
    if [ "$provider" = challtestsrv ]; then
      echo "  options:"
      echo "    url: $CHALLTESTSRV_URL"
    fi
    for line in "$@"; do echo "$line"; done
    # a free admin port, so daemons of tests running in parallel never collide
    # on the default 127.0.0.1:8555
    echo "admin:"
    echo "  listen: 127.0.0.1:$(free_port)"
  } > "$file"
}

# check_pair CERT KEY ROOT NAME... : chain verifies against ROOT, SANs are
# exactly NAME..., the key matches the leaf, modes 0644 / 0600.
check_pair() {
  local cert=$1 key=$2 root=$3; shift 3
  [ -s "$cert" ] || fail "$cert missing"
  [ -s "$key" ] || fail "$key missing"
  assert_eq 644 "$(stat -c %a "$cert")" "mode of $cert"
  assert_eq 600 "$(stat -c %a "$key")" "mode of $key"
  certtool --verify --load-ca-certificate "$root" --infile "$cert" >"$TESTENV_DIR/verify.out" 2>&1 ||
    { cat "$TESTENV_DIR/verify.out" >&2; fail "chain in $cert does not verify against Pebble's root"; }
  local want got
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  got=$(certtool -i --infile "$cert" 2>/dev/null | awk '/DNSname:/ {print $2}' | sort -u | tr '\n' ' ')
  # certtool -i prints every certificate of the chain; only the leaf has DNS SANs
  assert_eq "$want" "$got" "SANs of $cert"
  local kpub cpub
  kpub=$(certtool --pubkey-info --load-privkey "$key" 2>/dev/null | sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p')
  cpub=$(certtool --pubkey-info --load-certificate "$cert" 2>/dev/null | sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p')
  [ -n "$kpub" ] || fail "cannot read the public key of $key"
  assert_eq "$kpub" "$cpub" "key $key matches the leaf of $cert"
}

serial_of() { certtool -i --infile "$1" 2>/dev/null | awk -F': ' '/Serial Number/ {print $2; exit}'; }
