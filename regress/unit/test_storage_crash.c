/*
 * test_storage_crash.c — the log and its metadata under simulated power
 * loss (the crash shim of extension/storage/memfs.c, in the manner of
 * SQLite's test6.c).
 *
 * Each trial runs a random workload (appends in batches, group-commit
 * syncs, metadata saves, suffix and prefix truncations, resets, clean
 * restarts) against a model of what the log must contain.  At a random
 * I/O call the power goes out: that call and every later one fail.  The
 * crash then keeps, drops or tears each unsynced write (and keeps or drops
 * each unsynced directory operation), the log is reopened — sometimes with
 * a second power cut during the recovery itself — and checked:
 *
 *   - it opens (a torn tail is repaired, never refused);
 *   - its entries are a prefix of what was appended (term, key, type and
 *     payload of every entry equal the model's), and it contains every
 *     index that was reported durable;
 *   - its first index is the old one, or the new one of a prefix
 *     truncation in progress; no entry the hold points protected is gone;
 *   - its metadata is the last one reported durable, or the one being
 *     saved when the power went out.
 *
 * Several crash/recover cycles run per trial, so repairs are themselves
 * crashed.  The number of trials (DCF_CRASH_TRIALS, default 3000) and the
 * first seed (DCF_CRASH_SEED) can be changed; a failing trial prints its
 * seed, and `DCF_CRASH_SEED=<seed> DCF_CRASH_TRIALS=1` replays it exactly.
 */
#include "storage/log.h"
#include "storage/memfs.h"
#include "unit.h"

#include <inttypes.h>
#include <string.h>

#define CRASH_TRIALS_DEFAULT	3000
#define CRASH_CYCLES_PER_TRIAL	4
#define CRASH_OPS_PER_CYCLE_MAX 40
#define CRASH_CALLS_MAX			160 /* power cut within this many I/O calls */
#define MODEL_ENTRIES_MAX		4096
#define MEMBERSHIP_TEST_MAX_BYTES 300
#define LOG_DIR					"/data/log"

static uint64_t direct_appends;	/* appends the logs wrote with DCF_IO_DIRECT */

typedef struct model_entry
{
	uint64_t	term;
	uint64_t	key;
	uint8_t		type;
	uint32_t	len;
	uint64_t	salt;			/* the payload is fill(salt, len) */
} model_entry;

typedef struct model_meta
{
	uint64_t	term;
	uint32_t	voted_for;
	uint64_t	applied_index;
	uint32_t	membership_len;
	uint8_t		membership[MEMBERSHIP_TEST_MAX_BYTES];
} model_meta;

typedef enum inflight_kind
{
	INFLIGHT_NONE,
	INFLIGHT_APPEND,
	INFLIGHT_SYNC,
	INFLIGHT_META,
	INFLIGHT_TRUNC_SUFFIX,
	INFLIGHT_TRUNC_PREFIX,
	INFLIGHT_RESET,
	INFLIGHT_CLOSE
} inflight_kind;

typedef struct model
{
	/* entries [first, last]; e[i - base] */
	uint64_t	base;
	model_entry e[MODEL_ENTRIES_MAX];
	uint64_t	first;
	uint64_t	last;
	uint64_t	prev_term;		/* term at first - 1 */
	uint64_t	durable;		/* highest index reported durable */
	model_meta	meta;			/* last metadata reported durable */
	uint64_t	term;			/* the workload's current term */

	/* the operation in progress when the power went out */
	inflight_kind inflight;
	uint64_t	suffix_from;	/* TRUNC_SUFFIX */
	uint64_t	prefix_limit;	/* TRUNC_PREFIX: entries >= limit must stay */
	uint64_t	reset_first;	/* RESET */
	uint64_t	reset_prev_term;
	model_meta	meta_new;		/* META */
} model;

typedef struct stats
{
	uint64_t	crashes;
	uint64_t	recovery_crashes;
	uint64_t	clean_restarts;
	uint64_t	torn_repairs;
	uint64_t	entries_checked;
	uint64_t	lost_unsynced;	/* entries appended, never durable, gone */
	dcf_memfs_crash_stats io;
	uint64_t	failures;
} stats;

static uint64_t rng_state;

static uint64_t
rnd(void)
{
	uint64_t	z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void
fill(uint8_t *buf, uint32_t len, uint64_t salt)
{
	uint64_t	x = salt * 0x2545f4914f6cdd1dULL + len + 1;

	for (uint32_t i = 0; i < len; i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t) x;
	}
}

