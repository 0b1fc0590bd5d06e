/* SPDX-License-Identifier: MIT */
/*
 * smtpd_cmd_auth.c - SMTP AUTH (RFC 4954) through common/sasl_server
 *
 * Offered only when smtpd_sasl_auth_enable is set and, with
 * smtpd_tls_auth_only (the default), only over TLS. Each failure from a
 * client address (counted across sessions and processes in the shared
 * table, common/anvil.h, and forgotten one per auth_failure_decay_time)
 * is answered after smtpd_auth_failure_delay times the recent failure
 * count (at most 30 s), so password guessing gets slower with every try.
 *
 * Secrets: the AUTH line and every response line may hold a password;
 * they are wiped from the line buffer once used and never logged. The
 * log says which mechanism failed and why (sasl_server_session_reason
 * never holds a password).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/anvil.h"
#include "common/log.h"
#include "common/params.h"
#include "common/sasl_server.h"
#include "common/stream.h"
#include "common/xalloc.h"
#include "smtpd_cmd.h"

#define MECH_MAX 20 /* RFC 4422 3.1: 1 to 20 characters */
#define DELAY_MAX 30

static bool ready;

void smtpd_auth_init(struct account_db *accounts)
{
	struct err e;
	if (!params->smtpd_sasl_auth_enable)
		return;
	if (!accounts) {
		log_warn("SASL: no account map; AUTH is not offered");
		return;
	}
	char mechs[256] = "";
	size_t o = 0;
	for (size_t i = 0; i < params->smtpd_sasl_mechanisms.n; i++) {
		int n = snprintf(mechs + o, sizeof(mechs) - o, "%s%s",
				 i ? " " : "",
				 params->smtpd_sasl_mechanisms.v[i]);
		if (n < 0 || (size_t)n >= sizeof(mechs) - o)
			break;
		o += (size_t)n;
	}
	if (sasl_server_setup(accounts, mechs, &e) < 0) {
		log_warn("SASL: %s; AUTH is not offered", e.msg);
		return;
	}
	ready = true;
}

void smtpd_auth_deinit(void)
{
	if (ready)
		sasl_server_cleanup();
	ready = false;
}

void smtpd_auth_session_new(struct smtpd_session *s)
{
	if (!ready)
		return;
	char local[80], remote[80];
	(void)snprintf(local, sizeof(local), "%s;%s", s->client->local.addr,
		       s->client->local.port);
	(void)snprintf(remote, sizeof(remote), "%s;%s", s->addr,
		       s->client->peer.port);
	s->sasl = sasl_server_session_new("smtp", params->myhostname, local,
					  remote);
	sasl_server_session_security(s->sasl, 0,
				     !params->smtpd_tls_auth_only);
}

void smtpd_auth_session_free(struct smtpd_session *s)
{
	sasl_server_session_free(&s->sasl);
	free(s->sasl_user);
	s->sasl_user = NULL;
}

void smtpd_auth_tls(struct smtpd_session *s)
{
	if (s->sasl)
		sasl_server_session_security(s->sasl, s->tls_bits,
					     !params->smtpd_tls_auth_only);
}

static bool auth_allowed(const struct smtpd_session *s)
{
	return s->sasl && (s->tls || !params->smtpd_tls_auth_only);
}

const char *smtpd_auth_mechs(struct smtpd_session *s)
{
	if (!auth_allowed(s) || s->sasl_user)
		return NULL;
	const char *m = sasl_server_session_mechs(s->sasl);
	return m && *m ? m : NULL;
}

static void wipe_line(struct smtpd_session *s)
{
	explicit_bzero(s->line.data, s->line.len);
	buf_reset(&s->line);
}

/* Reads one response line of the exchange into s->line (terminator
 * removed). 0, or -1 when the session must end. */
static int read_response(struct smtpd_session *s)
{
	enum stream_eol eol;
	stream_set_timeout(s->st, (int)(params->smtpd_timeout * 1000));
	if (stream_read_line(s->st, &s->line, 12288 + 2, &eol) < 0) {
		if (stream_error(s->st) == STREAM_ERR_TOO_LONG) {
			wipe_line(s);
			buf_append_str(&s->line, "*"); /* treated as cancel */
			return 0;
		}
		smtpd_stream_failed(s);
		return -1;
	}
	if (eol == STREAM_EOL_NONE) {
		smtpd_stream_failed(s);
		return -1;
	}
	buf_truncate(&s->line, s->line.len - (eol == STREAM_EOL_CRLF ? 2 : 1));
	return 0;
}

