# bench/bench.mk — benchmarks that need PostgreSQL (run as a non-root user
# after make install; they print their figures, nothing here is a test).
#
#   make bench-failover [TRIALS=10]   failover time under load (bench/failover.pl)
#   make bench-pgbench                dcf vs native quorum sync rep (bench/pgbench.pl)
#   make bench-bulk [ROWS=300000 ROUNDS=3 SECONDS=20]
#                                     bulk loads and pgbench -c 8/32, dcf vs native (bench/bulk.pl)
#   make rejoin-cycles [CYCLES=100]   fence-or-kill-then-dcf_ctl start cycles (bench/rejoin.pl)
#   make bench-switchover [SWITCHOVERS=10 CLIENTS=4]
#                                     write pause of switchovers under pgbench (bench/switchover.pl)
.PHONY: bench-failover bench-pgbench bench-bulk rejoin-cycles bench-switchover
bench-failover:
	@mkdir -p $(BUILD)
	$(MAKE) installcheck REGRESS= PROVE_TESTS=bench/failover.pl PROVE_FLAGS=-v
bench-pgbench:
	@mkdir -p $(BUILD)
	$(MAKE) installcheck REGRESS= PROVE_TESTS=bench/pgbench.pl PROVE_FLAGS=-v
bench-bulk:
	@mkdir -p $(BUILD)
	$(MAKE) installcheck REGRESS= PROVE_TESTS=bench/bulk.pl PROVE_FLAGS=-v
rejoin-cycles:
	@mkdir -p $(BUILD)
	$(MAKE) installcheck REGRESS= PROVE_TESTS=bench/rejoin.pl PROVE_FLAGS=-v
bench-switchover:
	@mkdir -p $(BUILD)
	$(MAKE) installcheck REGRESS= PROVE_TESTS=bench/switchover.pl PROVE_FLAGS=-v