static model_entry *
model_at(model *m, uint64_t index)
{
	return &m->e[index - m->base];
}

static uint64_t
model_term_at(model *m, uint64_t index)
{
	if (index + 1 == m->first)
		return m->prev_term;
	return model_at(m, index)->term;
}

static int
meta_equal(const dcf_meta *a, const model_meta *b)
{
	return a->term == b->term && a->voted_for == b->voted_for &&
		a->applied_index == b->applied_index && a->membership_len == b->membership_len &&
		(b->membership_len == 0 || memcmp(a->membership, b->membership, b->membership_len) == 0);
}

static void
meta_from_model(const model_meta *mm, dcf_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->term = mm->term;
	m->voted_for = mm->voted_for;
	m->applied_index = mm->applied_index;
	m->membership_len = mm->membership_len;
	m->membership = mm->membership;
}

static void
model_from_meta(const dcf_meta *m, model_meta *mm)
{
	mm->term = m->term;
	mm->voted_for = m->voted_for;
	mm->applied_index = m->applied_index;
	mm->membership_len = m->membership_len;
	if (m->membership_len)
		memcpy(mm->membership, m->membership, m->membership_len);
}

/* Re-base the model's array so that first is at slot 0. */
static void
model_rebase(model *m)
{
	if (m->first > m->base)
	{
		uint64_t	shift = m->first - m->base;
		uint64_t	keep = m->last + 1 > m->first ? m->last + 1 - m->first : 0;

		memmove(m->e, m->e + shift, keep * sizeof(model_entry));
		m->base = m->first;
	}
}

static uint8_t *readbuf;

/*
 * Checks the reopened log against the model and the operation that was
 * in progress, then makes the model what the log now is.  Returns 0 when
 * everything held.
 */
