/* SPDX-License-Identifier: MIT */
/*
 * smtpd_log.c - smtpd's log lines in Postfix's shape
 *
 * Formatting only: the session decides when something is logged.
 */
#include "smtpd_log.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* Postfix's order of the disconnect counters. */
static const struct {
	enum smtpd_cmd_id id;
	const char *name;
} counters[] = {
	{SMTPD_CMD_HELO, "helo"},     {SMTPD_CMD_EHLO, "ehlo"},
	{SMTPD_CMD_STARTTLS, "starttls"}, {SMTPD_CMD_AUTH, "auth"},
	{SMTPD_CMD_MAIL, "mail"},     {SMTPD_CMD_RCPT, "rcpt"},
	{SMTPD_CMD_DATA, "data"},     {SMTPD_CMD_BDAT, "bdat"},
	{SMTPD_CMD_RSET, "rset"},     {SMTPD_CMD_NOOP, "noop"},
	{SMTPD_CMD_VRFY, "vrfy"},     {SMTPD_CMD_EXPN, "expn"},
	{SMTPD_CMD_HELP, "help"},     {SMTPD_CMD_QUIT, "quit"},
	{SMTPD_CMD_UNKNOWN, "unknown"},
};

void smtpd_log_reject(const struct smtpd_session *s,
		      const struct smtpd_verdict *v, const char *from_text,
		      const char *to)
{
	char from[SMTPD_ADDR_TEXT_MAX + 16] = "", rcpt[SMTPD_ADDR_TEXT_MAX + 16] = "";
	char q[SMTPD_ADDR_TEXT_MAX + 8], h[300], text[400];
	if (!from_text && s->state & (SMTPD_STATE_MAIL | SMTPD_STATE_RCPT))
		from_text = s->tx.sender;
	if (from_text)
		(void)snprintf(from, sizeof(from), " from=<%s>",
			       log_quote(q, sizeof(q), from_text,
					 strlen(from_text)));
	if (to)
		(void)snprintf(rcpt, sizeof(rcpt), " to=<%s>",
			       log_quote(q, sizeof(q), to, strlen(to)));
	log_info("%s: reject: %s from %s: %d %s %s;%s%s proto=%s helo=<%s>",
		 smtpd_queue_id(s), s->where, s->namaddr, v->code, v->dsn,
		 log_quote(text, sizeof(text), v->text, strlen(v->text)), from,
		 rcpt, smtpd_protocol(s),
		 log_quote(h, sizeof(h), s->helo, strlen(s->helo)));
}

void smtpd_log_client(const struct smtpd_session *s)
{
	if (s->sasl_user)
		log_info("%s: client=%s, sasl_method=%s, sasl_username=%s",
			 smtpd_queue_id(s), s->namaddr, s->sasl_mech,
			 s->sasl_user);
	else
		log_info("%s: client=%s", smtpd_queue_id(s), s->namaddr);
}

void smtpd_log_stream_error(const struct smtpd_session *s,
			    enum stream_error err)
{
	char bytes[40] = "";
	if (strcmp(s->where, "DATA") == 0 || strcmp(s->where, "BDAT") == 0)
		(void)snprintf(bytes, sizeof(bytes), " (%llu bytes)",
			       (unsigned long long)s->data_bytes);
	log_info("%s after %s%s from %s", stream_error_name(err), s->where,
		 bytes, s->namaddr);
	if (err == STREAM_ERR_TLS || err == STREAM_ERR_IO)
		log_debug(1, "%s: %s", s->namaddr, stream_errtext(s->st));
}

void smtpd_log_disconnect(const struct smtpd_session *s)
{
	char line[512];
	size_t o = 0;
	unsigned ok = 0, total = 0;
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		unsigned t = s->total[counters[i].id];
		unsigned k = s->ok[counters[i].id];
		if (t == 0)
			continue;
		total += t;
		ok += k;
		int n = k == t ? snprintf(line + o, sizeof(line) - o, " %s=%u",
					  counters[i].name, t)
			       : snprintf(line + o, sizeof(line) - o,
					  " %s=%u/%u", counters[i].name, k, t);
		if (n > 0 && (size_t)n < sizeof(line) - o)
			o += (size_t)n;
	}
	line[o] = 0;
	if (ok == total)
		log_info("disconnect from %s%s commands=%u", s->namaddr, line,
			 total);
	else
		log_info("disconnect from %s%s commands=%u/%u", s->namaddr,
			 line, ok, total);
}
