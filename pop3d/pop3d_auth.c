/* SPDX-License-Identifier: MIT */
/*
 * pop3d_auth.c - the AUTHORIZATION state: STLS, USER/PASS, AUTH, APOP
 *
 * STLS (RFC 2595 4) and implicit TLS (pop3s), logins by USER/PASS
 * (RFC 1939 7) and SASL (RFC 5034) through the shared account check
 * (common/sasl_server.h), the delay after a failed login (growing with
 * the client address's recent failures across sessions, common/anvil.h),
 * and the step into TRANSACTION: opening and locking the maildrop.
 * APOP is not offered: it needs the password in clear on the server, and
 * the account map holds only hashes.
 *
 * Passwords and AUTH payloads are never logged; the command line that
 * carried them is wiped by the session after each command.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/anvil.h"
#include "common/log.h"
#include "common/params.h"
#include "pop3d_session.h"

/* RFC 5034 4: a client response line may be long; SASL_SERVER_INPUT_MAX
 * decoded bytes are at most this much base64 (plus CRLF). */
#define AUTH_LINE_MAX (4 * (SASL_SERVER_INPUT_MAX / 3 + 1) + 2)
/* The growing delay after a failed login stops growing here (seconds). */
#define DELAY_MAX 30

/* ---- TLS --------------------------------------------------------------- */

int pop3d_tls_start(struct pop3d_session *s)
{
	if (stream_start_tls_server(s->st, s->cfg->tls) < 0) {
		pop3d_session_stream_failed(s);
		return -1;
	}
	struct tls_conn *tc = stream_tls(s->st);
	char line[256];
	log_info("%s", tls_conn_describe(tc, s->namaddr, line, sizeof(line)));
	s->tls = true;
	s->tls_bits = (unsigned)tls_conn_bits(tc, NULL);
	sasl_server_session_security(s->sasl, s->tls_bits,
	                             !params->pop3d_tls_auth_only);
	return 0;
}

int pop3d_cmd_stls(struct pop3d_session *s, const struct pop3d_args *a)
{
	(void)a;
	if (s->tls) {
		pop3d_err(s, NULL, "TLS is already active.");
		return -1;
	}
	if (!s->cfg->tls) {
		pop3d_err(s, NULL, "TLS is not available.");
		return -1;
	}
	/* Bytes sent after STLS but before the handshake must not be read
	 * as if they came over TLS (CVE-2011-0411): drop them. */
	size_t junk = stream_pending(s->st);
	if (junk) {
		log_warn("%s: discarding %zu bytes of plaintext pipelined "
		         "after STLS",
		         s->namaddr, junk);
		(void)stream_discard_input(s->st);
	}
	pop3d_ok(s, "Begin TLS negotiation.");
	/* RFC 2595 4: forget what was learned in the clear. */
	s->user[0] = '\0';
	s->user_given = false;
	return pop3d_tls_start(s);
}

/* ---- logins ------------------------------------------------------------- */

static void log_who(struct pop3d_session *s, char *out, size_t outsz,
                    const char *user, size_t ulen, const char *method)
{
	char q[ACCOUNT_ADDR_MAX + 8];
	(void)snprintf(out, outsz, "user=<%s>, method=%s, rip=%s, lip=%s%s",
	               log_quote(q, sizeof(q), user, ulen), method, s->addr,
	               s->laddr, s->tls ? ", TLS" : "");
}

/* Sleeps after a failed login, longer after each recent one from the
 * client's address, in this session or an earlier one (a client that
 * reconnects after each wrong password is slowed like one that stays):
 * guessing passwords gets slow, one typo costs a user little. */
static void failure_delay(struct pop3d_session *s)
{
	unsigned n = anvil_fail(s->cfg->clients, &s->client_key);
	if (n < s->auth_failures) /* no table: this session's count */
		n = s->auth_failures;
	long secs = anvil_fail_delay(n, params->pop3d_auth_failure_delay,
	                             DELAY_MAX);
	if (secs <= 0)
		return;
	(void)stream_flush(s->st);
	struct timespec ts = {.tv_sec = secs};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !service_stopping())
		;
}

