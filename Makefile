# dcf — consensus-based high availability for PostgreSQL 15 (PGXS build)
#
#   make                 dcf.so, dcf_ctl and the pure library build/libdcfpure.a
#   make install         installs dcf.so, the SQL script, dcf.control, dcf_ctl
#   make check-pure      builds and runs unit tests, simulator and fuzz seeds
#                        (no PostgreSQL server needed, no root needed)
#   make installcheck    pg_regress (regress/sql) then TAP (regress/t); needs
#                        `make install` first and a non-root user
#   tools/run-tests.sh   everything above, the way CI runs it
#
# The pure layers (extension/core, extension/storage, extension/net) never
# include PostgreSQL headers; they are compiled by our own rule below with
# plain $(PURE_CC) flags into build/libdcfpure.a, which dcf.so, dcf_ctl, the
# unit tests and the simulator link.  Fragments named */*.mk add sources,
# programs and check targets for their own directory.

EXTENSION   = dcf
EXTVERSION  = 1.0
DATA        = sql/dcf--$(EXTVERSION).sql
MODULE_big  = dcf
PGFILEDESC  = "dcf - consensus-based high availability"

PG_CONFIG  ?= pg_config
BUILD       = build

PURE_SRCS   = $(wildcard extension/core/*.c extension/storage/*.c extension/net/*.c)
PURE_OBJS   = $(patsubst %.c,$(BUILD)/pure/%.o,$(PURE_SRCS))
PURE_LIB    = $(BUILD)/libdcfpure.a
PURE_CC    ?= cc
PURE_CFLAGS = -std=gnu11 -O2 -g -fPIC -Wall -Wextra -Wno-unused-parameter \
              -Wmissing-prototypes -Wshadow -Wno-format-truncation -Werror=implicit-function-declaration \
              -Iextension $(PURE_EXTRA_CFLAGS)
PURE_LIBS   = -llz4 -lssl -lcrypto

OBJS        = $(patsubst %.c,%.o,$(wildcard extension/pg/*.c))
PG_CPPFLAGS = -Iextension -I$(shell $(PG_CONFIG) --includedir)
SHLIB_LINK  = $(PURE_LIB) -lcjson $(PURE_LIBS)
# PGXS links libpq only for frontend programs; the worker's WAL pump uses it.
SHLIB_LINK += -L$(shell $(PG_CONFIG) --libdir) -lpq

REGRESS     = $(patsubst regress/sql/%.sql,%,$(sort $(wildcard regress/sql/*.sql)))
REGRESS_OPTS = --inputdir=regress --outputdir=$(BUILD)/regress \
               --temp-instance=$(BUILD)/regress/tmp_instance \
               --temp-config=$(BUILD)/regress/regress.conf
REGRESS_PREP = regress-prep
TAP_TESTS   = 1
PROVE_TESTS = $(sort $(wildcard regress/t/*.pl))

EXTRA_CLEAN = $(BUILD) tmp_check

# Default goal first, so fragments cannot steal it.
all:

# Programs built by fragments (dcf_ctl, the simulator, fuzzers) and check
# targets run by `make check-pure`.
CHECK_PURE  =
-include $(sort $(wildcard extension/*/*.mk tools/*.mk regress/*/*.mk bench/*.mk))

# No LLVM bitcode for JIT inlining: dcf has no functions worth inlining into
# queries, and it would make clang a build dependency.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# ---- pure library --------------------------------------------------------
$(BUILD)/pure/%.o: %.c
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -MMD -MP -c $< -o $@

$(PURE_LIB): $(PURE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $(PURE_OBJS)

-include $(PURE_OBJS:.o=.d)

# PGXS tracks no header dependencies: rebuild the PostgreSQL-side objects
# whenever any header changes (a stale object with an old struct layout in
# shared memory is a nasty bug).
$(OBJS): $(wildcard extension/*/*.h)

# dcf.so needs the pure library.
$(shlib): $(PURE_LIB)
all: $(PURE_LIB)

# ---- unit tests (regress/unit/test_*.c, one TAP program each) -------------
UNIT_SRCS   = $(sort $(wildcard regress/unit/test_*.c))
UNIT_BINS   = $(patsubst regress/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))

$(BUILD)/unit/%: regress/unit/%.c regress/unit/unit.h $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -Iregress/unit $< -o $@ $(PURE_LIB) $(PURE_LIBS) -lm

.PHONY: unit unit-check check-pure
unit: $(UNIT_BINS)
unit-check: $(UNIT_BINS)
	@rc=0; for t in $(UNIT_BINS); do \
		echo "# unit: $$t"; \
		$$t || { echo "not ok - $$t exited with status $$?"; rc=1; }; \
	done; exit $$rc

check-pure: unit-check $(CHECK_PURE)

.PHONY: regress-prep
regress-prep:
	@mkdir -p $(BUILD)/regress
	@test -s $(BUILD)/regress/regress.key || openssl rand -hex 32 > $(BUILD)/regress/regress.key
	@chmod 600 $(BUILD)/regress/regress.key
	@port=$$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport'); \
		sed "s/@DCF_PORT@/$$port/" regress/regress.conf.in > $(BUILD)/regress/regress.conf
