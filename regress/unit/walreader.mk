# regress/unit/walreader.mk — test_walreader needs extension/pg/walreader.c
# and dcf_walentry.c (pure files of extension/pg, not in libdcfpure.a).
$(BUILD)/unit/test_walreader: regress/unit/test_walreader.c regress/unit/unit.h extension/pg/walreader.c extension/pg/walreader.h extension/pg/dcf_walentry.c $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -Iregress/unit $< extension/pg/walreader.c extension/pg/dcf_walentry.c -o $@ $(PURE_LIB) $(PURE_LIBS) -lm