static void failure_delay(struct smtpd_session *s)
{
	s->auth_failures++;
	unsigned n = anvil_fail(s->clients, &s->client_key);
	/* Without the table: this session's own count. */
	if (n < s->auth_failures)
		n = s->auth_failures;
	long d = anvil_fail_delay(n, params->smtpd_auth_failure_delay,
				  DELAY_MAX);
	if (d <= 0)
		return;
	(void)stream_flush(s->st);
	struct timespec ts = {.tv_sec = d};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR &&
	       !service_stopping())
		;
}

/* The answer to a finished exchange. 0 authenticated, -1 not. */
static int conclude(struct smtpd_session *s, enum sasl_server_status st,
		    const char *mech)
{
	switch (st) {
	case SASL_SERVER_OK:
		s->sasl_user = xstrdup(sasl_server_session_user(s->sasl));
		(void)snprintf(s->sasl_mech, sizeof(s->sasl_mech), "%s",
			       sasl_server_session_mech(s->sasl));
		anvil_fail_clear(s->clients, &s->client_key);
		smtpd_reply(s, 235, "2.7.0", "Authentication successful");
		return 0;
	case SASL_SERVER_FAIL:
		log_warn("%s: SASL %s authentication failed: %s", s->namaddr,
			 mech, sasl_server_session_reason(s->sasl));
		failure_delay(s);
		smtpd_reply(s, 535, "5.7.8",
			    "Error: authentication failed");
		break;
	case SASL_SERVER_NOMECH:
		smtpd_reply(s, 504, "5.5.4",
			    "Unrecognized authentication type");
		break;
	case SASL_SERVER_BADPROT:
		smtpd_reply(s, 501, "5.5.2",
			    "Error: malformed authentication response");
		break;
	case SASL_SERVER_CANCEL:
		smtpd_reply(s, 501, "5.0.0", "Authentication aborted");
		break;
	case SASL_SERVER_TEMPFAIL:
	case SASL_SERVER_CONTINUE:
		log_warn("%s: SASL %s: %s", s->namaddr, mech,
			 sasl_server_session_reason(s->sasl));
		smtpd_reply(s, 454, "4.7.0",
			    "Temporary authentication failure");
		break;
	}
	return -1;
}

int smtpd_cmd_auth(struct smtpd_session *s, const char *arg, size_t len)
{
	if (!s->sasl) {
		smtpd_reply(s, 503, "5.5.1",
			    "Error: authentication not enabled");
		return -1;
	}
	if (s->state != SMTPD_STATE_READY) {
		smtpd_reply(s, 503, "5.5.1",
			    s->state == SMTPD_STATE_GREET
				    ? "Error: send HELO/EHLO first"
				    : "Error: MAIL transaction in progress");
		return -1;
	}
	if (s->sasl_user) {
		smtpd_reply(s, 503, "5.5.1", "Error: already authenticated");
		return -1;
	}
	if (!auth_allowed(s)) {
		smtpd_reply(s, 538, "5.7.11",
			    "Encryption required for requested authentication "
			    "mechanism");
		return -1;
	}
	size_t ml = 0;
	while (ml < len && arg[ml] != ' ')
		ml++;
	if (ml == 0 || ml > MECH_MAX) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism");
		return -1;
	}
	char mech[MECH_MAX + 1];
	memcpy(mech, arg, ml);
	mech[ml] = 0;
	const char *ir = ml < len ? arg + ml + 1 : NULL;
	size_t irlen = ml < len ? len - ml - 1 : 0;
	struct buf chal;
	buf_init(&chal, 2 * SASL_SERVER_INPUT_MAX);
	enum sasl_server_status st =
		sasl_server_session_start_b64(s->sasl, mech, ir, irlen, &chal);
	wipe_line(s);
	while (st == SASL_SERVER_CONTINUE) {
		smtpd_reply_part(s, 334, true, "%s", buf_cstr(&chal));
		buf_reset(&chal);
		if (read_response(s) < 0) {
			buf_deinit(&chal);
			return -1;
		}
		st = sasl_server_session_step_b64(s->sasl, s->line.data,
						  s->line.len, &chal);
		wipe_line(s);
	}
	buf_deinit(&chal);
	return conclude(s, st, mech);
}
