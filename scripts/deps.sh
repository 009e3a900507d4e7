#!/usr/bin/env bash
# deps.sh: make sure the real peers the tests use are installed.
# On Debian as root it installs what is missing; anywhere else it says what
# is missing and fails. It never lets the tests skip silently.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have prosody      || need+=(prosody)
have prosodyctl   || need+=(prosody)
have swaks        || need+=(swaks)
have smtp-source  || need+=(postfix)
have smtp-sink    || need+=(postfix)
have gpg          || need+=(gnupg)
have sqop         || need+=(sqop)
have openssl      || need+=(openssl)
have nats-server  || need+=(nats-server)  # gateway/queue/natsstore, internal/natstest, make test-cluster
have systemd-analyze || need+=(systemd)   # e2e/deploy_test.go verifies the unit
/usr/bin/python3 -c 'import slixmpp' >/dev/null 2>&1 || need+=(python3-slixmpp)
# The independent OMEMO 0.3 client of the OMEMO tests (internal/omemotest).
/usr/bin/python3 -c 'import omemo' >/dev/null 2>&1 || need+=(python3-omemo)
/usr/bin/python3 -c 'import oldmemo' >/dev/null 2>&1 || need+=(python3-oldmemo)
/usr/bin/python3 -c 'import xmlschema' >/dev/null 2>&1 || need+=(python3-xmlschema)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
# unique
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "deps: missing: ${need[*]}" >&2
if [ "$(id -u)" != 0 ] || ! have apt-get; then
  echo "deps: cannot install (need root and apt-get); install these packages and run again: ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get install -y -q --no-install-recommends "${need[@]}" lua-unbound >/dev/null
# Packages may start their system services on install; the tests run their own
# instances on their own loopback ports, so stop the system ones.
for svc in prosody postfix nats-server; do
  if have service; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
for c in prosody prosodyctl swaks smtp-source smtp-sink gpg sqop openssl nats-server; do
  have "$c" || { echo "deps: $c still missing after install" >&2; exit 1; }
done
/usr/bin/python3 -c 'import slixmpp' || { echo "deps: python3-slixmpp still missing" >&2; exit 1; }
echo "deps: installed ${need[*]}" >&2
