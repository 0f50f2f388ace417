# regress/sim: the deterministic simulator of the consensus core
# (README.md beside this file).
#
#   make sim         build/sim/dcf_sim and the planted-bug variants
#   make sim-check   SIM_SEEDS seeds x SIM_EVENTS events with faults and admin
#                    events must give 0 violations and show crashes,
#                    partitions, leader changes, lost writes and every admin
#                    kind (SIM_ADMIN_SEEDS seeds with all kinds enabled);
#                    then every planted-bug build must report a violation
#                    within SIM_BUG_SEEDS seeds of the same size
#   make sim-long    SEEDS seeds (default 100000), for long runs
#   make sim-asan    SIM_ASAN_SEEDS seeds on a simulator built with
#                    AddressSanitizer/UBSan (core included)
#   replay a seed:   build/sim/dcf_sim --seed N --events 5000 --trace
#
# A planted-bug variant compiles the core sources again with one
# -DDCF_PLANT_BUG_* flag (the simulator's own objects are shared); the
# normal simulator links the pure library.

SIM_SRCS       = $(sort $(wildcard regress/sim/sim_*.c))
SIM_OBJS       = $(patsubst regress/sim/%.c,$(BUILD)/sim/obj/%.o,$(SIM_SRCS))
SIM_HDRS       = regress/sim/sim.h
SIM_CORE_SRCS  = $(sort $(wildcard extension/core/*.c))
SIM_CORE_HDRS  = $(sort $(wildcard extension/core/*.h))
SIM_BIN        = $(BUILD)/sim/dcf_sim
# planted bugs: issue 3 (Raft safety), issue 7 (one per feature), issue 15
# (a node that lost durable entries votes at once; a rebuilt node votes in its
# old terms)
SIM_BUGS       = commit_old_term vote_no_log_check no_truncate \
                 passive_votes logger_campaigns ignore_weight ignore_groups \
                 run_mode_ignored mixed_modes no_term_step two_changes \
                 no_rollback removed_leader_stays no_catchup weighted_change \
                 transfer_not_caught_up transfer_keeps_lease no_priority flow_ignored \
                 repair_ignored rebuild_votes
SIM_BUG_BINS   = $(patsubst %,$(BUILD)/sim/dcf_sim_bug_%,$(SIM_BUGS))
SIM_SEEDS     ?= 2000
SIM_ADMIN_SEEDS ?= 500
SIM_BUG_SEEDS ?= 500
SIM_EVENTS    ?= 5000
SIM_JOBS      ?= 2
SEEDS         ?= 100000
SIM_FIRST_SEED ?= 1
SIM_ASAN_SEEDS ?= 200
SIM_SAN        = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

$(BUILD)/sim/obj/%.o: regress/sim/%.c $(SIM_HDRS) $(SIM_CORE_HDRS)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -Iregress/sim -c $< -o $@

$(SIM_BIN): $(SIM_OBJS) $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) $(SIM_OBJS) -o $@ $(PURE_LIB) $(PURE_LIBS) -lm

# dcf_err.c is not ours and has no planted bug: its object comes from the library
SIM_BUG_CORE_SRCS = $(filter-out extension/core/dcf_err.c,$(SIM_CORE_SRCS))

$(BUILD)/sim/dcf_sim_bug_%: $(SIM_OBJS) $(SIM_CORE_SRCS) $(SIM_CORE_HDRS) $(PURE_LIB)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -DDCF_PLANT_BUG_$(shell echo $* | tr a-z A-Z) $(SIM_OBJS) $(SIM_BUG_CORE_SRCS) \
		-o $@ $(PURE_LIB) $(PURE_LIBS) -lm

$(BUILD)/sim/dcf_sim_asan: $(SIM_SRCS) $(SIM_HDRS) $(SIM_CORE_SRCS) $(SIM_CORE_HDRS)
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) -O1 $(SIM_SAN) -Iregress/sim $(SIM_SRCS) $(SIM_CORE_SRCS) -o $@ $(PURE_LIBS) -lm

.PHONY: sim sim-check sim-long sim-asan
sim: $(SIM_BIN) $(SIM_BUG_BINS)

sim-check: $(SIM_BIN) $(SIM_BUG_BINS)
	@$(SIM_BIN) --seeds $(SIM_SEEDS) --events $(SIM_EVENTS) --jobs $(SIM_JOBS) --require-faults \
		--require-admin --min-admin-seeds $(SIM_ADMIN_SEEDS) \
		--label "sim: $(SIM_SEEDS) seeds x $(SIM_EVENTS) events, faults and admin events"
	@rc=0; for b in $(SIM_BUGS); do \
		$(BUILD)/sim/dcf_sim_bug_$$b --seeds $(SIM_BUG_SEEDS) --events $(SIM_EVENTS) --jobs $(SIM_JOBS) \
			--expect-violation --label "sim: planted bug $$b caught within $(SIM_BUG_SEEDS) seeds" || rc=1; \
	done; exit $$rc

sim-long: $(SIM_BIN)
	$(SIM_BIN) --first-seed $(SIM_FIRST_SEED) --seeds $(SEEDS) --events $(SIM_EVENTS) --jobs $(SIM_JOBS) \
		--require-faults --require-admin --label "sim-long: $(SEEDS) seeds x $(SIM_EVENTS) events"

sim-asan: $(BUILD)/sim/dcf_sim_asan
	ASAN_OPTIONS=detect_leaks=1 $(BUILD)/sim/dcf_sim_asan --seeds $(SIM_ASAN_SEEDS) --events $(SIM_EVENTS) \
		--label "sim-asan: $(SIM_ASAN_SEEDS) seeds"

CHECK_PURE += sim-check
