/*
 * ctl_runmode.h — `dcf_ctl setrunmode` (tools/ctl_runmode.c).
 */
#ifndef DCF_CTL_RUNMODE_H
#define DCF_CTL_RUNMODE_H

/* argv[0] is "setrunmode"; returns the exit status (0, 1, 2). */
extern int	dcf_ctl_setrunmode(int argc, char **argv);

#endif							/* DCF_CTL_RUNMODE_H */
