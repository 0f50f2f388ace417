/*
 * net_sock.c — socket helpers; see net_sock.h.  Every call is
 * non-blocking and retries EINTR.
 */
#define _GNU_SOURCE				/* accept4 */
#include "net/net_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static dcf_rc
make_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss,
		  socklen_t *len, char *errmsg)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *) ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;

	memset(ss, 0, sizeof(*ss));
	if (ip == NULL)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "missing ip address");
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1)
	{
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return DCF_OK;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1)
	{
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return DCF_OK;
	}
	return dcf_errf(errmsg, DCF_ERR_INVALID,
					"\"%s\" is not a numeric ip address", ip);
}

dcf_rc
dcf_sock_check_ip(const char *ip, char *errmsg)
{
	struct sockaddr_storage ss;
	socklen_t	len;

	return make_addr(ip, 0, &ss, &len, errmsg);
}

dcf_rc
dcf_sock_listen(const char *ip, uint16_t port, int *fd, char *errmsg)
{
	struct sockaddr_storage ss;
	socklen_t	len;
	int			one = 1;
	int			s;
	dcf_rc		rc;

	*fd = -1;
	rc = make_addr(ip, port, &ss, &len, errmsg);
	if (rc != DCF_OK)
		return rc;
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not create socket: %s", strerror(errno));
	/* a restarted node must be able to listen while old connections linger in TIME_WAIT */
	(void) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *) &ss, len) != 0)
	{
		rc = dcf_errf(errmsg, DCF_ERR_IO, "could not bind %s:%u: %s", ip,
					  (unsigned) port, strerror(errno));
		close(s);
		return rc;
	}
	if (listen(s, DCF_NET_LISTEN_BACKLOG) != 0)
	{
		rc = dcf_errf(errmsg, DCF_ERR_IO, "could not listen on %s:%u: %s", ip,
					  (unsigned) port, strerror(errno));
		close(s);
		return rc;
	}
	*fd = s;
	return DCF_OK;
}

dcf_rc
dcf_sock_dial(const char *ip, uint16_t port, int *fd, int *in_progress,
			  char *errmsg)
{
	struct sockaddr_storage ss;
	socklen_t	len;
	int			s;
	int			r;
	dcf_rc		rc;

	*fd = -1;
	*in_progress = 0;
	rc = make_addr(ip, port, &ss, &len, errmsg);
	if (rc != DCF_OK)
		return rc;
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not create socket: %s", strerror(errno));
	do
		r = connect(s, (struct sockaddr *) &ss, len);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno != EINPROGRESS)
	{
		rc = dcf_errf(errmsg, DCF_ERR_IO, "connect: %s", strerror(errno));
		close(s);
		return rc;
	}
	*in_progress = r < 0;
	*fd = s;
	return DCF_OK;
}

dcf_rc
dcf_sock_connected(int fd, char *errmsg)
{
	int			err = 0;
	socklen_t	len = sizeof(err);
	struct sockaddr_storage me,
				peer;
	socklen_t	mlen = sizeof(me),
				plen = sizeof(peer);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "connect: %s", strerror(err));

	/*
	 * A dial to a local port nobody listens on can connect the socket to
	 * itself (TCP simultaneous open, when the kernel picks the target port
	 * as our source port); it would then hold the port its node wants to
	 * listen on.  Let go of it at once.
	 */
	if (getsockname(fd, (struct sockaddr *) &me, &mlen) == 0 &&
		getpeername(fd, (struct sockaddr *) &peer, &plen) == 0 &&
		mlen == plen && memcmp(&me, &peer, mlen) == 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "connect: connected to itself (nobody listens there)");
	return DCF_OK;
}

static void
addr_str(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char		ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET)
	{
		const struct sockaddr_in *a = (const struct sockaddr_in *) ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, n, "%s:%u", ip, (unsigned) ntohs(a->sin_port));
	}
	else if (ss->ss_family == AF_INET6)
	{
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, n, "[%s]:%u", ip, (unsigned) ntohs(a->sin6_port));
	}
	else
		snprintf(buf, n, "?");
}

dcf_rc
dcf_sock_accept(int lfd, int *fd, char *addr, size_t addrlen, char *errmsg)
{
	struct sockaddr_storage ss;
	socklen_t	len = sizeof(ss);
	int			s;

	*fd = -1;
	do
		s = accept4(lfd, (struct sockaddr *) &ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (s < 0 && errno == EINTR);
	if (s < 0)
	{
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
			return DCF_ERR_AGAIN;
		return dcf_errf(errmsg, DCF_ERR_IO, "accept: %s", strerror(errno));
	}
	addr_str(&ss, addr, addrlen);
	*fd = s;
	return DCF_OK;
}

void
dcf_sock_tune(int fd)
{
	int			one = 1;
	int			idle = DCF_NET_KEEPALIVE_IDLE_S;
	int			intvl = DCF_NET_KEEPALIVE_INTERVAL_S;
	int			cnt = DCF_NET_KEEPALIVE_COUNT;
	unsigned int utmo = DCF_NET_USER_TIMEOUT_MS;

	/* best effort: a missing option weakens dead-peer detection, nothing else */
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
#ifdef TCP_KEEPIDLE
	(void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
#endif
#ifdef TCP_USER_TIMEOUT
	(void) setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &utmo, sizeof(utmo));
#endif
	(void) idle;
	(void) intvl;
	(void) cnt;
	(void) utmo;
}

void
dcf_sock_peer_str(int fd, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t	len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *) &ss, &len) != 0)
	{
		snprintf(buf, n, "?");
		return;
	}
	addr_str(&ss, buf, n);
}

uint16_t
dcf_sock_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t	len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *) &ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *) &ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
	return 0;
}
