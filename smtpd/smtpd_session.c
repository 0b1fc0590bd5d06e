/* SPDX-License-Identifier: MIT */
/*
 * smtpd_session.c - one SMTP session: greeting, command loop, dispatch
 *
 * Reads one command line at a time, looks the command up in the dispatch
 * table (which says in which states it is legal and whether it may come
 * before STARTTLS), and calls its handler. Owns the state changes, the
 * transaction reset, the error and junk counters (Postfix's
 * smtpd_soft/hard_error_limit, smtpd_junk_command_limit), the command
 * timeout, and the orderly 421 when master stops the service.
 * Not here: what the commands do (smtpd_cmd_*.c), who may send where
 * (smtpd_rcpt.c), the log line shapes (smtpd_log.c).
 *
 * Invariants: replies are buffered and go out when the session is about
 * to wait for input, so pipelined commands get their replies in one
 * batch (RFC 2920); nothing is read past a command line except by the
 * DATA/BDAT handlers, which read exactly their payload.
 */
#include "smtpd_session.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/arena.h"
#include "common/dns.h"
#include "common/log.h"
#include "common/net.h"
#include "common/params.h"
#include "common/queue_file.h"
#include "common/stream.h"
#include "common/str.h"
#include "smtpd_cmd.h"
#include "smtpd_log.h"

/* RFC 4954 4: an AUTH line with an initial response may be 12288
 * octets; other command lines are bounded by smtpd_line_length_limit. */
#define AUTH_LINE_MAX 12288
/* How often a session waiting for a command looks at service_stopping. */
#define STOP_POLL_MS 500
/* How long, and how much, a closing session reads to avoid a reset. */
#define LINGER_MS 1000
#define LINGER_MAX (4u << 20)

#define F_PRETLS 0x1u /* allowed before STARTTLS when TLS is required */
#define F_JUNK 0x2u   /* counts toward smtpd_junk_command_limit */

static const struct command {
	const char *name;
	enum smtpd_cmd_id id;
	smtpd_cmd_fn fn;
	unsigned states;
	unsigned flags;
	const char *badseq; /* 503 text when the state does not allow it */
} commands[] = {
	{"HELO", SMTPD_CMD_HELO, smtpd_cmd_helo, SMTPD_STATE_ANY, F_PRETLS,
	 NULL},
	{"EHLO", SMTPD_CMD_EHLO, smtpd_cmd_ehlo, SMTPD_STATE_ANY, F_PRETLS,
	 NULL},
	{"STARTTLS", SMTPD_CMD_STARTTLS, smtpd_cmd_starttls,
	 SMTPD_STATE_GREET | SMTPD_STATE_READY, F_PRETLS,
	 "Error: MAIL transaction in progress"},
	{"AUTH", SMTPD_CMD_AUTH, smtpd_cmd_auth, SMTPD_STATE_ANY, 0, NULL},
	{"MAIL", SMTPD_CMD_MAIL, smtpd_cmd_mail,
	 SMTPD_STATE_GREET | SMTPD_STATE_READY, 0,
	 "Error: nested MAIL command"},
	{"RCPT", SMTPD_CMD_RCPT, smtpd_cmd_rcpt,
	 SMTPD_STATE_MAIL | SMTPD_STATE_RCPT, 0, "Error: need MAIL command"},
	{"DATA", SMTPD_CMD_DATA, smtpd_cmd_data,
	 SMTPD_STATE_MAIL | SMTPD_STATE_RCPT, 0, "Error: need MAIL command"},
	{"BDAT", SMTPD_CMD_BDAT, smtpd_cmd_bdat, SMTPD_STATE_ANY, 0, NULL},
	{"RSET", SMTPD_CMD_RSET, smtpd_cmd_rset, SMTPD_STATE_ANY,
	 F_PRETLS | F_JUNK, NULL},
	{"NOOP", SMTPD_CMD_NOOP, smtpd_cmd_noop, SMTPD_STATE_ANY,
	 F_PRETLS | F_JUNK, NULL},
	{"VRFY", SMTPD_CMD_VRFY, smtpd_cmd_vrfy, SMTPD_STATE_ANY, F_JUNK,
	 NULL},
	{"EXPN", SMTPD_CMD_EXPN, smtpd_cmd_expn, SMTPD_STATE_ANY, F_JUNK,
	 NULL},
	{"HELP", SMTPD_CMD_HELP, smtpd_cmd_help, SMTPD_STATE_ANY,
	 F_PRETLS | F_JUNK, NULL},
	{"QUIT", SMTPD_CMD_QUIT, smtpd_cmd_quit, SMTPD_STATE_ANY, F_PRETLS,
	 NULL},
};

