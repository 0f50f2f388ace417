#!/bin/bash
# tools/setup.sh — README's first command: on Debian 12, as root, installs
# the build and test dependencies, builds dcf and installs it into the
# PostgreSQL 15 installation (dcf.so, SQL script, control file, dcf_ctl,
# linked into /usr/local/bin so that it is on the PATH), then starts the
# local 3-node demo cluster (tools/demo.sh) and prints who leads.
# DCF_SETUP_NO_DEMO=1 skips the demo.  tools/build-deb.sh builds the same
# as a Debian package instead.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ "$(id -u)" != 0 ]; then
	echo "tools/setup.sh: run this as root (it installs Debian packages and dcf itself)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential ca-certificates make gcc pkg-config \
	postgresql-15 postgresql-server-dev-15 postgresql-client-15 libpq-dev \
	libcjson-dev liblz4-dev libssl-dev libkrb5-dev libipc-run-perl perl openssl \
	python3 python3-psycopg2 nftables

# PostgreSQL 15's bin directory first, so pg_config and pg_ctl are the right ones.
export PATH=/usr/lib/postgresql/15/bin:$PATH
make -j"$(nproc)" all
make install
# dcf_ctl on the PATH (PostgreSQL's own bin directory is not on it)
ln -sf "$(pg_config --bindir)/dcf_ctl" /usr/local/bin/dcf_ctl
echo "dcf built and installed into $(pg_config --pkglibdir) and $(pg_config --bindir); dcf_ctl linked into /usr/local/bin"

if [ -z "${DCF_SETUP_NO_DEMO:-}" ]; then
	tools/demo.sh stop >/dev/null 2>&1 || true
	rm -rf /tmp/dcf-demo
	tools/demo.sh start
	echo "stop it with: tools/demo.sh stop"
fi
