/* SPDX-License-Identifier: MIT */
/*
 * pop3d_session.c - one POP3 session: greeting, command loop, dispatch
 *
 * Reads one command line at a time, splits it, looks the keyword up in
 * the command table (which says in which states a command is legal, how
 * many arguments it takes, and whether it is a login that needs TLS
 * first), and calls its handler. Owns the state changes, the limits
 * (sessions per client address, line length, error count, command
 * count), the idle timeout, the end of the session when master stops the
 * service, and the connect, disconnect and logout log lines.
 * Not here: what the commands do (pop3d_auth.c, pop3d_cmd.c).
 *
 * Invariants: replies are buffered and go out when the session is about
 * to wait for input, so a pipelining client (RFC 2449 PIPELINING) gets
 * its replies in batches; the maildrop is never committed here, so a
 * session that ends other than by QUIT changes nothing (RFC 1939 6).
 */
#include "pop3d_session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/params.h"
#include "common/str.h"

/* How often a session waiting for a command looks at service_stopping. */
#define STOP_POLL_MS 500

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define ST_AUTH POP3D_STATE_AUTH
#define ST_TRANS POP3D_STATE_TRANS
#define ST_ANY (POP3D_STATE_AUTH | POP3D_STATE_TRANS)

static const struct pop3d_cmd commands[] = {
        {"USER", POP3D_CMD_USER, pop3d_cmd_user, ST_AUTH, POP3D_F_LOGIN, 1, 1},
        {"PASS", POP3D_CMD_PASS, pop3d_cmd_pass, ST_AUTH, POP3D_F_LOGIN, 1,
         SIZE_MAX},
        {"AUTH", POP3D_CMD_AUTH, pop3d_cmd_auth, ST_AUTH, 0, 0, 2},
        {"APOP", POP3D_CMD_APOP, pop3d_cmd_apop, ST_AUTH, POP3D_F_LOGIN, 2, 2},
        {"STLS", POP3D_CMD_STLS, pop3d_cmd_stls, ST_AUTH, 0, 0, 0},
        {"CAPA", POP3D_CMD_CAPA, pop3d_cmd_capa, ST_ANY, 0, 0, 0},
        {"QUIT", POP3D_CMD_QUIT, pop3d_cmd_quit, ST_ANY, 0, 0, 0},
        {"STAT", POP3D_CMD_STAT, pop3d_cmd_stat, ST_TRANS, 0, 0, 0},
        {"LIST", POP3D_CMD_LIST, pop3d_cmd_list, ST_TRANS, 0, 0, 1},
        {"RETR", POP3D_CMD_RETR, pop3d_cmd_retr, ST_TRANS, 0, 1, 1},
        {"DELE", POP3D_CMD_DELE, pop3d_cmd_dele, ST_TRANS, 0, 1, 1},
        {"NOOP", POP3D_CMD_NOOP, pop3d_cmd_noop, ST_TRANS, 0, 0, 0},
        {"RSET", POP3D_CMD_RSET, pop3d_cmd_rset, ST_TRANS, 0, 0, 0},
        {"TOP", POP3D_CMD_TOP, pop3d_cmd_top, ST_TRANS, 0, 2, 2},
        {"UIDL", POP3D_CMD_UIDL, pop3d_cmd_uidl, ST_TRANS, 0, 0, 1},
};

static const char *const log_names[POP3D_CMD_COUNT] = {
        [POP3D_CMD_USER] = "user", [POP3D_CMD_PASS] = "pass",
        [POP3D_CMD_AUTH] = "auth", [POP3D_CMD_APOP] = "apop",
        [POP3D_CMD_STLS] = "stls", [POP3D_CMD_CAPA] = "capa",
        [POP3D_CMD_QUIT] = "quit", [POP3D_CMD_STAT] = "stat",
        [POP3D_CMD_LIST] = "list", [POP3D_CMD_RETR] = "retr",
        [POP3D_CMD_DELE] = "dele", [POP3D_CMD_NOOP] = "noop",
        [POP3D_CMD_RSET] = "rset", [POP3D_CMD_TOP] = "top",
        [POP3D_CMD_UIDL] = "uidl", [POP3D_CMD_UNKNOWN] = "unknown",
};