/* Commands of RFC 821/5321 and friends that Posthorn does not do: 502,
 * not 500, since they are known. */
static const char *const unimplemented[] = {
	"TURN", "ETRN", "ATRN", "SEND", "SOML", "SAML", "VERB", "XCLIENT",
	"XFORWARD",
};
/* The first word of HTTP and other protocols: a client that sends them
 * is not speaking SMTP (a web browser pointed at port 25, or an attack
 * through a proxy), and is told so and dropped, as Postfix does. */
static const char *const non_smtp[] = {
	"GET", "POST", "PUT", "HEAD", "CONNECT", "OPTIONS", "DELETE",
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- replies ----------------------------------------------------------- */

static void write_reply(struct smtpd_session *s, const char *head,
			const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void write_reply(struct smtpd_session *s, const char *head,
			const char *fmt, va_list ap)
{
	char text[1024];
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	/* Client text echoed in replies (addresses, HELO names) was
	 * checked for controls already; this keeps a reply one line
	 * whatever a bug might pass through. */
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 32)
			*p = '?';
	(void)stream_printf(s->st, "%s%s\r\n", head, text);
}

static void error_pause(struct smtpd_session *s)
{
	if (++s->errors <= params->smtpd_soft_error_limit ||
	    params->smtpd_error_sleep_time <= 0)
		return;
	/* Postfix's tarpit: a client that keeps failing is slowed. */
	(void)stream_flush(s->st);
	struct timespec ts = {.tv_sec = params->smtpd_error_sleep_time};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR &&
	       !service_stopping())
		;
}

