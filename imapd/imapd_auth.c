/* SPDX-License-Identifier: MIT */
/*
 * imapd_auth.c - STARTTLS, LOGIN, AUTHENTICATE, and what login opens
 *
 * The not-authenticated state: TLS negotiation (RFC 3501 6.2.1, with
 * plaintext pipelined behind STARTTLS thrown away, CVE-2011-0411),
 * LOGIN (refused before TLS unless imapd_tls_auth_only = no, RFC 3501
 * 6.2.3 LOGINDISABLED), AUTHENTICATE through Cyrus SASL (RFC 3501 6.2.2,
 * RFC 4959 SASL-IR). A successful login takes a per-user session slot,
 * opens the user's mailbox (creating it, and its special-use folders, the
 * first time) and writes the "login:" log line; logout writes "logout:".
 *
 * Secrets: passwords and SASL payloads are wiped from the command buffer
 * and the arena as soon as they have been checked, and are never logged.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/anvil.h"
#include "common/log.h"
#include "common/params.h"
#include "common/sasl_server.h"
#include "common/str.h"
#include "common/tls.h"
#include "imapd/imapd_session.h"

/* After this many failed logins the connection is closed. */
#define AUTH_FAILURES_MAX 10
/* The growing delay after a failure stops growing here (seconds). */
#define AUTH_DELAY_MAX 30

static bool plaintext_ok(const struct imapd_session *s)
{
	return s->tls || !params->imapd_tls_auth_only;
}

static void wipe_command(struct imapd_session *s)
{
	explicit_bzero(s->rd.cmd.data, s->rd.cmd.len);
}

void imapd_cmd_starttls(struct imapd_session *s, struct imapd_cmd *c)
{
	if (imapd_args_done(&c->args) < 0)
		return imapd_cmd_syntax(c, s);
	if (s->tls)
		return imapd_cmd_bad(c, s, "TLS is already active.");
	if (!s->srv->tls)
		return imapd_cmd_no(c, s, "TLS is not available.");
	/* Anything sent after STARTTLS in plaintext must not be read as if
	 * it came through TLS. */
	size_t junk = s->in.len + stream_discard_input(s->s);
	buf_reset(&s->in);
	if (junk > 0)
		log_warn("%s: %zu bytes of plaintext pipelined after STARTTLS "
		         "discarded",
		         s->peer, junk);
	imapd_printf(s, "%s OK Begin TLS negotiation now.\r\n", c->tag);
	c->replied = true;
	stream_set_timeout(s->s, 60000);
	if (stream_start_tls_server(s->s, s->srv->tls) < 0) {
		log_info("STARTTLS handshake failed from %s: %s", s->peer,
		         stream_errtext(s->s));
		s->bye = true;
		return;
	}
	s->tls = true;
	int bits = tls_conn_bits(stream_tls(s->s), NULL);
	sasl_server_session_security(s->sasl, (unsigned)bits,
	                             !params->imapd_tls_auth_only);
	char line[256];
	log_info("%s", tls_conn_describe(stream_tls(s->s), s->peer, line,
	                                 sizeof(line)));
}

static void auth_failed(struct imapd_session *s, struct imapd_cmd *c,
                        const char *user, const char *method,
                        const char *reason)
{
	char q[128];
	s->auth_failures++;
	log_info("authentication failed: user=<%s>, method=%s, rip=%s, "
	         "attempts=%u%s%s",
	         log_quote(q, sizeof(q), user, strlen(user)), method,
	         s->client->peer.addr, s->auth_failures,
	         reason && *reason ? ", reason=" : "", reason ? reason : "");
	/* Slow down password guessing: each recent failure from the
	 * address, in this session or an earlier one, makes the wait
	 * longer, so reconnecting after each guess does not help. */
	unsigned n = anvil_fail(s->srv->clients, &s->client_key);
	if (n < s->auth_failures) /* no table: this session's count */
		n = s->auth_failures;
	long delay = anvil_fail_delay(n, params->imapd_auth_failure_delay,
	                              AUTH_DELAY_MAX);
	if (delay > 0) {
		(void)imapd_flush(s);
		sleep((unsigned)delay);
	}
	if (s->auth_failures >= AUTH_FAILURES_MAX) {
		imapd_untagged(s, "BYE Too many authentication failures.");
		s->bye = true;
	}
	imapd_cmd_no(c, s, "[AUTHENTICATIONFAILED] Authentication failed.");
}

static void login_done(struct imapd_session *s, struct imapd_cmd *c,
                       const char *user, const char *method)
{
	struct err e;
	/* The password was right: the address's failures are forgiven. */
	anvil_fail_clear(s->srv->clients, &s->client_key);
	struct anvil_key key;
	(void)anvil_key_name(&key, user, strlen(user));
	unsigned limit = (unsigned)params->imapd_client_connection_limit;
	int sessions = anvil_enter(s->srv->clients, &key, limit, &s->user_slot);
	if (sessions < 0)
		log_warn("connection table full: user=<%s> not counted", user);
	if (sessions > (int)limit) {
		log_warn("too many sessions for user=<%s>, rip=%s", user,
		         s->client->peer.addr);
		return imapd_cmd_no(c, s,
		                    "[LIMIT] Too many connections for "
		                    "this user.");
	}
	struct account_info info;
	int rc = account_get(s->srv->accounts, user, &info, &e);
	if (rc <= 0) {
		log_error("user=<%s>: account lookup: %s", user,
		          rc < 0 ? e.msg : "gone");
		anvil_leave(s->srv->clients, &s->user_slot);
		return imapd_cmd_no(c, s,
		                    "[UNAVAILABLE] Temporary failure, "
		                    "try again later.");
	}
	size_t ml = strlen(info.maildir);
	while (ml > 1 && info.maildir[ml - 1] == '/')
		info.maildir[--ml] = '\0';
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/%s",
	                 params->virtual_mailbox_base, info.maildir);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    mbox_open(&s->mb, path, MBOX_CREATE, &e) < 0) {
		log_error("user=<%s>: mailbox %s: %s", user, path,
		          n < 0 || (size_t)n >= sizeof(path) ? "path too long"
		                                             : e.msg);
		anvil_leave(s->srv->clients, &s->user_slot);
		return imapd_cmd_no(c, s,
		                    "[UNAVAILABLE] Mailbox unavailable, "
		                    "try again later.");
	}
	snprintf(s->user, sizeof(s->user), "%s", user);
	snprintf(s->method, sizeof(s->method), "%s", method);
	s->state = IMAPD_STATE_AUTH;
	s->rd.literal_max = s->srv->literal_max;
	imapd_folders_provision(s);
	log_info("login: user=<%s>, method=%s, rip=%s, lip=%s%s", s->user,
	         s->method, s->client->peer.addr, s->client->local.addr,
	         s->tls ? ", TLS" : "");
	imapd_cmd_ok(c, s, "[CAPABILITY %s] Logged in", imapd_capabilities(s));
}