static const struct pop3d_config *config;

void pop3d_session_configure(const struct pop3d_config *cfg)
{
	config = cfg;
}

/* ---- parsing and lookup ------------------------------------------------ */

enum pop3d_parse_status pop3d_args_parse(const char *p, size_t len,
                                         struct pop3d_args *out)
{
	memset(out, 0, sizeof(*out));
	/* RFC 1939 3: commands are printable ASCII. Bytes >= 0x80 may
	 * still be part of a password (UTF-8), so only controls and DEL
	 * are refused: a NUL or CR inside a line has no honest use. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return POP3D_PARSE_CONTROL;
	}
	size_t i = 0;
	while (i < len && p[i] == ' ')
		i++;
	if (i == len)
		return POP3D_PARSE_EMPTY;
	out->keyword = p + i;
	while (i < len && p[i] != ' ')
		i++;
	out->keyword_len = (size_t)(p + i - out->keyword);
	if (i < len)
		i++; /* the one space before the arguments */
	out->rest = p + i;
	out->rest_len = len - i;
	while (i < len) {
		while (i < len && p[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && p[i] != ' ')
			i++;
		if (out->argc == POP3D_ARGS_MAX) {
			out->too_many = true;
			break;
		}
		out->argv[out->argc] = p + start;
		out->argl[out->argc] = i - start;
		out->argc++;
	}
	return POP3D_PARSE_OK;
}

const struct pop3d_cmd *pop3d_cmd_lookup(const char *k, size_t klen)
{
	if (klen > POP3D_KEYWORD_MAX)
		return NULL;
	for (size_t i = 0; i < NELEM(commands); i++)
		if (strn_eq_nocase(k, klen, commands[i].name))
			return &commands[i];
	return NULL;
}

const char *pop3d_cmd_log_name(enum pop3d_cmd_id id)
{
	return id < POP3D_CMD_COUNT ? log_names[id] : "unknown";
}

bool pop3d_msgno_parse(const char *p, size_t len, uint64_t *out)
{
	/* 10 digits cover every uint32_t; longer is not a number we can
	 * have, but still a number: say "no such message". */
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	if (len > 10) {
		*out = UINT64_MAX;
		return true;
	}
	return parse_uintn(p, len, 0, UINT64_MAX, out) == 0;
}

/* ---- replies ----------------------------------------------------------- */

static void reply(struct pop3d_session *s, const char *head, const char *fmt,
                  va_list ap) __attribute__((format(printf, 3, 0)));

static void reply(struct pop3d_session *s, const char *head, const char *fmt,
                  va_list ap)
{
	char text[512];
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	/* Replies may echo client text; keep each one a single line. */
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = '?';
	/* A line of a multi-line response that starts with "." is
	 * byte-stuffed (RFC 1939 3); a status line starts with +OK/-ERR. */
	(void)stream_printf(s->st, "%s%s%s\r\n", head,
	                    !*head && text[0] == '.' ? "." : "", text);
}

void pop3d_ok(struct pop3d_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply(s, "+OK ", fmt, ap);
	va_end(ap);
}

void pop3d_err(struct pop3d_session *s, const char *code, const char *fmt, ...)
{
	char head[32];
	va_list ap;
	s->errors++;
	(void)snprintf(head, sizeof(head), "-ERR %s%s%s", code ? "[" : "",
	               code ? code : "", code ? "] " : "");
	va_start(ap, fmt);
	reply(s, head, fmt, ap);
	va_end(ap);
}

void pop3d_line(struct pop3d_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply(s, "", fmt, ap);
	va_end(ap);
}

void pop3d_end(struct pop3d_session *s)
{
	(void)stream_puts(s->st, ".\r\n");
}

void pop3d_session_state(struct pop3d_session *s, enum pop3d_state st)
{
	log_debug(2, "%s: state %d -> %d", s->namaddr, s->state, st);
	s->state = st;
}

void pop3d_session_stream_failed(struct pop3d_session *s)
{
	enum stream_error err = stream_error(s->st);
	if (!s->end_reason)
		s->end_reason = stream_error_name(err);
	if (err == STREAM_ERR_TIMEOUT) {
		log_info("timeout after %s from %s", s->where, s->namaddr);
		/* The channel is still usable for a last word (RFC 1939 3:
		 * the server closes without entering UPDATE). */
		stream_set_timeout(s->st, 1000);
		pop3d_err(s, NULL, "Disconnected for inactivity.");
		(void)stream_flush(s->st);
	} else if (err == STREAM_ERR_EOF) {
		log_info("lost connection after %s from %s", s->where,
		         s->namaddr);
	} else {
		log_info("%s after %s from %s: %s", stream_error_name(err),
		         s->where, s->namaddr, stream_errtext(s->st));
	}
	s->quit = true;
}

/* ---- reading ----------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for input within pop3d_timeout, in slices, so that a stopping
 * service ends the session instead of waiting out an idle client
 * (signals do not interrupt the stream's waits). true when input came
 * or the time is up (the read that follows reports the timeout). */
static bool wait_input(struct pop3d_session *s)
{
	long timeout_ms = params->pop3d_timeout * 1000;
	int64_t deadline = mono_ms() + timeout_ms;
	stream_set_timeout(s->st, (int)timeout_ms);
	while (stream_pending(s->st) == 0) {
		if (service_stopping()) {
			pop3d_err(s, "SYS/TEMP", "Server shutting down.");
			(void)stream_flush(s->st);
			log_info("disconnect on shutdown after %s from %s",
			         s->where, s->namaddr);
			s->end_reason = "shutdown";
			s->quit = true;
			return false;
		}
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			stream_set_timeout(s->st, 0);
			break;
		}
		int r = stream_wait_readable(
		        s->st, -1,
		        left < STOP_POLL_MS ? (int)left : STOP_POLL_MS);
		if (r < 0 || (r & STREAM_READY_INPUT))
			break;
	}
	return true;
}

