/*
 * dcf_observe.h — the worker's monitoring hooks (dcf_observe.c): counters
 * and the member status report.  Included only by the worker's files.
 */
#ifndef DCF_OBSERVE_H
#define DCF_OBSERVE_H

#include "pg/dcf_worker_int.h"

extern void observe_start(DcfWorker *w);
extern void observe_on_role(DcfWorker *w, dcf_role role, uint32_t leader_id, uint64_t term);
extern void observe_turn(DcfWorker *w);
extern void observe_proposed(DcfWorker *w, uint64_t first_index, uint32_t n);
extern void observe_publish(DcfWorker *w, const dcf_status *st, bool joined, bool fenced,
							uint64_t now_ms);
extern void observe_on_report(DcfWorker *w, uint32_t from, const uint8_t *data, size_t len);
extern void observe_wal_missing(DcfWorker *w);
extern void observe_fenced(DcfWorker *w);
/* the admin plane (dcf_admin.c) finished a request: committed, or not */
extern void observe_admin(bool ok);

#endif							/* DCF_OBSERVE_H */