static void reply(struct smtpd_session *s, bool count, int code,
		  const char *dsn, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static void reply(struct smtpd_session *s, bool count, int code,
		  const char *dsn, const char *fmt, va_list ap)
{
	char head[32];
	if (count && code >= 400 && code != 421)
		error_pause(s);
	(void)snprintf(head, sizeof(head), "%d %s%s", code, dsn ? dsn : "",
		       dsn ? " " : "");
	write_reply(s, head, fmt, ap);
}

void smtpd_reply(struct smtpd_session *s, int code, const char *dsn,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply(s, true, code, dsn, fmt, ap);
	va_end(ap);
}

void smtpd_reply_free(struct smtpd_session *s, int code, const char *dsn,
		      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply(s, false, code, dsn, fmt, ap);
	va_end(ap);
}

void smtpd_reply_part(struct smtpd_session *s, int code, bool last,
		      const char *fmt, ...)
{
	char head[8];
	va_list ap;
	(void)snprintf(head, sizeof(head), "%d%c", code, last ? ' ' : '-');
	va_start(ap, fmt);
	write_reply(s, head, fmt, ap);
	va_end(ap);
}

void smtpd_reject(struct smtpd_session *s, const struct smtpd_verdict *v,
		  const char *from, const char *to)
{
	smtpd_log_reject(s, v, from, to);
	smtpd_reply(s, v->code, v->dsn, "%s", v->text);
}

/* ---- state ------------------------------------------------------------- */

void smtpd_state_set(struct smtpd_session *s, enum smtpd_state st)
{
	log_debug(2, "%s: state %d -> %d", s->namaddr, s->state, st);
	s->state = st;
}

void smtpd_tx_reset(struct smtpd_session *s)
{
	struct smtpd_tx *t = &s->tx;
	queue_file_abort(&t->qf);
	arena_reset(t->arena);
	struct arena *a = t->arena;
	memset(t, 0, sizeof(*t));
	t->arena = a;
	buf_reset(&s->out);
	if (s->state & (SMTPD_STATE_MAIL | SMTPD_STATE_RCPT))
		smtpd_state_set(s, s->helo[0] ? SMTPD_STATE_READY
					      : SMTPD_STATE_GREET);
}

void smtpd_who(const struct smtpd_session *s, struct smtpd_who *w)
{
	w->client_addr = s->addr;
	w->local_addr = s->client->local.addr;
	w->mynetworks = s->mynetworks;
	w->sasl_user = s->sasl_user;
	bool mail = s->state & (SMTPD_STATE_MAIL | SMTPD_STATE_RCPT);
	w->sender = mail ? &s->tx.sender_addr : NULL;
	w->sender_text = mail ? s->tx.sender : NULL;
}

const char *smtpd_protocol(const struct smtpd_session *s)
{
	static const char *const names[2][4] = {
		{"ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA"},
		{"UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA"},
	};
	if (!s->esmtp)
		return "SMTP";
	return names[s->tx.mp.smtputf8][(s->tls ? 1 : 0) +
					(s->sasl_user ? 2 : 0)];
}

const char *smtpd_queue_id(const struct smtpd_session *s)
{
	return s->tx.qf ? queue_file_id(s->tx.qf) : "NOQUEUE";
}

void smtpd_stream_failed(struct smtpd_session *s)
{
	enum stream_error err = stream_error(s->st);
	smtpd_log_stream_error(s, err);
	if (err == STREAM_ERR_TIMEOUT && !stream_tls(s->st)) {
		/* The stream's errors are sticky, but a plaintext channel
		 * can still carry a last word, sent without waiting. */
		char msg[160];
		int n = snprintf(msg, sizeof(msg),
				 "421 4.4.2 %s Error: timeout exceeded\r\n",
				 params->myhostname);
		if (n > 0 && (size_t)n < sizeof(msg))
			(void)send(stream_fd(s->st), msg, (size_t)n,
				   MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	s->quit = true;
}

/* ---- the client ---------------------------------------------------------- */

/*
 * Reverse lookup confirmed by a forward lookup (Postfix's "verified"
 * name); "unknown" otherwise. Through c-ares with dns_servers and a
 * per-query limit, so an unreachable resolver costs the client seconds,
 * not resolv.conf's minutes. The resolver lives as long as the process
 * (it serves max_use clients) and is made in it, never inherited.
 */
static void peer_name(struct smtpd_session *s)
{
	static struct dns_resolver *resolver;
	(void)snprintf(s->name, sizeof(s->name), "unknown");
	if (!params->smtpd_peername_lookup || !s->client->inet)
		return;
	if (!resolver) {
		struct err e;
		struct dns_config cfg = {
			.servers = &params->dns_servers,
			.timeout_ms = params->smtpd_peername_timeout * 1000,
		};
		resolver = dns_resolver_new(&cfg, NULL, &e);
		if (!resolver) {
			log_warn("client hostname lookups disabled: %s", e.msg);
			return;
		}
	}
	struct dns_result ptr, fwd;
	dns_result_init(&ptr);
	dns_result_init(&fwd);
	if (dns_lookup_ptr(resolver, s->addr, &ptr) == DNS_OK) {
		for (size_t i = 0; i < ptr.nnames && !strcmp(s->name, "unknown");
		     i++) {
			const char *host = ptr.names[i];
			if (strlen(host) >= sizeof(s->name) ||
			    dns_lookup_addr(resolver, host,
					    DNS_FAMILY_V4 | DNS_FAMILY_V6,
					    &fwd) != DNS_OK)
				continue;
			for (size_t j = 0; j < fwd.naddr; j++)
				if (strcmp(fwd.addr[j].text, s->addr) == 0) {
					(void)snprintf(s->name,
						       sizeof(s->name), "%s",
						       host);
					break;
				}
			dns_result_deinit(&fwd);
		}
	}
	dns_result_deinit(&ptr);
	dns_result_deinit(&fwd);
}

static void session_setup(struct smtpd_session *s, struct service_client *c)
{
	memset(s, 0, sizeof(*s));
	s->client = c;
	s->clients_slot = -1;
	s->st = stream_new(c->fd);
	stream_keep_fd(s->st); /* the skeleton closes it */
	/* An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d;
	 * log and match it as the IPv4 address it is. */
	const char *a = c->peer.addr;
	if (strncmp(a, "::ffff:", 7) == 0 && strchr(a + 7, '.'))
		a += 7;
	(void)snprintf(s->addr, sizeof(s->addr), "%s", a);
	(void)anvil_key_addr(&s->client_key, s->addr); /* else not counted */
	peer_name(s);
	(void)snprintf(s->namaddr, sizeof(s->namaddr), "%s[%s]", s->name,
		       s->addr);
	s->mynetworks = net_addr_in_list(s->addr, &params->mynetworks);
	if (smtpd_bare_mode_parse(params->smtpd_forbid_bare_newline,
				  &s->bare_mode) < 0) {
		log_warn("smtpd_forbid_bare_newline: unknown value \"%s\"; "
			 "using normalize",
			 params->smtpd_forbid_bare_newline);
		s->bare_mode = SMTPD_BARE_NORMALIZE;
	}
	if (net_addr_in_list(s->addr,
			     &params->smtpd_forbid_bare_newline_exclusions))
		s->bare_mode = SMTPD_BARE_NO;
	s->state = SMTPD_STATE_GREET;
	s->where = "CONNECT";
	s->tls_required = smtpd_tls_required();
	s->tx.arena = arena_new();
	buf_init(&s->line, 0);
	buf_init(&s->out, 0);
	smtpd_auth_session_new(s);
}

/*
 * Closing a socket that still has unread input makes the kernel send a
 * reset, which can destroy our last reply (a 421 after a pipelined flood)
 * before the client reads it. So on plaintext: say goodbye, shut down our
 * side, and read and drop what the client still sends, for a moment.
 */
static void linger_close(struct smtpd_session *s)
{
	int fd = stream_fd(s->st);
	struct pollfd now = {.fd = fd, .events = POLLIN};
	if (stream_tls(s->st) || stream_error(s->st) != STREAM_OK)
		return;
	/* Nothing unread: an ordinary close cannot reset anything. */
	if (stream_pending(s->st) == 0 && poll(&now, 1, 0) <= 0)
		return;
	if (shutdown(fd, SHUT_WR) < 0)
		return;
	(void)stream_discard_input(s->st);
	int64_t end = mono_ms() + LINGER_MS;
	char junk[16384];
	for (size_t total = 0; total < LINGER_MAX;) {
		int64_t left = end - mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

static void session_teardown(struct smtpd_session *s)
{
	smtpd_tx_reset(s);
	arena_free(&s->tx.arena);
	smtpd_auth_session_free(s);
	buf_deinit(&s->line);
	buf_deinit(&s->out);
	if (stream_flush(s->st) == 0)
		linger_close(s);
	stream_free(&s->st);
}

/* ---- reading commands ---------------------------------------------------- */

/*
 * Waits for the next command line within smtpd_timeout, in short slices
 * so a stopping service answers 421 instead of waiting out the client
 * (SIGTERM does not interrupt the stream's waits). 1 with the line in
 * s->line (terminator removed), 0 when the line was unusable and
 * answered, -1 when the session must end.
 */
static int read_command(struct smtpd_session *s)
{
	long timeout_ms = params->smtpd_timeout * 1000;
	int64_t deadline = mono_ms() + timeout_ms;
	stream_set_timeout(s->st, (int)timeout_ms);
	while (stream_pending(s->st) == 0) {
		if (service_stopping()) {
			smtpd_reply(s, 421, "4.3.2",
				    "%s Service shutting down, closing "
				    "transmission channel",
				    params->myhostname);
			log_info("disconnect on shutdown after %s from %s",
				 s->where, s->namaddr);
			return -1;
		}
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			/* Idle past smtpd_timeout: the stream is still
			 * sound, so the 421 goes out the normal way. */
			smtpd_log_stream_error(s, STREAM_ERR_TIMEOUT);
			smtpd_reply(s, 421, "4.4.2",
				    "%s Error: timeout exceeded",
				    params->myhostname);
			return -1;
		}
		int r = stream_wait_readable(s->st, -1,
					     left < STOP_POLL_MS ? (int)left
								 : STOP_POLL_MS);
		if (r < 0)
			break;
		if (r & STREAM_READY_INPUT)
			break;
	}
	size_t max = params->smtpd_line_length_limit;
	if (max < AUTH_LINE_MAX)
		max = AUTH_LINE_MAX;
	enum stream_eol eol;
	if (stream_read_line(s->st, &s->line, max, &eol) < 0) {
		if (stream_error(s->st) == STREAM_ERR_TOO_LONG) {
			smtpd_reply(s, 500, "5.5.0", "Error: line too long");
			return 0;
		}
		smtpd_stream_failed(s);
		return -1;
	}
	if (eol == STREAM_EOL_NONE) {
		/* A partial line and then EOF: the client is gone. */
		smtpd_log_stream_error(s, STREAM_ERR_EOF);
		return -1;
	}
	buf_truncate(&s->line, s->line.len - (eol == STREAM_EOL_CRLF ? 2 : 1));
	if (eol == STREAM_EOL_LF && s->bare_mode == SMTPD_BARE_REJECT) {
		smtpd_reply(s, 500, "5.5.2", "Error: bare <LF> received");
		return 0;
	}
	return 1;
}

/* ---- dispatch ----------------------------------------------------------- */

static bool in_list(const char *const *list, size_t n, const char *w,
		    size_t wl)
{
	for (size_t i = 0; i < n; i++)
		if (strn_eq_nocase(w, wl, list[i]))
			return true;
	return false;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void dispatch(struct smtpd_session *s)
{
	const char *p = s->line.data;
	size_t len = s->line.len;
	/* RFC 5321 2.4: commands are ASCII; NUL and other controls are
	 * never part of one (a NUL could truncate what is logged). */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 32 && p[i] != '\t') {
			s->total[SMTPD_CMD_UNKNOWN]++;
			smtpd_reply(s, 500, "5.5.2", "Error: bad syntax");
			return;
		}
	size_t wl = 0;
	while (wl < len && p[wl] != ' ')
		wl++;
	const char *arg = wl < len ? p + wl + 1 : p + len;
	size_t alen = wl < len ? len - wl - 1 : 0;
	const struct command *cmd = NULL;
	for (size_t i = 0; i < NELEM(commands); i++)
		if (strn_eq_nocase(p, wl, commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		s->total[SMTPD_CMD_UNKNOWN]++;
		s->where = "UNKNOWN";
		if (in_list(non_smtp, NELEM(non_smtp), p, wl)) {
			char q[64];
			log_warn("non-SMTP command from %s: %s", s->namaddr,
				 log_quote(q, sizeof(q), p, len));
			smtpd_reply(s, 521, "5.7.0",
				    "Error: SMTP protocol expected");
			s->quit = true;
		} else if (in_list(unimplemented, NELEM(unimplemented), p, wl))
			smtpd_reply(s, 502, "5.5.1",
				    "Error: command not implemented");
		else
			smtpd_reply(s, 500, "5.5.2",
				    "Error: command not recognized");
		return;
	}
	s->where = cmd->name;
	s->total[cmd->id]++;
	if ((cmd->flags & F_JUNK) &&
	    ++s->junk > params->smtpd_junk_command_limit)
		s->errors++; /* Postfix: junk past the limit is an error */
	if (s->tls_required && !s->tls && !(cmd->flags & F_PRETLS)) {
		smtpd_reply(s, 530, "5.7.0",
			    "Must issue a STARTTLS command first");
		return;
	}
	if (!(cmd->states & s->state)) {
		smtpd_reply(s, 503, "5.5.1", "%s", cmd->badseq);
		return;
	}
	if (cmd->fn(s, arg, alen) == 0)
		s->ok[cmd->id]++;
}

static bool connection_allowed(struct smtpd_session *s)
{
	if (service_stopping()) {
		smtpd_reply(s, 421, "4.3.2", "%s Service shutting down",
			    params->myhostname);
		return false;
	}
	/* Clients in smtpd_client_connection_exceptions are counted but
	 * never refused. */
	unsigned limit =
		(unsigned)params->smtpd_client_connection_count_limit;
	if (net_addr_in_list(s->addr,
			     &params->smtpd_client_connection_exceptions))
		limit = 0;
	int n = anvil_enter(s->clients, &s->client_key, limit,
			    &s->clients_slot);
	if (n < 0) {
		smtpd_reply(s, 421, "4.3.2",
			    "%s Service not available, try again later",
			    params->myhostname);
		log_warn("too many sessions: no connection table slot for %s",
			 s->namaddr);
		return false;
	}
	if (limit > 0 && n > (int)limit) {
		log_warn("Connection concurrency limit exceeded: %d from %s "
			 "for service %s",
			 n, s->namaddr, s->client->service);
		smtpd_reply(s, 421, "4.7.0",
			    "%s Error: too many connections from %s",
			    params->myhostname, s->addr);
		return false;
	}
	return true;
}

void smtpd_session_run(struct service_client *c, struct anvil *clients)
{
	struct smtpd_session s;
	session_setup(&s, c);
	s.clients = clients;
	log_info("connect from %s", s.namaddr);
	if (params->smtpd_tls_wrappermode && smtpd_tls_wrapper_start(&s) < 0)
		goto out;
	if (!connection_allowed(&s))
		goto out;
	smtpd_reply(&s, 220, NULL, "%s", params->smtpd_banner);
	while (!s.quit) {
		if (s.errors >= params->smtpd_hard_error_limit) {
			log_info("too many errors after %s from %s", s.where,
				 s.namaddr);
			smtpd_reply(&s, 421, "4.7.0",
				    "%s Error: too many errors",
				    params->myhostname);
			break;
		}
		int rc = read_command(&s);
		if (rc < 0)
			break;
		if (rc > 0)
			dispatch(&s);
	}
out:
	smtpd_log_disconnect(&s);
	anvil_leave(s.clients, &s.clients_slot);
	session_teardown(&s);
}