static int
verify(dcf_log *log, model *m, uint64_t seed, stats *st)
{
	uint64_t	first = dcf_log_first_index(log);
	uint64_t	last = dcf_log_last_index(log);
	const dcf_meta *meta = dcf_log_meta(log);
	uint64_t	need = m->durable;
	uint64_t	first_ok_lo = m->first;
	uint64_t	first_ok_hi = m->first;
	int			reset_done = 0;
	int			bad = 0;
	char		err[DCF_ERRMSG_MAX];

#define FAIL(...) do { \
		if (!bad) { \
			printf("# seed %" PRIu64 ": ", seed); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
		bad = 1; \
	} while (0)

	if (m->inflight == INFLIGHT_TRUNC_SUFFIX && need > m->suffix_from - 1)
		need = m->suffix_from - 1;
	if (m->inflight == INFLIGHT_TRUNC_PREFIX)
		first_ok_hi = m->prefix_limit > m->first ? m->prefix_limit : m->first;
	if (m->inflight == INFLIGHT_RESET)
	{
		uint64_t	t = 0;

		/* either done (empty at the new first index) or a prefix of the old log */
		need = 0;
		if (first == m->reset_first && last + 1 == first &&
			(first != m->first || (dcf_log_term_at(log, first - 1, &t) == DCF_OK && t == m->reset_prev_term)))
			reset_done = 1;
	}

	if (reset_done)
	{
		uint64_t	t;

		if (dcf_log_term_at(log, first - 1, &t) != DCF_OK || t != m->reset_prev_term)
			FAIL("after reset: term before index %" PRIu64 " is not %" PRIu64, first, m->reset_prev_term);
	}
	else
	{
		if (first < first_ok_lo || first > first_ok_hi)
			FAIL("first index %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]", first, first_ok_lo, first_ok_hi);
		if (last < need)
			FAIL("last index %" PRIu64 " below the reported durable index %" PRIu64, last, need);
		if (last > m->last)
			FAIL("last index %" PRIu64 " beyond anything appended (%" PRIu64 ")", last, m->last);
		if (!bad)
		{
			uint64_t	t;

			if (dcf_log_term_at(log, first - 1, &t) != DCF_OK || t != model_term_at(m, first - 1))
				FAIL("term before the first index %" PRIu64 " differs from the model", first);
		}
		/* every entry equals the model's */
		for (uint64_t i = first; !bad && i <= last;)
		{
			dcf_log_entry out[64];
			size_t		n = 0;
			size_t		max_bytes = 1 + rnd_below(40000);
			dcf_rc		rc = dcf_log_read(log, i, last + 1, max_bytes, readbuf,
										  DCF_LOG_READ_BUFFER_MIN_BYTES, out, 64, &n, err);

			if (rc != DCF_OK || n == 0)
			{
				FAIL("read from %" PRIu64 ": %s", i, rc != DCF_OK ? err : "no progress");
				break;
			}
			for (size_t k = 0; k < n && !bad; k++)
			{
				model_entry *me = model_at(m, i + k);
				uint8_t		expect[65536];
				uint64_t	t;
				uint64_t	key;

				fill(expect, me->len, me->salt);
				if (out[k].index != i + k || out[k].term != me->term || out[k].key != me->key ||
					out[k].type != me->type || out[k].len != me->len ||
					memcmp(out[k].data, expect, me->len) != 0)
					FAIL("entry %" PRIu64 " differs from what was appended", i + k);
				else if (dcf_log_term_at(log, i + k, &t) != DCF_OK || t != me->term ||
						 dcf_log_key_at(log, i + k, &key) != DCF_OK || key != me->key)
					FAIL("term_at/key_at of %" PRIu64 " differ from the model", i + k);
				st->entries_checked++;
			}
			i += n;
		}
		/* find by key against a linear search of the model */
		for (int probe = 0; probe < 3 && !bad && last >= first; probe++)
		{
			uint64_t	k = model_at(m, first + rnd_below(last - first + 1))->key + rnd_below(3) - 1;
			uint64_t	want = 0;
			uint64_t	got = 0;
			dcf_rc		rc;

			for (uint64_t i = first; i <= last; i++)
				if (model_at(m, i)->key >= k)
				{
					want = i;
					break;
				}
			rc = dcf_log_find_key(log, k, &got);
			if (want == 0 ? rc != DCF_ERR_NOTFOUND : (rc != DCF_OK || got != want))
				FAIL("find_key(%" PRIu64 ") gave %" PRIu64 ", expected %" PRIu64, k, got, want);
		}
	}
	if (meta->first_index != first)
		FAIL("metadata first index %" PRIu64 " but the log starts at %" PRIu64, meta->first_index, first);
	if (!meta_equal(meta, &m->meta) &&
		!(m->inflight == INFLIGHT_META && meta_equal(meta, &m->meta_new)))
		FAIL("metadata (term %" PRIu64 ", vote %u) is neither the last durable (term %" PRIu64 ", vote %u) nor the one being saved",
			 meta->term, meta->voted_for, m->meta.term, m->meta.voted_for);

	if (bad)
		return -1;

	/* the model becomes what survived; everything in it is durable now */
	if (reset_done)
	{
		m->first = m->base = first;
		m->prev_term = m->reset_prev_term;
	}
	else
	{
		if (last < m->last)
			st->lost_unsynced += m->last - last;
		if (first > m->first)
		{
			m->prev_term = model_term_at(m, first - 1);
			m->first = first;
		}
	}
	m->last = last;
	model_rebase(m);
	m->durable = last;
	model_from_meta(meta, &m->meta);
	m->inflight = INFLIGHT_NONE;
	if (dcf_log_info(log)->torn)
		st->torn_repairs++;
	return 0;
#undef FAIL
}

static void
random_policy(dcf_memfs_crash_policy *p)
{
	p->write_keep_pct = (unsigned) rnd_below(101);
	p->write_tear_pct = (unsigned) rnd_below(101 - p->write_keep_pct);
	p->garbage_pct = (unsigned) rnd_below(60);
	p->other_keep_pct = (unsigned) rnd_below(101);
	p->dir_keep_pct = (unsigned) rnd_below(101);
	p->sector_bytes = rnd_below(2) ? 512 : 4096;
}

/*
 * One random operation.  Returns the dcf_rc; on failure the caller checks
 * that the power is out (any other failure is a bug).
 */
