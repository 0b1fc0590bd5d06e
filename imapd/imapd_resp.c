/* SPDX-License-Identifier: MIT */
/*
 * imapd_resp.c - quote or literal: strings in responses
 *
 * A quoted string may hold only 7-bit TEXT-CHARs (no CR, LF, NUL) with
 * '"' and '\' escaped; anything else, or text long enough that escaping
 * stops paying, goes as a literal. NUL, which no IMAP string may hold,
 * is sent as 0x80 (as common/imap_struct.c does).
 */
#include "imapd/imapd_resp.h"

#include <stdbool.h>
#include <string.h>

#include "common/str.h"
#include "imapd/imapd_args.h"

/* Longer text goes as a literal even when it could be quoted. */
#define QUOTED_MAX 1024

static bool quotable(const char *s, size_t len)
{
	if (len > QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0 || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

int imapd_resp_string(struct buf *out, const char *s, size_t len)
{
	if (quotable(s, len)) {
		if (buf_append_char(out, '"') < 0)
			return -1;
		size_t start = 0;
		for (size_t i = 0; i < len; i++) {
			if (s[i] != '"' && s[i] != '\\')
				continue;
			if (buf_append(out, s + start, i - start) < 0 ||
			    buf_append_char(out, '\\') < 0)
				return -1;
			start = i;
		}
		if (buf_append(out, s + start, len - start) < 0)
			return -1;
		return buf_append_char(out, '"');
	}
	if (buf_printf(out, "{%zu}\r\n", len) < 0)
		return -1;
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\0')
			continue;
		if (buf_append(out, s + start, i - start) < 0 ||
		    buf_append_char(out, (char)0x80) < 0)
			return -1;
		start = i + 1;
	}
	return buf_append(out, s + start, len - start);
}

int imapd_resp_astring(struct buf *out, const char *s, size_t len)
{
	bool atom = len > 0 && !strn_eq_nocase(s, len, "NIL");
	for (size_t i = 0; atom && i < len; i++)
		atom = imapd_is_astring_char((unsigned char)s[i]);
	if (atom)
		return buf_append(out, s, len);
	return imapd_resp_string(out, s, len);
}

int imapd_resp_nstring(struct buf *out, const char *s, size_t len)
{
	if (!s)
		return buf_append(out, "NIL", 3);
	return imapd_resp_string(out, s, len);
}
