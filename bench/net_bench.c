/*
 * net_bench.c — extension/net against plain TCP on loopback, in one run.
 *
 *   net_bench all [-r reps] [-m MiB] [-n round-trips]
 *       bulk throughput of 64 KiB messages (dcf_net: plain, lz4 on
 *       incompressible data, TLS) and round-trip time of 64-byte control
 *       messages, each next to a plain TCP socket pair doing the same work,
 *       measured alternately; prints medians and the ratios.
 *   net_bench lz4 [-c chunk_bytes] FILE...
 *       lz4 ratio and speed of the transport's own compression path
 *       (dcf_net_lz4_compress / _decompress) over files cut into
 *       message-sized chunks, e.g. WAL segments from bench/net_wal.sh.
 *
 * Each endpoint runs in its own process (fork), as two servers would, so
 * the two CPU cores work in parallel for both the baseline and dcf_net.
 * Baselines: a blocking TCP socket pair; 64 KiB write()s against 256 KiB
 * read()s for throughput; write(64)/read(64) ping-pong with TCP_NODELAY for
 * round trips.  dcf_net uses its normal API: dcf_net_send() until
 * DCF_ERR_FULL, dcf_net_pump() (poll + process + flush).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/net.h"
#include "net/net_compress.h"

#define BULK_MSG_BYTES		65536
#define RTT_MSG_BYTES		64
#define BENCH_TIMEOUT_MS	120000

static char dir[256];
static size_t bulk_queue_bytes;	/* 0: the endpoint's default */
static char key_path[300];
static char cert_path[2][300];
static char pkey_path[2][300];
static char ca_path[300];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static void
die(const char *what)
{
	fprintf(stderr, "net_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A free loopback port below the ephemeral range (see test_net_util.h). */
static uint16_t
free_port(void)
{
	static uint32_t x;

	if (x == 0)
		x = (uint32_t) getpid() * 2654435761u | 1;
	for (int tries = 0; tries < 1000; tries++)
	{
		struct sockaddr_in sa;
		int			s = socket(AF_INET, SOCK_STREAM, 0);
		uint16_t	port;
		int			ok;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		port = (uint16_t) (20000 + x % 12000);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons(port);
		ok = s >= 0 && bind(s, (struct sockaddr *) &sa, sizeof(sa)) == 0;
		if (s >= 0)
			close(s);
		if (ok)
			return port;
	}
	die("no free port");
	return 0;
}

/*
 * CPU seconds (user + system) of this process and of its waited-for
 * children: the sender runs here, the receiver in the child, so the deltas
 * around one run are each side's CPU, whatever else the machine is doing.
 */
static double last_cpu_send,
			last_cpu_recv;

static double
cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		(double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* ---- throwaway key and certificates ---------------------------------------- */

static void
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
		die(path);
	if (x)
		PEM_write_X509(f, x);
	if (k)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
}

static X509 *
make_cert(EVP_PKEY *k, const char *cn, X509 *issuer, EVP_PKEY *ik, int ca, long serial)
{
	X509	   *x = X509_new();
	X509V3_CTX	ctx;
	X509_EXTENSION *ext;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
							   (const unsigned char *) cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, ik ? ik : k, EVP_sha256());
	return x;
}

static void
setup_files(void)
{
	FILE	   *f;
	EVP_PKEY   *cak = EVP_EC_gen("P-256");
	X509	   *ca = make_cert(cak, "bench CA", NULL, NULL, 1, 1);

	snprintf(dir, sizeof(dir), "/tmp/dcf-bench-net-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(key_path, sizeof(key_path), "%s/cluster.key", dir);
	f = fopen(key_path, "w");
	fprintf(f, "bench-cluster-key-0123456789abcdef0123456789abcdef\n");
	fclose(f);
	chmod(key_path, 0600);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
	write_pem(ca_path, ca, NULL);
	for (int i = 0; i < 2; i++)
	{
		EVP_PKEY   *k = EVP_EC_gen("P-256");
		X509	   *x = make_cert(k, i ? "node2" : "node1", ca, cak, 0, 2 + i);

		snprintf(cert_path[i], sizeof(cert_path[i]), "%s/node%d.pem", dir, i + 1);
		snprintf(pkey_path[i], sizeof(pkey_path[i]), "%s/node%d.key", dir, i + 1);
		write_pem(cert_path[i], x, NULL);
		write_pem(pkey_path[i], NULL, k);
		X509_free(x);
		EVP_PKEY_free(k);
	}
	X509_free(ca);
	EVP_PKEY_free(cak);
}

static void
cleanup_files(void)
{
	char		cmd[400];

	if (strncmp(dir, "/tmp/dcf-bench-net-", 19) == 0)
	{
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

/* ---- dcf_net endpoints ------------------------------------------------------ */

#define EP_MAX_SOCKS 64

typedef struct ep
{
	dcf_net    *net;
	uint32_t	id;
	uint64_t	bulk_bytes;
	uint64_t	ctl_msgs;
	int			echo;			/* reply to every control message */
	/* the event loop, as the PostgreSQL worker runs it on a WaitEventSet */
	int			epfd;
	uint64_t	gen;			/* dcf_net_generation() the set was built for */
	int			nsocks;
	dcf_net_sock socks[EP_MAX_SOCKS];	/* what the set currently waits for */
} ep;

static void
ep_on_message(void *arg, const dcf_net_msg *m)
{
	ep		   *e = arg;

	if (m->cls == DCF_NET_BULK)
		e->bulk_bytes += m->len;
	else
	{
		e->ctl_msgs++;
		if (e->echo)
			dcf_net_send(e->net, m->from, DCF_NET_CONTROL, m->type, m->data, m->len, NULL);
	}
}

static void
ep_quiet_log(void *arg, dcf_net_log_level level, const char *line)
{
	if (level >= DCF_NET_LOG_WARNING)
		fprintf(stderr, "net_bench node %u: %s\n", ((ep *) arg)->id, line);
}

static void
ep_start(ep *e, uint32_t id, const uint16_t *ports, int tls, int lz4)
{
	dcf_net_options o;
	dcf_net_member m[2];
	char		err[DCF_ERRMSG_MAX];

	memset(e, 0, sizeof(*e));
	e->id = id;
	dcf_net_options_init(&o);
	o.self_id = id;
	o.auth_key_file = key_path;
	o.on_message = ep_on_message;
	o.on_message_arg = e;
	o.log = ep_quiet_log;
	o.log_arg = e;
	o.reconnect_min_ms = 10;
	o.reconnect_max_ms = 100;
	if (lz4)
		o.compress = DCF_NET_COMPRESS_LZ4;
	if (bulk_queue_bytes)
		o.queue_max_bytes[DCF_NET_BULK] = bulk_queue_bytes;
	if (tls)
	{
		o.ssl = 1;
		o.ssl_cert_file = cert_path[id - 1];
		o.ssl_key_file = pkey_path[id - 1];
		o.ssl_ca_file = ca_path;
	}
	if (dcf_net_create(&o, &e->net, err) != DCF_OK)
	{
		fprintf(stderr, "net_bench: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < 2; i++)
	{
		memset(&m[i], 0, sizeof(m[i]));
		m[i].node_id = (uint32_t) (i + 1);
		strcpy(m[i].ip, "127.0.0.1");
		m[i].port = ports[i];
	}
	if (dcf_net_set_members(e->net, m, 2, dcf_net_clock_ms(), err) != DCF_OK)
	{
		fprintf(stderr, "net_bench: %s\n", err);
		exit(1);
	}
}

static uint32_t
ep_bits(uint32_t ev)
{
	return ((ev & DCF_NET_READ) ? EPOLLIN : 0) | ((ev & DCF_NET_WRITE) ? EPOLLOUT : 0);
}

/*
 * One turn of the worker's loop: rebuild the wait set when the endpoint's
 * generation moved (PG15 cannot remove a socket from a WaitEventSet), else
 * modify the events that changed (ModifyWaitEvent); wait; process.
 */
static void
ep_pump(ep *e, int timeout_ms)
{
	dcf_net_sock now[EP_MAX_SOCKS];
	struct epoll_event evs[EP_MAX_SOCKS];
	dcf_net_sock ready[EP_MAX_SOCKS];
	int			n = dcf_net_socks(e->net, now, EP_MAX_SOCKS);
	int			t = dcf_net_timeout_ms(e->net, dcf_net_clock_ms());
	int			nr;

	if (n > EP_MAX_SOCKS)
	{
		fprintf(stderr, "net_bench: too many sockets\n");
		exit(1);
	}
	if (e->epfd <= 0 || e->gen != dcf_net_generation(e->net))
	{
		if (e->epfd > 0)
			close(e->epfd);
		e->epfd = epoll_create1(EPOLL_CLOEXEC);
		for (int i = 0; i < n; i++)
		{
			struct epoll_event ev = {.events = ep_bits(now[i].events),.data.fd = now[i].fd};

			if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, now[i].fd, &ev) != 0)
				die("epoll_ctl add");
		}
		e->gen = dcf_net_generation(e->net);
	}
	else
	{
		/* same generation: same fds in the same order, only events change */
		for (int i = 0; i < n; i++)
			if (now[i].events != e->socks[i].events)
			{
				struct epoll_event ev = {.events = ep_bits(now[i].events),.data.fd = now[i].fd};

				if (now[i].fd != e->socks[i].fd)
				{
					fprintf(stderr, "net_bench: fd order changed within a generation\n");
					exit(1);
				}
				if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, now[i].fd, &ev) != 0)
					die("epoll_ctl mod");
			}
	}
	memcpy(e->socks, now, sizeof(now[0]) * (size_t) n);
	e->nsocks = n;
	if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
		timeout_ms = t;
	do
		nr = epoll_wait(e->epfd, evs, EP_MAX_SOCKS, timeout_ms);
	while (nr < 0 && errno == EINTR);
	if (nr < 0)
		die("epoll_wait");
	for (int i = 0; i < nr; i++)
	{
		ready[i].fd = evs[i].data.fd;
		ready[i].events = ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? DCF_NET_READ : 0) |
			((evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ? DCF_NET_WRITE : 0);
	}
	dcf_net_process(e->net, ready, nr, dcf_net_clock_ms());
}

static void
ep_stop(ep *e)
{
	if (e->epfd > 0)
		close(e->epfd);
	dcf_net_destroy(e->net);
}

static void
ep_wait_connected(ep *e, uint32_t peer)
{
	double		end = now_s() + 10;

	for (;;)
	{
		dcf_net_peer_stats c,
					b;

		dcf_net_get_peer_stats(e->net, peer, DCF_NET_CONTROL, &c);
		dcf_net_get_peer_stats(e->net, peer, DCF_NET_BULK, &b);
		if (c.connected && b.connected)
			return;
		if (now_s() > end)
		{
			fprintf(stderr, "net_bench: node %u could not connect to %u\n", e->id, peer);
			exit(1);
		}
		ep_pump(e, 10);
	}
}

/* Incompressible bytes (xorshift), so lz4 runs show their worst case. */
static void
fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t	x = seed | 1;

	for (size_t i = 0; i < n; i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t) (x >> 24);
	}
}

