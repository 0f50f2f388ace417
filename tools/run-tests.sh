#!/bin/bash
# tools/run-tests.sh — runs every dcf test; README's test command.
#
# As root (a fresh Debian 12 machine, CI): rebuilds and installs dcf, creates
# the unprivileged user `dcftest` if needed (PostgreSQL refuses to run as
# root), copies this tree to a directory that user owns and runs itself there
# as that user.  As any other user: runs the tests in place, which needs dcf
# installed already (sudo make install).
#
# Suites, in order: C unit tests, fuzz targets (bounded), deterministic
# simulator, pg_regress, TAP.  Every check prints a TAP line ("ok ..." or
# "not ok ..."; pg_regress: "test x ... ok|FAILED"); the last line is
# "N passed, N failed", and the exit status is 0 only when nothing failed and
# every suite ran to completion.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ "$(id -u)" = 0 ]; then
	user=${DCF_TEST_USER:-dcftest}
	make -s -j2 all >/dev/null && make -s install >/dev/null || { echo "build or install failed"; echo "0 passed, 1 failed"; exit 1; }
	id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
	copy=/tmp/dcf-tests
	rm -rf "$copy"
	mkdir -p "$copy"
	tar -C "$here" --exclude=./build --exclude=./tmp_check --exclude=./.git --exclude='*.o' --exclude='*.so' -cf - . | tar -C "$copy" -xf -
	chown -R "$user": "$copy"
	exec runuser -u "$user" -- env CI="${CI:-}" PATH="$PATH" "$copy/tools/run-tests.sh" "$@"
fi

log=$(mktemp /tmp/dcf-tests-log.XXXXXX)
status=0

run_suite() {
	local name=$1; shift
	echo "=== $name: $*"
	"$@" 2>&1 | tee -a "$log"
	local rc=${PIPESTATUS[0]}
	if [ "$rc" != 0 ]; then
		echo "not ok - suite '$name' exited with status $rc" | tee -a "$log"
		status=1
	fi
}

run_suite build make -s -j2 all
run_suite pure make -s check-pure
run_suite installcheck make installcheck PROVE_FLAGS=-v

if [ -d build/regress ] && [ -f build/regress/regression.diffs ]; then
	echo "--- build/regress/regression.diffs"
	cat build/regress/regression.diffs
fi
for f in tmp_check/log/regress_log_*; do
	[ -f "$f" ] || continue
	if grep -q '^not ok' "$f"; then echo "--- $f"; tail -n 80 "$f"; fi
done

passed=$(grep -cE '^ *ok [0-9]|^ok -|^test .* \.\.\. ok|^ +[a-z0-9_]+ +\.\.\. ok' "$log")
failed=$(grep -cE '^ *not ok|\.\.\. FAILED|\.\.\. failed' "$log")
[ "$failed" -gt 0 ] && status=1
[ "$passed" -eq 0 ] && status=1
rm -f "$log"
echo "$passed passed, $failed failed"
exit $status
