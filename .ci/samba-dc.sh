#!/usr/bin/env bash
# Starts a real Samba Active Directory domain controller on this machine for
# the LDAP connector's tests (connectors/ldap), and writes the environment
# the tests read to $KINETIC_SAMBA_DIR/env:
#
#   KINETIC_TEST_LDAP_URL        ldaps://127.0.0.1:636
#   KINETIC_TEST_LDAP_BIND_DN    CN=Administrator,CN=Users,DC=example,DC=test
#   KINETIC_TEST_LDAP_PASSWORD   the domain administrator's password
#   KINETIC_TEST_LDAP_BASE_DN    DC=example,DC=test
#   KINETIC_TEST_LDAP_CA_FILE    the CA that signed the DC's certificate
#   KINETIC_TEST_LDAP_OTHER_CA_FILE  an unrelated CA (for "wrong CA" tests)
#
# Use it as:  bash .ci/samba-dc.sh && set -a && . /var/lib/kinetic-samba/env && set +a
# (progress goes to stderr; stdout is only the env file's path).
#
# Idempotent: it installs packages only when samba-tool is missing, generates
# the CA and certificate and provisions the domain only once, and exits 0 at
# once when a DC is already answering on ldaps://127.0.0.1:636. LDAP ports are
# fixed (389, 636), so there is one DC per machine. The DC listens on the
# loopback interface only and runs no DNS server (nothing on port 53).
#
# Samba runs in the foreground of its own session (samba -i -M single),
# started with setsid so it outlives this script; stop it with
#   kill "$(cat "$KINETIC_SAMBA_DIR/samba.pid")"
#
# Needs root (apt-get, provisioning). Measured on a 2-core machine: package
# install ~20-40 s, certificates + provision + start 4-10 s, and a few
# milliseconds when the DC is already up.
set -euo pipefail

DIR=${KINETIC_SAMBA_DIR:-/var/lib/kinetic-samba}
REALM=EXAMPLE.TEST
DOMAIN=EXAMPLE
BASE_DN=DC=example,DC=test
HOST=dc1
SMBCONF=$DIR/etc/smb.conf
TLS=$DIR/tls
ENV_FILE=$DIR/env
PID_FILE=$DIR/samba.pid
LOG=$DIR/samba.log

say() { printf '==> %s\n' "$*" >&2; }
start_time=$SECONDS

# ldaps_up reports whether a TLS server that our CA vouches for answers on 636.
ldaps_up() {
  [ -f "$TLS/ca.pem" ] || return 1
  timeout 5 openssl s_client -connect 127.0.0.1:636 -CAfile "$TLS/ca.pem" \
    -verify_return_error -brief </dev/null >/dev/null 2>&1
}

print_env() {
  say "environment for the tests ($ENV_FILE):"
  sed 's/^\(KINETIC_TEST_LDAP_PASSWORD=\).*/\1<secret>/' "$ENV_FILE" >&2
  echo "$ENV_FILE"
}

# Settings provision drops or that the tests depend on, appended to [global]:
#  - ldap server require strong auth = no: lets the DC accept a simple bind
#    over plain LDAP (provision silently drops this option), which the tests
#    need to prove that our client refuses plain LDAP by itself;
#  - old password allowed period = 0: by default (60 minutes) Samba keeps
#    accepting the previous password after a reset, also for LDAP simple
#    binds, so a test could not tell that reset_password took effect.
EXTRA_OPTIONS=("ldap server require strong auth = no" "old password allowed period = 0")
options_present() {
  local o
  for o in "${EXTRA_OPTIONS[@]}"; do grep -qF "$o" "$SMBCONF" 2>/dev/null || return 1; done
}

if [ -f "$ENV_FILE" ] && options_present && ldaps_up; then
  say "Samba AD DC already answering on ldaps://127.0.0.1:636"
  print_env
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "samba-dc.sh: needs root (package install, domain provisioning)" >&2
  exit 1
fi

# 1. Packages. apt starts no daemon in this environment; we start nothing via
#    systemd either.
if ! command -v samba-tool >/dev/null || ! command -v samba >/dev/null; then
  say "installing samba"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y samba winbind krb5-user ldb-tools >/dev/null; then
    apt-get update >/dev/null
    apt-get install -y samba winbind krb5-user ldb-tools >/dev/null
  fi
fi
command -v openssl >/dev/null || { apt-get install -y openssl >/dev/null; }

mkdir -p "$DIR"
chmod 700 "$DIR"

