#!/usr/bin/env python3
# bench/cpu_per_tx.py — CPU time per transaction of every process, the
# diagnostic behind the pgbench notes in bench/RESULTS.md.
#
#   bench/cpu_per_tx.py snap BEFORE.json
#   pgbench ...                          # note "number of transactions actually processed"
#   bench/cpu_per_tx.py snap AFTER.json
#   bench/cpu_per_tx.py diff BEFORE.json AFTER.json TRANSACTIONS
#
# Reads utime + stime of every process from /proc and prints, per process
# title (digits after the first 13 characters folded to N, so set
# cluster_name to tell the servers apart), the CPU microseconds it spent per
# transaction.  Processes that exited in between (pgbench, its backends)
# are not counted.
import json
import os
import re
import sys


def snap():
    d = {}
    hz = os.sysconf('SC_CLK_TCK')
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            st = open(f'/proc/{p}/stat').read()
            cmd = open(f'/proc/{p}/cmdline').read().replace('\0', ' ').strip()
        except OSError:
            continue
        f = st.rsplit(')', 1)[1].split()
        d[p] = (cmd, (int(f[11]) + int(f[12])) / hz)
    return d


def diff(a, b, tx):
    agg = {}
    for p, (cmd, t) in b.items():
        dt = t - a.get(p, (cmd, 0))[1]
        if dt <= 0:
            continue
        key = cmd[:13] + re.sub(r'\d+', 'N', cmd[13:70])
        agg[key] = agg.get(key, 0) + dt
    tot = 0
    for k, v in sorted(agg.items(), key=lambda x: -x[1]):
        if v < 0.05:
            continue
        tot += v
        print(f'{v * 1e6 / tx:8.1f} us/tx  {v:7.2f} s  {k}')
    print(f'{tot * 1e6 / tx:8.1f} us/tx total')


if len(sys.argv) == 3 and sys.argv[1] == 'snap':
    json.dump(snap(), open(sys.argv[2], 'w'))
elif len(sys.argv) == 5 and sys.argv[1] == 'diff':
    diff(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), float(sys.argv[4]))
else:
    sys.exit(__doc__ if __doc__ else 'usage: cpu_per_tx.py snap FILE | diff A B TRANSACTIONS')
