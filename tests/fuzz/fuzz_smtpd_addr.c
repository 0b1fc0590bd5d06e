/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtpd_addr.c - the RFC 5321 path parser and the ESMTP parameter
 * parser on arbitrary command arguments: no overrun (the input is copied
 * to a buffer of exactly its size), and every accepted path formats to
 * an external form that parses back to the same address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd_addr.h"
#include "smtpd/smtpd_params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0] & 7u;
	size_t len = size - 1;
	char *in = malloc(len ? len : 1);
	memcpy(in, data + 1, len);
	struct smtpd_addr a, b;
	size_t used;
	if (smtpd_addr_parse(in, len, flags, &a, &used) == SMTPD_ADDR_OK) {
		if (used > len || used < 2)
			abort();
		char text[SMTPD_ADDR_TEXT_MAX + 1];
		int n = smtpd_addr_format(&a, "d.example", text, sizeof(text));
		if (n < 0 || strlen(text) != (size_t)n)
			abort();
		if (!a.null && !a.postmaster) {
			char path[SMTPD_ADDR_TEXT_MAX + 3];
			path[0] = '<';
			memcpy(path + 1, text, (size_t)n);
			path[n + 1] = '>';
			size_t u2;
			if (smtpd_addr_parse(path, (size_t)n + 2,
					     flags | SMTPD_ADDR_UTF8, &b,
					     &u2) != SMTPD_ADDR_OK ||
			    u2 != (size_t)n + 2 || b.local_len != a.local_len ||
			    memcmp(a.local, b.local, a.local_len) != 0 ||
			    strcmp(a.domain, b.domain) != 0)
				abort();
		}
		struct smtpd_mail_params mp;
		struct smtpd_rcpt_params rp;
		struct smtpd_reply_err e;
		(void)smtpd_params_mail(in + used, len - used, &mp, &e);
		(void)smtpd_params_rcpt(in + used, len - used,
					(flags & SMTPD_ADDR_UTF8) != 0, &rp, &e);
	}
	char out[64];
	(void)smtpd_xtext_decode(in, len, out, sizeof(out));
	free(in);
	return 0;
}
