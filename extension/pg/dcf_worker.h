/*
 * dcf_worker.h — the consensus background worker.
 */
#ifndef DCF_WORKER_H
#define DCF_WORKER_H

#include "fmgr.h"

/* seconds before the postmaster restarts a worker that exited with code 1 */
#define DCF_WORKER_RESTART_SECONDS 1

extern PGDLLEXPORT void dcf_worker_main(Datum main_arg);

#endif							/* DCF_WORKER_H */
