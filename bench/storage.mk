# bench/storage.mk — `make bench-storage`: append throughput of the
# consensus log (8 kB entries, batches of 64, one dcf_log_sync per batch)
# against a plain sequential write + fdatasync of the same bytes, measured
# in the same run; prints both and the ratio.  Results: bench/RESULTS-storage.md.
#
#   make bench-storage BENCH_STORAGE_DIR=/path/on/the/disk/to/measure
#   make bench-storage BENCH_STORAGE_ARGS="-e 8192 -b 64 -m 128 -r 9"

BENCH_STORAGE      = $(BUILD)/bench/storage_bench
BENCH_STORAGE_DIR ?= $(BUILD)/bench-storage
BENCH_STORAGE_ARGS ?=

$(BENCH_STORAGE): bench/storage_bench.c $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) $< -o $@ $(PURE_LIB) $(PURE_LIBS)

.PHONY: bench-storage
bench-storage: $(BENCH_STORAGE)
	$(BENCH_STORAGE) -d $(BENCH_STORAGE_DIR) $(BENCH_STORAGE_ARGS)
