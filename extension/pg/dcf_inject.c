/*-------------------------------------------------------------------------
 *
 * dcf_inject.c
 *		Failure injection at named points of the worker, for tests; inert
 *		unless dcf.inject names the point.  See dcf_inject.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "pg/dcf_inject.h"

#define DCF_INJECT_FIRED_MAX 16

char	   *dcf_inject_setting = NULL;

static char fired[DCF_INJECT_FIRED_MAX][NAMEDATALEN];
static int	nfired = 0;

void
dcf_inject_define_parameter(void)
{
	DefineCustomStringVariable("dcf.inject",
							   "Failure injection for tests: point:action pairs, comma-separated.",
							   "Actions: stop, exit, crash, kill.  Empty (the default) disables every point.",
							   &dcf_inject_setting,
							   "",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE | GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}

/* The action configured for point, copied into action (empty: none). */
static bool
configured(const char *point, char *action, size_t cap)
{
	const char *s = dcf_inject_setting;
	size_t		plen = strlen(point);

	while (s && *s)
	{
		const char *end = strchr(s, ',');
		size_t		len = end ? (size_t) (end - s) : strlen(s);

		while (len > 0 && *s == ' ')
			s++, len--;
		if (len > plen && strncmp(s, point, plen) == 0 && s[plen] == ':')
		{
			size_t		alen = Min(len - plen - 1, cap - 1);

			memcpy(action, s + plen + 1, alen);
			action[alen] = '\0';
			while (alen > 0 && action[alen - 1] == ' ')
				action[--alen] = '\0';
			return true;
		}
		s = end ? end + 1 : NULL;
	}
	return false;
}

bool
dcf_inject_armed(const char *point)
{
	char		action[16];

	if (dcf_inject_setting == NULL || dcf_inject_setting[0] == '\0')
		return false;
	if (!configured(point, action, sizeof(action)))
		return false;
	for (int i = 0; i < nfired; i++)
		if (strcmp(fired[i], point) == 0)
			return false;
	return true;
}

void
dcf_inject(const char *point)
{
	char		action[16];

	if (!dcf_inject_armed(point) || !configured(point, action, sizeof(action)))
		return;
	if (nfired < DCF_INJECT_FIRED_MAX)
		strlcpy(fired[nfired++], point, NAMEDATALEN);

	ereport(LOG, (errmsg("dcf: injected failure at \"%s\": %s", point, action)));
	if (strcmp(action, "stop") == 0)
		raise(SIGSTOP);
	else if (strcmp(action, "exit") == 0)
		proc_exit(1);
	else if (strcmp(action, "crash") == 0)
		abort();
	else if (strcmp(action, "kill") == 0)
	{
		kill(PostmasterPid, SIGQUIT);
		for (;;)
			pg_usleep(100000L);
	}
	else
		ereport(WARNING, (errmsg("dcf: unknown injected action \"%s\" at \"%s\"", action, point),
						  errhint("Use stop, exit, crash or kill.")));
}
