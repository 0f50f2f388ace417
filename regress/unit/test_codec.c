/*
 * test_codec.c — message and membership codec: round trips of every message
 * type with random fields and entries, canonical encoding (decode then
 * encode gives the same bytes), every truncation and a trailing byte refused,
 * and each protocol check of the decoder exercised on purpose.
 */
#include "core/dcf_codec.h"
#include "core/dcf_prng.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static dcf_prng r;
static uint8_t payloads[64][300];
static dcf_entry ents_in[64];
static dcf_entry ents_out[DCF_MSG_ENTRIES_MAX];

static uint64_t
rnd64(void)
{
	/* small values and full-width values both */
	return dcf_prng_below(&r, 4) == 0 ? dcf_prng_next(&r) : dcf_prng_below(&r, 1000);
}

/* A random valid message of the given type. */
static void
random_msg(dcf_msg *m, dcf_msg_type type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = 1 + (uint32_t) dcf_prng_below(&r, 7);
	m->to = m->from % 7 + 1;
	m->term = 1000 + dcf_prng_below(&r, 1000);
	switch (type)
	{
		case DCF_MSG_PREVOTE_REQ:
		case DCF_MSG_VOTE_REQ:
			m->index = rnd64();
			m->log_term = rnd64();
			if (dcf_prng_below(&r, 2))
				m->flags |= DCF_MSG_F_TRANSFER;
			break;
		case DCF_MSG_PREVOTE_RESP:
		case DCF_MSG_VOTE_RESP:
			if (dcf_prng_below(&r, 2))
				m->flags |= DCF_MSG_F_REJECT;
			break;
		case DCF_MSG_APPEND:
			{
				uint64_t	t;

				m->index = dcf_prng_below(&r, 1u << 30);
				m->log_term = dcf_prng_below(&r, 1000);
				m->commit = rnd64();
				m->sent_ms = rnd64();
				m->n_entries = (uint32_t) dcf_prng_below(&r, 64);
				t = m->log_term;
				for (uint32_t i = 0; i < m->n_entries; i++)
				{
					dcf_entry  *e = &ents_in[i];

					t += dcf_prng_below(&r, 3);
					e->index = m->index + 1 + i;
					e->term = t;
					e->key = rnd64();
					e->type = (uint8_t) dcf_prng_below(&r, 256);
					e->len = (uint32_t) dcf_prng_below(&r, 300);
					for (uint32_t b = 0; b < e->len; b++)
						payloads[i][b] = (uint8_t) dcf_prng_next(&r);
					e->payload = e->len ? payloads[i] : NULL;
				}
				m->entries = ents_in;
			}
			break;
		case DCF_MSG_APPEND_RESP:
			m->index = rnd64();
			m->log_term = rnd64();
			m->reject_hint = rnd64();
			m->sent_ms = rnd64();
			m->applied = rnd64();
			if (dcf_prng_below(&r, 2))
				m->flags |= DCF_MSG_F_REJECT;
			break;
		case DCF_MSG_HEARTBEAT:
			m->commit = rnd64();
			m->sent_ms = rnd64();
			break;
		case DCF_MSG_HEARTBEAT_RESP:
			m->sent_ms = rnd64();
			m->applied = rnd64();
			break;
		case DCF_MSG_TIMEOUT_NOW:
			m->index = rnd64();
			break;
	}
	if (dcf_prng_below(&r, 4) == 0)
		m->flags |= DCF_MSG_F_MINORITY;
}

static bool
msg_equal(const dcf_msg *a, const dcf_msg *b)
{
	if (a->type != b->type || a->from != b->from || a->to != b->to || a->flags != b->flags ||
		a->term != b->term || a->index != b->index || a->log_term != b->log_term ||
		a->commit != b->commit || a->reject_hint != b->reject_hint || a->sent_ms != b->sent_ms ||
		a->applied != b->applied || a->n_entries != b->n_entries)
		return false;
	for (uint32_t i = 0; i < a->n_entries; i++)
	{
		const dcf_entry *x = &a->entries[i],
				   *y = &b->entries[i];

		if (x->index != y->index || x->term != y->term || x->key != y->key || x->type != y->type ||
			x->len != y->len || (x->len && memcmp(x->payload, y->payload, x->len) != 0))
			return false;
	}
	return true;
}

