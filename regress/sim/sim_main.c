/*
 * sim_main.c — command line of the simulator: swarm configuration per seed,
 * the loop over seeds (optionally in parallel worker processes), the summary
 * line and the TAP verdict.
 *
 * usage: dcf_sim [--seed N | --first-seed N --seeds COUNT] [--events N]
 *                [--jobs J] [--trace] [--expect-violation] [--require-faults]
 *                [--label NAME]
 *
 *   --seed N            run one seed (replay), --events defaults to 5000
 *   --seeds COUNT       run seeds first..first+COUNT-1 (default 1..100)
 *   --events N          events of the fault phase per seed (then liveness)
 *   --jobs J            split the seeds over J processes
 *   --trace             print every event, message, write and state change
 *   --expect-violation  for planted-bug builds: succeed iff some seed
 *                       violates an invariant (stops at the first one)
 *   --require-faults    fail unless crashes, partitions and leader changes
 *                       all happened (the check is not vacuous)
 *   --require-admin     fail unless every admin kind was accepted at least
 *                       once, and changes committed, transfers completed and
 *                       a minority episode went back to normal
 *   --min-admin-seeds N with --require-admin: and at least N seeds ran with
 *                       every admin kind enabled
 *   --write-codec-corpus DIR   write the seed corpus of fuzz_codec and exit
 *
 * Swarm testing (Groce et al., 2012): every seed draws its own cluster
 * (1..7 members, some LOGGER/PASSIVE, weights), timing, batch and pipeline
 * limits, and fault mix (which faults are on and how often), so that no
 * single configuration hides a bug behind a fault that always masks it.
 */
#include "sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct sim_result
{
	sim_stats	st;
	uint64_t	first_bad_seed;	/* 0 = none */
	char		violation[512];
} sim_result;

static uint32_t
pick(dcf_prng *r, const uint32_t *vals, int n)
{
	return vals[dcf_prng_below(r, (uint64_t) n)];
}

#define PICK(r, ...) pick((r), (const uint32_t[]){__VA_ARGS__}, \
						  (int) (sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t)))