/* Child: node 2 receives `total` bulk bytes, then tells node 1 with a control message. */
static void
net_tput_receiver(const uint16_t *ports, int tls, int lz4, uint64_t total)
{
	ep			e;
	uint8_t		done = 1;
	double		end;

	ep_start(&e, 2, ports, tls, lz4);
	ep_wait_connected(&e, 1);
	while (e.bulk_bytes < total)
		ep_pump(&e, 100);
	dcf_net_send(e.net, 1, DCF_NET_CONTROL, 2, &done, 1, NULL);
	end = now_s() + 5;
	while (e.ctl_msgs == 0 && now_s() < end)	/* node 1 answers when it has seen it */
		ep_pump(&e, 10);
	ep_stop(&e);
	_exit(0);
}

static double
net_tput(int tls, int lz4, uint64_t total)
{
	uint16_t	ports[2] = {free_port(), free_port()};
	pid_t		pid;
	ep			e;
	uint8_t    *msg = malloc(BULK_MSG_BYTES);
	uint64_t	queued = 0;
	double		t0,
				t1;
	int			st;

	double		c_self = cpu_s(RUSAGE_SELF),
				c_kids = cpu_s(RUSAGE_CHILDREN);

	fill_random(msg, BULK_MSG_BYTES, 12345);
	pid = fork();
	if (pid == 0)
		net_tput_receiver(ports, tls, lz4, total);
	ep_start(&e, 1, ports, tls, lz4);
	ep_wait_connected(&e, 2);
	t0 = now_s();
	while (e.ctl_msgs == 0)
	{
		while (queued < total &&
			   dcf_net_send(e.net, 2, DCF_NET_BULK, 1, msg, BULK_MSG_BYTES, NULL) == DCF_OK)
		{
			queued += BULK_MSG_BYTES;
			msg[0]++;			/* not the same bytes every time */
		}
		ep_pump(&e, 100);
		if (now_s() - t0 > BENCH_TIMEOUT_MS / 1000.0)
		{
			fprintf(stderr, "net_bench: throughput run timed out\n");
			exit(1);
		}
	}
	t1 = now_s();
	{
		uint8_t		ack = 1;

		dcf_net_send(e.net, 2, DCF_NET_CONTROL, 3, &ack, 1, NULL);
		dcf_net_flush(e.net, dcf_net_clock_ms());
	}
	waitpid(pid, &st, 0);
	ep_stop(&e);
	free(msg);
	last_cpu_send = cpu_s(RUSAGE_SELF) - c_self;
	last_cpu_recv = cpu_s(RUSAGE_CHILDREN) - c_kids;
	return (double) total / (t1 - t0);
}

