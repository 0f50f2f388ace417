/*
 * sim_corpus.c — writes the seed corpus of regress/fuzz/fuzz_codec.c:
 * valid encodings of every message type (with and without entries, flags,
 * extreme values) and of memberships, one file each.
 *     build/sim/dcf_sim --write-codec-corpus regress/fuzz/corpus/fuzz_codec
 * The files are committed; this keeps them reproducible after a format
 * change.
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

static int
write_file(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len)
	{
		perror(path);
		if (f)
			fclose(f);
		return 1;
	}
	fclose(f);
	return 0;
}

static int
write_msg(const char *dir, const char *name, const dcf_msg *m)
{
	uint8_t		buf[4096];
	size_t		len;
	char		err[DCF_ERRMSG_MAX];

	if (dcf_msg_encode(m, buf, sizeof(buf), &len, err) != DCF_OK)
	{
		fprintf(stderr, "%s: %s\n", name, err);
		return 1;
	}
	return write_file(dir, name, buf, len);
}

int
sim_write_codec_corpus(const char *dir)
{
	dcf_msg		m;
	dcf_entry	e[3];
	uint8_t		payload[64];
	int			rc = 0;
	char		name[64];
	dcf_membership ms;
	uint8_t		buf[DCF_MEMBERSHIP_ENCODED_MAX_BYTES];
	size_t		len;
	char		err[DCF_ERRMSG_MAX];

	for (int i = 0; i < 64; i++)
		payload[i] = (uint8_t) (i * 37 + 11);
	for (int t = DCF_MSG_TYPE_MIN; t <= DCF_MSG_TYPE_MAX; t++)
	{
		memset(&m, 0, sizeof(m));
		m.type = (dcf_msg_type) t;
		m.from = 1;
		m.to = 3;
		m.term = 7;
		m.index = 41;
		m.log_term = 6;
		m.commit = 40;
		m.sent_ms = 123456;
		m.applied = 39;
		m.reject_hint = 38;
		if (t != DCF_MSG_APPEND && t != DCF_MSG_APPEND_RESP && t != DCF_MSG_PREVOTE_REQ &&
			t != DCF_MSG_VOTE_REQ)
			m.log_term = 0;
		if (t != DCF_MSG_APPEND && t != DCF_MSG_APPEND_RESP && t != DCF_MSG_PREVOTE_REQ &&
			t != DCF_MSG_VOTE_REQ && t != DCF_MSG_TIMEOUT_NOW)
			m.index = 0;
		if (t != DCF_MSG_APPEND && t != DCF_MSG_HEARTBEAT)
			m.commit = 0;
		if (t != DCF_MSG_APPEND_RESP)
			m.reject_hint = 0;
		if (t != DCF_MSG_APPEND_RESP && t != DCF_MSG_HEARTBEAT_RESP)
			m.applied = 0;
		if (t != DCF_MSG_APPEND && t != DCF_MSG_APPEND_RESP && t != DCF_MSG_HEARTBEAT &&
			t != DCF_MSG_HEARTBEAT_RESP)
			m.sent_ms = 0;
		snprintf(name, sizeof(name), "msg_%s", dcf_msg_type_name(m.type));
		rc |= write_msg(dir, name, &m);
		if (t == DCF_MSG_APPEND)
		{
			for (int i = 0; i < 3; i++)
			{
				e[i].index = m.index + 1 + (uint64_t) i;
				e[i].term = 6 + (uint64_t) (i / 2);
				e[i].key = 1000 + (uint64_t) i * 8192;
				e[i].type = (uint8_t) (i == 0 ? DCF_ENTRY_NOOP : DCF_ENTRY_APP_MIN);
				e[i].len = i == 0 ? 0 : (uint32_t) (16 * i);
				e[i].payload = e[i].len ? payload : NULL;
			}
			m.entries = e;
			m.n_entries = 3;
			rc |= write_msg(dir, "msg_append_3_entries", &m);
			m.n_entries = 0;
			m.index = UINT64_MAX - 1;
			m.term = UINT64_MAX;
			rc |= write_msg(dir, "msg_append_extreme", &m);
		}
		if (t == DCF_MSG_APPEND_RESP || t == DCF_MSG_VOTE_RESP || t == DCF_MSG_PREVOTE_RESP)
		{
			m.flags = DCF_MSG_F_REJECT | DCF_MSG_F_MINORITY;
			snprintf(name, sizeof(name), "msg_%s_reject", dcf_msg_type_name(m.type));
			rc |= write_msg(dir, name, &m);
		}
		if (t == DCF_MSG_VOTE_REQ)
		{
			m.flags = DCF_MSG_F_TRANSFER;
			rc |= write_msg(dir, "msg_vote_req_transfer", &m);
		}
	}
	memset(&ms, 0, sizeof(ms));
	ms.n_members = 3;
	dcf_member_init(&ms.members[0], 1, DCF_ROLE_LEADER);
	dcf_member_init(&ms.members[1], 2, DCF_ROLE_FOLLOWER);
	dcf_member_init(&ms.members[2], 3, DCF_ROLE_LOGGER);
	for (int i = 0; i < 3; i++)
	{
		snprintf(ms.members[i].ip, DCF_MEMBER_IP_MAX, "192.168.0.%d", 11 + i);
		ms.members[i].port = 17783;
	}
	ms.members[1].weight = 2;
	ms.members[2].group = 1;
	ms.members[0].priority = 9;
	if (dcf_membership_encode(&ms, buf, sizeof(buf), &len, err) != DCF_OK)
	{
		fprintf(stderr, "membership: %s\n", err);
		return 1;
	}
	rc |= write_file(dir, "membership_3", buf, len);
	ms.n_members = 1;
	if (dcf_membership_encode(&ms, buf, sizeof(buf), &len, err) != DCF_OK)
		return 1;
	rc |= write_file(dir, "membership_1", buf, len);
	/* format 2: a learner, the previous configuration, a rolled-back entry */
	ms.n_members = 3;
	ms.members[1].learner = true;
	ms.n_prev = 2;
	memcpy(ms.prev, ms.members, sizeof(dcf_member) * 2);
	ms.prev[1].learner = false;
	ms.prev_index = 17;
	ms.undo_index = 23;
	if (dcf_membership_encode(&ms, buf, sizeof(buf), &len, err) != DCF_OK)
	{
		fprintf(stderr, "membership with history: %s\n", err);
		return 1;
	}
	rc |= write_file(dir, "membership_history", buf, len);
	return rc;
}