static void
draw_config(uint64_t seed, sim_config *c)
{
	dcf_prng	r;
	uint32_t	t;
	int			n;

	dcf_prng_seed(&r, seed * 0x9e3779b97f4a7c15ULL + 0x1234567ULL);
	memset(c, 0, sizeof(*c));
	n = c->n_nodes = 1 + (int) dcf_prng_below(&r, SIM_NODES_MAX);
	c->ms.n_members = (uint32_t) n;
	for (int i = 0; i < n; i++)
	{
		dcf_member_init(&c->ms.members[i], (uint32_t) i + 1, DCF_ROLE_FOLLOWER);
		snprintf(c->ms.members[i].ip, DCF_MEMBER_IP_MAX, "10.0.0.%d", i + 1);
		c->ms.members[i].port = 17783;
	}
	if (dcf_prng_chance(&r, 300))
		c->ms.members[0].role = DCF_ROLE_LEADER;	/* a label: behaves as FOLLOWER */
	if (n >= 3 && dcf_prng_chance(&r, 300))
		c->ms.members[1 + dcf_prng_below(&r, (uint64_t) n - 1)].role = DCF_ROLE_LOGGER;
	if (n >= 3 && dcf_prng_chance(&r, 300))
	{
		int			p = 1 + (int) dcf_prng_below(&r, (uint64_t) n - 1);

		if (c->ms.members[p].role == DCF_ROLE_FOLLOWER)
			c->ms.members[p].role = DCF_ROLE_PASSIVE;
	}
	c->max_weight = 1;
	if (dcf_prng_chance(&r, 250))
	{
		c->max_weight = 3;
		for (int i = 0; i < n; i++)
			c->ms.members[i].weight = 1 + (uint32_t) dcf_prng_below(&r, 3);
	}

	t = c->election_timeout_ms = PICK(&r, 50, 100, 150, 300, 1000);
	c->heartbeat_ms = t / PICK(&r, 3, 5, 10);
	c->lease_margin_ms = dcf_prng_chance(&r, 500) ? 0 : t / 10;
	/* the host's timer granularity: the PostgreSQL worker wakes every 10-50 ms */
	c->tick_ms = PICK(&r, 1, 5, 10, 20, 50);
	if (c->tick_ms > c->heartbeat_ms / 2)
		c->tick_ms = c->heartbeat_ms / 2 ? c->heartbeat_ms / 2 : 1;
	c->max_batch_entries = PICK(&r, 1, 2, 3, 8, 64, 256);
	c->max_batch_bytes = PICK(&r, 1, 64, 512, 4096, 1u << 20);
	c->max_inflight = PICK(&r, 1, 2, 4, 16, 64);
	c->commit_notify_ms = PICK(&r, 0, 1, 5, c->heartbeat_ms / 2, c->heartbeat_ms * 2);
	c->max_unstable_entries = PICK(&r, 2, 8, 64, 65536);
	c->eager_leader_send = dcf_prng_chance(&r, 500);

	c->net_delay_min_ms = (uint32_t) dcf_prng_below(&r, t / 50 + 1);
	c->net_delay_max_ms = c->net_delay_min_ms + 1 + (uint32_t) dcf_prng_below(&r, t / 5);
	c->drop_permille = PICK(&r, 0, 0, 10, 50, 100, 200);
	c->dup_permille = PICK(&r, 0, 10, 50, 100);
	c->spike_permille = PICK(&r, 0, 10, 50);
	c->spike_max_ms = 2 * t;
	/* fast, ordinary or slow disks: slow ones keep writes unsynced longer */
	c->sync_min_ms = (uint32_t) dcf_prng_below(&r, t / 50 + 1);
	c->sync_max_ms = c->sync_min_ms + (uint32_t) dcf_prng_below(&r, t / PICK(&r, 50, 10, 3) + 1);

	c->fault_interval_ms = t * PICK(&r, 1, 2, 5, 10, 20);
	c->crash_weight = PICK(&r, 0, 1, 2, 3);
	c->crash_leader_weight = PICK(&r, 0, 1, 2, 4);
	c->isolate_leader_weight = PICK(&r, 0, 1, 2);
	c->partition_weight = PICK(&r, 0, 1, 2, 3);
	c->heal_weight = PICK(&r, 1, 2, 3);
	c->downtime_max_ms = t * PICK(&r, 1, 3, 10);
	c->lose_unsynced_permille = PICK(&r, 0, 200, 500);
	c->keep_unsynced_permille = PICK(&r, 0, 200, 500);

	c->backlog_max = PICK(&r, 8, 64, 256);
	c->propose_interval_ms = t / PICK(&r, 2, 5, 10, 50);
	if (c->propose_interval_ms == 0)
		c->propose_interval_ms = 1;
	c->payload_max_bytes = PICK(&r, 0, 16, 200, 2000);
	c->propose_batch_max = PICK(&r, 1, 3, 8);

	/*
	 * Consensus features (issue 7): groups and policy majority, priorities,
	 * flow control, and admin events.  Three seeds in four of the general
	 * profile enable every admin kind (weights 1..3); the others draw each
	 * kind on or off (swarm).  Spare hosts (not in the bootstrap
	 * membership) can be added.
	 */
	c->n_groups = PICK(&r, 1, 2, 3);
	c->max_priority = PICK(&r, 0, 0, 3, 9);
	for (int i = 0; i < n; i++)
	{
		c->ms.members[i].group = (uint32_t) dcf_prng_below(&r, c->n_groups);
		c->ms.members[i].priority = (uint32_t) dcf_prng_below(&r, (uint64_t) c->max_priority + 1);
	}
	if (c->n_groups > 1 && dcf_prng_chance(&r, 400))
	{
		c->n_majority_groups = 1 + (uint32_t) dcf_prng_below(&r, c->n_groups);
		for (uint32_t g = 0; g < c->n_majority_groups; g++)
			c->majority_groups[g] = g;
		if (dcf_prng_chance(&r, 200))
			c->majority_groups[c->n_majority_groups++] = 7;	/* a group nobody is in */
	}
	c->priority_election = dcf_prng_chance(&r, 700);
	c->priority_interval_ms = t * PICK(&r, 1, 2, 5);
	c->transfer_timeout_ms = t * PICK(&r, 1, 2, 3);
	c->flow_control = dcf_prng_chance(&r, 700);
	c->flow_interval_ms = t / PICK(&r, 1, 2, 5) + 1;
	if (dcf_prng_chance(&r, 850))
	{
		bool		all = dcf_prng_chance(&r, 880);

		c->admin_interval_ms = t * PICK(&r, 1, 2, 5, 10);
		for (int k = 1; k <= DCF_ADMIN_KIND_MAX; k++)
			c->admin_weight[k] = all || dcf_prng_chance(&r, 500) ? 1 + (uint32_t) dcf_prng_below(&r, 3) : 0;
		/* spare hosts to add: up to two of the hosts start outside the membership */
		if (n >= 2 && dcf_prng_chance(&r, 500))
		{
			uint32_t	spares = 1 + (uint32_t) dcf_prng_below(&r, n >= 4 ? 2 : 1);

			c->ms.n_members = (uint32_t) n - spares;
			/* the bootstrap membership needs a member that may lead */
			c->ms.members[0].role = dcf_prng_chance(&r, 500) ? DCF_ROLE_LEADER : DCF_ROLE_FOLLOWER;
		}
	}

	/*
	 * Profile "leader churn" (a quarter of the seeds): three equal voters,
	 * appends of one or two entries with a narrow pipeline, slow disks, and
	 * the leader crashed or isolated every election timeout or two.  Races
	 * between elections and replication — Figure 8 of the Raft paper, where
	 * an entry of an older term reaches a majority ahead of the new leader's
	 * NOOP and a rival with a newer last term can still win — need all of
	 * these at once, which the general draw above rarely combines.
	 */
	if (dcf_prng_chance(&r, 250))
	{
		c->profile = "leader-churn";
		n = c->n_nodes = 3;
		c->ms.n_members = 3;
		for (int i = 0; i < 3; i++)
		{
			dcf_member_init(&c->ms.members[i], (uint32_t) i + 1, DCF_ROLE_FOLLOWER);
			snprintf(c->ms.members[i].ip, DCF_MEMBER_IP_MAX, "10.0.0.%d", i + 1);
			c->ms.members[i].port = 17783;
		}
		c->max_batch_entries = PICK(&r, 1, 2);
		c->max_inflight = PICK(&r, 1, 2);
		c->sync_max_ms = c->sync_min_ms + t / 3;
		c->fault_interval_ms = t * PICK(&r, 1, 2);
		c->crash_leader_weight = PICK(&r, 2, 4);
		c->isolate_leader_weight = PICK(&r, 2, 4);
		c->n_majority_groups = 0;
		c->max_weight = 1;
		c->max_priority = 0;
		/* races, not features: half of these seeds run no admin events */
		if (dcf_prng_chance(&r, 500))
			c->admin_interval_ms = 0;
		else
			c->admin_interval_ms = t * PICK(&r, 2, 5);
	}
	else
		c->profile = "general";
	/* issue 15: storage faults that take durable entries, drawn last so
	 * the rest of each seed's configuration stays what it was */
	c->storage_fault_permille = PICK(&r, 0, 0, 100, 300, 1000);
	/* and metadata lost (a rebuild from the leader), after a rebuild delay
	 * of 1..40 election timeouts — or, in a quarter of the seeds, under one
	 * (faster than any real build: S2 must not rest on timing for the terms
	 * up to the leader's) */
	c->meta_fault_permille = PICK(&r, 0, 100, 300, 1000);
	c->rebuild_min_ms = c->election_timeout_ms * PICK(&r, 0, 1, 2, 5);
	c->rebuild_max_ms = c->rebuild_min_ms ? c->rebuild_min_ms * PICK(&r, 1, 2, 8) : c->election_timeout_ms;
	if (c->rebuild_min_ms == 0)
		c->rebuild_min_ms = 1;
}

