/*
 * test_host.c — the consensus host (extension/pg/dcf_host.c) with its log's
 * sync thread: three hosts in one process on loopback, driven by a poll
 * loop like the worker's.
 *
 *   1. Three hosts (two with the sync thread, one syncing inline) elect a
 *      leader and commit large proposals (synced by the thread) and small
 *      ones (synced by the event loop); the three logs are identical.
 *   2. With both followers' fdatasync held (a gate in their log's I/O):
 *      they still receive and append (their event loops run while a sync
 *      waits), no election starts, and the leader commits nothing,
 *      because no follower acknowledges what is not durable (H1) and the
 *      leader alone is no majority.  Released, the entry commits.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "test_net_util.h"
#include "pg/dcf_host.h"
#include "storage/log.h"

#define NODES 3

/* a log I/O whose fdatasync can be held */
typedef struct gate
{
	dcf_io		io;
	const dcf_io *px;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int			hold;
	int			waiting;		/* fdatasyncs held now */
	uint64_t	syncs;
} gate;

static gate gates[NODES];

#define PX(g) (((gate *) (g))->px)
static int	g_open(void *c, const char *p, int f) { return PX(c)->open(PX(c)->ctx, p, f); }
static int	g_close(void *c, int fd) { return PX(c)->close(PX(c)->ctx, fd); }
static ssize_t g_pread(void *c, int fd, void *b, size_t l, uint64_t o) { return PX(c)->pread(PX(c)->ctx, fd, b, l, o); }
static ssize_t g_pwritev(void *c, int fd, const struct iovec *v, int n, uint64_t o) { return PX(c)->pwritev(PX(c)->ctx, fd, v, n, o); }
static int	g_ftruncate(void *c, int fd, uint64_t s) { return PX(c)->ftruncate(PX(c)->ctx, fd, s); }
static int	g_fallocate(void *c, int fd, uint64_t o, uint64_t l) { return PX(c)->fallocate(PX(c)->ctx, fd, o, l); }
static int	g_fsize(void *c, int fd, uint64_t *s) { return PX(c)->fsize(PX(c)->ctx, fd, s); }
static int	g_rename(void *c, const char *a, const char *b) { return PX(c)->rename(PX(c)->ctx, a, b); }
static int	g_unlink(void *c, const char *p) { return PX(c)->unlink(PX(c)->ctx, p); }

static int
g_fdatasync(void *c, int fd)
{
	gate	   *g = c;

	pthread_mutex_lock(&g->mu);
	g->syncs++;
	while (g->hold)
	{
		g->waiting++;
		pthread_cond_wait(&g->cv, &g->mu);
		g->waiting--;
	}
	pthread_mutex_unlock(&g->mu);
	return g->px->fdatasync(g->px->ctx, fd);
}

static void
gate_init(gate *g)
{
	g->px = dcf_io_posix();
	g->io = *g->px;				/* whatever is not wrapped below */
	g->io.ctx = g;
	g->io.open = g_open;
	g->io.close = g_close;
	g->io.pread = g_pread;
	g->io.pwritev = g_pwritev;
	g->io.fdatasync = g_fdatasync;
	g->io.ftruncate = g_ftruncate;
	g->io.fallocate = g_fallocate;
	g->io.fsize = g_fsize;
	g->io.rename = g_rename;
	g->io.unlink = g_unlink;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
}