static int auth_failed(struct pop3d_session *s, const char *user, size_t ulen,
                       const char *method, const char *reason)
{
	char who[512];
	s->auth_failures++;
	log_who(s, who, sizeof(who), user, ulen, method);
	log_info("authentication failed: %s, attempt=%u%s%s", who,
	         s->auth_failures, reason && *reason ? ", reason=" : "",
	         reason && *reason ? reason : "");
	failure_delay(s);
	pop3d_err(s, "AUTH", "Authentication failed.");
	return -1;
}

static int auth_tempfail(struct pop3d_session *s, const char *why)
{
	log_warn("%s: temporary authentication failure: %s", s->namaddr, why);
	pop3d_err(s, "SYS/TEMP", "Temporary authentication failure.");
	return -1;
}

int pop3d_login(struct pop3d_session *s, const char *user, const char *method)
{
	struct account_info info;
	struct err e;
	/* The password was right: the address's failures are forgiven. */
	anvil_fail_clear(s->cfg->clients, &s->client_key);
	int rc = account_get(s->cfg->accounts, user, &info, &e);
	if (rc <= 0)
		return auth_tempfail(s, rc < 0 ? e.msg : "account vanished");
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/%s",
	                 params->virtual_mailbox_base, info.maildir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return auth_tempfail(s, "maildir path too long");
	char who[512];
	log_who(s, who, sizeof(who), user, strlen(user), method);
	rc = pop3d_maildrop_open(path, &s->md, &e);
	if (rc == 0) {
		log_info("login refused, mailbox in use: %s", who);
		pop3d_err(s, "IN-USE",
		          "Mailbox is locked by another POP3 session.");
		return -1;
	}
	if (rc < 0) {
		log_error("login: %s: cannot open mailbox: %s", who, e.msg);
		pop3d_err(s, "SYS/TEMP", "Unable to open the mailbox.");
		return -1;
	}
	if (params->pop3d_login_delay > 0) {
		long wait;
		rc = pop3d_maildrop_login_delay(
		        s->md, params->pop3d_login_delay, &wait, &e);
		if (rc < 0)
			log_warn("login: %s: %s", who, e.msg);
		if (rc == 0) {
			pop3d_maildrop_close(&s->md);
			log_info("login refused, too soon (LOGIN-DELAY, %ld s "
			         "left): %s",
			         wait, who);
			pop3d_err(s, "LOGIN-DELAY",
			          "Minimum time between logins is %ld seconds.",
			          params->pop3d_login_delay);
			return -1;
		}
	}
	(void)snprintf(s->login, sizeof(s->login), "%s", user);
	s->method = method;
	/* Every message may be listed, fetched, deleted and UIDL'd once. */
	s->command_limit += 4 * (uint64_t)s->md->count;
	pop3d_session_state(s, POP3D_STATE_TRANS);
	log_info("login: %s", who);
	pop3d_ok(s, "Logged in, %zu messages (%" PRIu64 " octets).",
	         s->md->count, s->md->size);
	return 0;
}

int pop3d_cmd_user(struct pop3d_session *s, const struct pop3d_args *a)
{
	if (a->argl[0] > ACCOUNT_ADDR_MAX) {
		pop3d_err(s, NULL, "User name too long.");
		return -1;
	}
	memcpy(s->user, a->argv[0], a->argl[0]);
	s->user[a->argl[0]] = '\0';
	s->user_given = true;
	/* The same answer for every name: USER must not tell which
	 * accounts exist. */
	pop3d_ok(s, "Send your password.");
	return 0;
}

