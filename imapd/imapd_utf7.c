/* SPDX-License-Identifier: MIT */
/*
 * imapd_utf7.c - modified UTF-7 (RFC 3501 5.1.3) to and from UTF-8
 *
 * Both directions work on (pointer, length) and append to a bounded
 * buffer. The decoder doubles as the validator of client mailbox names.
 * The base64 itself is common/b64.c's, with the alphabet's "/" swapped.
 */
#include "imapd/imapd_utf7.h"

#include "common/b64.h"

#include <stdbool.h>
#include <stdint.h>

/* Longest base64 run we decode: more than any mailbox name needs. */
#define RUN_MAX 2048

static int put_utf8(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, b, n);
}

/* Decodes one base64 run s[0..len) (between "&" and "-"): modified
 * base64 is RFC 4648 base64 with "," for "/" and no padding, of UTF-16BE
 * (common/b64.c, strict: no stray bits). */
static int decode_run(const char *s, size_t len, struct buf *out)
{
	char b64[RUN_MAX];
	unsigned char u16[RUN_MAX];
	if (len > sizeof(b64))
		return -1;
	for (size_t i = 0; i < len; i++)
		b64[i] = s[i] == ',' ? '/' : s[i] == '/' ? '!' : s[i];
	long n = b64_decode(b64, len, false, u16, sizeof(u16));
	if (n <= 0 || n % 2)
		return -1;
	uint32_t high = 0; /* pending high surrogate */
	for (long i = 0; i < n; i += 2) {
		uint32_t u = (uint32_t)u16[i] << 8 | u16[i + 1];
		if (high) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			uint32_t cp = 0x10000 + ((high - 0xd800) << 10) +
			              (u - 0xdc00);
			high = 0;
			if (put_utf8(out, cp) < 0)
				return -1;
			continue;
		}
		if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
			continue;
		}
		/* A lone low surrogate, or printable ASCII that should have
		 * been written directly. */
		if ((u >= 0xdc00 && u <= 0xdfff) || (u >= 0x20 && u <= 0x7e))
			return -1;
		if (put_utf8(out, u) < 0)
			return -1;
	}
	return high ? -1 : 0;
}

int imapd_utf7_to_utf8(const char *s, size_t len, struct buf *out)
{
	size_t i = 0;
	bool prev_run = false;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			if (buf_append_char(out, (char)c) < 0)
				return -1;
			i++;
			prev_run = false;
			continue;
		}
		size_t j = i + 1;
		while (j < len && s[j] != '-')
			j++;
		if (j >= len)
			return -1;
		if (j == i + 1) {
			if (buf_append_char(out, '&') < 0)
				return -1;
			prev_run = false;
		} else {
			/* Two runs in a row must be one. */
			if (prev_run ||
			    decode_run(s + i + 1, j - i - 1, out) < 0)
				return -1;
			prev_run = true;
		}
		i = j + 1;
	}
	return 0;
}

int imapd_utf7_check(const char *s, size_t len)
{
	struct buf b;
	buf_init(&b, 0);
	int rc = imapd_utf7_to_utf8(s, len, &b);
	buf_deinit(&b);
	return rc;
}

/* Decodes one UTF-8 character at s[0..len): its length, or 0 if invalid. */
static size_t utf8_char(const unsigned char *s, size_t len, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t n;
	uint32_t min;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		*cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		*cp = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		*cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/* Writes the UTF-16BE bytes u16[0..*n) as a "&...-" run. */
static int flush_run(struct buf *out, unsigned char *u16, size_t *n)
{
	char b64[RUN_MAX * 2];
	long len = b64_encode(u16, *n, false, b64, sizeof(b64));
	if (len < 0)
		return -1;
	for (long i = 0; i < len; i++)
		if (b64[i] == '/')
			b64[i] = ',';
	*n = 0;
	if (buf_append_char(out, '&') < 0 ||
	    buf_append(out, b64, (size_t)len) < 0)
		return -1;
	return buf_append_char(out, '-');
}

static int put_u16(unsigned char *u16, size_t *n, uint32_t u)
{
	if (*n + 2 > RUN_MAX)
		return -1;
	u16[(*n)++] = (unsigned char)(u >> 8);
	u16[(*n)++] = (unsigned char)u;
	return 0;
}

int imapd_utf8_to_utf7(const char *s, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char u16[RUN_MAX];
	size_t n16 = 0; /* bytes of the run being collected */
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_char(p + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f)
			return -1;
		i += n;
		if (cp <= 0x7e) {
			if (n16 && flush_run(out, u16, &n16) < 0)
				return -1;
			int rc = cp == '&' ? buf_append(out, "&-", 2)
			                   : buf_append_char(out, (char)cp);
			if (rc < 0)
				return -1;
			continue;
		}
		int rc;
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000;
			rc = put_u16(u16, &n16, 0xd800 + (v >> 10));
			if (rc == 0)
				rc = put_u16(u16, &n16, 0xdc00 + (v & 0x3ff));
		} else {
			rc = put_u16(u16, &n16, cp);
		}
		if (rc < 0)
			return -1;
	}
	if (n16 && flush_run(out, u16, &n16) < 0)
		return -1;
	return 0;
}
