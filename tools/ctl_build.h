/*
 * ctl_build.h — `dcf_ctl build` (tools/ctl_build.c).
 */
#ifndef DCF_CTL_BUILD_H
#define DCF_CTL_BUILD_H

/* argv[0] is "build"; returns the exit status (0 built, 1 failed). */
extern int	dcf_ctl_build(int argc, char **argv);

#endif							/* DCF_CTL_BUILD_H */
