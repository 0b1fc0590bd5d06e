/* SPDX-License-Identifier: MIT */
/*
 * smtpd_cmd_basic.c - HELO, EHLO, RSET, NOOP, QUIT, VRFY, EXPN, HELP
 *
 * The commands outside a mail transaction. EHLO advertises exactly what
 * is implemented, and what the current channel allows (STARTTLS only
 * before TLS, AUTH only where smtpd_tls_auth_only permits).
 */
#include <stdio.h>
#include <string.h>

#include "common/params.h"
#include "smtpd_cmd.h"
#include "smtpd_rcpt.h"

/* HELO/EHLO domain / address-literal (RFC 5321 4.1.1.1). Checked only
 * for being one printable word: Postfix's default accepts any name, and
 * many clients send their unqualified host name. */
static bool helo_ok(const char *arg, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)arg[i] <= ' ' || arg[i] == 0x7f)
			return false;
	return true;
}

static int hello(struct smtpd_session *s, const char *arg, size_t len,
		 bool esmtp)
{
	if (!helo_ok(arg, len)) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: %s hostname",
			    esmtp ? "EHLO" : "HELO");
		return -1;
	}
	/* RFC 5321 4.1.4: EHLO/HELO also reset the transaction. */
	smtpd_tx_reset(s);
	memcpy(s->helo, arg, len);
	s->helo[len] = 0;
	s->esmtp = esmtp;
	smtpd_state_set(s, SMTPD_STATE_READY);
	return 0;
}

int smtpd_cmd_helo(struct smtpd_session *s, const char *arg, size_t len)
{
	if (hello(s, arg, len, false) < 0)
		return -1;
	smtpd_reply(s, 250, NULL, "%s", params->myhostname);
	return 0;
}

int smtpd_cmd_ehlo(struct smtpd_session *s, const char *arg, size_t len)
{
	if (hello(s, arg, len, true) < 0)
		return -1;
	smtpd_reply_part(s, 250, false, "%s", params->myhostname);
	smtpd_reply_part(s, 250, false, "PIPELINING");
	smtpd_reply_part(s, 250, false, "SIZE %llu",
			 (unsigned long long)params->message_size_limit);
	if (!params->disable_vrfy_command)
		smtpd_reply_part(s, 250, false, "VRFY");
	if (smtpd_tls_offer(s))
		smtpd_reply_part(s, 250, false, "STARTTLS");
	const char *mechs = smtpd_auth_mechs(s);
	if (mechs)
		smtpd_reply_part(s, 250, false, "AUTH %s", mechs);
	smtpd_reply_part(s, 250, false, "ENHANCEDSTATUSCODES");
	smtpd_reply_part(s, 250, false, "8BITMIME");
	smtpd_reply_part(s, 250, false, "DSN");
	smtpd_reply_part(s, 250, false, "SMTPUTF8");
	smtpd_reply_part(s, 250, true, "CHUNKING");
	return 0;
}

int smtpd_cmd_rset(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: RSET");
		return -1;
	}
	smtpd_tx_reset(s);
	smtpd_reply(s, 250, "2.0.0", "Ok");
	return 0;
}

int smtpd_cmd_noop(struct smtpd_session *s, const char *arg, size_t len)
{
	/* RFC 5321 4.1.1.9: a parameter is allowed and ignored. */
	(void)arg;
	(void)len;
	smtpd_reply(s, 250, "2.0.0", "Ok");
	return 0;
}

int smtpd_cmd_quit(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtpd_reply(s, 221, "2.0.0", "Bye");
	s->quit = true;
	return 0;
}

/* VRFY and EXPN: with disable_vrfy_command 502; otherwise 252 for an
 * address we would accept (RFC 5321 3.5.3: "cannot VRFY user, but will
 * accept message"), the RCPT refusal for one we would not. Lists are
 * never expanded. */
static int verify(struct smtpd_session *s, const char *cmd, const char *arg,
		  size_t len)
{
	if (params->disable_vrfy_command) {
		smtpd_reply(s, 502, "5.5.1", "%s command is disabled", cmd);
		return -1;
	}
	if (len == 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: %s address", cmd);
		return -1;
	}
	/* The argument is a string (RFC 5321 4.1.1.6): an address with or
	 * without brackets, or a user name of this host. */
	char path[SMTPD_ADDR_PATH_MAX + 3];
	bool bracket = arg[0] == '<';
	bool bare = !bracket && !memchr(arg, '@', len);
	int n = snprintf(path, sizeof(path), "%s%.*s%s%s%s",
			 bracket ? "" : "<", (int)len, arg, bare ? "@" : "",
			 bare ? params->myhostname : "", bracket ? "" : ">");
	struct smtpd_addr a;
	size_t used;
	char text[SMTPD_ADDR_TEXT_MAX + 1];
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    smtpd_addr_parse(path, (size_t)n, SMTPD_ADDR_POSTMASTER, &a,
			     &used) != SMTPD_ADDR_OK ||
	    used != (size_t)n) {
		smtpd_reply(s, 501, "5.1.3", "Bad recipient address syntax");
		return -1;
	}
	(void)smtpd_addr_format(&a, params->myhostname, text, sizeof(text));
	struct smtpd_who w;
	struct smtpd_verdict v;
	smtpd_who(s, &w);
	if (smtpd_rcpt_verify(&w, &a, text, &v) != 0) {
		smtpd_reject(s, &v, NULL, text);
		return -1;
	}
	smtpd_reply(s, 252, "2.0.0", "<%s>", text);
	return 0;
}

int smtpd_cmd_vrfy(struct smtpd_session *s, const char *arg, size_t len)
{
	return verify(s, "VRFY", arg, len);
}

int smtpd_cmd_expn(struct smtpd_session *s, const char *arg, size_t len)
{
	return verify(s, "EXPN", arg, len);
}

int smtpd_cmd_help(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtpd_reply_part(s, 214, false,
			 "2.0.0 Commands: HELO EHLO STARTTLS AUTH MAIL RCPT "
			 "DATA BDAT");
	smtpd_reply_part(s, 214, false,
			 "2.0.0          RSET NOOP VRFY EXPN HELP QUIT");
	smtpd_reply_part(s, 214, true,
			 "2.0.0 See RFC 5321; report problems to postmaster");
	return 0;
}
