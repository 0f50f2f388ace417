/*
 * feeder_commands.c — what a WAL feeder client says before streaming: the
 * startup packet (an SSLRequest or GSSENCRequest is answered 'N'; protocol
 * version negotiation, AuthenticationOk, ParameterStatus, BackendKeyData)
 * and the replication commands of the simple query protocol: a small
 * tokenizer, IDENTIFY_SYSTEM, TIMELINE_HISTORY, and the parsing of
 * START_REPLICATION (which feeder_stream.c executes).
 *
 * Invariants kept here:
 *   - Only a connection that finished a valid replication startup packet
 *     becomes the active one and displaces the older active walreceiver
 *     connection (make_active), so a stray or malformed client never
 *     interrupts streaming: anything else is refused first.
 *   - A failed command answers an ErrorResponse and ReadyForQuery and the
 *     connection stays usable; a command's reply that does not fit the
 *     output buffer closes the connection.
 *   - Commands are parsed within fixed bounds (QUERY_MAX_TOKENS tokens of
 *     TOKEN_MAX_BYTES); a longer one is a syntax error.
 */
#include "pg/feeder_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Protocol constants (frontend/backend protocol 3.0). */
#define PROTO_MAJOR_3			3
#define PROTO_CODE(major, minor) (((uint32_t) (major) << 16) | (uint32_t) (minor))
#define CANCEL_REQUEST_CODE		PROTO_CODE(1234, 5678)
#define SSL_REQUEST_CODE		PROTO_CODE(1234, 5679)
#define GSSENC_REQUEST_CODE		PROTO_CODE(1234, 5680)

/* Replication command lexer bounds. */
#define QUERY_MAX_TOKENS		8
#define TOKEN_MAX_BYTES			128

/* ---- replication commands -------------------------------------------------- */

typedef struct token
{
	char		text[TOKEN_MAX_BYTES];
	bool		quoted;
} token;

/*
 * Split a replication command into words, "quoted identifiers" and ';'.
 * Returns the number of tokens, or -1 on a character or length the
 * replication grammar does not allow.
 */
static int
tokenize(const char *q, token *tok, int max)
{
	int			n = 0;

	for (;;)
	{
		size_t		len = 0;

		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q == '\0')
			return n;
		if (n == max)
			return -1;
		tok[n].quoted = false;
		if (*q == ';')
		{
			strcpy(tok[n].text, ";");
			q++;
		}
		else if (*q == '"')
		{
			q++;
			for (;;)
			{
				if (*q == '\0')
					return -1;
				if (*q == '"')
				{
					if (q[1] != '"')
						break;
					q++;
				}
				if (len + 1 >= TOKEN_MAX_BYTES)
					return -1;
				tok[n].text[len++] = *q++;
			}
			q++;
			tok[n].text[len] = '\0';
			tok[n].quoted = true;
		}
		else if (isalnum((unsigned char) *q) || *q == '_')
		{
			while (isalnum((unsigned char) *q) || *q == '_' || *q == '/')
			{
				if (len + 1 >= TOKEN_MAX_BYTES)
					return -1;
				tok[n].text[len++] = *q++;
			}
			tok[n].text[len] = '\0';
		}
		else
			return -1;
		n++;
	}
}

static bool
is_keyword(const token *t, const char *kw)
{
	return !t->quoted && strcasecmp(t->text, kw) == 0;
}

static bool
parse_uint32_dec(const char *s, uint32_t *v)
{
	uint64_t	acc = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return false;
		acc = acc * 10 + (uint64_t) (*s - '0');
		if (acc > UINT32_MAX)
			return false;
	}
	*v = (uint32_t) acc;
	return true;
}

