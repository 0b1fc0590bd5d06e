/* SPDX-License-Identifier: MIT */
/*
 * rfc822.c - RFC 5322 header blocks: where they end, their fields, folding
 *
 * Works on raw stored bytes with CRLF or bare LF line endings and never
 * allocates: fields are reported as pointers into the caller's bytes.
 * Malformed lines are skipped rather than rejected, because a stored
 * message has already been accepted and must still be served.
 * Address lists are parsed in rfc822_addr.c; MIME fields in mime_params.c.
 */
#include "common/rfc822.h"

#include <stdint.h>
#include <string.h>

#include "common/mime_codec.h"
#include "common/str.h"

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* End of the line starting at pos: just past its LF, or len. */
static size_t line_end(const char *p, size_t len, size_t pos)
{
	const char *nl = memchr(p + pos, '\n', len - pos);
	return nl ? (size_t)(nl - p) + 1 : len;
}

/* True when p[pos..eol) is an empty line ("\n", "\r\n", or "\r" at EOF). */
static bool line_is_blank(const char *p, size_t pos, size_t eol)
{
	size_t n = eol - pos;
	if (n == 0)
		return false;
	if (n == 1)
		return p[pos] == '\n' || p[pos] == '\r';
	return n == 2 && p[pos] == '\r' && p[pos + 1] == '\n';
}

size_t rfc822_header_len(const char *msg, size_t len, bool *blank_out)
{
	size_t pos = 0;
	while (pos < len) {
		size_t eol = line_end(msg, len, pos);
		if (line_is_blank(msg, pos, eol) && msg[eol - 1] == '\n') {
			if (blank_out)
				*blank_out = true;
			return eol;
		}
		pos = eol;
	}
	if (blank_out)
		*blank_out = false;
	return len;
}

void rfc822_iter_init(struct rfc822_iter *it, const char *hdr, size_t len)
{
	it->p = hdr;
	it->len = len;
	it->pos = 0;
}

/* RFC 5322 3.6.8: ftext is printable US-ASCII except the colon. */
static bool valid_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

/* Fills f from the field p[start..end); 0 when it is not a field. */
static int split_field(const char *p, size_t start, size_t end,
                       struct rfc822_field *f)
{
	size_t first_eol = line_end(p, end, start);
	const char *colon = memchr(p + start, ':', first_eol - start);
	if (!colon)
		return 0;
	size_t nlen = (size_t)(colon - (p + start));
	while (nlen > 0 && is_wsp(p[start + nlen - 1]))
		nlen--;
	if (!valid_name(p + start, nlen))
		return 0;
	size_t vend = end;
	if (vend > start && p[vend - 1] == '\n') {
		vend--;
		if (vend > start && p[vend - 1] == '\r')
			vend--;
	}
	size_t voff = (size_t)(colon - p) + 1;
	if (voff > vend)
		voff = vend;
	f->name = p + start;
	f->name_len = nlen;
	f->value = p + voff;
	f->value_len = vend - voff;
	f->off = start;
	f->len = end - start;
	return 1;
}

int rfc822_iter_next(struct rfc822_iter *it, struct rfc822_field *f)
{
	const char *p = it->p;
	while (it->pos < it->len) {
		size_t start = it->pos;
		size_t eol = line_end(p, it->len, start);
		if (line_is_blank(p, start, eol)) {
			it->pos = it->len;
			return 0;
		}
		/* A field runs on over continuation lines (RFC 5322 2.2.3). */
		size_t end = eol;
		while (end < it->len && is_wsp(p[end]))
			end = line_end(p, it->len, end);
		it->pos = end;
		if (is_wsp(p[start]))
			continue; /* continuation without a field */
		if (split_field(p, start, end, f))
			return 1;
	}
	return 0;
}

bool rfc822_field_is(const struct rfc822_field *f, const char *name)
{
	return strn_eq_nocase(f->name, f->name_len, name);
}

int rfc822_header_find(const char *hdr, size_t len, const char *name,
                       struct rfc822_field *f)
{
	struct rfc822_iter it;
	rfc822_iter_init(&it, hdr, len);
	while (rfc822_iter_next(&it, f))
		if (rfc822_field_is(f, name))
			return 1;
	return 0;
}

size_t rfc822_unfold(const char *v, size_t len, char *dst)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			continue;
		if (n == 0 && is_wsp(v[i]))
			continue;
		dst[n++] = v[i];
	}
	while (n > 0 && is_wsp(dst[n - 1]))
		n--;
	return n;
}

bool rfc822_eq_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

static bool name_listed(const struct rfc822_field *f,
                        const struct rfc822_str *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rfc822_eq_nocase(f->name, f->name_len, names[i].p,
		                     names[i].len))
			return true;
	return false;
}

int rfc822_header_filter(const char *hdr, size_t len,
                         const struct rfc822_str *names, size_t n, bool exclude,
                         struct buf *out)
{
	struct rfc822_iter it;
	struct rfc822_field f;
	rfc822_iter_init(&it, hdr, len);
	while (rfc822_iter_next(&it, &f)) {
		if (name_listed(&f, names, n) == exclude)
			continue;
		if (mime_crlf_append(out, hdr + f.off, f.len, 0, SIZE_MAX,
		                     MIME_CRLF_NUL) < 0)
			return -1;
		if (hdr[f.off + f.len - 1] != '\n' &&
		    buf_append(out, "\r\n", 2) < 0)
			return -1;
	}
	return buf_append(out, "\r\n", 2);
}
