/* SPDX-License-Identifier: MIT */
/*
 * smtpd_cmd_tls.c - STARTTLS (RFC 3207) and implicit TLS (RFC 8314)
 *
 * The server context is loaded as root before the privilege drop (the
 * key is not readable by mail_owner). A broken TLS setup is logged and
 * STARTTLS is then not offered; where TLS is mandatory (level encrypt,
 * wrapper mode) mail is refused rather than taken in the clear.
 *
 * Command injection (CVE-2011-0411): plaintext the client sent after
 * STARTTLS, before the handshake, is thrown away, never executed as if it
 * had come over TLS. After the handshake the session starts over (RFC
 * 3207 4.2): no HELO, no transaction, and SASL learns the new channel.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/params.h"
#include "common/stream.h"
#include "common/tls.h"
#include "smtpd_cmd.h"
#include "smtpd_log.h"

static struct tls_ctx *ctx;
static enum tls_level level = TLS_LEVEL_NONE;

void smtpd_tls_init_privileged(void)
{
	struct err e;
	if (tls_level_parse(params->smtpd_tls_security_level, &level) < 0 ||
	    level > TLS_LEVEL_ENCRYPT) {
		log_warn("smtpd_tls_security_level: \"%s\" is not none, may "
			 "or encrypt; using encrypt",
			 params->smtpd_tls_security_level);
		level = TLS_LEVEL_ENCRYPT;
	}
	if (level == TLS_LEVEL_NONE && !params->smtpd_tls_wrappermode)
		return;
	if (!params->smtpd_tls_cert_file[0]) {
		log_warn("TLS is configured but smtpd_tls_cert_file is empty: "
			 "TLS is not available");
		return;
	}
	struct tls_server_config cfg = {
		.cert_file = params->smtpd_tls_cert_file,
		.key_file = params->smtpd_tls_key_file,
		.protocols = params->smtpd_tls_protocols,
		.ticket_key_file = params->tls_session_ticket_keyfile,
		.ticket_lifetime = params->smtpd_tls_session_cache_timeout,
	};
	ctx = tls_server_ctx_new(&cfg, &e);
	if (!ctx)
		log_warn("TLS is not available: %s", e.msg);
}

bool smtpd_tls_required(void)
{
	return level == TLS_LEVEL_ENCRYPT && !params->smtpd_tls_wrappermode;
}

bool smtpd_tls_offer(const struct smtpd_session *s)
{
	return ctx && !s->tls && level != TLS_LEVEL_NONE;
}

/* The handshake, with the command timeout. 0, or -1 (logged). */
static int handshake(struct smtpd_session *s)
{
	stream_set_timeout(s->st, (int)(params->smtpd_timeout * 1000));
	if (stream_start_tls_server(s->st, ctx) < 0) {
		log_info("SSL_accept error from %s: %s", s->namaddr,
			 stream_errtext(s->st));
		smtpd_log_stream_error(s, stream_error(s->st));
		return -1;
	}
	struct tls_conn *c = stream_tls(s->st);
	s->tls = true;
	int bits = tls_conn_bits(c, NULL);
	s->tls_bits = bits > 0 ? (unsigned)bits : 0;
	if (params->smtpd_tls_loglevel >= 1) {
		char line[512];
		log_info("%s",
			 tls_conn_describe(c, s->namaddr, line, sizeof(line)));
	}
	smtpd_auth_tls(s);
	return 0;
}

int smtpd_tls_wrapper_start(struct smtpd_session *s)
{
	s->where = "CONNECT";
	if (!ctx) {
		log_warn("%s: implicit TLS service without a usable "
			 "certificate; dropping the connection",
			 s->namaddr);
		return -1;
	}
	return handshake(s);
}

int smtpd_cmd_starttls(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return -1;
	}
	if (s->tls) {
		smtpd_reply(s, 554, "5.5.1", "Error: TLS already active");
		return -1;
	}
	if (level == TLS_LEVEL_NONE) {
		smtpd_reply(s, 502, "5.5.1", "Error: command not implemented");
		return -1;
	}
	if (!ctx) {
		smtpd_reply(s, 454, "4.7.0",
			    "TLS not available due to local problem");
		return -1;
	}
	smtpd_reply(s, 220, "2.0.0", "Ready to start TLS");
	size_t junk = stream_pending(s->st) ? stream_discard_input(s->st) : 0;
	if (junk)
		log_warn("%s: discarded %zu bytes of plaintext sent after "
			 "STARTTLS",
			 s->namaddr, junk);
	if (handshake(s) < 0) {
		s->quit = true;
		return -1;
	}
	/* RFC 3207 4.2: forget everything learned before TLS. */
	smtpd_tx_reset(s);
	s->helo[0] = 0;
	s->esmtp = false;
	free(s->sasl_user); /* AUTH in the clear (smtpd_tls_auth_only=no) */
	s->sasl_user = NULL;
	smtpd_state_set(s, SMTPD_STATE_GREET);
	return 0;
}
