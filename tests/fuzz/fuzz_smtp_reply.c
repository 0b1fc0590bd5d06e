/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_reply.c - what a remote SMTP server sends back: the input is
 * split at LF into reply lines (CR stripped, as smtp_session.c does) and
 * fed to the reply parser; every complete reply is also read as an EHLO
 * reply. Checks the parser's promises: a complete reply has a code in
 * 200..599, its DSN (if any) has the reply's class, the kept text and
 * line list stay within their bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_reply.h"

static void check(const struct smtp_reply *r)
{
	if (r->code < 200 || r->code > 599)
		abort();
	if (r->dsn[0] && r->dsn[0] != '0' + r->code / 100)
		abort();
	if (r->text.len > SMTP_REPLY_TEXT_MAX + 3 ||
	    r->nlines > SMTP_REPLY_LINES_MAX)
		abort();
	for (size_t i = 0; i < r->nlines; i++)
		if (smtp_reply_line(r, i) &&
		    strlen(smtp_reply_line(r, i)) >
		            SMTP_REPLY_TEXT_MAX + SMTP_REPLY_LINES_MAX)
			abort();
	struct smtp_ehlo eh;
	smtp_ehlo_parse(r, &eh);
	if (strlen(eh.name) >= sizeof(eh.name))
		abort();
	char dsn[12];
	smtp_reply_status(r, "4.0.0", dsn, sizeof(dsn));
	if (smtp_dsn_parse(dsn, strlen(dsn), NULL) == 0)
		abort(); /* whatever we report is a valid code */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t len = n;
		while (len > 0 && p[len - 1] == '\r')
			len--;
		int rc = smtp_reply_feed(&r, p, len, &e);
		if (rc == 1)
			check(&r);
		else if (rc < 0)
			smtp_reply_reset(&r);
		p += n + (nl ? 1 : 0);
	}
	/* The same bytes as an enhanced status code. */
	(void)smtp_dsn_parse((const char *)data, size, NULL);
	smtp_reply_deinit(&r);
	return 0;
}
