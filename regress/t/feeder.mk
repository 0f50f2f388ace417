# regress/t/feeder.mk — the WAL feeder's test programs.
#
#   build/dcf_feeder_harness   a standalone host for extension/pg/feeder*.c:
#                              serves a directory of WAL segments to a real
#                              standby (regress/t/010_feeder.pl), or runs the
#                              protocol self-test (--self-test)
#   make feeder-check          the self-test, plain and under ASan/UBSan
#                              (no server needed; part of check-pure)
#
# feeder*.c and walfile.c live in extension/pg, so PGXS compiles them into
# dcf.so with PostgreSQL's flags; they include no server header, so they
# are compiled here again with the plain PURE_CFLAGS.  test_walfile gets an
# explicit rule (it needs walfile.c, which is not in libdcfpure.a).

FEEDER_SRCS = $(wildcard extension/pg/feeder*.c) extension/pg/walfile.c
FEEDER_HDRS = $(wildcard extension/pg/feeder*.h) extension/pg/walfile.h extension/pg/dcf_wire.h

$(BUILD)/dcf_feeder_harness: regress/unit/feeder_harness.c regress/unit/unit.h $(FEEDER_SRCS) $(FEEDER_HDRS) $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -Iregress/unit regress/unit/feeder_harness.c $(FEEDER_SRCS) -o $@ $(PURE_LIB) $(PURE_LIBS)

$(BUILD)/unit/test_walfile: regress/unit/test_walfile.c regress/unit/unit.h extension/pg/walfile.c extension/pg/walfile.h $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -Iregress/unit $< extension/pg/walfile.c -o $@ $(PURE_LIB) $(PURE_LIBS) -lm

# The same program with sanitizers, for the self-test only.
FEEDER_SAN = -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

$(BUILD)/feeder-san/dcf_feeder_harness: regress/unit/feeder_harness.c regress/unit/unit.h $(FEEDER_SRCS) $(FEEDER_HDRS) $(PURE_SRCS)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) $(FEEDER_SAN) -Iregress/unit regress/unit/feeder_harness.c $(FEEDER_SRCS) $(PURE_SRCS) -o $@ $(PURE_LIBS) -lm

all: $(BUILD)/dcf_feeder_harness

.PHONY: feeder-check
feeder-check: $(BUILD)/dcf_feeder_harness $(BUILD)/feeder-san/dcf_feeder_harness
	@$(BUILD)/dcf_feeder_harness --self-test || { echo "not ok - feeder self-test failed"; exit 1; }
	@ASAN_OPTIONS=detect_leaks=1 $(BUILD)/feeder-san/dcf_feeder_harness --self-test > $(BUILD)/feeder-san/self-test.out 2>&1 \
		&& echo "ok - feeder self-test under ASan/UBSan" \
		|| { cat $(BUILD)/feeder-san/self-test.out; echo "not ok - feeder self-test under ASan/UBSan"; exit 1; }

CHECK_PURE += feeder-check