/* ---- plain TCP baselines ------------------------------------------------------- */

static int
tcp_pair_listen(uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t	len = sizeof(sa);
	int			l = socket(AF_INET, SOCK_STREAM, 0);
	int			one = 1;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(l, 1) != 0 ||
		getsockname(l, (struct sockaddr *) &sa, &len) != 0)
		die("listen");
	*port = ntohs(sa.sin_port);
	return l;
}

static int
tcp_connect(uint16_t port, int nodelay)
{
	struct sockaddr_in sa;
	int			s = socket(AF_INET, SOCK_STREAM, 0);
	int			one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (connect(s, (struct sockaddr *) &sa, sizeof(sa)) != 0)
		die("connect");
	if (nodelay)
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return s;
}

static int
full_io(int fd, void *p, size_t n, int wr)
{
	uint8_t    *b = p;

	while (n > 0)
	{
		ssize_t		r = wr ? write(fd, b, n) : read(fd, b, n);

		if (r <= 0)
		{
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		b += r;
		n -= (size_t) r;
	}
	return 0;
}

static double
tcp_tput(uint64_t total)
{
	uint16_t	port;
	int			l = tcp_pair_listen(&port);
	double		c_self = cpu_s(RUSAGE_SELF),
				c_kids = cpu_s(RUSAGE_CHILDREN);
	pid_t		pid = fork();
	double		t0,
				t1;
	int			st;

	if (pid == 0)
	{
		/* receiver: read everything, answer one byte */
		int			s = accept(l, NULL, NULL);
		uint8_t    *buf = malloc(256 * 1024);
		uint64_t	got = 0;
		uint8_t		one = 1;

		while (got < total)
		{
			ssize_t		r = read(s, buf, 256 * 1024);

			if (r <= 0)
				_exit(1);
			got += (uint64_t) r;
		}
		full_io(s, &one, 1, 1);
		_exit(0);
	}
	close(l);
	{
		int			s = tcp_connect(port, 0);
		uint8_t    *msg = malloc(BULK_MSG_BYTES);
		uint8_t		ack;

		fill_random(msg, BULK_MSG_BYTES, 12345);
		t0 = now_s();
		for (uint64_t sent = 0; sent < total; sent += BULK_MSG_BYTES)
		{
			msg[0]++;
			if (full_io(s, msg, BULK_MSG_BYTES, 1) != 0)
				die("write");
		}
		if (full_io(s, &ack, 1, 0) != 0)
			die("read");
		t1 = now_s();
		close(s);
		free(msg);
	}
	waitpid(pid, &st, 0);
	last_cpu_send = cpu_s(RUSAGE_SELF) - c_self;
	last_cpu_recv = cpu_s(RUSAGE_CHILDREN) - c_kids;
	return (double) total / (t1 - t0);
}

/* round trips: returns mean microseconds; p50/p99 into *p50, *p99 */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double
summarize(double *rt, int n, double *p50, double *p99)
{
	double		sum = 0;

	for (int i = 0; i < n; i++)
		sum += rt[i];
	qsort(rt, (size_t) n, sizeof(double), cmp_double);
	*p50 = rt[n / 2];
	*p99 = rt[(int) ((double) n * 0.99)];
	if (getenv("NET_BENCH_TAIL"))
		fprintf(stderr, "# p90 %.1f p99 %.1f p99.9 %.1f max %.1f; share of time in the slowest 1%%: %.0f%%\n",
				rt[(int) (n * 0.9)], rt[(int) (n * 0.99)], rt[(int) (n * 0.999)], rt[n - 1],
				({ double t = 0; for (int i = (int) (n * 0.99); i < n; i++) t += rt[i]; 100 * t / sum; }));
	return sum / n;
}

static double
tcp_rtt(int n, double *p50, double *p99)
{
	uint16_t	port;
	int			l = tcp_pair_listen(&port);
	pid_t		pid = fork();
	double	   *rt = malloc(sizeof(double) * (size_t) n);
	double		mean;
	int			st;

	if (pid == 0)
	{
		int			s = accept(l, NULL, NULL);
		uint8_t		buf[RTT_MSG_BYTES];
		int			one = 1;

		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		for (int i = 0; i < n + 100; i++)
			if (full_io(s, buf, sizeof(buf), 0) != 0 || full_io(s, buf, sizeof(buf), 1) != 0)
				_exit(1);
		_exit(0);
	}
	close(l);
	{
		int			s = tcp_connect(port, 1);
		uint8_t		buf[RTT_MSG_BYTES];

		memset(buf, 1, sizeof(buf));
		for (int i = -100; i < n; i++)	/* 100 warm-up round trips */
		{
			double		t0 = now_s();

			if (full_io(s, buf, sizeof(buf), 1) != 0 || full_io(s, buf, sizeof(buf), 0) != 0)
				die("ping");
			if (i >= 0)
				rt[i] = (now_s() - t0) * 1e6;
		}
		close(s);
	}
	waitpid(pid, &st, 0);
	mean = summarize(rt, n, p50, p99);
	free(rt);
	return mean;
}

static double
net_rtt(int n, int tls, double *p50, double *p99)
{
	uint16_t	ports[2] = {free_port(), free_port()};
	pid_t		pid = fork();
	double	   *rt = malloc(sizeof(double) * (size_t) n);
	double		mean;
	int			st;

	if (pid == 0)
	{
		ep			e;

		ep_start(&e, 2, ports, tls, 0);
		e.echo = 1;
		ep_wait_connected(&e, 1);
		while (e.ctl_msgs < (uint64_t) n + 100)
			ep_pump(&e, 100);
		/* let the last echo leave, then wait for node 1 to go */
		for (int i = 0; i < 50; i++)
			ep_pump(&e, 10);
		ep_stop(&e);
		_exit(0);
	}
	{
		ep			e;
		uint8_t		buf[RTT_MSG_BYTES];

		memset(buf, 1, sizeof(buf));
		ep_start(&e, 1, ports, tls, 0);
		ep_wait_connected(&e, 2);
		for (int i = -100; i < n; i++)
		{
			uint64_t	want = e.ctl_msgs + 1;
			double		t0 = now_s();

			dcf_net_send(e.net, 2, DCF_NET_CONTROL, 1, buf, sizeof(buf), NULL);
			dcf_net_flush(e.net, dcf_net_clock_ms());
			while (e.ctl_msgs < want)
				ep_pump(&e, 1000);
			if (i >= 0)
				rt[i] = (now_s() - t0) * 1e6;
		}
		waitpid(pid, &st, 0);
		ep_stop(&e);
	}
	mean = summarize(rt, n, p50, p99);
	free(rt);
	return mean;
}

/* ---- driver ----------------------------------------------------------------------- */

static int
cmp_d(const void *a, const void *b)
{
	return cmp_double(a, b);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t) n, sizeof(double), cmp_d);
	return v[n / 2];
}