# 2. TLS. Samba's self-generated certificate has a negative serial number,
#    which Go's crypto/x509 rejects, so we make our own CA and server
#    certificate.
if [ ! -f "$TLS/cert.pem" ]; then
  say "generating a test CA and the DC's certificate"
  mkdir -p "$TLS"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -subj "/CN=Kinetic test CA" -keyout "$TLS/ca-key.pem" -out "$TLS/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$HOST.${REALM,,}" \
    -keyout "$TLS/key.pem" -out "$TLS/server.csr" 2>/dev/null
  cat >"$TLS/server.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$HOST.${REALM,,},DNS:localhost,IP:127.0.0.1
EOF
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" \
    -CAcreateserial -days 3650 -sha256 -extfile "$TLS/server.ext" -out "$TLS/cert.pem" 2>/dev/null
  # A second, unrelated CA: the tests use it to prove a wrong CA is refused.
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -subj "/CN=Kinetic wrong CA" -keyout "$TLS/other-ca-key.pem" -out "$TLS/other-ca.pem" 2>/dev/null
  chmod 600 "$TLS"/*key.pem # samba refuses a world-readable key
  chmod 644 "$TLS/ca.pem" "$TLS/other-ca.pem" "$TLS/cert.pem"
fi

# 3. Domain. The administrator password is generated once and kept in the
#    env file (mode 600).
if [ ! -f "$SMBCONF" ]; then
  say "provisioning the $REALM domain in $DIR"
  # AD's default complexity rules want three character classes.
  ADMINPASS="Kt1-$(openssl rand -hex 12)-Zq"
  rm -rf "$DIR/etc" "$DIR/private" "$DIR/state" "$DIR/cache" "$DIR/lock" "$DIR/bind-dns"
  samba-tool domain provision \
    --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=SAMBA_INTERNAL \
    --adminpass="$ADMINPASS" --use-rfc2307 --host-name="$HOST" --targetdir="$DIR" \
    --option="interfaces = lo" --option="bind interfaces only = yes" \
    --option="server services = ldap, cldap, kdc, drepl" \
    --option="tls enabled = yes" --option="tls keyfile = $TLS/key.pem" \
    --option="tls certfile = $TLS/cert.pem" --option="tls cafile = " \
    >"$DIR/provision.log" 2>&1 || { cat "$DIR/provision.log" >&2; exit 1; }
  umask 077
  cat >"$ENV_FILE" <<EOF
KINETIC_TEST_LDAP_URL=ldaps://127.0.0.1:636
KINETIC_TEST_LDAP_BIND_DN=CN=Administrator,CN=Users,$BASE_DN
KINETIC_TEST_LDAP_PASSWORD=$ADMINPASS
KINETIC_TEST_LDAP_BASE_DN=$BASE_DN
KINETIC_TEST_LDAP_CA_FILE=$TLS/ca.pem
KINETIC_TEST_LDAP_OTHER_CA_FILE=$TLS/other-ca.pem
EOF
  umask 022
fi

# 4. Settings (see EXTRA_OPTIONS above). A running samba is restarted when
#    one had to be added.
restart=no
for o in "${EXTRA_OPTIONS[@]}"; do
  if ! grep -qF "$o" "$SMBCONF"; then
    sed -i "/^\[global\]/a \\	$o" "$SMBCONF"
    restart=yes
  fi
done
if [ "$restart" = yes ] && [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  say "restarting samba (pid $(cat "$PID_FILE")) for the new settings"
  kill "$(cat "$PID_FILE")" || true
  for _ in $(seq 1 20); do kill -0 "$(cat "$PID_FILE")" 2>/dev/null || break; sleep 0.5; done
fi

# 5. Start. A samba left over from an earlier run that does not answer is
#    stopped first (only the one whose pid we recorded).
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  if ! ldaps_up; then
    say "stopping an unresponsive samba (pid $(cat "$PID_FILE"))"
    kill "$(cat "$PID_FILE")" || true
    for _ in $(seq 1 20); do kill -0 "$(cat "$PID_FILE")" 2>/dev/null || break; sleep 0.5; done
  fi
fi
if ! { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }; then
  say "starting samba"
  setsid samba -i -M single -s "$SMBCONF" >"$LOG" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
fi

say "waiting for ldaps://127.0.0.1:636"
for _ in $(seq 1 120); do
  ldaps_up && break
  if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    echo "samba exited; its log:" >&2
    tail -50 "$LOG" >&2
    exit 1
  fi
  sleep 0.5
done
if ! ldaps_up; then
  echo "samba did not answer on ldaps://127.0.0.1:636 within 60 s; its log:" >&2
  tail -50 "$LOG" >&2
  exit 1
fi
say "Samba AD DC up (pid $(cat "$PID_FILE")) after $((SECONDS - start_time)) s"
print_env
