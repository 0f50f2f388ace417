/*
 * pump_harness.c — drives the WAL pump (extension/pg/pump.c) against a real
 * PostgreSQL primary, for regress/t/011_pump.pl.
 *
 * usage: pump_harness CONNINFO SLOT TLI START_LSN OUTFILE ACKFILE
 *
 * Streams WAL from START_LSN on timeline TLI, appends every chunk to OUTFILE
 * (as raw bytes, so the test can compare them with pg_wal), and reports as
 * the commit position min(received, limit) where limit is read from ACKFILE
 * (re-read every 50 ms; "all" = everything received, an LSN X/X, or absent
 * = 0).  Prints "streaming" once streaming and "received X/X" lines to
 * stdout.  Exits 1 with a message when the pump fails.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg/pump.h"

static FILE *out;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
on_wal(void *ctx, uint32_t tli, uint64_t start, const char *data, size_t len, size_t *accepted,
	   char *errmsg)
{
	if (fwrite(data, 1, len, out) != len || fflush(out) != 0)
	{
		snprintf(errmsg, DCF_PUMP_ERRMSG_MAX, "write failed: %s", strerror(errno));
		return 1;
	}
	return 0;
}

static uint64_t
parse_lsn(const char *s)
{
	unsigned	hi,
				lo;

	if (sscanf(s, "%X/%X", &hi, &lo) != 2)
		return 0;
	return ((uint64_t) hi << 32) | lo;
}

static uint64_t
read_limit(const char *path, uint64_t received)
{
	FILE	   *f = fopen(path, "r");
	char		buf[64] = "";

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (strncmp(buf, "all", 3) == 0)
		return received;
	return parse_lsn(buf);
}

int
main(int argc, char **argv)
{
	dcf_pump_callbacks cb = {NULL, on_wal};
	dcf_pump   *p;
	uint64_t	last_print = 0;
	int64_t		last_limit_read = 0;
	bool		said_streaming = false;

	if (argc != 7)
	{
		fprintf(stderr, "usage: %s CONNINFO SLOT TLI START_LSN OUTFILE ACKFILE\n", argv[0]);
		return 2;
	}
	out = fopen(argv[5], "wb");
	if (!out)
	{
		perror(argv[5]);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	p = dcf_pump_start(argv[1], argv[2][0] ? argv[2] : NULL, (uint32_t) atoi(argv[3]),
					   parse_lsn(argv[4]), parse_lsn(argv[4]), &cb);
	for (;;)
	{
		struct pollfd pfd;
		int64_t		t;

		if (dcf_pump_poll(p, now_us()) == DCF_PUMP_FAILED)
		{
			fprintf(stderr, "pump failed: %s\n", dcf_pump_error(p));
			return 1;
		}
		if (!said_streaming && dcf_pump_get_state(p) == DCF_PUMP_STREAMING)
		{
			printf("streaming\n");
			said_streaming = true;
		}
		if (dcf_pump_received_lsn(p) != last_print)
		{
			last_print = dcf_pump_received_lsn(p);
			printf("received %X/%X\n", (unsigned) (last_print >> 32), (unsigned) last_print);
		}
		t = now_us();
		if (t - last_limit_read > 50000)
		{
			dcf_pump_set_commit(p, read_limit(argv[6], dcf_pump_received_lsn(p)));
			last_limit_read = t;
		}
		pfd.fd = dcf_pump_socket(p);
		pfd.events = (dcf_pump_wants_read(p) ? POLLIN : 0) | (dcf_pump_wants_write(p) ? POLLOUT : 0);
		poll(&pfd, 1, 20);
	}
}