static void
identify_system(dcf_feeder *f, feeder_conn *c)
{
	static const char *const names[4] = {"systemid", "timeline", "xlogpos", "dbname"};
	static const uint32_t types[4] = {OID_TEXT, OID_INT4, OID_TEXT, OID_TEXT};
	char		errmsg[DCF_ERRMSG_MAX];
	char		message[DCF_ERRMSG_MAX + 64];
	char		sysid[24];
	char		tlitext[16];
	char		pos[DCF_WALFILE_LSN_TEXT_BYTES];
	uint32_t	latest = 0;
	dcf_lsn		xlogpos = 0;
	msgbuf		m;

	if (feeder_source_position(f, &latest, &xlogpos, errmsg) != DCF_OK)
	{
		snprintf(message, sizeof(message), "could not determine the WAL position: %s", errmsg);
		feeder_command_error(f, c, "XX000", message, NULL, NULL);
		return;
	}
	snprintf(sysid, sizeof(sysid), "%llu", (unsigned long long) f->src.system_id);
	snprintf(tlitext, sizeof(tlitext), "%u", latest);
	lsn_text(pos, xlogpos);
	feeder_log(f, DCF_FEEDER_DEBUG, "WAL feeder client %llu: IDENTIFY_SYSTEM: timeline %u, xlogpos %s",
			   (unsigned long long) c->id, latest, pos);

	fw_msg_begin(c, &m, 'T');
	fw_row_description(&m, 4, names, types);
	if (!fw_msg_end(&m))
		goto overflow;
	fw_msg_begin(c, &m, 'D');
	fw_msg_u16(&m, 4);
	fw_msg_u32(&m, (uint32_t) strlen(sysid));
	fw_msg_bytes(&m, sysid, strlen(sysid));
	fw_msg_u32(&m, (uint32_t) strlen(tlitext));
	fw_msg_bytes(&m, tlitext, strlen(tlitext));
	fw_msg_u32(&m, (uint32_t) strlen(pos));
	fw_msg_bytes(&m, pos, strlen(pos));
	fw_msg_u32(&m, UINT32_MAX);	/* dbname: NULL, physical replication */
	if (!fw_msg_end(&m) || !fw_send_command_complete(c, "IDENTIFY_SYSTEM") || !fw_send_ready(c))
		goto overflow;
	return;

overflow:
	feeder_conn_overflow(f, c);
}

static void
timeline_history(dcf_feeder *f, feeder_conn *c, uint32_t tli)
{
	static const char *const names[2] = {"filename", "content"};
	static const uint32_t types[2] = {OID_TEXT, OID_BYTEA};
	char		errmsg[DCF_ERRMSG_MAX];
	char		fname[DCF_WALFILE_NAME_BYTES];
	size_t		len = 0;
	dcf_rc		rc;
	msgbuf		m;

	errmsg[0] = '\0';
	rc = tli < 2 ? dcf_errf(errmsg, DCF_ERR_NOTFOUND, "timeline 1 has no history file")
		: f->src.history(f->src.ctx, tli, f->histbuf, sizeof(f->histbuf), &len, errmsg);
	if (rc != DCF_OK && errmsg[0] == '\0')
		dcf_errf(errmsg, rc, "%s", dcf_rc_name(rc));
	if (rc == DCF_OK && len > sizeof(f->histbuf))
		rc = dcf_errf(errmsg, DCF_ERR_INVALID, "the source returned an oversized history");
	if (rc != DCF_OK)
	{
		char		message[DCF_ERRMSG_MAX + 64];

		snprintf(message, sizeof(message), "could not send the history file of timeline %u: %s",
				 tli, errmsg);
		feeder_command_error(f, c, rc == DCF_ERR_NOTFOUND ? "58P01" : "XX000", message, NULL, NULL);
		return;
	}
	dcf_walfile_history_name(fname, tli);
	feeder_log(f, DCF_FEEDER_LOG, "WAL feeder client %llu: TIMELINE_HISTORY %u (%zu bytes)",
			   (unsigned long long) c->id, tli, len);

	fw_msg_begin(c, &m, 'T');
	fw_row_description(&m, 2, names, types);
	if (!fw_msg_end(&m))
		goto overflow;
	fw_msg_begin(c, &m, 'D');
	fw_msg_u16(&m, 2);
	fw_msg_u32(&m, (uint32_t) strlen(fname));
	fw_msg_bytes(&m, fname, strlen(fname));
	/* raw bytes, as the walsender sends them */
	fw_msg_u32(&m, (uint32_t) len);
	fw_msg_bytes(&m, f->histbuf, len);
	if (!fw_msg_end(&m) || !fw_send_command_complete(c, "TIMELINE_HISTORY") || !fw_send_ready(c))
		goto overflow;
	return;

overflow:
	feeder_conn_overflow(f, c);
}

