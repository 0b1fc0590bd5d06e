/* SPDX-License-Identifier: MIT */
/*
 * imapd_session.c - one IMAP connection: read, dispatch, reply
 *
 * Owns the session loop: the greeting, reading commands through the
 * reader (sending "+" for synchronizing literals and the error replies of
 * refused lines), the command table that says which command is legal in
 * which state, the untagged updates owed to the client before each tagged
 * reply (imapd_view.c decides which may be sent), and the end of the
 * session (LOGOUT, autologout, EOF, master retiring the process).
 *
 * Handlers live in the other imapd_*.c files; they parse their own
 * arguments and set the command's outcome, and never write the tagged
 * reply themselves (IDLE and AUTHENTICATE write continuations only).
 */
#include "imapd/imapd_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/sasl_server.h"
#include "common/str.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "imapd/imapd_view.h"

#define CMD_UID 0x1u        /* has a UID form */
#define CMD_NO_EXPUNGE 0x2u /* no EXPUNGE responses (unless UID form) */
#define CMD_PLAIN 0x4u      /* has a form without UID */

static void cmd_capability(struct imapd_session *s, struct imapd_cmd *c);
static void cmd_logout(struct imapd_session *s, struct imapd_cmd *c);
static void cmd_id(struct imapd_session *s, struct imapd_cmd *c);
static void cmd_enable(struct imapd_session *s, struct imapd_cmd *c);

static const struct cmd_def {
	const char *name;
	imapd_cmd_fn fn;
	unsigned states;
	unsigned flags;
} cmds[] = {
        {"CAPABILITY", cmd_capability, IMAPD_STATES_ANY, CMD_PLAIN},
        {"NOOP", imapd_cmd_noop, IMAPD_STATES_ANY, CMD_PLAIN},
        {"LOGOUT", cmd_logout, IMAPD_STATES_ANY, CMD_PLAIN},
        {"ID", cmd_id, IMAPD_STATES_ANY, CMD_PLAIN},
        {"STARTTLS", imapd_cmd_starttls, IMAPD_STATE_NOTAUTH, CMD_PLAIN},
        {"AUTHENTICATE", imapd_cmd_authenticate, IMAPD_STATE_NOTAUTH,
         CMD_PLAIN},
        {"LOGIN", imapd_cmd_login, IMAPD_STATE_NOTAUTH, CMD_PLAIN},
        {"ENABLE", cmd_enable, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"SELECT", imapd_cmd_select, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"EXAMINE", imapd_cmd_examine, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"CREATE", imapd_cmd_create, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"DELETE", imapd_cmd_delete, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"RENAME", imapd_cmd_rename, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"SUBSCRIBE", imapd_cmd_subscribe, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"UNSUBSCRIBE", imapd_cmd_unsubscribe, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"LIST", imapd_cmd_list, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"LSUB", imapd_cmd_lsub, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"STATUS", imapd_cmd_status, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"APPEND", imapd_cmd_append, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"NAMESPACE", imapd_cmd_namespace, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"IDLE", imapd_cmd_idle, IMAPD_STATES_AUTHED, CMD_PLAIN},
        {"CHECK", imapd_cmd_check, IMAPD_STATE_SELECTED, CMD_PLAIN},
        {"CLOSE", imapd_cmd_close, IMAPD_STATE_SELECTED, CMD_PLAIN},
        {"UNSELECT", imapd_cmd_unselect, IMAPD_STATE_SELECTED, CMD_PLAIN},
        {"EXPUNGE", imapd_cmd_expunge, IMAPD_STATE_SELECTED,
         CMD_PLAIN | CMD_UID},
        {"SEARCH", imapd_cmd_search, IMAPD_STATE_SELECTED,
         CMD_PLAIN | CMD_UID | CMD_NO_EXPUNGE},
        {"FETCH", imapd_cmd_fetch, IMAPD_STATE_SELECTED,
         CMD_PLAIN | CMD_UID | CMD_NO_EXPUNGE},
        {"STORE", imapd_cmd_store, IMAPD_STATE_SELECTED,
         CMD_PLAIN | CMD_UID | CMD_NO_EXPUNGE},
        {"COPY", imapd_cmd_copy, IMAPD_STATE_SELECTED, CMD_PLAIN | CMD_UID},
        {"MOVE", imapd_cmd_move, IMAPD_STATE_SELECTED, CMD_PLAIN | CMD_UID},
};

/* ---- outcome --------------------------------------------------------- */

