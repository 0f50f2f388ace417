/*
 * ctl_startstop.h — `dcf_ctl start` and `dcf_ctl stop` (tools/ctl_startstop.c).
 */
#ifndef DCF_CTL_STARTSTOP_H
#define DCF_CTL_STARTSTOP_H

typedef struct CtlStartOptions
{
	const char *datadir;
	const char *logfile;		/* -l, passed to pg_ctl */
	const char *pg_options;		/* -o, passed to pg_ctl */
	const char *source_server;	/* --source-server: pg_rewind source override */
	int			timeout_s;		/* -t: wait this long for the node to join */
	const char *mode;			/* stop: -m fast|immediate|smart (default: by role) */
	int			max_failed_starts;	/* supervise: give up after this many (0: 8) */
} CtlStartOptions;

extern int	dcf_ctl_start(const CtlStartOptions *o);
extern int	dcf_ctl_stop(const CtlStartOptions *o);

#endif							/* DCF_CTL_STARTSTOP_H */
