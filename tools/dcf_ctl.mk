# tools/dcf_ctl.mk — the dcf_ctl administration tool: tools/*.c linked with
# libpq and the pure library (for offline log inspection).

DCF_CTL      = $(BUILD)/dcf_ctl
DCF_CTL_SRCS = $(sort $(wildcard tools/*.c)) extension/pg/dcf_walentry.c

$(DCF_CTL): $(DCF_CTL_SRCS) $(wildcard tools/*.h) $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -I$(shell $(PG_CONFIG) --includedir) $(DCF_CTL_SRCS) -o $@ \
		$(PURE_LIB) -L$(shell $(PG_CONFIG) --libdir) -lpq $(PURE_LIBS)

all: $(DCF_CTL)

.PHONY: install-dcf-ctl
install: install-dcf-ctl
install-dcf-ctl: $(DCF_CTL)
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) $(DCF_CTL) '$(DESTDIR)$(bindir)/dcf_ctl'
