# extension/storage/storage.mk — extra targets of the storage layer.
#
#   make fuzz-storage-seeds   regenerate the seed corpus of fuzz_storage_load
#                             (real logs written by the log itself, in memfs)
#   make storage-crash-long   the crash-shim test with 50000 trials instead of
#                             the 3000 that `make check-pure` runs
#
# The storage sources themselves are compiled into build/libdcfpure.a by the
# top-level Makefile; the unit tests (regress/unit/test_storage_*.c) and the
# fuzz target (regress/fuzz/fuzz_storage_load.c) are picked up by its rules.

STORAGE_SEEDGEN      = $(BUILD)/storage_seedgen
STORAGE_SEED_DIR     = regress/fuzz/corpus/fuzz_storage_load
STORAGE_CRASH_TRIALS_LONG ?= 50000

$(STORAGE_SEEDGEN): regress/fuzz/storage_seedgen.c $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) $< -o $@ $(PURE_LIB) $(PURE_LIBS)

.PHONY: fuzz-storage-seeds storage-crash-long
fuzz-storage-seeds: $(STORAGE_SEEDGEN)
	@mkdir -p $(STORAGE_SEED_DIR)
	$(STORAGE_SEEDGEN) $(STORAGE_SEED_DIR)

storage-crash-long: $(BUILD)/unit/test_storage_crash
	DCF_CRASH_TRIALS=$(STORAGE_CRASH_TRIALS_LONG) $(BUILD)/unit/test_storage_crash | tail -n 8

# the log-dump test compiles tools/ctl_logdump.c into itself
$(BUILD)/unit/test_storage_logdump: tools/ctl_logdump.c