static void
print_config(uint64_t seed, const sim_config *c)
{
	printf("# seed %llu (%s): %d hosts, members [", (unsigned long long) seed, c->profile, c->n_nodes);
	for (uint32_t i = 0; i < c->ms.n_members; i++)
		printf("%s%u:%s/w%u/g%u/p%u", i ? " " : "", c->ms.members[i].node_id,
			   dcf_role_name(c->ms.members[i].role), c->ms.members[i].weight, c->ms.members[i].group,
			   c->ms.members[i].priority);
	printf("] majority_groups [");
	for (uint32_t g = 0; g < c->n_majority_groups; g++)
		printf("%s%u", g ? " " : "", c->majority_groups[g]);
	printf("] priority_election %d/%u ms transfer %u ms flow %d/%u ms admin every ~%u ms [", c->priority_election,
		   c->priority_interval_ms, c->transfer_timeout_ms, c->flow_control, c->flow_interval_ms,
		   c->admin_interval_ms);
	for (int k = 1; k <= DCF_ADMIN_KIND_MAX; k++)
		printf("%s%u", k > 1 ? " " : "", c->admin_weight[k]);
	printf("]\n#   T=%u hb=%u margin=%u tick=%u batch=%u/%uB inflight=%u unstable=%u eager=%d notify=%u\n",
		   c->election_timeout_ms, c->heartbeat_ms, c->lease_margin_ms, c->tick_ms,
		   c->max_batch_entries, c->max_batch_bytes, c->max_inflight, c->max_unstable_entries,
		   c->eager_leader_send, c->commit_notify_ms);
	printf("#   net %u..%u ms drop %u dup %u spike %u/1000, disk %u..%u ms, faults every ~%u ms "
		   "(crash %u leader %u/%u partition %u heal %u, down <= %u ms, lose %u keep %u storage %u/1000 metadata %u/1000, rebuild %u..%u ms), propose every ~%u ms\n",
		   c->net_delay_min_ms, c->net_delay_max_ms, c->drop_permille, c->dup_permille,
		   c->spike_permille, c->sync_min_ms, c->sync_max_ms, c->fault_interval_ms,
		   c->crash_weight, c->crash_leader_weight, c->isolate_leader_weight, c->partition_weight, c->heal_weight, c->downtime_max_ms,
		   c->lose_unsynced_permille, c->keep_unsynced_permille, c->storage_fault_permille,
		   c->meta_fault_permille, c->rebuild_min_ms, c->rebuild_max_ms, c->propose_interval_ms);
}

