/*
 * net_sock.h — the socket system calls of extension/net, non-blocking only.
 *
 * Addresses are numeric IPv4 or IPv6 literals (no name lookup: getaddrinfo
 * on a host name can block the event loop for seconds).  Every socket is
 * close-on-exec and non-blocking; connected sockets get TCP_NODELAY (the
 * transport batches on its own) and TCP keepalive with the limits below, so
 * a peer that vanished without a FIN is noticed even when nothing is sent.
 */
#ifndef DCF_NET_SOCK_H
#define DCF_NET_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"

#define DCF_NET_LISTEN_BACKLOG			64
#define DCF_NET_KEEPALIVE_IDLE_S		10	/* idle time before the first probe */
#define DCF_NET_KEEPALIVE_INTERVAL_S	3	/* between probes */
#define DCF_NET_KEEPALIVE_COUNT			3	/* unanswered probes before reset */
/* unacknowledged data older than this resets the connection (TCP_USER_TIMEOUT) */
#define DCF_NET_USER_TIMEOUT_MS			20000
/* "ip:port" or "[v6]:port" */
#define DCF_NET_ADDR_STR_MAX			80	/* 63-byte ip, brackets, port */

/* Check that ip is a numeric address literal. */
extern dcf_rc dcf_sock_check_ip(const char *ip, char *errmsg);

extern dcf_rc dcf_sock_listen(const char *ip, uint16_t port, int *fd,
							  char *errmsg);

/*
 * Start a non-blocking connect.  *fd is set on DCF_OK; *in_progress says the
 * connect completes later (wait for writability, then dcf_sock_connected()).
 */
extern dcf_rc dcf_sock_dial(const char *ip, uint16_t port, int *fd,
							int *in_progress, char *errmsg);

/* Result of a finished non-blocking connect (SO_ERROR). */
extern dcf_rc dcf_sock_connected(int fd, char *errmsg);

/* accept4 one connection: DCF_OK, DCF_ERR_AGAIN, or an error. */
extern dcf_rc dcf_sock_accept(int lfd, int *fd, char *addr, size_t addrlen,
							  char *errmsg);

extern void dcf_sock_tune(int fd);

/* "ip:port" of the remote end of fd ("?" if unknown). */
extern void dcf_sock_peer_str(int fd, char *buf, size_t n);

/* The port fd is bound to (0 if unknown). */
extern uint16_t dcf_sock_local_port(int fd);

#endif							/* DCF_NET_SOCK_H */
