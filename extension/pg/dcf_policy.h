/*-------------------------------------------------------------------------
 *
 * dcf_policy.h
 *		Settings of the core's policy features (dcf_policy.c): policy
 *		majority, priority election and its switch threshold, flow control,
 *		and the run mode at runtime.
 *
 * Only the leader computes the commit index, so the commit rule in force is
 * the leader's dcf.majority_groups.  The leader sends its policy to every
 * member each second; a member whose own settings differ logs a WARNING
 * (once per difference) and shows it in dcf_replication_info().policy, so
 * that a leadership change cannot silently change the rule.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DCF_POLICY_H
#define DCF_POLICY_H

#include "postgres.h"

#include "core/dcf_core.h"

extern void dcf_policy_define_parameters(void);
extern void dcf_policy_shmem_request(void);
extern void dcf_policy_shmem_startup(void);

/* worker: the settings into the core's options at start */
extern void dcf_policy_apply_options(dcf_options *o);

/* Leader: did node_id's last answer come in minority work mode?  false: not known */
extern bool dcf_policy_peer_minority(uint32 node_id, bool *minority);

/* SQL: the effective policy of this node as jsonb text */
extern char *dcf_policy_json(void);

#endif							/* DCF_POLICY_H */
