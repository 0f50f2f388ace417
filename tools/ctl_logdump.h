/*
 * ctl_logdump.h — `dcf_ctl log-dump`, the offline dump of a node's
 * consensus log (tools/ctl_logdump.c).
 */
#ifndef DCF_CTL_LOGDUMP_H
#define DCF_CTL_LOGDUMP_H

/*
 * argv[0] is "log-dump"; the options follow (see the usage text).  Prints
 * to stdout, errors to stderr.  Returns the process exit status: 0 when
 * the log would open (clean or with a torn tail to cut), 1 when it is
 * corrupt or cannot be read, 2 on a usage error.
 */
extern int	dcf_ctl_logdump(int argc, char **argv);

#endif							/* DCF_CTL_LOGDUMP_H */