void imapd_auth_logout(struct imapd_session *s)
{
	log_info("logout: user=<%s>, in=%llu, out=%llu, expunged=%llu", s->user,
	         (unsigned long long)s->rd.bytes_in,
	         (unsigned long long)s->bytes_out,
	         (unsigned long long)s->expunged);
	mbox_close(&s->mb);
}

void imapd_cmd_login(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_str user, pass;
	int prc = (imapd_args_sp(a) < 0 || imapd_args_astring(a, &user) < 0 ||
	           imapd_args_sp(a) < 0 || imapd_args_astring(a, &pass) < 0 ||
	           imapd_args_done(a) < 0)
	                  ? -1
	                  : 0;
	wipe_command(s);
	if (prc < 0)
		return imapd_cmd_syntax(c, s);
	if (!plaintext_ok(s)) {
		explicit_bzero((char *)pass.p, pass.len);
		return imapd_cmd_no(c, s,
		                    "[PRIVACYREQUIRED] Plaintext "
		                    "authentication disallowed without "
		                    "TLS.");
	}
	char canon[ACCOUNT_ADDR_MAX + 1];
	struct err e;
	int rc = sasl_server_check_plain(user.p, user.len, pass.p, pass.len,
	                                 canon, sizeof(canon), &e);
	explicit_bzero((char *)pass.p, pass.len);
	if (rc < 0) {
		log_error("login: %s", e.msg);
		return imapd_cmd_no(c, s,
		                    "[UNAVAILABLE] Temporary "
		                    "authentication failure.");
	}
	if (rc == 0)
		return auth_failed(s, c, user.p, "LOGIN", NULL);
	login_done(s, c, canon, "LOGIN");
}

void imapd_cmd_authenticate(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_str mech, ir = {NULL, 0};
	if (imapd_args_sp(a) < 0 || imapd_args_atom(a, &mech) < 0)
		return imapd_cmd_syntax(c, s);
	if (imapd_args_take(a, ' ') && imapd_args_word(a, "+/=", &ir) < 0)
		return imapd_cmd_syntax(c, s);
	if (imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	struct buf ch;
	buf_init(&ch, 65536);
	enum sasl_server_status st = sasl_server_session_start_b64(
	        s->sasl, mech.p, ir.p, ir.len, &ch);
	if (ir.p)
		explicit_bzero((char *)ir.p, ir.len);
	wipe_command(s);
	int steps = 0;
	while (st == SASL_SERVER_CONTINUE) {
		imapd_printf(s, "+ %s\r\n", buf_cstr(&ch));
		buf_reset(&ch);
		if (imapd_flush(s) < 0) {
			s->bye = true;
			break;
		}
		int rc = imapd_read_command(s, -1);
		if (rc == 0) {
			s->bye = true;
			buf_deinit(&ch);
			return;
		}
		if (rc == 2 || ++steps > SASL_SERVER_STEPS_MAX) {
			st = SASL_SERVER_BADPROT;
			break;
		}
		st = sasl_server_session_step_b64(s->sasl, s->rd.cmd.data,
		                                  s->rd.cmd.len, &ch);
		wipe_command(s);
	}
	buf_deinit(&ch);
	if (s->bye)
		return;
	switch (st) {
	case SASL_SERVER_OK: {
		char mechname[32];
		snprintf(mechname, sizeof(mechname), "%s",
		         sasl_server_session_mech(s->sasl));
		imapd_upper(mechname);
		return login_done(s, c, sasl_server_session_user(s->sasl),
		                  mechname);
	}
	case SASL_SERVER_FAIL:
		return auth_failed(s, c, sasl_server_session_user(s->sasl),
		                   mech.p, sasl_server_session_reason(s->sasl));
	case SASL_SERVER_NOMECH:
		if (!plaintext_ok(s))
			return imapd_cmd_no(c, s,
			                    "[PRIVACYREQUIRED] "
			                    "Authentication disallowed "
			                    "without TLS.");
		return imapd_cmd_no(c, s,
		                    "Unsupported authentication "
		                    "mechanism.");
	case SASL_SERVER_CANCEL:
		return imapd_cmd_bad(c, s, "Authentication cancelled.");
	case SASL_SERVER_TEMPFAIL:
		return imapd_cmd_no(c, s,
		                    "[UNAVAILABLE] Temporary "
		                    "authentication failure.");
	case SASL_SERVER_BADPROT:
	case SASL_SERVER_CONTINUE:
	default:
		return imapd_cmd_bad(c, s, "Invalid authentication exchange.");
	}
}