int pop3d_cmd_pass(struct pop3d_session *s, const struct pop3d_args *a)
{
	if (!s->user_given) {
		pop3d_err(s, NULL, "Send USER first.");
		return -1;
	}
	s->user_given = false;
	char canon[ACCOUNT_ADDR_MAX + 1];
	struct err e;
	int rc = sasl_server_check_plain(s->user, strlen(s->user), a->rest,
	                                 a->rest_len, canon, sizeof(canon), &e);
	if (rc < 0)
		return auth_tempfail(s, e.msg);
	if (rc == 0)
		return auth_failed(s, s->user, strlen(s->user), "USER", NULL);
	return pop3d_login(s, canon, "USER");
}

int pop3d_cmd_apop(struct pop3d_session *s, const struct pop3d_args *a)
{
	(void)a;
	pop3d_err(s, NULL, "APOP is not supported.");
	return -1;
}

/* AUTH without arguments: the mechanism list, as Outlook-era clients
 * expect (not in RFC 5034, answered by most servers). */
static int list_mechs(struct pop3d_session *s)
{
	const char *m = sasl_server_session_mechs(s->sasl);
	pop3d_ok(s, "Supported mechanisms follow.");
	while (*m) {
		size_t n = strcspn(m, " ");
		if (n)
			pop3d_line(s, "%.*s", (int)n, m);
		m += n;
		m += *m == ' ';
	}
	pop3d_end(s);
	return 0;
}

int pop3d_cmd_auth(struct pop3d_session *s, const struct pop3d_args *a)
{
	if (a->argc == 0)
		return list_mechs(s);
	if (!s->tls && params->pop3d_tls_auth_only) {
		pop3d_err(s, "AUTH",
		          "Plaintext authentication disallowed on "
		          "non-secure connections; use STLS first.");
		return -1;
	}
	char mech[64];
	if (a->argl[0] >= sizeof(mech)) {
		pop3d_err(s, NULL, "Unsupported authentication mechanism.");
		return -1;
	}
	memcpy(mech, a->argv[0], a->argl[0]);
	mech[a->argl[0]] = '\0';
	struct buf ch;
	buf_init(&ch, 2 * SASL_SERVER_INPUT_MAX);
	enum sasl_server_status st = sasl_server_session_start_b64(
	        s->sasl, mech, a->argc > 1 ? a->argv[1] : NULL,
	        a->argc > 1 ? a->argl[1] : 0, &ch);
	while (st == SASL_SERVER_CONTINUE) {
		/* RFC 5034 4: "+" SP base64 challenge. */
		(void)stream_printf(s->st, "+ %s\r\n", buf_cstr(&ch));
		buf_reset(&ch);
		int rc = pop3d_session_read_line(s, AUTH_LINE_MAX);
		if (rc <= 0) {
			buf_deinit(&ch);
			return -1;
		}
		st = sasl_server_session_step_b64(s->sasl, s->line.data,
		                                  s->line.len, &ch);
		explicit_bzero(s->line.data, s->line.len);
	}
	buf_deinit(&ch);
	const char *m = sasl_server_session_mech(s->sasl);
	switch (st) {
	case SASL_SERVER_OK:
		return pop3d_login(s, sasl_server_session_user(s->sasl), m);
	case SASL_SERVER_FAIL: {
		const char *who = sasl_server_session_user(s->sasl);
		return auth_failed(s, who, strlen(who), m,
		                   sasl_server_session_reason(s->sasl));
	}
	case SASL_SERVER_NOMECH:
		pop3d_err(s, NULL, "Unsupported authentication mechanism.");
		return -1;
	case SASL_SERVER_BADPROT:
		pop3d_err(s, NULL, "Invalid AUTH data.");
		return -1;
	case SASL_SERVER_CANCEL:
		pop3d_err(s, NULL, "Authentication cancelled.");
		return -1;
	case SASL_SERVER_TEMPFAIL:
		return auth_tempfail(s, sasl_server_session_reason(s->sasl));
	case SASL_SERVER_CONTINUE:
		break;
	}
	return -1;
}