static dcf_rc
random_op(dcf_log **logp, dcf_log_options *opts, model *m, char *err)
{
	dcf_log    *log = *logp;
	uint64_t	r = rnd_below(100);
	dcf_rc		rc;

	m->inflight = INFLIGHT_NONE;
	if (r < 45)
	{
		/* append a batch */
		static uint8_t payloads[8][65536];
		dcf_log_entry batch[8];
		size_t		n = 1 + rnd_below(8);
		uint64_t	key = m->last >= m->first ? model_at(m, m->last)->key : 0;

		if (m->last - m->base + 1 + n >= MODEL_ENTRIES_MAX)
			return DCF_OK;		/* keep the model bounded; truncations shrink it */
		if (rnd_below(10) == 0)
			m->term++;
		for (size_t i = 0; i < n; i++)
		{
			model_entry *me = &m->e[m->last + 1 + i - m->base];

			me->term = m->term;
			key += rnd_below(3) == 0 ? 0 : rnd_below(5000);
			me->key = key;
			me->type = (uint8_t) rnd();
			/* now and then batches of 64 kB and more: direct appends (log.c) */
			me->len = (uint32_t) (rnd_below(16) == 0 ? rnd_below(65536) :
								  rnd_below(8) == 0 ? rnd_below(16384) : rnd_below(1500));
			me->salt = rnd();
			fill(payloads[i], me->len, me->salt);
			batch[i].index = m->last + 1 + i;
			batch[i].term = me->term;
			batch[i].key = me->key;
			batch[i].type = me->type;
			batch[i].len = me->len;
			batch[i].data = payloads[i];
		}
		/* the model holds them before the call: a crash may keep any prefix */
		m->last += n;
		m->inflight = INFLIGHT_APPEND;
		rc = dcf_log_append(log, batch, n, err);
		return rc;
	}
	if (r < 70)
	{
		uint64_t	d = 0;

		m->inflight = INFLIGHT_SYNC;
		rc = dcf_log_sync(log, &d, err);
		if (rc == DCF_OK)
		{
			if (d != m->last)
			{
				snprintf(err, DCF_ERRMSG_MAX, "sync reported %" PRIu64 ", appended up to %" PRIu64, d, m->last);
				return DCF_ERR_STATE;
			}
			m->durable = d;
		}
		return rc;
	}
	if (r < 80)
	{
		dcf_meta	dm;

		m->meta_new.term = m->meta.term + rnd_below(3);
		m->meta_new.voted_for = (uint32_t) rnd_below(5);
		m->meta_new.applied_index = rnd();
		m->meta_new.membership_len = (uint32_t) rnd_below(MEMBERSHIP_TEST_MAX_BYTES + 1);
		fill(m->meta_new.membership, m->meta_new.membership_len, rnd());
		meta_from_model(&m->meta_new, &dm);
		m->inflight = INFLIGHT_META;
		rc = dcf_log_save_meta(log, &dm, err);
		if (rc == DCF_OK)
			m->meta = m->meta_new;
		return rc;
	}
	if (r < 87)
	{
		uint64_t	from;

		if (m->last < m->first)
			return DCF_OK;
		from = m->last - rnd_below(m->last - m->first + 1 < 12 ? m->last - m->first + 1 : 12);
		if (rnd_below(20) == 0)
			from = m->first;
		m->suffix_from = from;
		m->inflight = INFLIGHT_TRUNC_SUFFIX;
		rc = dcf_log_truncate_suffix(log, from, err);
		if (rc == DCF_OK)
		{
			m->last = from - 1;
			if (m->durable > from - 1)
				m->durable = from - 1;
		}
		return rc;
	}
	if (r < 94)
	{
		dcf_log_holds holds;
		uint64_t	below = m->first + rnd_below(m->last - m->first + 2);
		uint64_t	nf = 0;

		holds.min_applied_index = m->first + rnd_below(m->last - m->first + 2);
		holds.build_hold_index = rnd_below(3) == 0 ? m->first + rnd_below(m->last - m->first + 2) : 0;
		m->prefix_limit = below;
		if (holds.min_applied_index + 1 < m->prefix_limit)
			m->prefix_limit = holds.min_applied_index + 1;
		if (holds.build_hold_index && holds.build_hold_index < m->prefix_limit)
			m->prefix_limit = holds.build_hold_index;
		m->inflight = INFLIGHT_TRUNC_PREFIX;
		rc = dcf_log_truncate_prefix(log, below, &holds, &nf, err);
		if (rc == DCF_OK)
		{
			if (nf < m->first || nf > m->prefix_limit || (nf > m->first && nf > m->last + 1))
			{
				snprintf(err, DCF_ERRMSG_MAX, "prefix truncation to %" PRIu64 " with first %" PRIu64 " and limit %" PRIu64,
						 nf, m->first, m->prefix_limit);
				return DCF_ERR_STATE;
			}
			if (nf > m->first)
			{
				m->prev_term = model_term_at(m, nf - 1);
				m->first = nf;
				model_rebase(m);
			}
		}
		return rc;
	}
	if (r < 96)
	{
		uint64_t	nf = m->last + 1 + rnd_below(50);
		uint64_t	pt = m->term;

		if (rnd_below(2) == 0 && m->last >= m->first)
			nf = m->first + rnd_below(m->last - m->first + 1);	/* discard entries */
		if (nf < 2)
			nf = 2;
		if (pt < model_term_at(m, m->first - 1))
			pt = model_term_at(m, m->first - 1);
		m->reset_first = nf;
		m->reset_prev_term = pt;
		m->inflight = INFLIGHT_RESET;
		rc = dcf_log_reset(log, nf, pt, err);
		if (rc == DCF_OK)
		{
			m->first = m->base = nf;
			m->last = nf - 1;
			m->prev_term = pt;
			m->durable = nf - 1;
			if (m->term < pt)
				m->term = pt;
		}
		return rc;
	}
	/* a clean restart */
	m->inflight = INFLIGHT_CLOSE;
	direct_appends += dcf_log_direct_appends(log);
	rc = dcf_log_close(log, err);
	*logp = NULL;
	if (rc != DCF_OK)
		return rc;
	m->durable = m->last;
	rc = dcf_log_open(LOG_DIR, opts, logp, err);
	return rc;
}