static void
test_round_trips(void)
{
	int			bad_rt = 0,
				bad_canon = 0,
				bad_trunc = 0,
				bad_trail = 0,
				bad_size = 0;
	int			per_type[DCF_MSG_TYPE_MAX + 1] = {0};
	char		err[DCF_ERRMSG_MAX];

	for (int it = 0; it < 3000; it++)
	{
		dcf_msg_type type = (dcf_msg_type) (DCF_MSG_TYPE_MIN + it % (DCF_MSG_TYPE_MAX - DCF_MSG_TYPE_MIN + 1));
		dcf_msg		m,
					d;
		size_t		need,
					len,
					len2;
		uint8_t    *buf,
				   *buf2;

		random_msg(&m, type);
		need = dcf_msg_encoded_size(&m);
		buf = malloc(need + 1);
		buf2 = malloc(need + 1);
		if (dcf_msg_encode(&m, buf, need, &len, err) != DCF_OK || len != need)
		{
			bad_size++;
			printf("# encode failed: %s\n", err);
		}
		else if (dcf_msg_decode(buf, len, &d, ents_out, DCF_MSG_ENTRIES_MAX, err) != DCF_OK ||
				 !msg_equal(&m, &d))
			bad_rt++;
		else
		{
			per_type[type]++;
			if (dcf_msg_encode(&d, buf2, need, &len2, err) != DCF_OK || len2 != len ||
				memcmp(buf, buf2, len) != 0)
				bad_canon++;
			/* every strict prefix is refused (a protocol error, never a crash) */
			for (size_t cut = 0; cut < len; cut += (len > 200 ? 7 : 1))
				if (dcf_msg_decode(buf, cut, &d, ents_out, DCF_MSG_ENTRIES_MAX, err) != DCF_ERR_PROTO)
					bad_trunc++;
			buf[len] = 0;
			if (dcf_msg_decode(buf, len + 1, &d, ents_out, DCF_MSG_ENTRIES_MAX, err) != DCF_ERR_PROTO)
				bad_trail++;
		}
		free(buf);
		free(buf2);
	}
	CHECK(bad_size == 0, "every random message encodes to exactly dcf_msg_encoded_size bytes");
	CHECK(bad_rt == 0, "decode(encode(m)) == m for 3000 random messages (%d failures)", bad_rt);
	for (int t = DCF_MSG_TYPE_MIN; t <= DCF_MSG_TYPE_MAX; t++)
		CHECK(per_type[t] > 300, "%s round-trips (%d)", dcf_msg_type_name((dcf_msg_type) t), per_type[t]);
	CHECK(bad_canon == 0, "encoding is canonical: encode(decode(b)) == b (%d failures)", bad_canon);
	CHECK(bad_trunc == 0, "every truncated message is refused as a protocol error (%d accepted)", bad_trunc);
	CHECK(bad_trail == 0, "a trailing byte is refused (%d accepted)", bad_trail);
}

/* Encodes m, applies edit to the bytes, expects decode to return want. */
static void
expect_decode(const char *what, const dcf_msg *m, void (*edit) (uint8_t *, size_t *), dcf_rc want,
			  uint32_t cap)
{
	uint8_t		buf[8192];
	size_t		len;
	dcf_msg		d;
	char		err[DCF_ERRMSG_MAX] = "";
	dcf_rc		rc;

	if (dcf_msg_encode(m, buf, sizeof(buf), &len, err) != DCF_OK)
	{
		CHECK(0, "%s: could not encode the base message: %s", what, err);
		return;
	}
	if (edit)
		edit(buf, &len);
	rc = dcf_msg_decode(buf, len, &d, ents_out, cap, err);
	CHECK(rc == want, "%s: %s (%s)", what, dcf_rc_name(rc), err);
}

/* the format after this build's: a newer peer */
static void
set_version_next(uint8_t *b, size_t *n)
{
	(void) n;
	b[0] = DCF_CODEC_VERSION + 1;
}

/* version 1 (issue 3) had no index in TIMEOUT_NOW and no member flags */
static void
set_version_1(uint8_t *b, size_t *n)
{
	(void) n;
	b[0] = 1;
}

