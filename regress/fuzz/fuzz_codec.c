/*
 * fuzz_codec.c — fuzz target for the consensus message and membership
 * decoders (extension/core/dcf_codec.c).
 *
 * Any input is fed to both decoders.  Whatever they accept must be
 * canonical: encoding the decoded value gives back exactly the input bytes
 * (and dcf_msg_encoded_size predicts that length), and decoding again gives
 * the same value.  Whatever they refuse must be refused cleanly (an error
 * code, never a crash, a hang or a read out of bounds — ASan/UBSan watch).
 *
 * Seed corpus: regress/fuzz/corpus/fuzz_codec/, written by
 *     build/sim/dcf_sim --write-codec-corpus regress/fuzz/corpus/fuzz_codec
 * (one valid encoding of every message type, a few variants, memberships).
 */
#include "core/dcf_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dcf_entry ents[DCF_MSG_ENTRIES_MAX];
static dcf_entry ents2[DCF_MSG_ENTRIES_MAX];

static void
check_message(const uint8_t *data, size_t size)
{
	dcf_msg		m,
				m2;
	char		err[DCF_ERRMSG_MAX];
	uint8_t    *buf;
	size_t		len;

	if (dcf_msg_decode(data, size, &m, ents, DCF_MSG_ENTRIES_MAX, err) != DCF_OK)
		return;
	if (dcf_msg_encoded_size(&m) != size)
		abort();
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		abort();
	if (dcf_msg_encode(&m, buf, size, &len, err) != DCF_OK || len != size || memcmp(buf, data, size) != 0)
		abort();
	if (dcf_msg_decode(buf, len, &m2, ents2, DCF_MSG_ENTRIES_MAX, err) != DCF_OK ||
		m2.type != m.type || m2.term != m.term || m2.n_entries != m.n_entries ||
		m2.index != m.index || m2.flags != m.flags)
		abort();
	for (uint32_t i = 0; i < m.n_entries; i++)
		if (ents2[i].index != ents[i].index || ents2[i].len != ents[i].len ||
			memcmp(ents2[i].payload, ents[i].payload, ents[i].len) != 0)
			abort();
	free(buf);
}

static void
check_membership(const uint8_t *data, size_t size)
{
	dcf_membership ms;
	uint8_t		buf[DCF_MEMBERSHIP_ENCODED_MAX_BYTES];
	char		err[DCF_ERRMSG_MAX];
	size_t		len;

	if (dcf_membership_decode(data, size, &ms, err) != DCF_OK)
		return;
	if (dcf_membership_validate(&ms, err) != DCF_OK)
		abort();
	if (dcf_membership_encode(&ms, buf, sizeof(buf), &len, err) != DCF_OK || len != size ||
		memcmp(buf, data, size) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_message(data, size);
	check_membership(data, size);
	return 0;
}
