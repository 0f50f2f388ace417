/*
 * ctl_rewind.h — dcf_ctl start's rewind of a node whose WAL went past the
 * cluster's (tools/ctl_rewind.c).
 */
#ifndef DCF_CTL_REWIND_H
#define DCF_CTL_REWIND_H

#include <stdbool.h>

#include "ctl_startstop.h"

typedef enum CtlRewindResult
{
	CTL_REWIND_OK = 0,			/* rewound, or no rewind was needed */
	CTL_REWIND_FAILED = 1,		/* not now (no source reachable, ...): may work later */
	CTL_REWIND_IMPOSSIBLE = 2,	/* can never work: the node must be rebuilt */
	CTL_REWIND_DEFERRED = 3		/* only standbys pg_rewind cannot use yet answer:
								 * start the node unrewound (marker removed); its
								 * worker stops it again for the rewind later */
} CtlRewindResult;

/* The marker in dcf.data_path that stops every later start (see ctl_rewind.c). */
#define CTL_REBUILD_MARKER "rebuild_needed"

/*
 * Finish what an interrupted rewind left (datadir absolute): put the node's
 * own files back.  *rewound: pg_rewind had completed (the caller clears the
 * markers).  false when it could not (the message is printed).
 */
extern bool ctl_rewind_recover(const char *datadir, bool *rewound);

/*
 * The node-local files (configuration files, those they include from inside
 * the data directory, standby.signal) saved durably into the directory save
 * (created whole, state "saved"), and put back from it (files that were
 * absent removed).  dcf_ctl build uses them too.
 */
extern bool ctl_save_node_files(const char *datadir, const char *save);
extern bool ctl_restore_node_files(const char *datadir, const char *save);

/* Rewind the stopped node from a server with the cluster's WAL. */
extern CtlRewindResult ctl_rewind(const CtlStartOptions *o, const char *datadir,
								  const char *dpath, const char *marker);

#endif							/* DCF_CTL_REWIND_H */