static void
add_stats(sim_stats *a, const sim_stats *b)
{
	a->seeds += b->seeds;
	a->events += b->events;
	a->liveness_events += b->liveness_events;
	a->elections += b->elections;
	a->leader_changes += b->leader_changes;
	a->crashes += b->crashes;
	a->leader_crashes += b->leader_crashes;
	a->restarts += b->restarts;
	a->partitions += b->partitions;
	a->msgs_sent += b->msgs_sent;
	a->msgs_dropped += b->msgs_dropped;
	a->msgs_duplicated += b->msgs_duplicated;
	a->torn_writes += b->torn_writes;
	a->storage_faults += b->storage_faults;
	a->storage_lost_entries += b->storage_lost_entries;
	a->meta_faults += b->meta_faults;
	a->rebuilds += b->rebuilds;
	a->rebuild_waits += b->rebuild_waits;
	a->stale_rebuilds += b->stale_rebuilds;
	a->lost_writes += b->lost_writes;
	a->proposals += b->proposals;
	a->committed += b->committed;
	a->violations += b->violations;
	a->liveness_failures += b->liveness_failures;
	a->virtual_ms += b->virtual_ms;
	for (int k = 0; k <= DCF_ADMIN_KIND_MAX; k++)
		a->admin_ok[k] += b->admin_ok[k];
	a->admin_refused += b->admin_refused;
	a->changes_committed += b->changes_committed;
	a->transfers_done += b->transfers_done;
	a->transfers_failed += b->transfers_failed;
	a->minority_episodes += b->minority_episodes;
	a->admin_seeds += b->admin_seeds;
}