void
feeder_handle_query(dcf_feeder *f, feeder_conn *c, const char *q)
{
	token		tok[QUERY_MAX_TOKENS];
	int			n = tokenize(q, tok, QUERY_MAX_TOKENS);
	uint32_t	tli = 0;
	char		message[256];

	if (n > 0 && strcmp(tok[n - 1].text, ";") == 0 && !tok[n - 1].quoted)
		n--;
	if (n == 0)
	{
		msgbuf		m;

		fw_msg_begin(c, &m, 'I');	/* EmptyQueryResponse */
		if (!fw_msg_end(&m) || !fw_send_ready(c))
			feeder_conn_overflow(f, c);
		return;
	}
	if (n < 0)
		goto syntax;

	if (is_keyword(&tok[0], "IDENTIFY_SYSTEM") && n == 1)
	{
		identify_system(f, c);
		return;
	}
	if (is_keyword(&tok[0], "TIMELINE_HISTORY") && n == 2)
	{
		if (tok[1].quoted || !parse_uint32_dec(tok[1].text, &tli) || tli == 0)
		{
			snprintf(message, sizeof(message), "invalid timeline \"%s\"", tok[1].text);
			feeder_command_error(f, c, "42601", message, NULL, NULL);
			return;
		}
		timeline_history(f, c, tli);
		return;
	}
	if (is_keyword(&tok[0], "START_REPLICATION"))
	{
		const char *slot = NULL;
		dcf_lsn		start;
		int			i = 1;

		if (i < n && is_keyword(&tok[i], "SLOT"))
		{
			if (i + 1 >= n)
				goto syntax;
			slot = tok[i + 1].text;
			i += 2;
		}
		if (i < n && is_keyword(&tok[i], "LOGICAL"))
		{
			feeder_command_error(f, c, "0A000",
								 "the dcf WAL feeder serves physical replication only", NULL, NULL);
			return;
		}
		if (i < n && is_keyword(&tok[i], "PHYSICAL"))
			i++;
		if (i >= n || tok[i].quoted || !dcf_walfile_lsn_parse(tok[i].text, &start))
			goto syntax;
		i++;
		if (i < n)
		{
			if (!is_keyword(&tok[i], "TIMELINE") || i + 2 != n)
				goto syntax;
			if (tok[i + 1].quoted || !parse_uint32_dec(tok[i + 1].text, &tli) || tli == 0)
			{
				snprintf(message, sizeof(message), "invalid timeline \"%s\"", tok[i + 1].text);
				feeder_command_error(f, c, "42601", message, NULL, NULL);
				return;
			}
		}
		feeder_start_replication(f, c, slot, start, tli);
		return;
	}
	if (is_keyword(&tok[0], "CREATE_REPLICATION_SLOT") || is_keyword(&tok[0], "DROP_REPLICATION_SLOT") ||
		is_keyword(&tok[0], "READ_REPLICATION_SLOT") || is_keyword(&tok[0], "BASE_BACKUP") ||
		is_keyword(&tok[0], "SHOW"))
	{
		snprintf(message, sizeof(message), "%s is not supported by the dcf WAL feeder", tok[0].text);
		feeder_command_error(f, c, "0A000", message, NULL,
							 "The feeder serves IDENTIFY_SYSTEM, TIMELINE_HISTORY and START_REPLICATION.");
		return;
	}

syntax:
	feeder_command_error(f, c, "42601", "syntax error in replication command", NULL,
						 "The feeder serves IDENTIFY_SYSTEM, TIMELINE_HISTORY and START_REPLICATION.");
}

/* ---- startup --------------------------------------------------------------- */

static bool
is_true_word(const char *v)
{
	return strcasecmp(v, "true") == 0 || strcasecmp(v, "on") == 0 ||
		strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0;
}

/* Become the active connection, displacing an older one. */
static void
make_active(dcf_feeder *f, feeder_conn *c)
{
	int			idx = (int) (c - f->conn);

	if (f->active >= 0 && f->active != idx)
		feeder_conn_close(f, &f->conn[f->active], DCF_FEEDER_LOG, "replaced by a new walreceiver connection");
	f->active = idx;
}

/*
 * A complete startup packet of len bytes (already consumed).  Returns false when the
 * connection was refused or closed.
 */