int pop3d_session_read_line(struct pop3d_session *s, size_t max)
{
	if (!wait_input(s))
		return -1;
	enum stream_eol eol;
	if (stream_read_line(s->st, &s->line, max, &eol) < 0) {
		if (stream_error(s->st) == STREAM_ERR_TOO_LONG) {
			pop3d_err(s, NULL, "Line too long.");
			return 0;
		}
		pop3d_session_stream_failed(s);
		return -1;
	}
	if (eol == STREAM_EOL_NONE) {
		/* A partial line, then EOF: the client is gone. */
		s->end_reason = stream_error_name(STREAM_ERR_EOF);
		log_info("lost connection after %s from %s", s->where,
		         s->namaddr);
		s->quit = true;
		return -1;
	}
	buf_truncate(&s->line, s->line.len - (eol == STREAM_EOL_CRLF ? 2 : 1));
	return 1;
}

/* ---- dispatch ---------------------------------------------------------- */

static const char *state_name(enum pop3d_state st)
{
	return st == POP3D_STATE_AUTH ? "AUTHORIZATION" : "TRANSACTION";
}

static void dispatch(struct pop3d_session *s)
{
	struct pop3d_args *a = &s->args;
	enum pop3d_parse_status ps =
	        pop3d_args_parse(s->line.data, s->line.len, a);
	bool user_given = s->user_given;
	s->user_given = false; /* PASS must follow USER directly */
	if (ps != POP3D_PARSE_OK) {
		s->count[POP3D_CMD_UNKNOWN]++;
		pop3d_err(s, NULL,
		          ps == POP3D_PARSE_EMPTY
		                  ? "Empty command."
		                  : "Invalid characters in command.");
		return;
	}
	const struct pop3d_cmd *cmd =
	        pop3d_cmd_lookup(a->keyword, a->keyword_len);
	if (!cmd) {
		s->count[POP3D_CMD_UNKNOWN]++;
		s->where = "UNKNOWN";
		pop3d_err(s, NULL, "Unknown command.");
		return;
	}
	s->where = cmd->name;
	s->count[cmd->id]++;
	if (!(cmd->states & s->state)) {
		pop3d_err(s, NULL, "%s is not allowed in the %s state.",
		          cmd->name, state_name(s->state));
		return;
	}
	if (cmd->max_args != SIZE_MAX &&
	    (a->too_many || a->argc > cmd->max_args)) {
		pop3d_err(s, NULL, "Too many arguments.");
		return;
	}
	if (a->argc < cmd->min_args) {
		pop3d_err(s, NULL, "Missing argument.");
		return;
	}
	if ((cmd->flags & POP3D_F_LOGIN) && !s->tls &&
	    params->pop3d_tls_auth_only) {
		/* RFC 2595 4 and RFC 3206 [AUTH]: no password in clear. */
		pop3d_err(s, "AUTH",
		          "Plaintext authentication disallowed on "
		          "non-secure connections; use STLS first.");
		return;
	}
	s->user_given = user_given;
	if (cmd->fn(s, a) == 0)
		s->count_ok[cmd->id]++;
}