/* the summary's names of the admin kinds */
static const char *const admin_key[DCF_ADMIN_KIND_MAX + 1] = {
	NULL, "add", "remove", "role", "priority", "group", "transfer", "work_mode", "run_mode", "promote",
	"priority_election"
};

/* Runs seeds first, first+stride, ... (count of them in total). */
static void
run_seeds(uint64_t first, uint64_t count, uint64_t stride, uint64_t offset, uint64_t events,
		  bool trace, bool stop_at_violation, bool verbose, const char *argv0, sim_result *res)
{
	memset(res, 0, sizeof(*res));
	for (uint64_t k = offset; k < count; k += stride)
	{
		uint64_t	seed = first + k;
		sim_config	cfg;
		sim_world  *w = malloc(sizeof(sim_world));

		if (w == NULL)
		{
			fprintf(stderr, "dcf_sim: out of memory\n");
			exit(3);
		}
		draw_config(seed, &cfg);
		if (verbose)
			print_config(seed, &cfg);
		sim_world_init(w, seed, &cfg, events, trace, argv0);
		sim_world_run(w);
		w->st.seeds = 1;
		w->st.admin_seeds = 1;
		for (int kind = 1; kind <= DCF_ADMIN_KIND_MAX; kind++)
			if (cfg.admin_interval_ms == 0 || cfg.admin_weight[kind] == 0)
				w->st.admin_seeds = 0;
		add_stats(&res->st, &w->st);
		if (w->violated)
		{
			if (res->first_bad_seed == 0 || seed < res->first_bad_seed)
			{
				res->first_bad_seed = seed;
				snprintf(res->violation, sizeof(res->violation), "%s", w->violation);
			}
			if (!verbose)
				print_config(seed, &cfg);
		}
		sim_world_free(w);
		free(w);
		if (res->first_bad_seed && stop_at_violation)
			break;
	}
}

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
usage(const char *argv0)
{
	fprintf(stderr,
			"usage: %s [--seed N | --first-seed N --seeds COUNT] [--events N] [--jobs J]\n"
			"          [--trace] [--expect-violation] [--require-faults] [--require-admin [--min-admin-seeds N]] [--label NAME]\n", argv0);
	exit(2);
}

