/*
 * ctl_walfetch.h — `dcf_ctl restore-wal`, the restore_command dcf_ctl
 * start gives pg_rewind --restore-target-wal (tools/ctl_walfetch.c).
 */
#ifndef DCF_CTL_WALFETCH_H
#define DCF_CTL_WALFETCH_H

extern int	dcf_ctl_restore_wal(int argc, char **argv);

#endif							/* DCF_CTL_WALFETCH_H */