#define MAX_REPS 31

/*
 * Each round measures plain TCP and dcf_net back to back, so a ratio within
 * a round compares like with like even when other work on the machine comes
 * and goes; the reported ratio is the median of the per-round ratios.
 * Round-trip ratios compare medians (p50) of each run's round trips: the
 * mean is printed too, but one descheduling of either process moves it.
 */
static int
run_all(int reps, uint64_t mib, int rtts)
{
	uint64_t	total = mib << 20;
	double		tcp_t[MAX_REPS],
				net_t[MAX_REPS],
				lz4_t[MAX_REPS],
				tls_t[MAX_REPS],
				r_net_t[MAX_REPS],
				r_lz4_t[MAX_REPS],
				r_tls_t[MAX_REPS];
	double		tcp_mean[MAX_REPS],
				net_mean[MAX_REPS],
				tls_mean[MAX_REPS],
				r_net_mean[MAX_REPS];
	double		tcp_p50[MAX_REPS],
				net_p50[MAX_REPS],
				tls_p50[MAX_REPS],
				tcp_p99[MAX_REPS],
				net_p99[MAX_REPS],
				tls_p99[MAX_REPS],
				r_net_p50[MAX_REPS],
				r_tls_p50[MAX_REPS];
	double		tcp_cpu[MAX_REPS],
				net_cpu[MAX_REPS],
				r_cpu[MAX_REPS],
				tcp_cpu_s[MAX_REPS],
				tcp_cpu_r[MAX_REPS],
				net_cpu_s[MAX_REPS],
				net_cpu_r[MAX_REPS];
	double		gib = (double) total / (1 << 30);
	double		r_tput,
				r_rtt;

	printf("# loopback, %d rounds, %llu MiB of %d-byte messages per throughput run,\n"
		   "# %d round trips of %d-byte control messages per latency run; medians over rounds\n",
		   reps, (unsigned long long) mib, BULK_MSG_BYTES, rtts, RTT_MSG_BYTES);
	for (int i = 0; i < reps; i++)
	{
		tcp_t[i] = tcp_tput(total);
		tcp_cpu_s[i] = last_cpu_send * 1000 / gib;
		tcp_cpu_r[i] = last_cpu_recv * 1000 / gib;
		tcp_cpu[i] = tcp_cpu_s[i] + tcp_cpu_r[i];
		net_t[i] = net_tput(0, 0, total);
		net_cpu_s[i] = last_cpu_send * 1000 / gib;
		net_cpu_r[i] = last_cpu_recv * 1000 / gib;
		net_cpu[i] = net_cpu_s[i] + net_cpu_r[i];
		r_cpu[i] = net_cpu[i] / tcp_cpu[i];
		lz4_t[i] = net_tput(0, 1, total);
		tls_t[i] = net_tput(1, 0, total);
		r_net_t[i] = net_t[i] / tcp_t[i];
		r_lz4_t[i] = lz4_t[i] / tcp_t[i];
		r_tls_t[i] = tls_t[i] / tcp_t[i];
		tcp_mean[i] = tcp_rtt(rtts, &tcp_p50[i], &tcp_p99[i]);
		net_mean[i] = net_rtt(rtts, 0, &net_p50[i], &net_p99[i]);
		tls_mean[i] = net_rtt(rtts, 1, &tls_p50[i], &tls_p99[i]);
		r_net_p50[i] = net_p50[i] / tcp_p50[i];
		r_tls_p50[i] = tls_p50[i] / tcp_p50[i];
		r_net_mean[i] = net_mean[i] / tcp_mean[i];
		printf("# round %2d: MB/s tcp %5.0f dcf_net %5.0f (%.2f) lz4 %5.0f tls %5.0f | "
			   "cpu ms/GiB tcp %4.0f dcf_net %4.0f (%.2f) | "
			   "rtt p50 us tcp %5.1f dcf_net %5.1f (%.2f) tls %5.1f | mean tcp %5.1f dcf_net %5.1f\n",
			   i + 1, tcp_t[i] / 1e6, net_t[i] / 1e6, r_net_t[i], lz4_t[i] / 1e6, tls_t[i] / 1e6,
			   tcp_cpu[i], net_cpu[i], r_cpu[i],
			   tcp_p50[i], net_p50[i], r_net_p50[i], tls_p50[i], tcp_mean[i], net_mean[i]);
		fflush(stdout);
	}
	r_tput = median(r_net_t, reps);
	r_rtt = median(r_net_p50, reps);
	printf("bulk throughput   plain tcp     %6.0f MB/s\n", median(tcp_t, reps) / 1e6);
	printf("bulk throughput   dcf_net       %6.0f MB/s   ratio %.2f (target >= 0.70)\n",
		   median(net_t, reps) / 1e6, r_tput);
	printf("bulk throughput   dcf_net lz4   %6.0f MB/s   ratio %.2f (incompressible payload)\n",
		   median(lz4_t, reps) / 1e6, median(r_lz4_t, reps));
	printf("bulk throughput   dcf_net tls   %6.0f MB/s   ratio %.2f\n",
		   median(tls_t, reps) / 1e6, median(r_tls_t, reps));
	printf("bulk cpu          plain tcp     %6.0f ms/GiB (sender %.0f, receiver %.0f)\n",
		   median(tcp_cpu, reps), median(tcp_cpu_s, reps), median(tcp_cpu_r, reps));
	printf("bulk cpu          dcf_net       %6.0f ms/GiB (sender %.0f, receiver %.0f)   ratio %.2f\n",
		   median(net_cpu, reps), median(net_cpu_s, reps), median(net_cpu_r, reps),
		   median(r_cpu, reps));
	printf("round trip p50    plain tcp     %6.1f us     (p99 %.1f, mean %.1f)\n",
		   median(tcp_p50, reps), median(tcp_p99, reps), median(tcp_mean, reps));
	printf("round trip p50    dcf_net       %6.1f us     (p99 %.1f, mean %.1f)   ratio %.2f (target <= 1.50; mean ratio %.2f)\n",
		   median(net_p50, reps), median(net_p99, reps), median(net_mean, reps), r_rtt,
		   median(r_net_mean, reps));
	printf("round trip p50    dcf_net tls   %6.1f us     (p99 %.1f, mean %.1f)   ratio %.2f\n",
		   median(tls_p50, reps), median(tls_p99, reps), median(tls_mean, reps),
		   median(r_tls_p50, reps));
	printf("%s - bulk throughput ratio %.2f >= 0.70\n", r_tput >= 0.7 ? "ok" : "not ok", r_tput);
	printf("%s - round-trip ratio %.2f <= 1.50\n", r_rtt <= 1.5 ? "ok" : "not ok", r_rtt);
	return r_tput >= 0.7 && r_rtt <= 1.5 ? 0 : 1;
}

