/*
 * dcf_guard.h — the login gate, the commit guard and the reserved standby
 * name (dcf_guard.c).
 */
#ifndef DCF_GUARD_H
#define DCF_GUARD_H

/* the application_name of the WAL pump, in synchronous_standby_names */
#define DCF_STANDBY_NAME "dcf"

/* hex digits of the per-boot pump token, plus NUL */
#define DCF_PUMP_TOKEN_BYTES 33

/* dcf.pump_token: defined always (the dcf prefix is reserved) */
extern void dcf_guard_define_parameters(void);

/* the hooks, on an enabled node */
extern void dcf_guard_install(void);

#endif							/* DCF_GUARD_H */