/* ---- the session ------------------------------------------------------- */

static void session_setup(struct pop3d_session *s, struct service_client *c)
{
	memset(s, 0, sizeof(*s));
	s->cfg = config;
	s->client = c;
	s->st = stream_new(c->fd);
	stream_keep_fd(s->st); /* the skeleton closes it */
	stream_set_timeout(s->st, (int)(params->pop3d_timeout * 1000));
	/* An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d;
	 * log it as the IPv4 address it is. */
	const char *a = c->peer.addr, *l = c->local.addr;
	if (strncmp(a, "::ffff:", 7) == 0 && strchr(a + 7, '.'))
		a += 7;
	if (strncmp(l, "::ffff:", 7) == 0 && strchr(l + 7, '.'))
		l += 7;
	(void)snprintf(s->addr, sizeof(s->addr), "%s", a);
	(void)snprintf(s->laddr, sizeof(s->laddr), "%s", l);
	(void)snprintf(s->namaddr, sizeof(s->namaddr), "unknown[%s]", s->addr);
	(void)anvil_key_addr(&s->client_key, s->addr); /* else not counted */
	s->clients_slot = -1;
	s->state = POP3D_STATE_AUTH;
	s->where = "CONNECT";
	s->command_limit = (uint64_t)params->pop3d_command_limit;
	buf_init(&s->line, 0);
	buf_init(&s->out, 0);
	char lip[80], rip[80];
	(void)snprintf(lip, sizeof(lip), "%s;%s", s->laddr, c->local.port);
	(void)snprintf(rip, sizeof(rip), "%s;%s", s->addr, c->peer.port);
	s->sasl = sasl_server_session_new("pop", params->myhostname, lip, rip);
	sasl_server_session_security(s->sasl, 0, !params->pop3d_tls_auth_only);
}

static void session_teardown(struct pop3d_session *s)
{
	anvil_leave(s->cfg->clients, &s->clients_slot);
	pop3d_maildrop_close(&s->md);
	sasl_server_session_free(&s->sasl);
	if (s->line.data)
		explicit_bzero(s->line.data, s->line.cap);
	buf_deinit(&s->line);
	buf_deinit(&s->out);
	(void)stream_flush(s->st);
	stream_free(&s->st);
}

/* Postfix's disconnect line: "disconnect from host[addr] user=1 pass=1
 * retr=3 quit=1 commands=6", a failed command shown as ok/total. */
