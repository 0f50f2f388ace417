/*
 * dcf_assert.h — invariant checks that stay on in production builds.
 *
 * DCF_ASSERT(cond) evaluates cond in every build.  When it is false the
 * registered panic hook is called with the file, line and expression text.
 * The default hook prints to stderr and aborts; the PostgreSQL layer installs
 * one that ends in elog(PANIC), so a broken invariant stops the server with a
 * message in the log instead of corrupting data.  The hook must not return.
 */
#ifndef DCF_ASSERT_H
#define DCF_ASSERT_H

typedef void (*dcf_panic_hook_fn) (const char *file, int line, const char *msg);

extern void dcf_set_panic_hook(dcf_panic_hook_fn hook);
extern void dcf_panic(const char *file, int line, const char *msg)
			__attribute__((noreturn));

#define DCF_ASSERT(cond) \
	do { \
		if (__builtin_expect(!(cond), 0)) \
			dcf_panic(__FILE__, __LINE__, "assertion failed: " #cond); \
	} while (0)

#define DCF_PANIC(msg) dcf_panic(__FILE__, __LINE__, (msg))

#endif							/* DCF_ASSERT_H */
