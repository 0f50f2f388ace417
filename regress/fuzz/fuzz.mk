# regress/fuzz: fuzz targets (regress/fuzz/fuzz_*.c), each defining
# LLVMFuzzerTestOneInput.  `make fuzz-check` links them with driver.c and
# ASan/UBSan and replays the seed corpus plus FUZZ_ITERATIONS seeded
# mutations (bounded, deterministic).  `make fuzz-libfuzzer` builds real
# libFuzzer binaries with clang for open-ended runs:
#     build/fuzz-lf/fuzz_frame -max_total_time=600 regress/fuzz/corpus/fuzz_frame

FUZZ_SRCS       = $(sort $(wildcard regress/fuzz/fuzz_*.c))
FUZZ_BINS       = $(patsubst regress/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LF_BINS    = $(patsubst regress/fuzz/%.c,$(BUILD)/fuzz-lf/%,$(FUZZ_SRCS))
FUZZ_ITERATIONS ?= 20000
FUZZ_SAN        = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# The sanitizer build compiles the pure sources again, instrumented.
FUZZ_PURE_SRCS  = $(PURE_SRCS)

$(BUILD)/fuzz/%: regress/fuzz/%.c regress/fuzz/driver.c $(FUZZ_PURE_SRCS)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -O1 $(FUZZ_SAN) $< regress/fuzz/driver.c $(FUZZ_PURE_SRCS) -o $@ $(PURE_LIBS) -lm

$(BUILD)/fuzz-lf/%: regress/fuzz/%.c $(FUZZ_PURE_SRCS)
	@mkdir -p $(dir $@)
	clang $(filter-out -Wmissing-prototypes,$(PURE_CFLAGS)) -O1 -fsanitize=fuzzer,address,undefined $< $(FUZZ_PURE_SRCS) -o $@ $(PURE_LIBS) -lm

.PHONY: fuzz fuzz-check fuzz-libfuzzer
fuzz: $(FUZZ_BINS)
fuzz-libfuzzer: $(FUZZ_LF_BINS)
fuzz-check: $(FUZZ_BINS)
	@rc=0; for f in $(FUZZ_BINS); do \
		n=$$(basename $$f); \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$$f -n $(FUZZ_ITERATIONS) -c regress/fuzz/corpus/$$n || { echo "not ok - $$n failed (status $$?)"; rc=1; }; \
	done; exit $$rc

CHECK_PURE += fuzz-check
