/*
 * unit.h — a minimal TAP emitter for the C unit tests in regress/unit.
 *
 * Each test program includes this header, calls CHECK()/CHECKF() for every
 * assertion and ends with `return unit_done();`.  Output is TAP ("ok N - ..."
 * / "not ok N - ..."), which tools/run-tests.sh counts; the exit status is 1
 * when any check failed, so `make unit-check` fails too.
 *
 * Checks never stop the program: a failing check prints where it failed and
 * the test continues, so one run reports every broken assertion.
 */
#ifndef DCF_UNIT_H
#define DCF_UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int	unit_count;
static int	unit_failed;

static inline int
unit_check(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list		ap;

	unit_count++;
	if (!cond)
		unit_failed++;
	printf("%s %d - ", cond ? "ok" : "not ok", unit_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!cond)
		printf("  (at %s:%d)", file, line);
	printf("\n");
	fflush(stdout);
	return cond;
}

/* CHECK(cond, "description %d", args...) */
#define CHECK(cond, ...) unit_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/*
 * CHECK_QUIET: for checks inside loops of thousands of iterations: counts a
 * failure and prints it, but prints nothing on success.  Summarise the loop
 * with one CHECK afterwards.
 */
#define CHECK_QUIET(cond, ...) \
	do { \
		if (!(cond)) \
			unit_check(0, __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

static inline int
unit_done(void)
{
	printf("1..%d\n", unit_count);
	if (unit_failed)
		printf("# %d of %d checks failed\n", unit_failed, unit_count);
	return unit_failed ? 1 : 0;
}

#endif							/* DCF_UNIT_H */