static void
gate_set(gate *g, int hold)
{
	pthread_mutex_lock(&g->mu);
	g->hold = hold;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static int
gate_waiting(gate *g)
{
	int			w;

	pthread_mutex_lock(&g->mu);
	w = g->waiting;
	pthread_mutex_unlock(&g->mu);
	return w;
}

static dcf_host *hosts[NODES];

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void
host_log(void *ctx, dcf_host_log_level level, const char *msg)
{
	if (level != DCF_HOST_DEBUG)
		printf("#   node %d: %s\n", (int) (intptr_t) ctx, msg);
}

static void
net_log(void *arg, dcf_net_log_level level, const char *line)
{
	if (level >= DCF_NET_LOG_WARNING)
		printf("#   net: %s\n", line);
}

/* One turn of every host: wait up to 10 ms for any socket, then process. */
static void
turn_all(void)
{
	struct pollfd pf[NODES * 64];
	dcf_net_sock socks[NODES][60];
	int			ns[NODES],
				base[NODES],
				sfd[NODES];
	int			n = 0;
	uint64_t	now;
	char		err[DCF_ERRMSG_MAX];

	for (int i = 0; i < NODES; i++)
	{
		base[i] = n;
		ns[i] = dcf_host_socks(hosts[i], socks[i], 60);
		for (int k = 0; k < ns[i]; k++)
		{
			pf[n].fd = socks[i][k].fd;
			pf[n].events = ((socks[i][k].events & DCF_NET_READ) ? POLLIN : 0) |
				((socks[i][k].events & DCF_NET_WRITE) ? POLLOUT : 0);
			pf[n].revents = 0;
			n++;
		}
		sfd[i] = n;
		pf[n].fd = dcf_host_sync_fd(hosts[i]);	/* -1: ignored by poll */
		pf[n].events = POLLIN;
		pf[n].revents = 0;
		n++;
	}
	poll(pf, n, 10);
	now = mono_ms();
	for (int i = 0; i < NODES; i++)
	{
		dcf_net_sock ready[60];
		int			nr = 0;

		for (int k = 0; k < ns[i]; k++)
		{
			short		re = pf[base[i] + k].revents;

			if (re == 0)
				continue;
			ready[nr].fd = socks[i][k].fd;
			ready[nr].events = ((re & (POLLIN | POLLHUP | POLLERR)) ? DCF_NET_READ : 0) |
				((re & (POLLOUT | POLLHUP | POLLERR)) ? DCF_NET_WRITE : 0);
			nr++;
		}
		(void) sfd;
		if (dcf_host_net_process(hosts[i], ready, nr, now, err) != DCF_OK ||
			dcf_host_tick(hosts[i], now, err) != DCF_OK ||
			dcf_host_flush(hosts[i], now, err) != DCF_OK)
		{
			printf("not ok - node %d failed: %s\n", i + 1, err);
			exit(1);
		}
	}
}

static int
leader_of_all(void)
{
	int			leader = -1;

	for (int i = 0; i < NODES; i++)
		if (dcf_host_role(hosts[i]) == DCF_ROLE_LEADER)
			leader = i;
	return leader;
}

static uint64_t
commit_of(int i)
{
	return dcf_host_commit_index(hosts[i]);
}

static uint64_t
term_of(int i)
{
	dcf_status	st;

	dcf_host_status(hosts[i], &st);
	return st.term;
}

static int
run_until(int (*cond) (void *), void *arg, int ms)
{
	uint64_t	end = mono_ms() + (uint64_t) ms;

	while (mono_ms() < end)
	{
		turn_all();
		if (cond && cond(arg))
			return 1;
	}
	return cond == NULL;
}

static int
has_leader(void *arg)
{
	return leader_of_all() >= 0;
}

static int
all_committed(void *arg)
{
	uint64_t	want = *(uint64_t *) arg;

	for (int i = 0; i < NODES; i++)
		if (commit_of(i) < want)
			return 0;
	return 1;
}

#define PAYLOAD (96 * 1024)

static void
fill(uint8_t *p, uint64_t seq, size_t len)
{
	uint64_t	x = seq * 0x9E3779B97F4A7C15ull | 1;

	for (size_t i = 0; i < len; i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t) x;
	}
}

/* Propose n entries of len bytes on the leader; returns the last index. */
static uint64_t
propose_len(int leader, uint64_t seq0, int n, uint32_t len)
{
	static uint8_t buf[PAYLOAD];
	uint64_t	first = 0,
				last = 0;
	char		err[DCF_ERRMSG_MAX];

	for (int k = 0; k < n; k++)
	{
		dcf_proposal p = {.type = DCF_ENTRY_APP_MIN,.key = seq0 + (uint64_t) k,.payload = buf,.len = len};

		fill(buf, seq0 + (uint64_t) k, len);
		if (dcf_host_propose(hosts[leader], &p, 1, mono_ms(), &first, err) != DCF_OK)
		{
			printf("# propose: %s\n", err);
			return 0;
		}
		last = first;
		if (k % 8 == 7)
			turn_all();
	}
	return last;
}