static void
set_type_0(uint8_t *b, size_t *n)
{
	(void) n;
	b[1] = 0;
}

static void
set_type_99(uint8_t *b, size_t *n)
{
	(void) n;
	b[1] = 99;
}

static void
set_flags_bad(uint8_t *b, size_t *n)
{
	(void) n;
	b[2] = 0x80;
}

static void
set_to_from(uint8_t *b, size_t *n)
{
	(void) n;
	memcpy(b + 8, b + 4, 4);
}

static void
set_from_0(uint8_t *b, size_t *n)
{
	(void) n;
	memset(b + 4, 0, 4);
}

/* APPEND layout: header 20, index 8, log_term 8, commit 8, sent 8, n 4, entries */
static void
set_count_huge(uint8_t *b, size_t *n)
{
	(void) n;
	b[52] = 0xff;
	b[53] = 0xff;
	b[54] = 0xff;
	b[55] = 0x7f;
}

static void
set_count_4097(uint8_t *b, size_t *n)
{
	(void) n;
	b[52] = 0x01;
	b[53] = 0x10;
	b[54] = 0;
	b[55] = 0;
}

static void
set_len_huge(uint8_t *b, size_t *n)
{
	(void) n;
	/* first entry: term 8, key 8, type 1, len 4 at offset 56 + 17 */
	b[73] = 0xff;
	b[74] = 0xff;
	b[75] = 0xff;
	b[76] = 0xff;
}

static void
set_len_past_end(uint8_t *b, size_t *n)
{
	(void) n;
	b[73] = 0x00;
	b[74] = 0x10;
	b[75] = 0;
	b[76] = 0;
}

static void
set_term_decreasing(uint8_t *b, size_t *n)
{
	(void) n;
	/* first entry term = 0, below prev term 5 */
	memset(b + 56, 0, 8);
}

static void
test_decoder_checks(void)
{
	dcf_msg		hb,
				ap;
	dcf_entry	e[2];
	uint8_t		p[4] = {1, 2, 3, 4};
	char		err[DCF_ERRMSG_MAX];
	uint8_t		small[10];
	size_t		len;

	memset(&hb, 0, sizeof(hb));
	hb.type = DCF_MSG_HEARTBEAT;
	hb.from = 1;
	hb.to = 2;
	hb.term = 3;
	hb.commit = 7;
	memset(&ap, 0, sizeof(ap));
	ap.type = DCF_MSG_APPEND;
	ap.from = 1;
	ap.to = 2;
	ap.term = 9;
	ap.index = 10;
	ap.log_term = 5;
	for (int i = 0; i < 2; i++)
	{
		e[i].index = 11 + (uint64_t) i;
		e[i].term = 6;
		e[i].key = 100;
		e[i].type = DCF_ENTRY_APP_MIN;
		e[i].len = 4;
		e[i].payload = p;
	}
	ap.entries = e;
	ap.n_entries = 2;

	expect_decode("base heartbeat decodes", &hb, NULL, DCF_OK, 16);
	expect_decode("base append decodes", &ap, NULL, DCF_OK, 16);
	expect_decode("the next format version is refused", &hb, set_version_next, DCF_ERR_VERSION, 16);
	expect_decode("the older format version 1 is refused too", &hb, set_version_1, DCF_ERR_VERSION, 16);
	expect_decode("message type 0 is refused", &hb, set_type_0, DCF_ERR_PROTO, 16);
	expect_decode("message type 99 is refused", &hb, set_type_99, DCF_ERR_PROTO, 16);
	expect_decode("unknown flags are refused", &hb, set_flags_bad, DCF_ERR_PROTO, 16);
	expect_decode("a message to its sender is refused", &hb, set_to_from, DCF_ERR_PROTO, 16);
	expect_decode("sender node 0 is refused", &hb, set_from_0, DCF_ERR_PROTO, 16);
	expect_decode("an entry count of 2^31 is refused before any loop", &ap, set_count_huge, DCF_ERR_PROTO, 16);
	expect_decode("an entry count above DCF_MSG_ENTRIES_MAX is refused", &ap, set_count_4097, DCF_ERR_PROTO,
				  DCF_MSG_ENTRIES_MAX);
	expect_decode("a payload length of 4 GiB is refused", &ap, set_len_huge, DCF_ERR_PROTO, 16);
	expect_decode("a payload running past the end is refused", &ap, set_len_past_end, DCF_ERR_PROTO, 16);
	expect_decode("an entry term below the previous term is refused", &ap, set_term_decreasing, DCF_ERR_PROTO, 16);
	expect_decode("more entries than the caller's array: full", &ap, NULL, DCF_ERR_FULL, 1);

	CHECK(dcf_msg_encode(&ap, small, sizeof(small), &len, err) == DCF_ERR_FULL,
		  "encoding into a short buffer: full (%s)", err);
	e[1].index = 13;
	CHECK(dcf_msg_encode(&ap, small, sizeof(small), &len, err) == DCF_ERR_INVALID,
		  "encoding entries with a gap in their indexes: invalid (%s)", err);
	e[1].index = 12;
	ap.flags = DCF_MSG_F_REJECT;
	CHECK(dcf_msg_encode(&ap, small, sizeof(small), &len, err) == DCF_ERR_INVALID,
		  "encoding an append with the reject flag: invalid (%s)", err);
}

