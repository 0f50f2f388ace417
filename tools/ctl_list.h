/*
 * ctl_list.h — `dcf_ctl list` (tools/ctl_list.c).
 */
#ifndef DCF_CTL_LIST_H
#define DCF_CTL_LIST_H

#include <stdbool.h>

typedef struct CtlListOptions
{
	const char *datadir;		/* -D: find the server from postmaster.pid */
	const char *host;			/* -h/-p/-U/-d as for query */
	const char *port;
	const char *user;
	const char *dbname;
	double		watch_s;		/* --watch: refresh every this many seconds (0: once) */
	bool		json;			/* --json */
} CtlListOptions;

extern int	dcf_ctl_list(const CtlListOptions *o);

#endif							/* DCF_CTL_LIST_H */