static uint64_t
propose(int leader, uint64_t seq0, int n)
{
	return propose_len(leader, seq0, n, PAYLOAD);
}

/* The entries [lo, hi] of the three logs: same terms, keys and bytes. */
static int
logs_identical(uint64_t lo, uint64_t hi, char *why, size_t whylen)
{
	size_t		cap = 4 * 1024 * 1024;
	uint8_t    *buf[NODES];
	int			ok = 1;

	for (int i = 0; i < NODES; i++)
		buf[i] = malloc(cap);
	for (uint64_t ix = lo; ok && ix <= hi; ix++)
	{
		dcf_log_entry e[NODES];
		size_t		n;
		char		err[DCF_ERRMSG_MAX];

		for (int i = 0; ok && i < NODES; i++)
			if (dcf_log_read(dcf_host_log(hosts[i]), ix, ix + 1, cap, buf[i], cap, &e[i], 1, &n, err) != DCF_OK || n != 1)
			{
				snprintf(why, whylen, "(node %d cannot read index %" PRIu64 ": %s)", i + 1, ix, err);
				ok = 0;
			}
		for (int i = 1; ok && i < NODES; i++)
			if (e[i].term != e[0].term || e[i].key != e[0].key || e[i].len != e[0].len ||
				memcmp(e[i].data, e[0].data, e[0].len) != 0)
			{
				snprintf(why, whylen, "(index %" PRIu64 " differs between nodes 1 and %d)", ix, i + 1);
				ok = 0;
			}
	}
	for (int i = 0; i < NODES; i++)
		free(buf[i]);
	return ok;
}

static dcf_membership boot;
static const char *key;

/* Three hosts in fresh directories; inline_node (0: none) syncs inline. */
static int
open_cluster(const char *tag, int inline_node)
{
	char		err[DCF_ERRMSG_MAX];

	memset(&boot, 0, sizeof(boot));
	boot.n_members = NODES;
	for (int i = 0; i < NODES; i++)
	{
		dcf_member_init(&boot.members[i], (uint32_t) i + 1, DCF_ROLE_FOLLOWER);
		snprintf(boot.members[i].ip, sizeof(boot.members[i].ip), "127.0.0.1");
		boot.members[i].port = tn_free_port();
		gates[i].syncs = 0;
	}
	for (int i = 0; i < NODES; i++)
	{
		dcf_host_options ho;
		dcf_host_callbacks cb;
		char		dir[300];

		snprintf(dir, sizeof(dir), "%s/%s%d", tn_tmpdir(), tag, i + 1);
		memset(&ho, 0, sizeof(ho));
		ho.data_path = dir;
		dcf_options_init(&ho.core, (uint32_t) i + 1);
		ho.core.election_timeout_ms = 2000;
		ho.core.heartbeat_interval_ms = 100;
		ho.core.prng_seed = (uint64_t) getpid() * 31 + (uint64_t) i;
		dcf_net_options_init(&ho.net);
		ho.net.auth_key_file = key;
		ho.net.log = net_log;
		ho.bootstrap = &boot;
		ho.sync_inline = (i + 1 == inline_node);
		ho.log_io = &gates[i].io;
		memset(&cb, 0, sizeof(cb));
		cb.ctx = (void *) (intptr_t) (i + 1);
		cb.log = host_log;
		if (!CHECK(dcf_host_open(&ho, &cb, mono_ms(), &hosts[i], err) == DCF_OK, "%s: node %d opens (%s)",
				   tag, i + 1, ho.sync_inline ? "inline sync" : "sync thread"))
		{
			printf("# %s\n", err);
			return 0;
		}
	}
	return 1;
}

static void
close_cluster(void)
{
	for (int i = 0; i < NODES; i++)
	{
		dcf_host_close(hosts[i]);
		hosts[i] = NULL;
	}
}