static int
run_trial(uint64_t seed, stats *st)
{
	dcf_memfs  *fs;
	dcf_log_options opts;
	dcf_log    *log = NULL;
	static model m;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;
	int			ok = 1;

	rng_state = seed * 0x9e3779b97f4a7c15ULL + 12345;
	fs = dcf_memfs_new(seed);
	if (dcf_memfs_mkdir_durable(fs, "/data") != 0)
		return 0;
	dcf_log_options_init(&opts);
	opts.io = dcf_memfs_io(fs);
	/* small segments roll often; 1 MB ones take several direct appends */
	opts.segment_bytes = rnd_below(5) == 0 ? 1024 * 1024 : (uint64_t) 4096 << rnd_below(4);
	opts.preallocate = (int) rnd_below(2);
	if (getenv("DCF_CRASH_NO_DIRECT"))
		opts.direct_io = 0;

	memset(&m, 0, sizeof(m));
	m.first = m.base = 1;
	m.last = 0;
	m.term = 1;
	if ((rc = dcf_log_open(LOG_DIR, &opts, &log, err)) != DCF_OK)
	{
		printf("# seed %" PRIu64 ": initial open: %s\n", seed, err);
		dcf_memfs_free(fs);
		return 0;
	}

	for (int cycle = 0; cycle < CRASH_CYCLES_PER_TRIAL && ok; cycle++)
	{
		dcf_memfs_crash_policy pol;
		dcf_memfs_crash_stats cs;
		int			nops = 1 + (int) rnd_below(CRASH_OPS_PER_CYCLE_MAX);

		uint64_t	cut_at = dcf_memfs_calls(fs) + 1 + rnd_below(CRASH_CALLS_MAX);

		dcf_memfs_crash_after(fs, cut_at - dcf_memfs_calls(fs));
		for (int op = 0; op < nops; op++)
		{
			rc = random_op(&log, &opts, &m, err);
			if (rc != DCF_OK)
			{
				if (!dcf_memfs_is_down(fs))
				{
					printf("# seed %" PRIu64 ": operation failed without a power cut: %s\n", seed, err);
					ok = 0;
				}
				break;
			}
			if (m.inflight == INFLIGHT_CLOSE)
			{
				/* a clean restart must give back exactly the model; the
				 * check's own reads do not count towards the power cut */
				uint64_t	left = cut_at - dcf_memfs_calls(fs);

				m.inflight = INFLIGHT_NONE;
				dcf_memfs_crash_after(fs, 0);
				if (dcf_log_last_index(log) != m.last || dcf_log_first_index(log) != m.first ||
					verify(log, &m, seed, st) != 0)
				{
					printf("# seed %" PRIu64 ": clean restart changed the log\n", seed);
					ok = 0;
					break;
				}
				cut_at = dcf_memfs_calls(fs) + left;
				dcf_memfs_crash_after(fs, left);
				st->clean_restarts++;
			}
			m.inflight = INFLIGHT_NONE;
		}
		if (!ok)
			break;
		/* the power cut (now, if the workload ended first) */
		if (log)
		{
			direct_appends += dcf_log_direct_appends(log);
			dcf_log_close(log, err);	/* fails with the power out; frees */
		}
		log = NULL;
		random_policy(&pol);
		dcf_memfs_crash(fs, &pol, &cs);
		st->crashes++;
		st->io.writes_kept += cs.writes_kept;
		st->io.writes_dropped += cs.writes_dropped;
		st->io.writes_torn += cs.writes_torn;
		st->io.dir_kept += cs.dir_kept;
		st->io.dir_dropped += cs.dir_dropped;

		/* sometimes the power fails again during recovery */
		while (rnd_below(4) == 0)
		{
			dcf_memfs_crash_after(fs, 1 + rnd_below(40));
			rc = dcf_log_open(LOG_DIR, &opts, &log, err);
			if (rc == DCF_OK)
			{
				dcf_memfs_crash_after(fs, 0);
				break;
			}
			if (!dcf_memfs_is_down(fs))
			{
				printf("# seed %" PRIu64 ": open failed without a power cut: %s\n", seed, err);
				ok = 0;
				break;
			}
			random_policy(&pol);
			dcf_memfs_crash(fs, &pol, NULL);
			st->recovery_crashes++;
		}
		if (!ok)
			break;
		if (log == NULL && (rc = dcf_log_open(LOG_DIR, &opts, &log, err)) != DCF_OK)
		{
			printf("# seed %" PRIu64 ": reopen after crash %d refused: %s\n", seed, cycle, err);
			ok = 0;
			break;
		}
		if (verify(log, &m, seed, st) != 0)
			ok = 0;
	}
	if (log)
	{
		direct_appends += dcf_log_direct_appends(log);
		dcf_log_close(log, err);
	}
	dcf_memfs_free(fs);
	return ok;
}