static void set_outcome(struct imapd_cmd *c, struct imapd_session *s,
                        enum imapd_status st, const char *fmt, va_list ap)
{
	c->st = st;
	c->text_set = true;
	struct buf b;
	buf_init(&b, 4096);
	if (buf_vprintf(&b, fmt, ap) < 0)
		buf_append_str(&b, "...");
	c->text = arena_memdup(s->arena, b.data ? b.data : "", b.len);
	buf_deinit(&b);
}

void imapd_cmd_ok(struct imapd_cmd *c, struct imapd_session *s, const char *fmt,
                  ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_outcome(c, s, IMAPD_OK, fmt, ap);
	va_end(ap);
}

void imapd_cmd_no(struct imapd_cmd *c, struct imapd_session *s, const char *fmt,
                  ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_outcome(c, s, IMAPD_NO, fmt, ap);
	va_end(ap);
}

void imapd_cmd_bad(struct imapd_cmd *c, struct imapd_session *s,
                   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_outcome(c, s, IMAPD_BAD, fmt, ap);
	va_end(ap);
}

int imapd_cmd_messages(struct imapd_session *s, struct imapd_cmd *c,
                       const struct imapd_seqset *set, size_t **idx_out,
                       size_t *n_out)
{
	if (imapd_view_resolve(s->view, set, c->uid, s->arena, idx_out,
	                       n_out) == 0)
		return 0;
	imapd_cmd_bad(c, s, "Error in IMAP command %s: Invalid messageset",
	              c->name);
	return -1;
}

void imapd_cmd_syntax(struct imapd_cmd *c, struct imapd_session *s)
{
	imapd_cmd_bad(c, s, "Error in IMAP command %s: %s", c->name,
	              c->args.err ? c->args.err : "Syntax error");
}

/* ---- output ---------------------------------------------------------- */

void imapd_write(struct imapd_session *s, const void *p, size_t n)
{
	s->bytes_out += n;
	(void)stream_write(s->s, p, n);
}

void imapd_printf(struct imapd_session *s, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		imapd_write(s, small, (size_t)n);
		return;
	}
	struct buf b;
	buf_init(&b, 0);
	va_start(ap, fmt);
	(void)buf_vprintf(&b, fmt, ap);
	va_end(ap);
	imapd_write(s, b.data, b.len);
	buf_deinit(&b);
}

void imapd_untagged(struct imapd_session *s, const char *fmt, ...)
{
	struct buf b;
	buf_init(&b, 0);
	(void)buf_append(&b, "* ", 2);
	va_list ap;
	va_start(ap, fmt);
	(void)buf_vprintf(&b, fmt, ap);
	va_end(ap);
	(void)buf_append(&b, "\r\n", 2);
	imapd_write(s, b.data, b.len);
	buf_deinit(&b);
}

int imapd_flush(struct imapd_session *s)
{
	return stream_flush(s->s);
}

const char *imapd_capabilities(const struct imapd_session *s)
{
	static char caps[512];
	int n = snprintf(caps, sizeof(caps), "%s",
	                 "IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT "
	                 "CHILDREN UIDPLUS MOVE SPECIAL-USE CREATE-SPECIAL-USE "
	                 "CONDSTORE QRESYNC");
	if (s->state != IMAPD_STATE_NOTAUTH || n < 0)
		return caps;
	size_t len = (size_t)n;
	if (s->srv->tls && !s->tls)
		len += (size_t)snprintf(caps + len, sizeof(caps) - len,
		                        " STARTTLS");
	const char *mechs = sasl_server_session_mechs(s->sasl);
	bool plain_ok = s->tls || !params->imapd_tls_auth_only;
	if (!plain_ok) {
		snprintf(caps + len, sizeof(caps) - len, " LOGINDISABLED");
		return caps;
	}
	len += (size_t)snprintf(caps + len, sizeof(caps) - len, " SASL-IR");
	const char *p = mechs;
	while (*p && len < sizeof(caps) - 1) {
		size_t w = strcspn(p, " ");
		len += (size_t)snprintf(caps + len, sizeof(caps) - len,
		                        " AUTH=%.*s", (int)w, p);
		p += w;
		while (*p == ' ')
			p++;
	}
	return caps;
}

/* ---- input ----------------------------------------------------------- */

static void log_stream_end(struct imapd_session *s, const char *when)
{
	enum stream_error e = stream_error(s->s);
	if (e == STREAM_ERR_EOF)
		log_info("%s: lost connection from %s", when, s->peer);
	else
		log_info("%s: %s from %s: %s", when, stream_error_name(e),
		         s->peer, stream_errtext(s->s));
}

