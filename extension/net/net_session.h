/*
 * net_session.h — the protocol of one connection, without the socket.
 *
 * A session turns the bytes a connection receives into handshake steps and
 * delivered messages, and writes the handshake frames it must answer with
 * into an output buffer.  It does no I/O and reads no clock: nonces and the
 * TLS channel binding are inputs, so the fuzz targets and unit tests drive
 * exactly the code the endpoint runs.
 *
 * Handshake (one per connection; the dialer is the "client", and the dialer
 * is always the node with the lower id):
 *
 *   client                                     server (listener)
 *   HELLO {hs_version, class, client_id,
 *          server_id (whom it dialed), cn}  ->
 *                                              checks server_id == self,
 *                                              client_id is a member with
 *                                              a lower id than self
 *                                           <- CHALLENGE {server_id, sn,
 *                                                 Ms = MAC("listener", T)}
 *   checks server_id == the peer it dialed,
 *   Ms (proves the listener has the key)
 *   AUTH {Mc = MAC("dialer", T)}             ->
 *                                              checks Mc, membership again
 *                                           <- WELCOME
 *   MSG, PING ...                           <->  (messages delivered both ways)
 *
 * T = class || client_id || server_id || cn || sn || binding, where binding
 * is a TLS exporter value when the connection runs inside TLS (so a relay
 * between two TLS sessions cannot splice a proof from one into the other)
 * and empty otherwise.  Both nonces are fresh random bytes per connection, so
 * a recorded handshake is useless later.  The client sends its proof only
 * after it verified the server's, so a stranger listening at a member's
 * address learns nothing it could replay.
 *
 * Invariants: no MSG frame is delivered unless the session is OPEN; a server
 * session becomes OPEN only after a correct client proof from a node id that
 * is a member at that moment; a client session becomes OPEN only after a
 * correct server proof from the node it dialed.  Before OPEN no frame longer than
 * DCF_FRAME_HS_MAX_BYTES is accepted, so a stranger cannot make us allocate.
 * Once a session FAILED it stays failed.
 */
#ifndef DCF_NET_SESSION_H
#define DCF_NET_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"
#include "net/net_auth.h"
#include "net/net_buf.h"

#define DCF_SESS_HS_VERSION		1
#define DCF_SESS_BINDING_BYTES	32
#define DCF_SESS_HELLO_BYTES	44
#define DCF_SESS_CHALLENGE_BYTES (4 + DCF_NET_NONCE_BYTES + DCF_NET_MAC_BYTES)
#define DCF_SESS_AUTH_BYTES		DCF_NET_MAC_BYTES
#define DCF_SESS_NCLASSES		2

typedef enum dcf_sess_state
{
	DCF_SESS_CLIENT_WAIT_CHALLENGE,
	DCF_SESS_CLIENT_WAIT_WELCOME,
	DCF_SESS_SERVER_WAIT_HELLO,
	DCF_SESS_SERVER_WAIT_AUTH,
	DCF_SESS_OPEN,
	DCF_SESS_FAILED
} dcf_sess_state;

typedef struct dcf_sess dcf_sess;

/* What all sessions of one endpoint share. */
typedef struct dcf_sess_env
{
	const dcf_net_key *key;
	uint32_t	self_id;
	void	   *arg;			/* first argument of the callbacks */
	/* Is node_id in the current membership (and not self)? */
	int			(*is_member) (void *arg, uint32_t node_id);
	/* The handshake just succeeded. */
	void		(*on_open) (void *arg, dcf_sess *s);

	/*
	 * One message.  data is valid during the call.  Return nonzero to stop
	 * processing further input (the owner closed the connection from inside
	 * the callback).
	 */
	int			(*on_msg) (void *arg, dcf_sess *s, uint8_t type,
						   const uint8_t *data, size_t len);
	/* Decompression scratch, bounded by DCF_FRAME_MAX_BYTES. */
	dcf_netbuf *zbuf;
} dcf_sess_env;

struct dcf_sess
{
	const dcf_sess_env *env;
	void	   *owner;			/* the connection, for the callbacks */
	dcf_sess_state state;
	int			is_client;
	uint8_t		cls;			/* connection class (chosen by the client) */
	uint32_t	client_id;
	uint32_t	server_id;
	uint8_t		client_nonce[DCF_NET_NONCE_BYTES];
	uint8_t		server_nonce[DCF_NET_NONCE_BYTES];
	uint8_t		binding[DCF_SESS_BINDING_BYTES];
	int			has_binding;
	uint64_t	frames_in;		/* frames accepted once open (messages and pings) */
	uint64_t	msgs_in;		/* delivered messages */
	uint64_t	bytes_in;		/* delivered payload bytes (decompressed) */
	uint64_t	lz4_in;			/* delivered messages that were compressed */
};

/*
 * Start a client session: the dialer (self_id) wants node peer_id for class
 * cls.  Appends HELLO to out.  binding is NULL without TLS.
 */
extern dcf_rc dcf_sess_client_start(dcf_sess *s, const dcf_sess_env *env,
									void *owner, uint32_t peer_id, uint8_t cls,
									const uint8_t nonce[DCF_NET_NONCE_BYTES],
									const uint8_t *binding, dcf_netbuf *out);

/* Start a server session (an accepted connection). */
extern void dcf_sess_server_start(dcf_sess *s, const dcf_sess_env *env,
								  void *owner,
								  const uint8_t nonce[DCF_NET_NONCE_BYTES],
								  const uint8_t *binding);

/*
 * Consume whole frames from in[0..len): sets *consumed.  When the bytes after
 * *consumed are an incomplete frame, *need is the size of that frame (header
 * alone while the header is incomplete), else 0; the caller keeps the
 * unconsumed bytes and calls again with more.  Answers go to out.  On error
 * the session is FAILED and errmsg says why (the caller closes and logs).
 */
extern dcf_rc dcf_sess_input(dcf_sess *s, const uint8_t *in, size_t len,
							 size_t *consumed, size_t *need, dcf_netbuf *out,
							 char *errmsg);

/* The id of the node at the other end (valid once the hello was accepted). */
static inline uint32_t
dcf_sess_peer_id(const dcf_sess *s)
{
	return s->is_client ? s->server_id : s->client_id;
}

extern const char *dcf_sess_state_name(dcf_sess_state st);

#endif							/* DCF_NET_SESSION_H */
