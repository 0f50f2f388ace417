# regress/unit/host.mk — test_host needs extension/pg/dcf_host.c, dcf_host_state.c
# and dcf_host_sync.c (pure files of extension/pg, not in libdcfpure.a).
HOST_TEST_SRCS = extension/pg/dcf_host.c extension/pg/dcf_host_state.c extension/pg/dcf_host_sync.c
$(BUILD)/unit/test_host: regress/unit/test_host.c regress/unit/unit.h regress/unit/test_net_util.h $(HOST_TEST_SRCS) extension/pg/dcf_host.h extension/pg/dcf_host_int.h $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -Iregress/unit $< $(HOST_TEST_SRCS) -o $@ $(PURE_LIB) $(PURE_LIBS) -lpthread -lm