int
main(void)
{
	char		why[200] = "";
	int			leader;
	uint64_t	last,
				target,
				lterm;

	key = tn_key_file("cluster.key", 5);
	for (int i = 0; i < NODES; i++)
		gate_init(&gates[i]);

	/* 1. commit through both paths: nodes 1 and 2 with the thread, node 3 inline */
	if (!open_cluster("mixed", 3))
		return unit_done();
	CHECK(dcf_host_sync_fd(hosts[0]) >= 0 && dcf_host_sync_fd(hosts[2]) < 0,
		  "a host with the sync thread has a descriptor to wait on, an inline one has none");
	CHECK(run_until(has_leader, NULL, 10000), "a leader is elected");
	leader = leader_of_all();
	last = propose(leader, 1000, 200);
	CHECK(last > 0 && run_until(all_committed, &last, 20000),
		  "200 entries of 96 kB commit on all three nodes (index %" PRIu64 ")", last);
	CHECK(logs_identical(last - 199, last, why, sizeof(why)), "the three logs hold the same 200 entries %s", why);
	/* small group commits: the event loop syncs them itself (below the thread's threshold) */
	{
		uint64_t	first = last + 1;

		for (int k = 0; k < 50; k++)
		{
			last = propose_len(leader, 3000 + (uint64_t) k, 1, 200);
			turn_all();
		}
		CHECK(last > 0 && run_until(all_committed, &last, 20000),
			  "50 entries of 200 bytes, one per turn, commit on all three nodes (index %" PRIu64 ")", last);
		CHECK(logs_identical(first, last, why, sizeof(why)), "the three logs hold the same small entries %s", why);
	}
	CHECK(gates[0].syncs > 0 && gates[1].syncs > 0 && gates[2].syncs > 0,
		  "every node fdatasynced (%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")",
		  gates[0].syncs, gates[1].syncs, gates[2].syncs);
	close_cluster();

	/* 2. all with the thread; hold both followers' fdatasync */
	if (!open_cluster("held", 0))
		return unit_done();
	CHECK(run_until(has_leader, NULL, 10000), "a leader is elected");
	leader = leader_of_all();
	last = propose(leader, 2000, 20);
	CHECK(last > 0 && run_until(all_committed, &last, 20000), "20 entries commit on all three (index %" PRIu64 ")", last);
	lterm = term_of(leader);
	for (int i = 0; i < NODES; i++)
		if (i != leader)
			gate_set(&gates[i], 1);
	target = propose(leader, 5000, 4);
	{
		/* well inside the election timeout: the leader's quorum check needs
		 * the followers' answers, which wait for their syncs */
		uint64_t	end = mono_ms() + 700;
		int			seen_waiting = 0;

		while (mono_ms() < end)
		{
			turn_all();
			for (int i = 0; i < NODES; i++)
				if (i != leader && gate_waiting(&gates[i]) > 0)
					seen_waiting |= 1 << i;
		}
		for (int i = 0; i < NODES; i++)
			if (i != leader)
			{
				CHECK(seen_waiting & (1 << i), "node %d: its sync thread waited in the held fdatasync", i + 1);
				CHECK(dcf_log_last_index(dcf_host_log(hosts[i])) >= target,
					  "node %d appended up to %" PRIu64 " while its sync was held (its event loop ran)", i + 1, target);
				CHECK(commit_of(i) < target,
					  "node %d does not count %" PRIu64 " as committed and durable here (%" PRIu64 ")",
					  i + 1, target, commit_of(i));
			}
	}
	CHECK(commit_of(leader) < target,
		  "with both followers' syncs held the leader does not commit %" PRIu64 " (commit %" PRIu64 "): nobody acknowledged what is not durable",
		  target, commit_of(leader));
	CHECK(leader_of_all() == leader && term_of(leader) == lterm,
		  "no election while the syncs were held: node %d still leads term %" PRIu64, leader + 1, lterm);
	for (int i = 0; i < NODES; i++)
		gate_set(&gates[i], 0);
	CHECK(run_until(all_committed, &target, 10000),
		  "released, index %" PRIu64 " commits and is durable on all three", target);
	CHECK(logs_identical(last + 1, target, why, sizeof(why)), "the logs agree after the release %s", why);
	close_cluster();
	tn_cleanup();
	return unit_done();
}