int
main(void)
{
	const char *env_trials = getenv("DCF_CRASH_TRIALS");
	const char *env_seed = getenv("DCF_CRASH_SEED");
	uint64_t	trials = env_trials ? strtoull(env_trials, NULL, 10) : CRASH_TRIALS_DEFAULT;
	uint64_t	seed0 = env_seed ? strtoull(env_seed, NULL, 10) : 1;
	stats		st;
	uint64_t	failed_trials = 0;

	memset(&st, 0, sizeof(st));
	readbuf = malloc(DCF_LOG_READ_BUFFER_MIN_BYTES);
	for (uint64_t t = 0; t < trials; t++)
	{
		if (!run_trial(seed0 + t, &st))
		{
			failed_trials++;
			CHECK_QUIET(0, "crash trial with seed %" PRIu64 " failed (replay: DCF_CRASH_SEED=%" PRIu64 " DCF_CRASH_TRIALS=1)",
						seed0 + t, seed0 + t);
			if (failed_trials >= 5)
				break;
		}
	}
	CHECK(failed_trials == 0, "%" PRIu64 " crash trials (seeds %" PRIu64 "..%" PRIu64 "): every reopened log is a prefix of what was appended, holds every durable index, and has the last durable metadata",
		  trials, seed0, seed0 + trials - 1);
	CHECK(st.crashes >= trials * CRASH_CYCLES_PER_TRIAL,
		  "%" PRIu64 " random crash points, plus %" PRIu64 " more during recovery, and %" PRIu64 " clean restarts",
		  st.crashes, st.recovery_crashes, st.clean_restarts);
	CHECK(st.torn_repairs > 0 && st.lost_unsynced > 0,
		  "torn tails repaired on %" PRIu64 " reopens; %" PRIu64 " unsynced entries lost, none durable",
		  st.torn_repairs, st.lost_unsynced);
	CHECK(st.io.writes_torn > 0 && st.io.writes_dropped > 0 && st.io.writes_kept > 0 && st.io.dir_dropped > 0,
		  "unsynced writes kept %" PRIu64 ", torn %" PRIu64 ", dropped %" PRIu64 "; directory operations kept %" PRIu64 ", dropped %" PRIu64,
		  st.io.writes_kept, st.io.writes_torn, st.io.writes_dropped, st.io.dir_kept, st.io.dir_dropped);
	CHECK(st.entries_checked > 0, "%" PRIu64 " recovered entries compared with the model", st.entries_checked);
	CHECK(direct_appends > 0, "%" PRIu64 " of the appends were direct (64 kB and more)", direct_appends);
	free(readbuf);
	return unit_done();
}
