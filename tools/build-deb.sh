#!/bin/bash
# tools/build-deb.sh — builds the Debian package postgresql-15-dcf the
# standard way for PostgreSQL extensions (dpkg-buildpackage, debian/rules
# with pg_buildext / dh --with pgxs_loop) from a copy of this tree, and
# leaves the .deb in build/deb/.  As root on Debian 12 it first installs
# what the build needs (debhelper, postgresql-server-dev-all, the -dev
# libraries); as another user those must be installed already.
#
#   tools/build-deb.sh
#   apt-get install ./build/deb/postgresql-15-dcf_1.0_amd64.deb    # as root
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

deps="build-essential debhelper dpkg-dev postgresql-server-dev-all postgresql-server-dev-15 libpq-dev libcjson-dev liblz4-dev libssl-dev libkrb5-dev"
if [ "$(id -u)" = 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	dpkg -s $deps >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q --no-install-recommends $deps; }
fi
for prog in dpkg-buildpackage pg_buildext dh; do
	command -v "$prog" >/dev/null || { echo "tools/build-deb.sh: $prog is missing; as root run: apt-get install $deps" >&2; exit 1; }
done

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
work=$(mktemp -d /tmp/dcf-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/dcf-$version"
tar -C "$here" --exclude=./.git --exclude=./build --exclude=./tmp_check --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . |
	tar -C "$work/dcf-$version" -xf -
(cd "$work/dcf-$version" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
	tail -n 40 "$work/build.log" >&2
	echo "tools/build-deb.sh: dpkg-buildpackage failed (last lines above)" >&2
	exit 1
}
mkdir -p build/deb
cp "$work"/*.deb build/deb/
ls -l build/deb/*.deb
