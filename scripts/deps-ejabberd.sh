#!/usr/bin/env bash
# deps-ejabberd.sh: make sure ejabberd (Debian 12: 23.01) is installed for
# `make test-ejabberd`. The tests run their own ejabberd (internal/ejabberdtest:
# `erl ... -s ejabberd` as root, no Erlang distribution, loopback ports), never
# the system one, so the package's own service is kept from starting: a
# policy-rc.d refuses it during the install (that also keeps ejabberdctl from
# starting epmd on 0.0.0.0:4369), and the unit is disabled afterwards.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
installed() { have erl && compgen -G '/usr/lib/*/ejabberd-*/ebin/ejabberd.app' >/dev/null; }

installed && exit 0
echo "deps-ejabberd: ejabberd is missing" >&2
if [ "$(id -u)" != 0 ] || ! have apt-get; then
  echo "deps-ejabberd: cannot install (need root and apt-get); install the Debian package ejabberd and run again" >&2
  exit 1
fi
ours=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# deps-ejabberd.sh: no service starts during the install\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  ours=1
fi
cleanup() { if [ -n "$ours" ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends ejabberd >/dev/null
if have systemctl; then systemctl disable ejabberd >/dev/null 2>&1 || true; fi
# Should the service have started anyway (a policy-rc.d of someone else's
# that allowed it), stop it: the tests never use it.
if [ -s /run/ejabberd/ejabberd.pid ] && have service; then
  service ejabberd stop >/dev/null 2>&1 || true
fi
installed || { echo "deps-ejabberd: ejabberd still missing after install" >&2; exit 1; }
echo "deps-ejabberd: installed ejabberd" >&2
