/*
 * ctl_util.h — small helpers shared by dcf_ctl's commands
 * (tools/ctl_util.c): running programs, files written durably,
 * postmaster.pid and the node's settings.  Helpers that talk to a server
 * through libpq are in ctl_conn.h.
 */
#ifndef DCF_CTL_UTIL_H
#define DCF_CTL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_PATH_MAX 4096

extern void ctl_error(const char *fmt,...) __attribute__((format(printf, 1, 2)));
/* ctl_error, then exit with status code. */
extern void ctl_die(int code, const char *fmt,...) __attribute__((format(printf, 2, 3), noreturn));
extern void ctl_info(const char *fmt,...) __attribute__((format(printf, 1, 2)));

/* The installed program prog beside dcf_ctl (postgres, pg_ctl, pg_rewind...). */
extern void ctl_bin_path(char *out, size_t cap, const char *prog);

/* Run argv and wait; its exit status, or -1. */
extern int	ctl_run(char *const argv[]);

/*
 * Run argv; its stdout (capture_stderr: and stderr) into out, NUL-ended,
 * also echoed to our stderr when echo.  Its exit status, or -1.
 */
extern int	ctl_run_output(char *const argv[], bool capture_stderr, bool echo, char *out, size_t cap);

/* First line of argv's stdout; true when it exited 0. */
extern bool ctl_run_line(char *const argv[], char *out, size_t cap);

/* Whole file (NUL-ended), or NULL. */
extern char *ctl_slurp(const char *path, size_t *len);

/* Write path durably: <path>.dcf_tmp, fsync, rename, fsync the directory. */
extern bool ctl_write_durable(const char *path, const void *buf, size_t len, unsigned mode);

/* fsync a directory (or the directory holding a file: parent_of). */
extern bool ctl_fsync_dir(const char *dir);
extern bool ctl_fsync_parent(const char *path);

/* Remove a directory and everything in it (one level of files). */
extern void ctl_remove_dir(const char *dir);

/* Value of "key=" in a key=value-per-line text (malloc'd), or NULL. */
extern char *ctl_marker_value(const char *text, const char *key);

/* "X/Y" → LSN. */
extern bool ctl_parse_lsn(const char *s, uint64_t *lsn);

/* Is pid a live process (not a zombie)? */
extern bool ctl_pid_alive(pid_t pid);

/*
 * The pid of the postmaster running in datadir (from postmaster.pid), or 0;
 * status (optional) gets its status line.
 */
extern pid_t ctl_server_pid(const char *datadir, char *status, size_t cap);

/* postmaster.pid: running and (optionally) its status line. */
extern bool ctl_server_running(const char *datadir, char *status, size_t cap);

/* postgres -D datadir -C name */
extern bool ctl_setting(const char *datadir, const char *name, char *out, size_t cap);

/* dcf.data_path of the node, absolute (postgres -C). */
extern bool ctl_data_path(const char *datadir, char *out, size_t cap);

/* pg_controldata's value for a label ("Database cluster state"), or false. */
extern bool ctl_controldata(const char *datadir, const char *label, char *out, size_t cap);

/* Fault injection for tests: DCF_CTL_INJECT=point:kill kills us at point. */
extern void ctl_inject(const char *point);
/* DCF_CTL_INJECT is exactly point:action */
extern bool ctl_inject_is(const char *point, const char *action);

#endif							/* DCF_CTL_UTIL_H */