int64_t imapd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Between commands: waits for input in slices, watching for a stop.
 * 1 input is there, 0 the session ends (stop, timeout or error). */
static int wait_input(struct imapd_session *s, long timeout_ms)
{
	int64_t deadline = imapd_now_ms() + timeout_ms;
	for (;;) {
		if (service_stopping()) {
			imapd_untagged(s, "BYE Server shutting down.");
			(void)imapd_flush(s);
			log_info("disconnect from %s: server shutting down",
			         s->peer);
			return 0;
		}
		int64_t left = deadline - imapd_now_ms();
		if (left <= 0) {
			imapd_untagged(s, "BYE Autologout; idle for too long");
			(void)imapd_flush(s);
			log_info("disconnect: timeout from %s", s->peer);
			return 0;
		}
		int r = stream_wait_readable(
		        s->s, -1,
		        (int)(left < IMAPD_WAIT_SLICE_MS
		                      ? left
		                      : IMAPD_WAIT_SLICE_MS));
		if (r < 0) {
			log_stream_end(s, "disconnect");
			return 0;
		}
		if (r & STREAM_READY_INPUT)
			return 1;
	}
}

int imapd_read_command(struct imapd_session *s, int timeout_ms)
{
	long t = timeout_ms >= 0 ? timeout_ms : params->imapd_timeout * 1000;
	stream_set_timeout(s->s, (int)t);
	for (;;) {
		while (s->in.len > 0) {
			size_t used;
			enum imapd_read_event ev = imapd_reader_feed(
			        &s->rd, s->in.data, s->in.len, &used);
			buf_consume(&s->in, used);
			switch (ev) {
			case IMAPD_READ_MORE:
				break;
			case IMAPD_READ_COMMAND:
				return 1;
			case IMAPD_READ_CONTINUE:
				imapd_printf(s, "+ OK\r\n");
				if (imapd_flush(s) < 0)
					goto fail;
				break;
			case IMAPD_READ_TOO_LONG:
				imapd_printf(s,
				             "%s BAD Command line too long\r\n",
				             imapd_reader_tag(&s->rd));
				return 2;
			case IMAPD_READ_TOO_BIG:
				imapd_printf(
				        s,
				        "%s NO [TOOBIG] Literal too large\r\n",
				        imapd_reader_tag(&s->rd));
				return 2;
			}
		}
		if (!imapd_reader_busy(&s->rd) && wait_input(s, t) == 0)
			return 0;
		char tmp[16384];
		ssize_t n = stream_read_some(s->s, tmp, sizeof(tmp));
		if (n < 0)
			goto fail;
		(void)buf_append(&s->in, tmp, (size_t)n);
	}
fail:
	if (stream_error(s->s) == STREAM_ERR_TIMEOUT) {
		imapd_untagged(s, "BYE Autologout; idle for too long");
		stream_set_timeout(s->s, 10000);
		(void)imapd_flush(s);
	}
	log_stream_end(s, "disconnect");
	return 0;
}

/* ---- small commands -------------------------------------------------- */

static void cmd_capability(struct imapd_session *s, struct imapd_cmd *c)
{
	if (imapd_args_done(&c->args) < 0)
		return imapd_cmd_syntax(c, s);
	imapd_untagged(s, "CAPABILITY %s", imapd_capabilities(s));
}

static void cmd_logout(struct imapd_session *s, struct imapd_cmd *c)
{
	if (imapd_args_done(&c->args) < 0)
		return imapd_cmd_syntax(c, s);
	imapd_untagged(s, "BYE Logging out");
	s->bye = true;
	if (s->state == IMAPD_STATE_SELECTED)
		imapd_unselect(s);
	s->state = IMAPD_STATE_LOGOUT;
}

/* RFC 2971: the client's fields are read (and logged at -v), ours are a
 * name and a version. */
