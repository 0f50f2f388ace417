# regress/unit/pump_harness.mk — the WAL pump test harness (regress/t/011_pump.pl)
PUMP_HARNESS = $(BUILD)/dcf_pump_harness

$(PUMP_HARNESS): regress/unit/pump_harness.c extension/pg/pump.c extension/pg/pump.h extension/pg/dcf_wire.h
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -I$(shell $(PG_CONFIG) --includedir) regress/unit/pump_harness.c extension/pg/pump.c \
		-o $@ -L$(shell $(PG_CONFIG) --libdir) -lpq

all: $(PUMP_HARNESS)
