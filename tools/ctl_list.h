/*
 * ctl_list.h — `dcf_ctl list` (tools/ctl_list.c).
 */
#ifndef DCF_CTL_LIST_H
#define DCF_CTL_LIST_H

#include <stdbool.h>

#include "ctl_conn.h"

typedef struct CtlListOptions
{
	CtlConnOptions conn;		/* -D, -h/-p/-U/-d as for query */
	double		watch_s;		/* --watch: refresh every this many seconds (0: once) */
	bool		json;			/* --json */
} CtlListOptions;

extern int	dcf_ctl_list(const CtlListOptions *o);

#endif							/* DCF_CTL_LIST_H */
