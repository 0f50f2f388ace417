/*
 * tools/logdump/main.c — a stand-alone driver for `dcf_ctl log-dump`
 * (tools/ctl_logdump.c), built as build/dcf_logdump by tools/logdump.mk so
 * the dump can be used and tested without libpq.  It lives in a
 * subdirectory because dcf_ctl links every C file directly in tools/, and
 * this file has a main() of its own.
 *
 *   dcf_logdump -D DATADIR | --data-path=PATH [--from=N] [--count=N] [--summary]
 */
#include "../ctl_logdump.h"

int
main(int argc, char **argv)
{
	char	   *name = "log-dump";

	argv[0] = name;
	return dcf_ctl_logdump(argc, argv);
}
