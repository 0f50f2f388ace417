/*
 * dcf_inject.h — failure injection for tests (dcf_inject.c).
 *
 * dcf.inject (postgresql.conf, reloadable, superuser) lists
 * "point:action" pairs separated by commas; empty (the default) makes every
 * point inert.  Points are named places in the worker; actions:
 *   stop   the worker stops itself with SIGSTOP (a test sends SIGCONT)
 *   exit   the worker exits (the postmaster restarts it)
 *   crash  the worker aborts (the postmaster restarts the whole server)
 *   kill   the server stops at once (SIGQUIT to the postmaster: an
 *          immediate shutdown, as a crash of the whole node)
 * Each point fires at most once per worker process.
 */
#ifndef DCF_INJECT_H
#define DCF_INJECT_H

/* the named points */
#define DCF_INJECT_RESERVE_BEFORE_PROMOTE	"reserve_before_promote"	/* timeline reserved, not yet promoted */
#define DCF_INJECT_PROMOTE_BEFORE_SWITCH	"promote_before_switch"	/* promoted, switch entry not yet appended */
#define DCF_INJECT_SWITCH_BEFORE_COMMIT	"switch_before_commit"	/* switch entry appended, not yet committed */
#define DCF_INJECT_SWITCH_BEFORE_PUMP	"switch_before_pump"	/* switch entry committed, no WAL of the new timeline in the log yet */
#define DCF_INJECT_APPEND_BEFORE_FSYNC	"append_before_fsync"	/* entries appended, not yet made durable */

extern char *dcf_inject_setting;

extern void dcf_inject_define_parameter(void);

/* Fire the action configured for point, if any (see above). */
extern void dcf_inject(const char *point);

/* Is an action configured for point that has not fired yet in this process? */
extern bool dcf_inject_armed(const char *point);

#endif							/* DCF_INJECT_H */
