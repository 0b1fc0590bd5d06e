/* SPDX-License-Identifier: MIT */
/*
 * smtpd_addr.c - the RFC 5321 path parser of MAIL FROM and RCPT TO
 *
 * A recursive-descent reader of the grammar in RFC 5321 4.1.2 (with the
 * RFC 6531 3.3 UTF-8 extensions), working on (pointer, length) only. It
 * decides syntax and nothing else: whether an address is ours, known or
 * relayable is smtpd_rcpt.c's business. The internal form it produces
 * (unquoted local part, lower-case domain) is what lookups use; the
 * external form (smtpd_addr_format) is what goes into the envelope.
 */
#include "smtpd_addr.h"

#include <arpa/inet.h>
#include <string.h>

struct cursor {
	const unsigned char *p;
	size_t n, i;
	bool utf8;
	enum smtpd_addr_err err;
};

static int peek(const struct cursor *c)
{
	return c->i < c->n ? c->p[c->i] : -1;
}

static bool is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* RFC 5322 atext. */
static bool is_atext(int ch)
{
	return is_alpha(ch) || is_digit(ch) ||
	       (ch > 0 && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

size_t smtpd_utf8_char(const unsigned char *p, size_t n)
{
	if (n == 0 || p[0] < 0x80)
		return 0;
	unsigned c = p[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf; /* bounds of the second byte */
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* Consumes one non-ASCII character if allowed; false (with the error
 * set) when the byte at the cursor is non-ASCII but not acceptable. */
static bool take_utf8(struct cursor *c, size_t *len_out)
{
	*len_out = 0;
	int ch = peek(c);
	if (ch < 0x80)
		return true;
	if (!c->utf8) {
		c->err = SMTPD_ADDR_E8BIT;
		return false;
	}
	size_t k = smtpd_utf8_char(c->p + c->i, c->n - c->i);
	if (k == 0) {
		c->err = SMTPD_ADDR_ESYNTAX;
		return false;
	}
	*len_out = k;
	return true;
}

/* Appends n bytes to the local part. */
static bool local_put(struct smtpd_addr *a, struct cursor *c,
		      const unsigned char *p, size_t n)
{
	if (a->local_len + n > SMTPD_ADDR_LOCAL_MAX) {
		c->err = SMTPD_ADDR_ETOOLONG;
		return false;
	}
	memcpy(a->local + a->local_len, p, n);
	a->local_len += n;
	return true;
}

/* Moves n bytes at the cursor, after skip bytes, into the local part. */
static bool local_take(struct cursor *c, struct smtpd_addr *a, size_t skip,
		       size_t n)
{
	if (!local_put(a, c, c->p + c->i + skip, n))
		return false;
	c->i += skip + n;
	return true;
}

/* One non-ASCII character into the local part, if allowed. */
static bool local_utf8(struct cursor *c, struct smtpd_addr *a)
{
	size_t k;
	if (!take_utf8(c, &k))
		return false;
	a->utf8 = true;
	return local_take(c, a, 0, k);
}

/* Dot-string = Atom *("." Atom) */
static bool parse_dot_string(struct cursor *c, struct smtpd_addr *a)
{
	bool need_atext = true; /* at the start and after a dot */
	for (;;) {
		int ch = peek(c);
		bool ok;
		if (ch >= 0x80)
			ok = local_utf8(c, a);
		else if (is_atext(ch) || (ch == '.' && !need_atext))
			ok = local_take(c, a, 0, 1);
		else
			break;
		if (!ok)
			return false;
		need_atext = ch == '.';
	}
	if (need_atext)
		c->err = SMTPD_ADDR_ESYNTAX;
	return !need_atext;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE */
static bool parse_quoted(struct cursor *c, struct smtpd_addr *a)
{
	c->i++; /* the opening quote */
	a->quoted = true;
	for (;;) {
		int ch = peek(c);
		bool ok;
		if (ch < 0)
			break;
		if (ch == '"') {
			c->i++;
			return true;
		}
		if (ch == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (c->i + 1 >= c->n || c->p[c->i + 1] < 32 ||
			    c->p[c->i + 1] > 126)
				break;
			ok = local_take(c, a, 1, 1);
		} else if (ch >= 0x80)
			ok = local_utf8(c, a);
		else if (ch >= 32 && ch <= 126)
			/* qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
			ok = local_take(c, a, 0, 1);
		else
			break;
		if (!ok)
			return false;
	}
	c->err = SMTPD_ADDR_ESYNTAX;
	return false;
}

/* Scans a Domain (sub-domain *("." sub-domain)) at the cursor; returns its
 * length (0 with the error set when there is none). */
static size_t scan_domain(struct cursor *c)
{
	size_t start = c->i, label = 0;
	int last = -1; /* last byte of the current label */
	for (;;) {
		int ch = peek(c);
		size_t k = 1;
		if (ch >= 0x80) {
			if (!take_utf8(c, &k))
				return 0;
		} else if (!is_alpha(ch) && !is_digit(ch) &&
			   !(ch == '-' && label > 0))
			break;
		c->i += k;
		label += k;
		last = ch;
		if (label > 63) {
			c->err = SMTPD_ADDR_ETOOLONG;
			return 0;
		}
		if (peek(c) == '.' && last != '-') {
			if (c->i + 1 >= c->n) /* a trailing dot */
				break;
			c->i++;
			label = 0;
			last = -1;
		}
	}
	if (label == 0 || last == '-' || c->i == start) {
		c->err = SMTPD_ADDR_ESYNTAX;
		return 0;
	}
	if (c->i - start > SMTPD_ADDR_DOMAIN_MAX) {
		c->err = SMTPD_ADDR_ETOOLONG;
		return 0;
	}
	return c->i - start;
}

bool smtpd_domain_valid(const char *s, size_t len, bool utf8)
{
	struct cursor c = {.p = (const unsigned char *)s, .n = len,
			   .utf8 = utf8};
	return len > 0 && scan_domain(&c) == len;
}

/* IPv4-address-literal: Snum 3("." Snum), Snum 1*3DIGIT <= 255. */
static bool ipv4_literal(const char *s, size_t n)
{
	int parts = 0;
	size_t i = 0;
	while (parts < 4) {
		unsigned v = 0;
		size_t d = 0;
		while (i < n && is_digit((unsigned char)s[i]) && d < 4) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
			d++;
		}
		if (d == 0 || d > 3 || v > 255)
			return false;
		parts++;
		if (parts < 4) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == n;
}

/* address-literal = "[" ( IPv4 / "IPv6:" IPv6 ) "]" */
static bool parse_literal(struct cursor *c, struct smtpd_addr *a)
{
	size_t start = c->i;
	const unsigned char *close =
		memchr(c->p + c->i, ']', c->n - c->i);
	if (!close) {
		c->err = SMTPD_ADDR_ESYNTAX;
		return false;
	}
	const char *in = (const char *)c->p + c->i + 1;
	size_t n = (size_t)(close - c->p) - c->i - 1;
	char tmp[64];
	if (n >= sizeof(tmp)) {
		c->err = SMTPD_ADDR_ESYNTAX;
		return false;
	}
	/* dcontent (RFC 5321 4.1.3): printable ASCII but "[\]"; checked
	 * first, since inet_pton would stop at a NUL and accept a prefix. */
	for (size_t i = 0; i < n; i++)
		if (in[i] < 33 || in[i] > 126 || in[i] == '[' ||
		    in[i] == '\\') {
			c->err = SMTPD_ADDR_ESYNTAX;
			return false;
		}
	if (ipv4_literal(in, n)) {
		memcpy(a->literal, in, n);
		a->literal[n] = 0;
	} else if (n > 5 && memcmp(in, "IPv6:", 5) == 0) {
		/* RFC 5321 4.1.3: the tag is "IPv6" exactly; inet_pton
		 * accepts exactly the IPv6-addr forms (incl. an embedded
		 * dotted quad). */
		unsigned char bin[16];
		memcpy(tmp, in + 5, n - 5);
		tmp[n - 5] = 0;
		if (inet_pton(AF_INET6, tmp, bin) != 1) {
			c->err = SMTPD_ADDR_ESYNTAX;
			return false;
		}
		memcpy(a->literal, tmp, n - 5 + 1);
	} else {
		c->err = SMTPD_ADDR_ESYNTAX;
		return false;
	}
	c->i = (size_t)(close - c->p) + 1;
	memcpy(a->domain, c->p + start, c->i - start);
	a->domain[c->i - start] = 0;
	return true;
}

/* A-d-l = At-domain *( "," At-domain ) ":" */
static bool parse_route(struct cursor *c)
{
	for (;;) {
		if (peek(c) != '@') {
			c->err = SMTPD_ADDR_ESYNTAX;
			return false;
		}
		c->i++;
		if (scan_domain(c) == 0)
			return false;
		int ch = peek(c);
		c->i++;
		if (ch == ':')
			return true;
		if (ch != ',') {
			c->err = SMTPD_ADDR_ESYNTAX;
			return false;
		}
	}
}

static bool is_postmaster(const struct smtpd_addr *a)
{
	static const char pm[] = "postmaster";
	if (a->quoted || a->local_len != sizeof(pm) - 1)
		return false;
	for (size_t i = 0; i < a->local_len; i++) {
		char ch = a->local[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch != pm[i])
			return false;
	}
	return true;
}

enum smtpd_addr_err smtpd_addr_parse(const char *p, size_t len,
				     unsigned flags, struct smtpd_addr *out,
				     size_t *used_out)
{
	memset(out, 0, sizeof(*out));
	/* The path ends at the first '>' outside a quoted string; bound
	 * the scan by the path limit. */
	struct cursor c = {.p = (const unsigned char *)p,
			   .n = len > SMTPD_ADDR_PATH_MAX + 2
				    ? SMTPD_ADDR_PATH_MAX + 2
				    : len,
			   .utf8 = (flags & SMTPD_ADDR_UTF8) != 0};
	if (peek(&c) != '<')
		return SMTPD_ADDR_ESYNTAX;
	c.i++;
	if (peek(&c) == '>') {
		if (!(flags & SMTPD_ADDR_NULL_OK))
			return SMTPD_ADDR_ESYNTAX;
		out->null = true;
		*used_out = 2;
		return SMTPD_ADDR_OK;
	}
	if (peek(&c) == '@') {
		if (!parse_route(&c))
			goto fail;
		out->routed = true;
	}
	if (peek(&c) == '"') {
		if (!parse_quoted(&c, out))
			goto fail;
	} else if (!parse_dot_string(&c, out))
		goto fail;
	out->local[out->local_len] = 0;
	if (peek(&c) == '>' && (flags & SMTPD_ADDR_POSTMASTER) &&
	    !out->routed && is_postmaster(out)) {
		out->postmaster = true;
		*used_out = c.i + 1;
		return SMTPD_ADDR_OK;
	}
	if (peek(&c) != '@')
		goto syntax;
	c.i++;
	if (peek(&c) == '[') {
		if (!parse_literal(&c, out))
			goto fail;
	} else {
		size_t start = c.i, n = scan_domain(&c);
		if (n == 0)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			char ch = p[start + i];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			else if ((unsigned char)ch >= 0x80)
				out->utf8 = true;
			out->domain[i] = ch;
		}
		out->domain[n] = 0;
	}
	if (peek(&c) != '>')
		goto syntax;
	if (c.i - 1 > SMTPD_ADDR_PATH_MAX)
		return SMTPD_ADDR_ETOOLONG;
	*used_out = c.i + 1;
	return SMTPD_ADDR_OK;
syntax:
	/* Ran into the bound rather than a bad character? */
	if (c.i >= c.n && len > c.n)
		return SMTPD_ADDR_ETOOLONG;
	return SMTPD_ADDR_ESYNTAX;
fail:
	if (c.err == SMTPD_ADDR_ESYNTAX && c.i >= c.n && len > c.n)
		return SMTPD_ADDR_ETOOLONG;
	return c.err ? c.err : SMTPD_ADDR_ESYNTAX;
}

/* True when the internal local part can be written as a dot-string. */
static bool dot_string_ok(const struct smtpd_addr *a)
{
	const unsigned char *s = (const unsigned char *)a->local;
	size_t n = a->local_len;
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x80)
			continue; /* validated UTF-8 */
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext(s[i]))
			return false;
	}
	return true;
}

int smtpd_addr_format(const struct smtpd_addr *a, const char *default_domain,
		      char *out, size_t outsz)
{
	size_t o = 0;
#define PUT(ch)                                                               \
	do {                                                                  \
		if (o + 1 >= outsz)                                           \
			return -1;                                            \
		out[o++] = (ch);                                              \
	} while (0)
	if (outsz == 0)
		return -1;
	if (a->null) {
		out[0] = 0;
		return 0;
	}
	bool plain = dot_string_ok(a);
	if (!plain)
		PUT('"');
	for (size_t i = 0; i < a->local_len; i++) {
		char ch = a->local[i];
		if (!plain && (ch == '"' || ch == '\\'))
			PUT('\\');
		PUT(ch);
	}
	if (!plain)
		PUT('"');
	PUT('@');
	const char *d = a->postmaster ? default_domain : a->domain;
	for (; d && *d; d++)
		PUT(*d);
	out[o] = 0;
	return (int)o;
#undef PUT
}
