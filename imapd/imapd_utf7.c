/* SPDX-License-Identifier: MIT */
/*
 * imapd_utf7.c - modified UTF-7 (RFC 3501 5.1.3) to and from UTF-8
 *
 * Both directions work on (pointer, length) and append to a bounded
 * buffer. The decoder doubles as the validator of client mailbox names.
 */
#include "imapd/imapd_utf7.h"

#include <stdbool.h>
#include <stdint.h>

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

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

/* Decodes one base64 run s[0..len) (between "&" and "-"). */
static int decode_run(const char *s, size_t len, struct buf *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	uint32_t high = 0; /* pending high surrogate */
	for (size_t i = 0; i < len; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits < 16)
			continue;
		bits -= 16;
		uint32_t u = (acc >> bits) & 0xffff;
		acc &= (1u << bits) - 1;
		if (high) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			uint32_t cp =
				0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
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
	/* Leftover bits must be padding: fewer than 6, all zero. */
	if (high || bits >= 6 || acc != 0)
		return -1;
	return 0;
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
			if (prev_run || decode_run(s + i + 1, j - i - 1, out) < 0)
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

static int flush_run(struct buf *out, uint32_t *acc, unsigned *bits)
{
	if (*bits > 0) {
		unsigned v = (*acc << (6 - *bits)) & 0x3f;
		if (buf_append_char(out, b64chars[v]) < 0)
			return -1;
	}
	*acc = 0;
	*bits = 0;
	return buf_append_char(out, '-');
}

static int put_u16(struct buf *out, uint32_t u, uint32_t *acc, unsigned *bits)
{
	*acc = (*acc << 16) | u;
	*bits += 16;
	while (*bits >= 6) {
		*bits -= 6;
		if (buf_append_char(out, b64chars[(*acc >> *bits) & 0x3f]) < 0)
			return -1;
	}
	*acc &= (1u << *bits) - 1;
	return 0;
}

int imapd_utf8_to_utf7(const char *s, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	bool in_run = false;
	uint32_t acc = 0;
	unsigned bits = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_char(p + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f)
			return -1;
		i += n;
		if (cp <= 0x7e) {
			if (in_run && flush_run(out, &acc, &bits) < 0)
				return -1;
			in_run = false;
			int rc = cp == '&' ? buf_append(out, "&-", 2)
					   : buf_append_char(out, (char)cp);
			if (rc < 0)
				return -1;
			continue;
		}
		if (!in_run) {
			if (buf_append_char(out, '&') < 0)
				return -1;
			in_run = true;
		}
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000;
			if (put_u16(out, 0xd800 + (v >> 10), &acc, &bits) < 0 ||
			    put_u16(out, 0xdc00 + (v & 0x3ff), &acc, &bits) < 0)
				return -1;
		} else if (put_u16(out, cp, &acc, &bits) < 0) {
			return -1;
		}
	}
	if (in_run && flush_run(out, &acc, &bits) < 0)
		return -1;
	return 0;
}
