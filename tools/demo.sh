#!/bin/bash
# tools/demo.sh — a local 3-node dcf cluster on loopback, for a first look.
#
#   tools/demo.sh start [DIR]   create (first time) and start the cluster, print who leads
#   tools/demo.sh status [DIR]  dcf_ctl list: every member's role, state and lag
#   tools/demo.sh stop [DIR]    stop every node (and its supervisor)
#
# DIR defaults to /tmp/dcf-demo.  Nodes n1..n3 listen for SQL on ports
# 55431..55433 and for dcf traffic on 127.0.0.1:17781..17783.  Every node
# runs under `dcf_ctl supervise` (its log: DIR/nX.supervise.log), so a node
# whose server is killed or fenced comes back by itself as a follower.  As
# root the script runs itself as the user `postgres` (PostgreSQL refuses
# root).
set -euo pipefail

cmd=${1:-start}
dir=${2:-/tmp/dcf-demo}
# DCF_PG_BIN: another PostgreSQL 15 installation (default: Debian's)
bin=${DCF_PG_BIN:-/usr/lib/postgresql/15/bin}
export PATH=$bin:$PATH

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$dir"
	chown postgres: "$dir"
	exec runuser -u postgres -- "$0" "$cmd" "$dir"
fi

config='[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17781,"role":"LEADER"},{"stream_id":1,"node_id":2,"ip":"127.0.0.1","port":17782,"role":"FOLLOWER"},{"stream_id":1,"node_id":3,"ip":"127.0.0.1","port":17783,"role":"FOLLOWER"}]'

create() {
	mkdir -p "$dir"
	echo "creating a 3-node cluster in $dir"
	initdb -D "$dir/template" -A trust -U "$(id -un)" >/dev/null
	openssl rand -hex 32 >"$dir/cluster.key"
	chmod 600 "$dir/cluster.key"
	for i in 1 2 3; do
		# one initdb'd data directory, copied to every node
		cp -a "$dir/template" "$dir/n$i"
		cat >>"$dir/n$i/postgresql.conf" <<CONF
port = 5543$i
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'dcf'
dcf.enable = on
dcf.node_id = $i
dcf.data_path = '$dir/dcf$i'
dcf.auth_key_file = '$dir/cluster.key'
dcf.config = '$config'
CONF
	done
	rm -rf "$dir/template"
}

query_role() {
	psql -XAtq -h "$dir" -p "5543$1" -d postgres -v ON_ERROR_STOP=1 \
		-c "SELECT role || ' term ' || term FROM dcf_replication_info()" 2>/dev/null || true
}

case "$cmd" in
	start)
		[ -d "$dir/n1" ] || create
		for i in 1 2 3; do
			# one supervisor per node; it starts the node (rewinding it
			# first when needed) and starts it again whenever it stops
			# without dcf_ctl stop
			if [ -f "$dir/dcf$i/supervise.pid" ] && kill -0 "$(cat "$dir/dcf$i/supervise.pid")" 2>/dev/null; then
				continue
			fi
			setsid dcf_ctl supervise -D "$dir/n$i" -l "$dir/n$i.log" -t 120 \
				>>"$dir/n$i.supervise.log" 2>&1 </dev/null &
		done
		echo "waiting for the nodes to elect a leader..."
		leader=""
		for _ in $(seq 1 120); do
			for i in 1 2 3; do
				# only the elected, promoted leader is writable
				if [ "$(psql -XAtq -h "$dir" -p "5543$i" -d postgres -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ]; then
					leader=$i
				fi
			done
			[ -n "$leader" ] && break
			sleep 0.5
		done
		if [ -z "$leader" ]; then
			echo "no leader after 60 s; see $dir/n*.log" >&2
			exit 1
		fi
		psql -XAtq -h "$dir" -p "5543$leader" -d postgres -c "CREATE EXTENSION IF NOT EXISTS dcf" >/dev/null
		sleep 1
		for i in 1 2 3; do
			echo "node $i (port 5543$i): $(query_role $i)"
		done
		echo "node $leader leads; try: psql -h $dir -p 5543$leader -d postgres"
		echo "kill -9 the leader's postmaster and watch it come back: tools/demo.sh status"
		;;
	status)
		# any running node will do: dcf_ctl list asks the leader
		for i in 1 2 3; do
			[ -f "$dir/n$i/postmaster.pid" ] || continue
			dcf_ctl list -D "$dir/n$i" 2>/dev/null && exit 0
		done
		echo "no node of $dir answers; see $dir/n*.log and $dir/n*.supervise.log" >&2
		exit 1
		;;
	stop)
		for i in 1 2 3; do
			# dcf_ctl stops a leader with -m immediate: a fast shutdown would
			# write a shutdown checkpoint the cluster never saw, and the node
			# would need a rewind before it could follow again
			# with a supervisor running, dcf_ctl stop ends it too
			dcf_ctl stop -D "$dir/n$i" >/dev/null 2>&1 || true
		done
		echo "stopped"
		;;
	*)
		echo "usage: $0 start|status|stop [DIR]" >&2
		exit 2
		;;
esac
