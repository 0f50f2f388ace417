# bench/net.mk — benchmarks of extension/net (not part of check-pure).
#
#   make bench-net       throughput of 64 KiB messages and round-trip time of
#                        small messages between two endpoints on loopback,
#                        next to a plain TCP socket pair measured in the same
#                        run (ratios printed), then lz4 ratio and speed on WAL
#                        from a short pgbench run against a throwaway
#                        PostgreSQL 15 cluster (bench/net_wal.sh).
#   make bench-net-tcp   only the loopback part.
# NET_BENCH_ARGS passes options to `net_bench all` (-r runs, -m MiB, -n round trips).
# Figures are recorded in bench/RESULTS-net.md.

NET_BENCH = $(BUILD)/bench/net_bench

$(NET_BENCH): bench/net_bench.c $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) $< -o $@ $(PURE_LIB) $(PURE_LIBS) -lm

.PHONY: bench-net bench-net-tcp
bench-net-tcp: $(NET_BENCH)
	$(NET_BENCH) all $(NET_BENCH_ARGS)

bench-net: bench-net-tcp
	bench/net_wal.sh $(NET_BENCH)