static int
run_lz4(size_t chunk, int nfiles, char **files)
{
	uint64_t	raw = 0,
				wire = 0,
				chunks = 0,
				raw_chunks = 0,
				unpacked = 0;
	double		tc = 0,
				td = 0;
	uint8_t    *z = malloc(dcf_net_lz4_bound(chunk));
	uint8_t    *back = malloc(chunk);

	for (int f = 0; f < nfiles; f++)
	{
		int			fd = open(files[f], O_RDONLY);
		struct stat st;
		uint8_t    *p;

		if (fd < 0 || fstat(fd, &st) != 0)
			die(files[f]);
		p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			die("mmap");
		for (off_t off = 0; off < st.st_size; off += (off_t) chunk)
		{
			size_t		n = (size_t) (st.st_size - off) < chunk ? (size_t) (st.st_size - off) : chunk;
			double		t0 = now_s();
			size_t		zn = dcf_net_lz4_compress(p + off, n, z, dcf_net_lz4_bound(chunk));
			double		t1 = now_s();

			tc += t1 - t0;
			chunks++;
			raw += n;
			if (zn == 0)
			{
				raw_chunks++;
				wire += n;
			}
			else
			{
				wire += zn;
				t0 = now_s();
				if (dcf_net_lz4_decompress(z, zn, back, n, NULL) != DCF_OK ||
					memcmp(back, p + off, n) != 0)
				{
					fprintf(stderr, "net_bench: lz4 round trip failed in %s\n", files[f]);
					return 1;
				}
				td += now_s() - t0;
				unpacked += n;
			}
		}
		munmap(p, (size_t) st.st_size);
		close(fd);
	}
	if (raw == 0)
	{
		fprintf(stderr, "net_bench: no input\n");
		return 1;
	}
	printf("lz4 on %d file(s), %llu MB in %llu chunks of %zu bytes: wire/raw %.3f (%.2fx smaller), "
		   "%llu chunks sent raw; compress %.0f MB/s, decompress %.0f MB/s\n",
		   nfiles, (unsigned long long) (raw / 1000000), (unsigned long long) chunks, chunk,
		   (double) wire / (double) raw, (double) raw / (double) wire,
		   (unsigned long long) raw_chunks, (double) raw / tc / 1e6,
		   (double) unpacked / (td > 0 ? td : 1) / 1e6);
	free(z);
	free(back);
	return 0;
}