static void cmd_id(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_str k, v;
	if (imapd_args_sp(a) < 0)
		return imapd_cmd_syntax(c, s);
	if (imapd_args_take(a, '(')) {
		unsigned n = 0;
		while (!imapd_args_take(a, ')')) {
			if ((n > 0 && imapd_args_sp(a) < 0) ||
			    imapd_args_string(a, &k) < 0 ||
			    imapd_args_sp(a) < 0 ||
			    imapd_args_nstring(a, &v) < 0 || ++n > 30) {
				imapd_args_fail(a, "Invalid ID list");
				return imapd_cmd_syntax(c, s);
			}
			char q[128];
			log_debug(1, "ID %s=%s", k.p,
			          v.p ? log_quote(q, sizeof(q), v.p, v.len)
			              : "NIL");
		}
	} else if (imapd_args_nstring(a, &v) < 0 || v.p) {
		return imapd_cmd_syntax(c, s);
	}
	if (imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	imapd_untagged(s, "ID (\"name\" \"Posthorn\" \"vendor\" \"Posthorn\")");
}

void imapd_condstore_enable(struct imapd_session *s)
{
	if (s->enabled & IMAPD_EXT_CONDSTORE)
		return;
	s->enabled |= IMAPD_EXT_CONDSTORE;
	if (s->view)
		imapd_untagged(
		        s, "OK [HIGHESTMODSEQ %llu] Highest",
		        (unsigned long long)imapd_view_highestmodseq(s->view));
}

/* RFC 5161: only extensions that change what the server sends may be
 * enabled: CONDSTORE is the one we have. ENABLED lists what this
 * command enabled. */
static void cmd_enable(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct buf out;
	buf_init(&out, 1024);
	if (imapd_args_end(a)) {
		buf_deinit(&out);
		return imapd_cmd_syntax(c, s);
	}
	while (!imapd_args_end(a)) {
		struct imapd_str cap;
		if (imapd_args_sp(a) < 0 || imapd_args_atom(a, &cap) < 0) {
			buf_deinit(&out);
			return imapd_cmd_syntax(c, s);
		}
		if (str_eq_nocase(cap.p, "CONDSTORE") &&
		    !(s->enabled & IMAPD_EXT_CONDSTORE)) {
			s->enabled |= IMAPD_EXT_CONDSTORE;
			buf_append_str(&out, " CONDSTORE");
		}
		/* RFC 7162 3.2.3: QRESYNC implies CONDSTORE. */
		if (str_eq_nocase(cap.p, "QRESYNC") &&
		    !(s->enabled & IMAPD_EXT_QRESYNC)) {
			s->enabled |= IMAPD_EXT_QRESYNC | IMAPD_EXT_CONDSTORE;
			buf_append_str(&out, " QRESYNC");
		}
	}
	imapd_untagged(s, "ENABLED%s", buf_cstr(&out));
	buf_deinit(&out);
}

/* ---- dispatch -------------------------------------------------------- */

static const struct cmd_def *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

static void reply_tagged(struct imapd_session *s, const struct imapd_cmd *c)
{
	static const char *const st[] = {"OK", "NO", "BAD"};
	if (c->replied)
		return;
	if (c->text_set)
		imapd_printf(s, "%s %s %s\r\n", c->tag, st[c->st], c->text);
	else
		imapd_printf(s, "%s OK %s completed.\r\n", c->tag, c->name);
}

static void run_command(struct imapd_session *s)
{
	arena_reset(s->arena);
	struct imapd_cmd c;
	memset(&c, 0, sizeof(c));
	imapd_args_init(&c.args, s->rd.cmd.data, s->rd.cmd.len, s->arena,
	                s->srv->max_depth);
	struct imapd_str tag, name;
	if (imapd_args_tag(&c.args, &tag) < 0) {
		imapd_untagged(s, "BAD Error in IMAP command: Invalid tag");
		return;
	}
	c.tag = tag.p;
	c.name = "";
	if (imapd_args_sp(&c.args) < 0 || imapd_args_atom(&c.args, &name) < 0) {
		imapd_printf(s,
		             "%s BAD Error in IMAP command: missing "
		             "command name\r\n",
		             c.tag);
		return;
	}
	imapd_upper((char *)name.p);
	if (strcmp(name.p, "UID") == 0) {
		c.uid = true;
		if (imapd_args_sp(&c.args) < 0 ||
		    imapd_args_atom(&c.args, &name) < 0) {
			imapd_printf(s,
			             "%s BAD Error in IMAP command UID: "
			             "missing command name\r\n",
			             c.tag);
			return;
		}
		imapd_upper((char *)name.p);
	}
	c.name = name.p;
	const struct cmd_def *d = find_cmd(name.p);
	if (!d || (c.uid && !(d->flags & CMD_UID)) ||
	    (!c.uid && !(d->flags & CMD_PLAIN))) {
		imapd_printf(s,
		             "%s BAD Error in IMAP command: unknown "
		             "command\r\n",
		             c.tag);
		return;
	}
	if (!(d->states & s->state)) {
		imapd_printf(s,
		             "%s BAD Command %s%s not permitted in this "
		             "state\r\n",
		             c.tag, c.uid ? "UID " : "", c.name);
		return;
	}
	c.no_expunge = (d->flags & CMD_NO_EXPUNGE) && !c.uid;
	log_debug(2, "command %s %s%s", c.tag, c.uid ? "UID " : "", c.name);
	d->fn(s, &c);
	if (s->state == IMAPD_STATE_SELECTED && s->view)
		imapd_view_update(s, !c.no_expunge);
	reply_tagged(s, &c);
}

static void set_peer(struct imapd_session *s)
{
	snprintf(s->peer, sizeof(s->peer), "unknown[%s]", s->client->peer.addr);
}

static bool start_tls_wrapper(struct imapd_session *s)
{
	if (!s->srv->tls) {
		log_warn("imapd_tls_wrappermode without a certificate: "
		         "disconnecting %s",
		         s->peer);
		return false;
	}
	stream_set_timeout(s->s, 60000);
	if (stream_start_tls_server(s->s, s->srv->tls) < 0) {
		log_info("TLS handshake failed from %s: %s", s->peer,
		         stream_errtext(s->s));
		return false;
	}
	s->tls = true;
	return true;
}

static void session_free(struct imapd_session *s)
{
	if (s->state == IMAPD_STATE_SELECTED)
		imapd_unselect(s);
	if (s->mb)
		imapd_auth_logout(s);
	anvil_leave(s->srv->clients, &s->user_slot);
	anvil_leave(s->srv->clients, &s->addr_slot);
	sasl_server_session_free(&s->sasl);
	imapd_reader_deinit(&s->rd);
	buf_deinit(&s->in);
	arena_free(&s->arena);
	stream_free(&s->s);
}

void imapd_session_run(struct imapd_server *srv, struct service_client *client)
{
	struct imapd_session sess;
	struct imapd_session *s = &sess;
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->client = client;
	s->state = IMAPD_STATE_NOTAUTH;
	s->addr_slot = s->user_slot = -1;
	(void)anvil_key_addr(&s->client_key, client->peer.addr);
	set_peer(s);
	s->s = stream_new(client->fd);
	client->fd = -1; /* the stream closes it */
	s->arena = arena_new();
	buf_init(&s->in, 65536);
	imapd_reader_init(&s->rd, srv->line_max, srv->literal_max);
	/* Before login nobody needs a big literal (LOGIN's are short):
	 * an anonymous client must not make us hold a message's worth. */
	if (s->rd.literal_max > IMAPD_PREAUTH_LITERAL_MAX)
		s->rd.literal_max = IMAPD_PREAUTH_LITERAL_MAX;
	log_info("connect from %s", s->peer);

	char lip[80], rip[80];
	snprintf(lip, sizeof(lip), "%s;%s", client->local.addr,
	         client->local.port);
	snprintf(rip, sizeof(rip), "%s;%s", client->peer.addr,
	         client->peer.port);
	s->sasl = sasl_server_session_new("imap", params->myhostname, lip, rip);
	sasl_server_session_security(s->sasl, 0, !params->imapd_tls_auth_only);

	if (params->imapd_tls_wrappermode && !start_tls_wrapper(s))
		goto done;
	if (s->tls) {
		int bits = tls_conn_bits(stream_tls(s->s), NULL);
		sasl_server_session_security(s->sasl, (unsigned)bits,
		                             !params->imapd_tls_auth_only);
	}
	/* Counted across all imapd processes; a full table counts nothing
	 * rather than lock everybody out. */
	unsigned limit = (unsigned)params->imapd_client_address_limit;
	int n = anvil_enter(srv->clients, &s->client_key, limit, &s->addr_slot);
	if (n < 0)
		log_warn("connection table full: %s not counted", s->peer);
	if (n > (int)limit) {
		log_warn("too many connections from %s", s->peer);
		imapd_untagged(s, "BYE [LIMIT] Too many connections from your "
		                  "address");
		(void)imapd_flush(s);
		goto done;
	}
	imapd_untagged(s, "OK [CAPABILITY %s] %s ready.", imapd_capabilities(s),
	               params->myhostname);
	while (!s->bye) {
		if (imapd_flush(s) < 0) {
			log_stream_end(s, "disconnect");
			break;
		}
		int rc = imapd_read_command(s, -1);
		if (rc == 0)
			break;
		if (rc == 1)
			run_command(s);
	}
	(void)imapd_flush(s);
	if (s->state != IMAPD_STATE_LOGOUT && !s->mb)
		log_info("disconnect from %s", s->peer);
done:
	session_free(s);
}

void imapd_unselect(struct imapd_session *s)
{
	imapd_view_close(&s->view);
	if (s->state == IMAPD_STATE_SELECTED)
		s->state = IMAPD_STATE_AUTH;
}