static void
test_membership(void)
{
	dcf_membership ms,
				d;
	uint8_t		buf[DCF_MEMBERSHIP_ENCODED_MAX_BYTES];
	uint8_t		buf2[DCF_MEMBERSHIP_ENCODED_MAX_BYTES];
	size_t		len,
				len2;
	char		err[DCF_ERRMSG_MAX];
	int			bad_trunc = 0;
	dcf_rc		rc;

	memset(&ms, 0, sizeof(ms));
	ms.n_members = DCF_MEMBERS_MAX;
	for (uint32_t i = 0; i < DCF_MEMBERS_MAX; i++)
	{
		static const dcf_role roles[] = {DCF_ROLE_LEADER, DCF_ROLE_FOLLOWER, DCF_ROLE_LOGGER, DCF_ROLE_PASSIVE};

		dcf_member_init(&ms.members[i], 100 + i, roles[i % 4]);
		ms.members[i].weight = 1 + i % 5;
		ms.members[i].group = i % 3;
		ms.members[i].priority = i * 7;
		ms.members[i].port = (uint16_t) (17000 + i);
		if (i == 0)
			memset(ms.members[i].ip, 'x', DCF_MEMBER_IP_MAX - 1);	/* longest ip */
		else
			snprintf(ms.members[i].ip, DCF_MEMBER_IP_MAX, "192.168.0.%u", i);
	}
	/* the history the core records (issue 7): a learner, the previous
	 * configuration and the index of a rolled-back entry, at their largest */
	ms.members[1].learner = true;
	ms.members[2].learner = true;	/* a LOGGER learner */
	ms.n_prev = DCF_MEMBERS_MAX;
	memcpy(ms.prev, ms.members, sizeof(ms.prev));
	ms.prev[5].learner = true;
	ms.prev[7].priority = 12345;
	ms.prev_index = 0x0102030405060708ULL;
	ms.undo_index = 0x1112131415161718ULL;
	len = 0;
	rc = dcf_membership_encode(&ms, buf, sizeof(buf), &len, err);
	CHECK(rc == DCF_OK && len == dcf_membership_encoded_size(&ms) && len <= DCF_MEMBERSHIP_ENCODED_MAX_BYTES,
		  "a %d-member membership encodes in %zu bytes (max %d)", DCF_MEMBERS_MAX, len,
		  DCF_MEMBERSHIP_ENCODED_MAX_BYTES);
	CHECK(dcf_membership_decode(buf, len, &d, err) == DCF_OK && memcmp(&ms, &d, sizeof(ms)) == 0,
		  "membership round trip keeps every field");
	CHECK(dcf_membership_encode(&d, buf2, sizeof(buf2), &len2, err) == DCF_OK && len2 == len &&
		  memcmp(buf, buf2, len) == 0, "membership encoding is canonical");
	for (size_t cut = 0; cut < len; cut++)
		if (dcf_membership_decode(buf, cut, &d, err) == DCF_OK)
			bad_trunc++;
	CHECK(bad_trunc == 0, "every truncated membership is refused");

	buf[7] |= 0x80;				/* member 0's flags byte */
	CHECK(dcf_membership_decode(buf, len, &d, err) == DCF_ERR_PROTO, "unknown member flags are refused: %s", err);
	buf[7] &= 0x7f;
	buf[0] = 1;
	CHECK(dcf_membership_decode(buf, len, &d, err) == DCF_ERR_VERSION,
		  "a version 1 membership (no history) is refused with a clear error: %s", err);
	buf[0] = DCF_CODEC_VERSION;
	ms.members[3].learner = true;	/* a PASSIVE member */
	CHECK(dcf_membership_encode(&ms, buf, sizeof(buf), &len, err) == DCF_ERR_INVALID,
		  "a PASSIVE learner is refused: %s", err);
	ms.members[3].learner = false;
	ms.prev[4].weight = 0;
	CHECK(dcf_membership_validate(&ms, err) == DCF_ERR_INVALID, "an invalid previous configuration is refused: %s", err);
	ms.prev[4].weight = 1;
	ms.n_prev = 0;
	CHECK(dcf_membership_validate(&ms, err) == DCF_ERR_INVALID,
		  "a previous index without previous members is refused: %s", err);
	ms.prev_index = 0;
	ms.undo_index = 0;
	ms.members[1].learner = ms.members[2].learner = false;
	ms.members[3].node_id = ms.members[2].node_id;
	CHECK(dcf_membership_encode(&ms, buf, sizeof(buf), &len, err) == DCF_ERR_INVALID,
		  "duplicate node ids are refused: %s", err);
	ms.members[3].node_id = 103;
	ms.members[5].weight = 0;
	CHECK(dcf_membership_validate(&ms, err) == DCF_ERR_INVALID, "weight 0 is refused: %s", err);
	ms.members[5].weight = 1;
	ms.members[6].role = DCF_ROLE_CANDIDATE;
	CHECK(dcf_membership_validate(&ms, err) == DCF_ERR_INVALID, "role CANDIDATE is not configurable: %s", err);
	ms.n_members = 2;
	ms.members[0].role = DCF_ROLE_LOGGER;
	ms.members[1].role = DCF_ROLE_PASSIVE;
	CHECK(dcf_membership_validate(&ms, err) == DCF_ERR_INVALID, "a membership nobody can lead is refused: %s", err);
	ms.members[0].role = DCF_ROLE_FOLLOWER;
	CHECK(dcf_membership_validate(&ms, err) == DCF_OK, "FOLLOWER + PASSIVE is valid");
	CHECK(dcf_membership_encode(&ms, buf, sizeof(buf), &len, err) == DCF_OK, "and encodes");
	buf[0] = 9;
	CHECK(dcf_membership_decode(buf, len, &d, err) == DCF_ERR_VERSION, "an unknown membership version: %s", err);
}

static void
test_names(void)
{
	bool		ok = true;

	for (int i = 0; i < DCF_ROLE_COUNT; i++)
	{
		dcf_role	back;

		ok &= dcf_role_parse(dcf_role_name((dcf_role) i), &back) && back == (dcf_role) i;
	}
	CHECK(ok, "every role name parses back to its role");
	CHECK(strcmp(dcf_role_name(DCF_ROLE_PRE_CANDIDATE), "PRE_CANDIDATE") == 0 &&
		  strcmp(dcf_role_name(DCF_ROLE_UNKNOWN), "UNKNOWN") == 0 &&
		  strcmp(dcf_role_name((dcf_role) 42), "UNKNOWN") == 0,
		  "role names follow dcf_replication_info; out of range is UNKNOWN");
	{
		dcf_role	x;

		CHECK(dcf_role_parse("logger", &x) && x == DCF_ROLE_LOGGER && !dcf_role_parse("CHAIR", &x),
			  "role parsing is case-insensitive and refuses unknown names");
	}
}

int
main(void)
{
	dcf_prng_seed(&r, 7);
	test_round_trips();
	test_decoder_checks();
	test_membership();
	test_names();
	return unit_done();
}