static void log_disconnect(struct pop3d_session *s)
{
	const uint32_t *ok = s->count_ok;
	char line[512];
	size_t n = 0;
	uint64_t total = 0, total_ok = 0;
	for (int i = 0; i < POP3D_CMD_COUNT; i++) {
		if (!s->count[i])
			continue;
		total += s->count[i];
		total_ok += ok[i];
		int w = ok[i] == s->count[i]
		                ? snprintf(line + n, sizeof(line) - n, " %s=%u",
		                           log_names[i], s->count[i])
		                : snprintf(line + n, sizeof(line) - n,
		                           " %s=%u/%u", log_names[i], ok[i],
		                           s->count[i]);
		if (w < 0 || (size_t)w >= sizeof(line) - n)
			break;
		n += (size_t)w;
	}
	line[n] = '\0';
	if (total_ok == total)
		log_info("disconnect from %s%s commands=%" PRIu64, s->namaddr,
		         line, total);
	else
		log_info("disconnect from %s%s commands=%" PRIu64 "/%" PRIu64,
		         s->namaddr, line, total_ok, total);
}

/* Dovecot's logout shape, which POP3 admins know: what the session
 * fetched and removed, and why it ended. */
static void log_logout(struct pop3d_session *s)
{
	if (!s->md)
		return;
	log_info("logout: user=<%s>, rip=%s, lip=%s, top=%" PRIu64
	         ", retr=%" PRIu64 ", del=%" PRIu64 ", msgs=%zu, size=%" PRIu64
	         ", sent=%" PRIu64 ", reason=%s",
	         s->login, s->addr, s->laddr, s->ntop, s->nretr,
	         s->ndele_applied, s->md->count, s->md->size, s->sent,
	         s->end_reason ? s->end_reason : "disconnected");
}

static bool check_limits(struct pop3d_session *s)
{
	if (s->errors >= (unsigned long)params->pop3d_error_limit) {
		log_info("too many errors after %s from %s", s->where,
		         s->namaddr);
		pop3d_err(s, NULL, "Too many errors, closing connection.");
		s->end_reason = "too many errors";
		return false;
	}
	if (s->commands >= s->command_limit) {
		log_warn("command limit exceeded after %s from %s", s->where,
		         s->namaddr);
		pop3d_err(s, "SYS/PERM", "Too many commands.");
		s->end_reason = "too many commands";
		return false;
	}
	return true;
}

/* pop3d_client_address_limit, counted across all pop3d processes. The
 * refusal is -ERR [SYS/TEMP] (RFC 3206 4: a temporary condition of the
 * server, not the user's credentials, worth retrying later); [IN-USE]
 * (RFC 2449 8.1.1) would tell the client its maildrop is locked by
 * another session, which is not what happened: no maildrop is known yet.
 * A full table counts nothing rather than lock everybody out. */
static bool connection_allowed(struct pop3d_session *s)
{
	unsigned limit = (unsigned)params->pop3d_client_address_limit;
	int n = anvil_enter(s->cfg->clients, &s->client_key, limit,
	                    &s->clients_slot);
	if (n < 0)
		log_warn("connection table full: %s not counted", s->namaddr);
	if (n > (int)limit) {
		log_warn("too many connections from %s: %d "
		         "(pop3d_client_address_limit = %u)",
		         s->namaddr, n, limit);
		pop3d_err(s, "SYS/TEMP", "Too many connections from your "
		                         "address.");
		s->end_reason = "too many connections";
		return false;
	}
	return true;
}

void pop3d_session_run(struct service_client *c)
{
	struct pop3d_session s;
	session_setup(&s, c);
	log_info("connect from %s", s.namaddr);
	if (params->pop3d_tls_wrappermode && pop3d_tls_start(&s) < 0)
		goto out;
	if (service_stopping()) {
		pop3d_err(&s, "SYS/TEMP", "Server shutting down.");
		goto out;
	}
	if (!connection_allowed(&s))
		goto out;
	pop3d_ok(&s, "%s ready.", params->mail_name);
	while (!s.quit && check_limits(&s)) {
		size_t max = (size_t)params->pop3d_line_length_limit;
		int rc = pop3d_session_read_line(&s, max);
		if (rc < 0)
			break;
		s.commands++;
		if (rc == 0)
			continue;
		dispatch(&s);
		/* The line may have held a password (PASS, AUTH). */
		if (s.line.data)
			explicit_bzero(s.line.data, s.line.len);
	}
out:
	(void)stream_flush(s.st);
	log_logout(&s);
	log_disconnect(&s);
	session_teardown(&s);
}
