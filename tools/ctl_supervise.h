/*
 * ctl_supervise.h — `dcf_ctl supervise` and the supervisor side of
 * `dcf_ctl stop` (tools/ctl_supervise.c).
 */
#ifndef DCF_CTL_SUPERVISE_H
#define DCF_CTL_SUPERVISE_H

#include <stdbool.h>

#include "ctl_startstop.h"

/* Runs in the foreground until dcf_ctl stop, SIGTERM/SIGINT, or giving up. */
extern int	dcf_ctl_supervise(const CtlStartOptions *o);

/*
 * dcf_ctl stop for a supervised node: asks the supervisor to stop the node
 * and waits for it to end.  Sets *handled to false (and does nothing) when
 * no supervisor runs for the node; the caller then stops the node itself.
 */
extern int	dcf_ctl_stop_supervised(const CtlStartOptions *o, bool *handled);

#endif							/* DCF_CTL_SUPERVISE_H */
