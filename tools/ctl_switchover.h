/*
 * ctl_switchover.h — `dcf_ctl switchover` (tools/ctl_switchover.c).
 */
#ifndef DCF_CTL_SWITCHOVER_H
#define DCF_CTL_SWITCHOVER_H

/* argv[0] is "switchover"; returns the exit status (0, 1, 2). */
extern int	dcf_ctl_switchover(int argc, char **argv);

#endif							/* DCF_CTL_SWITCHOVER_H */
