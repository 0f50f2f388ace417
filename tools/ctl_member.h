/*
 * ctl_member.h — `dcf_ctl member` and `dcf_ctl changerole` (tools/ctl_member.c).
 */
#ifndef DCF_CTL_MEMBER_H
#define DCF_CTL_MEMBER_H

/* argv[0] is "member" or "changerole"; returns the exit status (0, 1, 2). */
extern int	dcf_ctl_member(int argc, char **argv);

#endif							/* DCF_CTL_MEMBER_H */
