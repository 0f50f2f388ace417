/*
 * dcf_codec.h — byte encoding of consensus messages and of memberships
 * (the payload of CONFIG entries and of the metadata record).
 *
 * Format version DCF_CODEC_VERSION, little-endian, fixed-width fields, so
 * the encoding of a message is canonical: decode then encode gives back the
 * same bytes (the fuzz target checks exactly that).
 *
 *   message  u8 version, u8 type, u16 flags, u32 from, u32 to, u64 term,
 *            then per type:
 *              (PRE)VOTE_REQ    u64 index, u64 log_term
 *              (PRE)VOTE_RESP   -
 *              APPEND           u64 index, u64 log_term, u64 commit,
 *                               u64 sent_ms, u32 n, n x {u64 term, u64 key,
 *                               u8 type, u32 len, len bytes}
 *              APPEND_RESP      u64 index, u64 log_term, u64 reject_hint,
 *                               u64 sent_ms, u64 applied
 *              HEARTBEAT        u64 commit, u64 sent_ms
 *              HEARTBEAT_RESP   u64 sent_ms, u64 applied
 *              TIMEOUT_NOW      u64 index
 *   membership  u8 version, u8 n, n x member, u64 prev_index, u8 n_prev,
 *               n_prev x member, u64 undo_index
 *   member      u32 node_id, u8 role, u8 flags (0x01 learner), u32 weight,
 *               u32 group, u32 priority, u16 port, u8 ip_len, ip bytes
 *
 * Version history: 1 (issue 3); 2 (issue 7): TIMEOUT_NOW carries the
 * leader's last index, members carry flags, memberships their history.
 *
 * The decoder checks every length before it reads, refuses trailing bytes,
 * unknown versions (DCF_ERR_VERSION), unknown types and flags, and messages
 * that no correct peer sends (node id 0, from == to, more than
 * DCF_MSG_ENTRIES_MAX entries, a payload above DCF_ENTRY_PAYLOAD_MAX_BYTES,
 * entry terms that decrease or exceed the message term, index overflow):
 * DCF_ERR_PROTO.  Decoded entry payloads point into the input buffer.
 */
#ifndef DCF_CODEC_H
#define DCF_CODEC_H

#include "core/dcf_core.h"

#define DCF_CODEC_VERSION 2
#define DCF_MSG_HEADER_BYTES 20
#define DCF_MSG_ENTRY_HEADER_BYTES 21
#define DCF_MEMBER_F_LEARNER 0x01
#define DCF_MEMBER_ENCODED_MAX_BYTES (4 + 1 + 1 + 4 + 4 + 4 + 2 + 1 + DCF_MEMBER_IP_MAX)
#define DCF_MEMBERSHIP_ENCODED_MAX_BYTES \
	(2 + 8 + 1 + 8 + 2 * DCF_MEMBERS_MAX * DCF_MEMBER_ENCODED_MAX_BYTES)

/* Bytes dcf_msg_encode() writes for m (m assumed valid). */
extern size_t dcf_msg_encoded_size(const dcf_msg *m);

/* Encodes m into buf[0..cap); DCF_ERR_FULL if it does not fit. */
extern dcf_rc dcf_msg_encode(const dcf_msg *m, uint8_t *buf, size_t cap, size_t *len_out,
							 char *errmsg);

/*
 * Decodes buf[0..len) into *m; entries go to entries[0..entries_cap)
 * (DCF_ERR_FULL if the message has more), m->entries points there.
 */
extern dcf_rc dcf_msg_decode(const uint8_t *buf, size_t len, dcf_msg *m,
							 dcf_entry *entries, uint32_t entries_cap, char *errmsg);

extern size_t dcf_membership_encoded_size(const dcf_membership *ms);
extern dcf_rc dcf_membership_encode(const dcf_membership *ms, uint8_t *buf, size_t cap,
									size_t *len_out, char *errmsg);
/* Decodes and validates (dcf_membership_validate). */
extern dcf_rc dcf_membership_decode(const uint8_t *buf, size_t len, dcf_membership *ms,
									char *errmsg);

#endif							/* DCF_CODEC_H */