bool
feeder_handle_startup(dcf_feeder *f, feeder_conn *c, const char *pkt, uint32_t len)
{
	uint32_t	code = dcf_wire_get_u32(pkt + 4);
	const char *p = pkt + 8;
	const char *end = pkt + len;
	const char *replication = NULL;
	const char *appname = NULL;
	const char *unrecognized[8];
	int			nunrecognized = 0;
	uint32_t	minor;
	msgbuf		m;
	int			i;

	if (code == SSL_REQUEST_CODE || code == GSSENC_REQUEST_CODE)
	{
		if (len != 8)
		{
			feeder_refuse(f, c, "08P01", NULL, "invalid length of %s packet",
						  code == SSL_REQUEST_CODE ? "SSLRequest" : "GSSENCRequest");
			return false;
		}
		/* no encryption on a local socket: 'N', then the real startup packet */
		if (!fw_raw_byte(c, 'N'))
		{
			feeder_conn_overflow(f, c);
			return false;
		}
		return true;
	}
	if (code == CANCEL_REQUEST_CODE)
	{
		feeder_conn_close(f, c, DCF_FEEDER_LOG, "cancel request ignored (nothing to cancel)");
		return false;
	}
	if ((code >> 16) != PROTO_MAJOR_3)
	{
		feeder_refuse(f, c, "0A000", NULL,
					  "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
					  code >> 16, code & 0xFFFF);
		return false;
	}
	minor = code & 0xFFFF;

	if (len < 9 || end[-1] != '\0')
	{
		feeder_refuse(f, c, "08P01", NULL, "invalid startup packet layout: expected terminator as last byte");
		return false;
	}
	/* name\0value\0 ... \0: end[-1] is the final terminator */
	while (*p != '\0')
	{
		const char *name = p;
		const char *name_end = memchr(p, '\0', (size_t) (end - p));
		const char *value;
		const char *value_end;

		if (name_end == end - 1)
		{
			feeder_refuse(f, c, "08P01", NULL, "invalid startup packet layout: parameter \"%.32s\" has no value", name);
			return false;
		}
		value = name_end + 1;
		value_end = memchr(value, '\0', (size_t) (end - value));
		if (value_end == end - 1)
		{
			feeder_refuse(f, c, "08P01", NULL, "invalid startup packet layout: expected terminator as last byte");
			return false;
		}
		if (strcmp(name, "replication") == 0)
			replication = value;
		else if (strcmp(name, "application_name") == 0)
			appname = value;
		else if (strncmp(name, "_pq_.", 5) == 0 && nunrecognized < 8)
			unrecognized[nunrecognized++] = name;
		p = value_end + 1;
	}
	if (p != end - 1)
	{
		feeder_refuse(f, c, "08P01", NULL, "invalid startup packet layout: expected terminator as last byte");
		return false;
	}

	if (appname)
	{
		size_t		j;

		/* printable ASCII only, as PostgreSQL cleans it */
		for (j = 0; j + 1 < sizeof(c->appname) && appname[j]; j++)
			c->appname[j] = (appname[j] >= 32 && appname[j] < 127) ? appname[j] : '?';
		c->appname[j] = '\0';
	}
	if (replication == NULL || strcasecmp(replication, "database") == 0 || !is_true_word(replication))
	{
		feeder_refuse(f, c, "0A000", "Connect with replication=true, as a walreceiver does.",
					  "the dcf WAL feeder accepts only physical replication connections");
		return false;
	}

	if (minor > 0 || nunrecognized > 0)
	{
		/* NegotiateProtocolVersion: we speak 3.0 and no _pq_ options */
		fw_msg_begin(c, &m, 'v');
		fw_msg_u32(&m, PROTO_CODE(3, 0));
		fw_msg_u32(&m, (uint32_t) nunrecognized);
		for (i = 0; i < nunrecognized; i++)
			fw_msg_str(&m, unrecognized[i]);
		if (!fw_msg_end(&m))
			goto overflow;
	}

	/* AuthenticationOk: the socket is mode 0600, only our OS user gets here */
	fw_msg_begin(c, &m, 'R');
	fw_msg_u32(&m, 0);
	if (!fw_msg_end(&m))
		goto overflow;
	if (!fw_send_parameter_status(c, "application_name", c->appname) ||
		!fw_send_parameter_status(c, "client_encoding", "UTF8") ||
		!fw_send_parameter_status(c, "DateStyle", "ISO, MDY") ||
		!fw_send_parameter_status(c, "integer_datetimes", "on") ||
		!fw_send_parameter_status(c, "IntervalStyle", "postgres") ||
		!fw_send_parameter_status(c, "server_encoding", "UTF8") ||
		!fw_send_parameter_status(c, "server_version", DCF_FEEDER_SERVER_VERSION) ||
		!fw_send_parameter_status(c, "standard_conforming_strings", "on"))
		goto overflow;
	/* BackendKeyData: cancel requests are ignored, any key will do */
	fw_msg_begin(c, &m, 'K');
	fw_msg_u32(&m, (uint32_t) getpid());
	fw_msg_u32(&m, (uint32_t) c->id);
	if (!fw_msg_end(&m) || !fw_send_ready(c))
		goto overflow;

	c->state = CONN_IDLE;
	make_active(f, c);
	feeder_log(f, DCF_FEEDER_LOG, "WAL feeder client %llu (\"%s\") connected",
			   (unsigned long long) c->id, c->appname);
	return true;

overflow:
	feeder_conn_overflow(f, c);
	return false;
}
