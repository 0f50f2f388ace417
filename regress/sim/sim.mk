# regress/sim: the deterministic simulator of the consensus core
# (README.md beside this file).
#
#   make sim         build/sim/dcf_sim and the planted-bug variants
#   make sim-check   SIM_SEEDS seeds x SIM_EVENTS events with faults must give
#                    0 violations and show crashes, partitions, leader changes
#                    and lost writes; then every planted-bug build must report
#                    a violation within SIM_BUG_SEEDS seeds of the same size
#   make sim-long    SEEDS seeds (default 100000), for long runs
#   make sim-asan    SIM_ASAN_SEEDS seeds on a simulator built with
#                    AddressSanitizer/UBSan (core included)
#   replay a seed:   build/sim/dcf_sim --seed N --events 5000 --trace
#
# A planted-bug variant compiles the core sources again with one
# -DDCF_PLANT_BUG_* flag; the normal simulator links the pure library.

SIM_SRCS       = $(sort $(wildcard regress/sim/sim_*.c))
SIM_HDRS       = regress/sim/sim.h
SIM_CORE_SRCS  = $(sort $(wildcard extension/core/*.c))
SIM_CORE_HDRS  = $(sort $(wildcard extension/core/*.h))
SIM_BIN        = $(BUILD)/sim/dcf_sim
SIM_BUGS       = commit_old_term vote_no_log_check no_truncate
SIM_BUG_BINS   = $(patsubst %,$(BUILD)/sim/dcf_sim_bug_%,$(SIM_BUGS))
SIM_BUG_FLAG_commit_old_term   = DCF_PLANT_BUG_COMMIT_OLD_TERM
SIM_BUG_FLAG_vote_no_log_check = DCF_PLANT_BUG_VOTE_NO_LOG_CHECK
SIM_BUG_FLAG_no_truncate       = DCF_PLANT_BUG_NO_TRUNCATE
SIM_SEEDS     ?= 2000
SIM_BUG_SEEDS ?= 500
SIM_EVENTS    ?= 5000
SIM_JOBS      ?= 2
SEEDS         ?= 100000
SIM_FIRST_SEED ?= 1
SIM_ASAN_SEEDS ?= 200
SIM_SAN        = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

$(SIM_BIN): $(SIM_SRCS) $(SIM_HDRS) $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -Iregress/sim $(SIM_SRCS) -o $@ $(PURE_LIB) $(PURE_LIBS) -lm

# dcf_err.c is not ours and has no planted bug: its object comes from the library
SIM_BUG_CORE_SRCS = $(filter-out extension/core/dcf_err.c,$(SIM_CORE_SRCS))

$(BUILD)/sim/dcf_sim_bug_%: $(SIM_SRCS) $(SIM_HDRS) $(SIM_CORE_SRCS) $(SIM_CORE_HDRS) $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -D$(SIM_BUG_FLAG_$*) -Iregress/sim $(SIM_SRCS) $(SIM_BUG_CORE_SRCS) -o $@ $(PURE_LIB) $(PURE_LIBS) -lm

$(BUILD)/sim/dcf_sim_asan: $(SIM_SRCS) $(SIM_HDRS) $(SIM_CORE_SRCS) $(SIM_CORE_HDRS)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -O1 $(SIM_SAN) -Iregress/sim $(SIM_SRCS) $(SIM_CORE_SRCS) -o $@ $(PURE_LIBS) -lm

.PHONY: sim sim-check sim-long sim-asan
sim: $(SIM_BIN) $(SIM_BUG_BINS)

sim-check: $(SIM_BIN) $(SIM_BUG_BINS)
	@$(SIM_BIN) --seeds $(SIM_SEEDS) --events $(SIM_EVENTS) --jobs $(SIM_JOBS) --require-faults \
		--label "sim: $(SIM_SEEDS) seeds x $(SIM_EVENTS) events"
	@rc=0; for b in $(SIM_BUGS); do \
		$(BUILD)/sim/dcf_sim_bug_$$b --seeds $(SIM_BUG_SEEDS) --events $(SIM_EVENTS) --jobs $(SIM_JOBS) \
			--expect-violation --label "sim: planted bug $$b caught within $(SIM_BUG_SEEDS) seeds" || rc=1; \
	done; exit $$rc

sim-long: $(SIM_BIN)
	$(SIM_BIN) --first-seed $(SIM_FIRST_SEED) --seeds $(SEEDS) --events $(SIM_EVENTS) --jobs $(SIM_JOBS) \
		--require-faults --label "sim-long: $(SEEDS) seeds x $(SIM_EVENTS) events"

sim-asan: $(BUILD)/sim/dcf_sim_asan
	ASAN_OPTIONS=detect_leaks=1 $(BUILD)/sim/dcf_sim_asan --seeds $(SIM_ASAN_SEEDS) --events $(SIM_EVENTS) \
		--label "sim-asan: $(SIM_ASAN_SEEDS) seeds"

CHECK_PURE += sim-check
