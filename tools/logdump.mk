# tools/logdump.mk — build/dcf_logdump, a stand-alone driver for the offline
# log dump that dcf_ctl runs as `dcf_ctl log-dump` (tools/ctl_logdump.c).
# dcf_ctl itself links tools/*.c, which includes ctl_logdump.c; the driver's
# main() is in tools/logdump/ so it is not linked into dcf_ctl.

DCF_LOGDUMP = $(BUILD)/dcf_logdump

$(DCF_LOGDUMP): tools/ctl_logdump.c tools/ctl_logdump.h tools/logdump/main.c $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) tools/ctl_logdump.c tools/logdump/main.c -o $@ $(PURE_LIB) $(PURE_LIBS)

.PHONY: logdump
logdump: $(DCF_LOGDUMP)