int
main(int argc, char **argv)
{
	uint64_t	first = 1,
				count = 100,
				events = 5000,
				min_admin_seeds = 0;
	int			jobs = 1;
	bool		trace = false,
				expect_violation = false,
				require_faults = false,
				require_admin = false,
				min_admin_seeds_set = false,
				single = false;
	const char *label = "simulator";
	sim_result	total;
	double		t0,
				wall;
	int			rc = 0;

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--seed") == 0 && v)
		{
			first = strtoull(v, NULL, 10);
			count = 1;
			single = true;
			i++;
		}
		else if (strcmp(a, "--first-seed") == 0 && v)
		{
			first = strtoull(v, NULL, 10);
			i++;
		}
		else if (strcmp(a, "--seeds") == 0 && v)
		{
			count = strtoull(v, NULL, 10);
			i++;
		}
		else if (strcmp(a, "--events") == 0 && v)
		{
			events = strtoull(v, NULL, 10);
			i++;
		}
		else if (strcmp(a, "--jobs") == 0 && v)
		{
			jobs = atoi(v);
			i++;
		}
		else if (strcmp(a, "--label") == 0 && v)
		{
			label = v;
			i++;
		}
		else if (strcmp(a, "--write-codec-corpus") == 0 && v)
			return sim_write_codec_corpus(v);
		else if (strcmp(a, "--trace") == 0)
			trace = true;
		else if (strcmp(a, "--expect-violation") == 0)
			expect_violation = true;
		else if (strcmp(a, "--require-faults") == 0)
			require_faults = true;
		else if (strcmp(a, "--require-admin") == 0)
			require_admin = true;
		else if (strcmp(a, "--min-admin-seeds") == 0 && v)
		{
			min_admin_seeds = strtoull(v, NULL, 10);
			min_admin_seeds_set = true;
			i++;
		}
		else
			usage(argv[0]);
	}
	if (jobs < 1 || single || trace)
		jobs = 1;
	if ((uint64_t) jobs > count)
		jobs = (int) (count ? count : 1);

	setvbuf(stdout, NULL, _IOLBF, 0);
	t0 = wall_now();
	if (jobs == 1)
		run_seeds(first, count, 1, 0, events, trace, expect_violation, single, argv[0], &total);
	else
	{
		pid_t		pids[64];
		int			fds[64];

		if (jobs > 64)
			jobs = 64;
		memset(&total, 0, sizeof(total));
		fflush(stdout);
		for (int j = 0; j < jobs; j++)
		{
			int			p[2];

			if (pipe(p) != 0)
			{
				perror("pipe");
				return 3;
			}
			pids[j] = fork();
			if (pids[j] < 0)
			{
				perror("fork");
				return 3;
			}
			if (pids[j] == 0)
			{
				sim_result	r;
				ssize_t		wn;

				close(p[0]);
				run_seeds(first, count, (uint64_t) jobs, (uint64_t) j, events, false,
						  expect_violation, false, argv[0], &r);
				wn = write(p[1], &r, sizeof(r));
				_exit(wn == (ssize_t) sizeof(r) ? 0 : 3);
			}
			close(p[1]);
			fds[j] = p[0];
		}
		for (int j = 0; j < jobs; j++)
		{
			sim_result	r;
			size_t		got = 0;
			int			status;

			while (got < sizeof(r))
			{
				ssize_t		k = read(fds[j], (char *) &r + got, sizeof(r) - got);

				if (k <= 0)
				{
					if (k < 0 && errno == EINTR)
						continue;
					break;
				}
				got += (size_t) k;
			}
			close(fds[j]);
			waitpid(pids[j], &status, 0);
			if (got != sizeof(r) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			{
				printf("not ok - %s: worker %d failed\n", label, j);
				return 1;
			}
			add_stats(&total.st, &r.st);
			if (r.first_bad_seed && (total.first_bad_seed == 0 || r.first_bad_seed < total.first_bad_seed))
			{
				total.first_bad_seed = r.first_bad_seed;
				memcpy(total.violation, r.violation, sizeof(total.violation));
			}
		}
	}
	wall = wall_now() - t0;

	printf("# %s: seeds=%llu events=%llu liveness_events=%llu elections=%llu leader_changes=%llu "
		   "crashes=%llu leader_crashes=%llu restarts=%llu partitions=%llu lost_writes=%llu torn_writes=%llu "
		   "storage_faults=%llu storage_lost_entries=%llu meta_faults=%llu rebuilds=%llu rebuild_waits=%llu stale_rebuilds=%llu "
		   "msgs=%llu dropped=%llu duplicated=%llu proposals=%llu committed=%llu "
		   "violations=%llu virtual_s=%.0f wall_s=%.1f jobs=%d events_per_s=%.0f\n",
		   label, (unsigned long long) total.st.seeds, (unsigned long long) total.st.events,
		   (unsigned long long) total.st.liveness_events, (unsigned long long) total.st.elections,
		   (unsigned long long) total.st.leader_changes, (unsigned long long) total.st.crashes,
		   (unsigned long long) total.st.leader_crashes, (unsigned long long) total.st.restarts, (unsigned long long) total.st.partitions,
		   (unsigned long long) total.st.lost_writes, (unsigned long long) total.st.torn_writes,
		   (unsigned long long) total.st.storage_faults, (unsigned long long) total.st.storage_lost_entries,
		   (unsigned long long) total.st.meta_faults, (unsigned long long) total.st.rebuilds,
		   (unsigned long long) total.st.rebuild_waits, (unsigned long long) total.st.stale_rebuilds,
		   (unsigned long long) total.st.msgs_sent, (unsigned long long) total.st.msgs_dropped,
		   (unsigned long long) total.st.msgs_duplicated, (unsigned long long) total.st.proposals,
		   (unsigned long long) total.st.committed, (unsigned long long) total.st.violations,
		   (double) total.st.virtual_ms / 1000.0, wall, jobs,
		   wall > 0 ? (double) (total.st.events + total.st.liveness_events) / wall : 0.0);
	printf("# %s: admin_seeds=%llu", label, (unsigned long long) total.st.admin_seeds);
	for (int k = 1; k <= DCF_ADMIN_KIND_MAX; k++)
		printf(" admin_%s=%llu", admin_key[k], (unsigned long long) total.st.admin_ok[k]);
	printf(" admin_refused=%llu changes_committed=%llu transfers_done=%llu transfers_failed=%llu minority_episodes=%llu\n",
		   (unsigned long long) total.st.admin_refused, (unsigned long long) total.st.changes_committed,
		   (unsigned long long) total.st.transfers_done, (unsigned long long) total.st.transfers_failed,
		   (unsigned long long) total.st.minority_episodes);

	if (expect_violation)
	{
		if (total.first_bad_seed)
			printf("ok - %s: caught at seed %llu (%s)\n", label,
				   (unsigned long long) total.first_bad_seed, total.violation);
		else
		{
			printf("not ok - %s: no violation in %llu seeds of %llu events\n", label,
				   (unsigned long long) total.st.seeds, (unsigned long long) events);
			rc = 1;
		}
		return rc;
	}
	if (total.st.violations > 0)
	{
		printf("not ok - %s: %llu violations in %llu seeds (first: seed %llu, %s)\n", label,
			   (unsigned long long) total.st.violations, (unsigned long long) total.st.seeds,
			   (unsigned long long) total.first_bad_seed, total.violation);
		return 1;
	}
	if (require_admin)
	{
		for (int k = 1; k <= DCF_ADMIN_KIND_MAX; k++)
			if (total.st.admin_ok[k] == 0)
			{
				printf("not ok - %s: no accepted admin event of kind %s\n", label, admin_key[k]);
				return 1;
			}
		if (min_admin_seeds_set && total.st.admin_seeds < min_admin_seeds)
		{
			printf("not ok - %s: %llu seeds had every admin kind enabled, %llu required\n", label,
				   (unsigned long long) total.st.admin_seeds, (unsigned long long) min_admin_seeds);
			return 1;
		}
		if (total.st.changes_committed == 0 || total.st.transfers_done == 0 || total.st.minority_episodes == 0)
		{
			printf("not ok - %s: admin events had no effect (changes committed %llu, transfers done %llu, minority episodes %llu)\n",
				   label, (unsigned long long) total.st.changes_committed,
				   (unsigned long long) total.st.transfers_done, (unsigned long long) total.st.minority_episodes);
			return 1;
		}
	}
	if (require_faults && (total.st.crashes == 0 || total.st.partitions == 0 ||
						   total.st.leader_changes == 0 || total.st.lost_writes == 0 ||
						   total.st.storage_faults == 0 || total.st.rebuilds == 0))
	{
		printf("not ok - %s: faults did not happen (crashes %llu, partitions %llu, leader changes %llu, lost writes %llu, storage faults %llu, rebuilds after lost metadata %llu)\n",
			   label, (unsigned long long) total.st.crashes, (unsigned long long) total.st.partitions,
			   (unsigned long long) total.st.leader_changes, (unsigned long long) total.st.lost_writes,
			   (unsigned long long) total.st.storage_faults, (unsigned long long) total.st.rebuilds);
		return 1;
	}
	printf("ok - %s: %llu seeds x %llu events with faults, 0 violations\n", label,
		   (unsigned long long) total.st.seeds, (unsigned long long) events);
	return 0;
}
