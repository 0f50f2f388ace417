/*
 * dcf_host_sync.c — the consensus host's group commit (see dcf_host_int.h,
 * host_syncer): inline in the event loop, or for large group commits in a
 * thread of its own, whose completions wake the loop through an eventfd.
 * dcf_host.c reports what became durable to the core and sends the
 * messages that waited for it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "pg/dcf_host_int.h"

static void
sync_timed(dcf_host *h, dcf_rc *rc, char *errmsg)
{
	struct timespec t0,
				t1;
	uint64_t	us;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	*rc = dcf_log_sync(h->log, NULL, errmsg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (uint64_t) ((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
	if (h->syncer.on)
		pthread_mutex_lock(&h->syncer.mu);
	h->syncs++;
	h->sync_us_total += us;
	if (us > h->sync_us_max)
		h->sync_us_max = us;
	if (h->syncer.on)
		pthread_mutex_unlock(&h->syncer.mu);
}

/* The sync thread: one dcf_log_sync per batch of requests. */
static void *
sync_main(void *arg)
{
	dcf_host   *h = arg;
	host_syncer *s = &h->syncer;
	char		err[DCF_ERRMSG_MAX];

	pthread_mutex_lock(&s->mu);
	for (;;)
	{
		uint64_t	target;
		dcf_rc		rc;
		uint64_t	one = 1;
		ssize_t		wr;

		while (!s->stop && s->done == s->req)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		target = s->req;
		pthread_mutex_unlock(&s->mu);
		err[0] = '\0';
		sync_timed(h, &rc, err);
		pthread_mutex_lock(&s->mu);
		if (rc != DCF_OK && s->rc == DCF_OK)
		{
			s->rc = rc;
			snprintf(s->err, sizeof(s->err), "%s", err);
		}
		s->done = target;
		/* under mu: the loop drains it exactly when it sees this done */
		wr = write(s->efd, &one, sizeof(one));
		(void) wr;				/* fails only when the counter would overflow */
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

dcf_rc
host_syncer_start(dcf_host *h, char *errmsg)
{
	host_syncer *s = &h->syncer;
	sigset_t	all,
				old;
	int			r;

	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not create an eventfd for the sync thread: %s", strerror(errno));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	/* no signal is ever delivered to the thread: the server's handlers are the event loop's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->thread, NULL, sync_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
	{
		close(s->efd);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		s->efd = -1;
		return dcf_errf(errmsg, DCF_ERR_IO, "could not start the sync thread: %s", strerror(r));
	}
	s->on = true;
	return DCF_OK;
}

void
host_syncer_stop(dcf_host *h)
{
	host_syncer *s = &h->syncer;

	if (!s->on)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	close(s->efd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	s->on = false;
	s->efd = -1;
}

int
dcf_host_sync_fd(const dcf_host *h)
{
	return h->syncer.on ? h->syncer.efd : -1;
}

/*
 * One step of the group commit, called by dcf_host_flush until *synced is
 * false: sync what was appended (inline, or ask the thread), and set
 * *synced when a sync completed since the last step, so the caller reports
 * the durable index to the core.
 */
dcf_rc
host_sync_step(dcf_host *h, bool *synced, char *errmsg)
{
	host_syncer *s = &h->syncer;
	uint64_t	done;
	dcf_rc		rc;
	bool		inline_now = false;

	*synced = false;
	if (!s->on)
	{
		if (!h->need_sync)
			return DCF_OK;
		h->need_sync = false;
		sync_timed(h, &rc, errmsg);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "syncing the log");
		s->req++;
		s->seen = s->req;
		*synced = true;
		return DCF_OK;
	}

	pthread_mutex_lock(&s->mu);
	done = s->done;
	rc = s->rc;
	if (rc != DCF_OK)
		snprintf(errmsg, DCF_ERRMSG_MAX, "%s", s->err);
	if (done != s->seen)
	{
		uint64_t	cnt;
		ssize_t		rd;

		/* every completion up to done wrote the eventfd before it was counted */
		rd = read(s->efd, &cnt, sizeof(cnt));
		(void) rd;				/* EAGAIN only if the writes were drained already */
	}
	if (h->need_sync && rc == DCF_OK)
	{
		/*
		 * A small group commit with no sync running is done here: handing
		 * it to the thread and back costs a commit more latency than the
		 * fdatasync itself (pgbench, bench/RESULTS.md).
		 */
		h->need_sync = false;
		if (s->done == s->req && h->unsynced_bytes < DCF_HOST_SYNC_THREAD_MIN_BYTES)
			inline_now = true;
		else
		{
			s->req++;
			pthread_cond_signal(&s->cv);
		}
		h->unsynced_bytes = 0;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc != DCF_OK)
		return dcf_errwrap(errmsg, rc, "syncing the log");
	if (inline_now)
	{
		sync_timed(h, &rc, errmsg);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "syncing the log");
		/* the thread stays idle: done == req */
		pthread_mutex_lock(&s->mu);
		s->req++;
		s->done = s->req;
		done = s->done;
		pthread_mutex_unlock(&s->mu);
	}
	else if (done == s->seen)
		return DCF_OK;
	s->seen = done;
	*synced = true;
	return DCF_OK;
}