int
main(int argc, char **argv)
{
	int			reps = 7;
	int			mib = 512;
	int			rtts = 5000;
	size_t		chunk = 65536;
	int			opt;
	int			rc;

	if (argc < 2)
	{
		fprintf(stderr, "usage: net_bench all [-r reps] [-m MiB] [-n round-trips] | lz4 [-c chunk] FILE...\n"
				"       net_bench one-tcp-tput|one-net-tput|one-tcp-rtt|one-net-rtt [-m MiB] [-n round-trips]\n");
		return 2;
	}
	optind = 2;
	while ((opt = getopt(argc, argv, "r:m:n:c:q:")) != -1)
	{
		switch (opt)
		{
			case 'r':
				reps = atoi(optarg);
				break;
			case 'm':
				mib = atoi(optarg);
				break;
			case 'n':
				rtts = atoi(optarg);
				break;
			case 'c':
				chunk = (size_t) atol(optarg);
				break;
			case 'q':
				bulk_queue_bytes = (size_t) atol(optarg) << 20;
				break;
			default:
				return 2;
		}
	}
	if (reps < 1 || reps > MAX_REPS || mib < 1 || rtts < 100 || chunk < 1 || chunk > DCF_FRAME_MAX_BYTES)
	{
		fprintf(stderr, "net_bench: bad arguments\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);	/* the plain tcp baseline writes with write() */
	if (strcmp(argv[1], "all") == 0)
	{
		setup_files();
		rc = run_all(reps, (uint64_t) mib, rtts);
		cleanup_files();
		return rc;
	}
	if (strcmp(argv[1], "lz4") == 0)
		return run_lz4(chunk, argc - optind, argv + optind);
	/* single measurements, for profilers */
	if (strncmp(argv[1], "one-", 4) == 0)
	{
		double		p50 = 0,
					p99 = 0,
					v;

		setup_files();
		if (strcmp(argv[1], "one-tcp-tput") == 0)
			v = tcp_tput((uint64_t) mib << 20) / 1e6;
		else if (strcmp(argv[1], "one-net-tput") == 0)
			v = net_tput(0, 0, (uint64_t) mib << 20) / 1e6;
		else if (strcmp(argv[1], "one-tcp-rtt") == 0)
			v = tcp_rtt(rtts, &p50, &p99);
		else
			v = net_rtt(rtts, 0, &p50, &p99);
		printf("%s: %.1f (p50 %.1f p99 %.1f)\n", argv[1], v, p50, p99);
		cleanup_files();
		return 0;
	}
	fprintf(stderr, "net_bench: unknown mode %s\n", argv[1]);
	return 2;
}
