# regress/chaos — fault injection against real clusters (see README.md,
# "Fault injection").  Long runs, not part of `make check-pure` or the test
# command (which runs a bounded run through regress/t/050_chaos.pl):
#
#   make chaos SEED=7 FAULTS=300 NODES=3 [KINDS=kill-leader,...] [CHAOS_OPTS=...]
#
# Needs dcf installed (`make install`), Debian's python3-psycopg2, and for
# the partition faults root and nftables.  A failing run prints its seed
# and keeps its logs in CHAOS_DIR.

CHAOS_PYTHON ?= /usr/bin/python3
SEED        ?= $(shell date +%s)
FAULTS      ?= 300
NODES       ?= 3
KINDS       ?= auto
CHAOS_DIR   ?= /tmp/dcf-chaos-$(SEED)
CHAOS_OPTS  ?=

chaos:
	PATH="$(shell $(PG_CONFIG) --bindir):$$PATH" $(CHAOS_PYTHON) regress/chaos/chaos.py \
	  --seed $(SEED) --faults $(FAULTS) --nodes $(NODES) --kinds $(KINDS) \
	  --workdir $(CHAOS_DIR) $(CHAOS_OPTS)

.PHONY: chaos
