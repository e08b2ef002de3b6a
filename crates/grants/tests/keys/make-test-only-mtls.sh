#!/usr/bin/env bash
# Regenerates the test-only mTLS material of this directory (see README.md): a CA, a
# server certificate for localhost, two client certificates issued by the CA, and two
# self-signed client certificates. Run from this directory; needs openssl 3.
#
#     bash make-test-only-mtls.sh
#
# Every certificate is valid from 2025-01-01 to 2125-01-01, so that the tests neither
# start before nor outlive it (`openssl ca`, because `openssl x509 -req` of OpenSSL 3.0
# cannot set the start date).
set -euo pipefail
p=test-only-mtls
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/index.txt"
cat > "$work/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
organizationName = optional
commonName = supplied
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[self_signed_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CNF

# sign NAME SUBJECT EXTENSIONS [-selfsign]: a certificate for $p-NAME-key.pem.
sign() {
  openssl req -new -key "$p-$1-key.pem" -subj "$2" -out "$work/$1.csr"
  openssl rand -hex 16 > "$work/serial"
  local issuer=(-cert "$p-ca.pem" -keyfile "$p-ca-key.pem")
  [ "${4:-}" = -selfsign ] && issuer=(-selfsign -keyfile "$p-$1-key.pem")
  openssl ca -batch -config "$work/ca.cnf" "${issuer[@]}" -notext \
    -startdate 20250101000000Z -enddate 21250101000000Z \
    -extensions "$3" -in "$work/$1.csr" -out "$p-$1.pem" 2>/dev/null
}
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$p-$1-key.pem"; }
# RSA in PKCS#1 ("BEGIN RSA PRIVATE KEY"), to cover that key format too.
rsa_key() { openssl genrsa -traditional -out "$p-$1-key.pem" 2048 2>/dev/null; }

ec_key ca
sign ca "/O=grantkit tests/CN=grantkit test-only CA" ca_ext -selfsign
ec_key server
sign server "/O=grantkit tests/CN=localhost" server_ext
ec_key client
sign client "/O=grantkit tests/CN=grantkit-test-client" client_ext
ec_key other-client
sign other-client "/O=grantkit tests/CN=grantkit-other-client" client_ext
rsa_key self-signed
sign self-signed "/O=grantkit tests/CN=grantkit-self-signed-client" self_signed_ext -selfsign
rsa_key other-self-signed
sign other-self-signed "/O=grantkit tests/CN=grantkit-other-self-signed-client" self_signed_ext -selfsign

# A client certificate and its key in one file, as curl's --cert takes them.
cat "$p-client.pem" "$p-client-key.pem" > "$p-client-combined.pem"
