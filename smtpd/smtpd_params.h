/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_PARAMS_H
#define POSTHORN_SMTPD_SMTPD_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/queue_env.h"

/*
 * ESMTP parameters of MAIL FROM and RCPT TO (RFC 5321 4.1.2
 * Mail-parameters / Rcpt-parameters): "SP keyword[=value]" repeated.
 *   MAIL: SIZE (RFC 1870), BODY=7BIT|8BITMIME (RFC 6152), SMTPUTF8
 *         (RFC 6531), RET=FULL|HDRS and ENVID=xtext (RFC 3461),
 *         AUTH=xtext (RFC 4954 5: checked, then ignored)
 *   RCPT: NOTIFY=NEVER|list of SUCCESS,FAILURE,DELAY and
 *         ORCPT=addr-type;xtext (RFC 3461)
 * Keywords are case-insensitive; each may appear once. Values that travel
 * on (ENVID, ORCPT) are kept as received (xtext) after checking that they
 * decode; the limits of RFC 3461 apply to the decoded text.
 *
 * Errors come back as an SMTP reply for the caller to send:
 *   501 5.5.4 bad syntax or value, duplicate keyword
 *   555 5.5.4 unknown keyword (RFC 5321 4.1.1.11)
 */

/* RFC 3461 4.4 and 4.2: decoded ENVID and ORCPT lengths. */
#define SMTPD_ENVID_MAX 100
#define SMTPD_ORCPT_MAX 500

struct smtpd_reply_err {
	int code;        /* 501, 555 ... */
	const char *dsn; /* "5.5.4" */
	char text[160];  /* "Bad SIZE parameter" */
};

struct smtpd_mail_params {
	bool has_size;
	uint64_t size;
	enum queue_body body; /* QUEUE_BODY_7BIT when not given */
	bool body_given;
	bool smtputf8;
	enum queue_ret ret;
	char envid[3 * SMTPD_ENVID_MAX + 1]; /* xtext as received, "" none */
	bool auth_given;
};

struct smtpd_rcpt_params {
	unsigned notify; /* QUEUE_NOTIFY_*, 0 when not given */
	/* "addr-type;xtext" as received, "" when not given. */
	char orcpt[3 * SMTPD_ORCPT_MAX + 32];
};

/*
 * Parses the parameters in p[0..len): what follows the path's '>' (empty,
 * or starting with a space). 0 and *out filled, or -1 with *e set. utf8
 * allows UTF-8 in values (only ORCPT utf-8 addr-type uses it).
 */
int smtpd_params_mail(const char *p, size_t len,
		      struct smtpd_mail_params *out, struct smtpd_reply_err *e);
int smtpd_params_rcpt(const char *p, size_t len, bool utf8,
		      struct smtpd_rcpt_params *out,
		      struct smtpd_reply_err *e);

/*
 * Decodes xtext (RFC 3461 4: printable ASCII except '+' and '=', and
 * "+XX" with upper-case hex) from p[0..len) into out (at most outsz
 * bytes, not NUL-terminated). Returns the decoded length, or -1 when
 * the text is malformed or does not fit.
 */
long smtpd_xtext_decode(const char *p, size_t len, char *out, size_t outsz);

#endif
