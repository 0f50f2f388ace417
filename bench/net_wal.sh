#!/bin/bash
# bench/net_wal.sh NET_BENCH — lz4 ratio and speed of dcf's transport
# compression on real WAL.
#
# Creates a throwaway PostgreSQL 15 cluster in a temporary directory
# (Unix socket only, no TCP listener), loads pgbench at scale $SCALE, runs
# pgbench for $SECONDS_RUN seconds, stops the cluster, and feeds the WAL
# segments that each phase filled completely to `NET_BENCH lz4` in 64 KiB
# chunks (the size of a WAL message) and 1 MiB chunks.  As root the server
# runs as user postgres.  Everything is removed afterwards.
set -euo pipefail

bench=${1:?usage: net_wal.sh path/to/net_bench}
bench=$(cd "$(dirname "$bench")" && pwd)/$(basename "$bench")
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SCALE=${SCALE:-10}
SECONDS_RUN=${SECONDS_RUN:-30}

tmp=$(mktemp -d /tmp/dcf-bench-wal.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$tmp"
	as_pg=(runuser -u postgres --)
fi
pg() { "${as_pg[@]}" "$@"; }
stop() {
	if [ -f "$tmp/data/postmaster.pid" ]; then
		pg "$PGBIN/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap stop EXIT

pg "$PGBIN/initdb" -D "$tmp/data" -A trust -U postgres --no-sync >/dev/null
pg "$PGBIN/pg_ctl" -D "$tmp/data" -l "$tmp/log" -w \
	-o "-c listen_addresses='' -c unix_socket_directories='$tmp' -c port=5432 -c fsync=off -c max_wal_size=4GB -c checkpoint_timeout=300" \
	start >/dev/null
psql() { pg "$PGBIN/psql" -h "$tmp" -U postgres -d postgres -XAtq "$@"; }
segment() { psql -c "select pg_walfile_name(pg_current_wal_insert_lsn())"; }
switch() { psql -c "select pg_switch_wal()" >/dev/null; }

# Segments first..last-1 (in name order) of pg_wal, copied before the next phase recycles them.
collect() {
	local first=$1 last=$2 out=$3
	mkdir -p "$out"
	for f in $(ls "$tmp/data/pg_wal" | grep -E '^[0-9A-F]{24}$' | sort); do
		if [[ "$f" > "$first" || "$f" == "$first" ]] && [[ "$f" < "$last" ]]; then
			cp "$tmp/data/pg_wal/$f" "$out/"
		fi
	done
	chmod -R a+r "$out"
}

switch
s0=$(segment)
pg "$PGBIN/pgbench" -h "$tmp" -U postgres -i -q -s "$SCALE" postgres >/dev/null 2>&1
switch
s1=$(segment)
collect "$s0" "$s1" "$tmp/wal-init"
psql -c "checkpoint" >/dev/null
switch
s2=$(segment)
pg "$PGBIN/pgbench" -h "$tmp" -U postgres -c 4 -j 2 -T "$SECONDS_RUN" postgres >"$tmp/pgbench.out" 2>&1
switch
s3=$(segment)
collect "$s2" "$s3" "$tmp/wal-run"
tps=$(grep -E '^tps' "$tmp/pgbench.out" | head -1 | sed 's/ (.*//')
pg "$PGBIN/pg_ctl" -D "$tmp/data" -m fast stop >/dev/null

echo "# WAL from pgbench -i -s $SCALE: $(ls "$tmp/wal-init" | wc -l) segments"
for c in 65536 1048576; do "$bench" lz4 -c $c "$tmp"/wal-init/*; done
echo "# WAL from pgbench -c 4 -j 2 -T $SECONDS_RUN ($tps): $(ls "$tmp/wal-run" | wc -l) segments"
for c in 65536 1048576; do "$bench" lz4 -c $c "$tmp"/wal-run/*; done
