/* SPDX-License-Identifier: MIT */
/*
 * xtext.c - RFC 3461 xtext, both ways
 *
 * ENVID and ORCPT travel and are queued in xtext as received; whoever
 * shows them to a person (a DSN, a log line) decodes them, and whoever
 * makes a new ORCPT (qmgr, for a forwarded recipient) encodes it.
 */
#include "common/xtext.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long xtext_decode(const char *p, size_t len, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		char v;
		if (c == '+') {
			int hi = len - i >= 3 ? hexval(p[i + 1]) : -1;
			int lo = len - i >= 3 ? hexval(p[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			v = (char)(hi * 16 + lo);
			i += 2;
		} else if (c >= 33 && c <= 126 && c != '=') {
			v = (char)c;
		} else {
			return -1;
		}
		if (o >= outsz)
			return -1;
		out[o++] = v;
	}
	return (long)o;
}

int xtext_encode(const char *p, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 33 && c <= 126 && c != '+' && c != '=') {
			if (buf_append_char(out, (char)c) < 0)
				return -1;
		} else {
			char e[3] = {'+', hex[c >> 4], hex[c & 15]};
			if (buf_append(out, e, 3) < 0)
				return -1;
		}
	}
	return 0;
}
