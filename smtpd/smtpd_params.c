/* SPDX-License-Identifier: MIT */
/*
 * smtpd_params.c - ESMTP parameters of MAIL FROM and RCPT TO
 *
 * Splits "SP keyword[=value]" items, checks each keyword's value against
 * its RFC and fills a struct; knows nothing of limits (message_size_limit
 * is the caller's) or of the session. Works on (pointer, length); the
 * values it keeps are bounded copies.
 */
#include "smtpd_params.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/str.h"
#include "smtpd_addr.h"

#define MAX_ITEMS 16 /* more parameters than any client sends */

static int fail(struct smtpd_reply_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets the reply. Keywords echoed in it were checked to be
 * [A-Za-z0-9-] (and are cut to 32 bytes by KW()), so they are safe. */
static int fail(struct smtpd_reply_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	e->dsn = "5.5.4";
	va_start(ap, fmt);
	(void)vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return -1;
}

#define KW(it) (int)((it)->klen > 32 ? 32 : (it)->klen), (it)->key

static bool is_hex_upper(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static int hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'A' + 10;
}

long smtpd_xtext_decode(const char *p, size_t len, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		char v;
		if (c == '+') {
			if (len - i < 3 || !is_hex_upper(p[i + 1]) ||
			    !is_hex_upper(p[i + 2]))
				return -1;
			v = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
			i += 2;
		} else if (c >= 33 && c <= 126 && c != '=')
			v = (char)c;
		else
			return -1;
		if (o >= outsz)
			return -1;
		out[o++] = v;
	}
	return (long)o;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 when allowed. */
static bool value_ok(const char *v, size_t n, bool utf8)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c >= 0x80 && utf8) {
			size_t k = smtpd_utf8_char((const unsigned char *)v + i,
						   n - i);
			if (k == 0)
				return false;
			i += k - 1;
		} else if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool keyword_ok(const char *k, size_t n)
{
	if (n == 0 || n > 64 || k[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

struct item {
	const char *key, *val; /* val NULL when there is no "=" */
	size_t klen, vlen;
};

/* Splits p[0..len) into items. -1 with e set on bad syntax. */
static int split(const char *p, size_t len, bool utf8, struct item *items,
		 size_t *n_out, struct smtpd_reply_err *e)
{
	size_t n = 0, i = 0;
	while (i < len) {
		if (p[i] != ' ')
			return fail(e, 501, "Bad parameter syntax");
		while (i < len && p[i] == ' ')
			i++;
		if (i == len)
			break; /* trailing spaces are tolerated */
		size_t start = i;
		while (i < len && p[i] != ' ')
			i++;
		if (n == MAX_ITEMS)
			return fail(e, 501, "Too many parameters");
		struct item *it = &items[n++];
		it->key = p + start;
		const char *eq = memchr(p + start, '=', i - start);
		it->klen = eq ? (size_t)(eq - it->key) : i - start;
		it->val = eq ? eq + 1 : NULL;
		it->vlen = eq ? (size_t)(p + i - it->val) : 0;
		if (!keyword_ok(it->key, it->klen))
			return fail(e, 501, "Bad parameter syntax");
		if (it->val && !value_ok(it->val, it->vlen, utf8))
			return fail(e, 501, "Bad %.*s parameter syntax", KW(it));
	}
	*n_out = n;
	return 0;
}

static bool key_is(const struct item *it, const char *name)
{
	return strn_eq_nocase(it->key, it->klen, name);
}

static bool val_is(const struct item *it, const char *name)
{
	return it->val && strn_eq_nocase(it->val, it->vlen, name);
}

/* True when an earlier item has the same keyword (ASCII case ignored). */
static bool duplicate(const struct item *items, size_t i)
{
	for (size_t j = 0; j < i; j++) {
		if (items[j].klen != items[i].klen)
			continue;
		size_t k = 0;
		while (k < items[i].klen &&
		       (items[j].key[k] | 0x20) == (items[i].key[k] | 0x20))
			k++;
		if (k == items[i].klen)
			return true;
	}
	return false;
}

static int mail_item(const struct item *it, struct smtpd_mail_params *out,
		     struct smtpd_reply_err *e)
{
	char tmp[SMTPD_ENVID_MAX];
	if (key_is(it, "SIZE")) {
		/* RFC 1870: size-value = 1*20DIGIT */
		if (!it->val || it->vlen > 20 ||
		    parse_uintn(it->val, it->vlen, 0, UINT64_MAX,
				&out->size) < 0)
			return fail(e, 501, "Bad %.*s parameter", KW(it));
		out->has_size = true;
	} else if (key_is(it, "BODY")) {
		if (val_is(it, "7BIT"))
			out->body = QUEUE_BODY_7BIT;
		else if (val_is(it, "8BITMIME"))
			out->body = QUEUE_BODY_8BITMIME;
		else
			return fail(e, 501, "Unsupported %.*s parameter value", KW(it));
		out->body_given = true;
	} else if (key_is(it, "SMTPUTF8")) {
		if (it->val)
			return fail(e, 501, "Bad %.*s parameter", KW(it));
		out->smtputf8 = true;
	} else if (key_is(it, "RET")) {
		if (val_is(it, "FULL"))
			out->ret = QUEUE_RET_FULL;
		else if (val_is(it, "HDRS"))
			out->ret = QUEUE_RET_HDRS;
		else
			return fail(e, 501, "Bad %.*s parameter", KW(it));
	} else if (key_is(it, "ENVID")) {
		if (!it->val || it->vlen >= sizeof(out->envid) ||
		    smtpd_xtext_decode(it->val, it->vlen, tmp, sizeof(tmp)) <
			    0)
			return fail(e, 501, "Bad %.*s parameter", KW(it));
		memcpy(out->envid, it->val, it->vlen);
		out->envid[it->vlen] = 0;
	} else if (key_is(it, "AUTH")) {
		/* RFC 4954 5: AUTH=<> or AUTH=xtext(mailbox); we do not
		 * trust it from anyone, so it is only checked. */
		char ab[SMTPD_ADDR_TEXT_MAX];
		if (!it->val ||
		    smtpd_xtext_decode(it->val, it->vlen, ab, sizeof(ab)) < 0)
			return fail(e, 501, "Bad %.*s parameter", KW(it));
		out->auth_given = true;
	} else
		return fail(e, 555, "Unsupported option: %.*s", KW(it));
	return 0;
}

int smtpd_params_mail(const char *p, size_t len,
		      struct smtpd_mail_params *out, struct smtpd_reply_err *e)
{
	struct item items[MAX_ITEMS];
	size_t n;
	memset(out, 0, sizeof(*out));
	out->body = QUEUE_BODY_7BIT;
	out->ret = QUEUE_RET_DEFAULT;
	if (split(p, len, false, items, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (duplicate(items, i))
			return fail(e, 501, "Duplicate %.*s parameter", KW(&items[i]));
		if (mail_item(&items[i], out, e) < 0)
			return -1;
	}
	return 0;
}

/* NOTIFY=NEVER / 1#( SUCCESS / FAILURE / DELAY ) */
static int parse_notify(const struct item *it, unsigned *out)
{
	unsigned mask = 0;
	size_t i = 0;
	if (!it->val)
		return -1;
	while (i <= it->vlen) {
		const char *w = it->val + i;
		const char *comma = memchr(w, ',', it->vlen - i);
		size_t wl = comma ? (size_t)(comma - w) : it->vlen - i;
		unsigned bit;
		if (strn_eq_nocase(w, wl, "NEVER"))
			bit = QUEUE_NOTIFY_NEVER;
		else if (strn_eq_nocase(w, wl, "SUCCESS"))
			bit = QUEUE_NOTIFY_SUCCESS;
		else if (strn_eq_nocase(w, wl, "FAILURE"))
			bit = QUEUE_NOTIFY_FAILURE;
		else if (strn_eq_nocase(w, wl, "DELAY"))
			bit = QUEUE_NOTIFY_DELAY;
		else
			return -1;
		if (mask & bit)
			return -1;
		mask |= bit;
		i += wl + 1;
	}
	/* NEVER excludes the others (RFC 3461 4.1). */
	if ((mask & QUEUE_NOTIFY_NEVER) && mask != QUEUE_NOTIFY_NEVER)
		return -1;
	*out = mask;
	return 0;
}

/* ORCPT=addr-type ";" xtext; addr-type "rfc822", or "utf-8" (RFC 6533)
 * whose value may carry UTF-8. */
static int check_orcpt(const struct item *it, bool utf8)
{
	if (!it->val)
		return -1;
	const char *semi = memchr(it->val, ';', it->vlen);
	if (!semi)
		return -1;
	size_t tl = (size_t)(semi - it->val);
	const char *v = semi + 1;
	size_t vl = it->vlen - tl - 1;
	char tmp[SMTPD_ORCPT_MAX];
	if (strn_eq_nocase(it->val, tl, "rfc822"))
		return smtpd_xtext_decode(v, vl, tmp, sizeof(tmp)) > 0 ? 0
								       : -1;
	if (strn_eq_nocase(it->val, tl, "utf-8") && utf8)
		return vl > 0 && vl <= 4 * SMTPD_ORCPT_MAX ? 0 : -1;
	return -1;
}

int smtpd_params_rcpt(const char *p, size_t len, bool utf8,
		      struct smtpd_rcpt_params *out,
		      struct smtpd_reply_err *e)
{
	struct item items[MAX_ITEMS];
	size_t n;
	memset(out, 0, sizeof(*out));
	if (split(p, len, utf8, items, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct item *it = &items[i];
		if (duplicate(items, i))
			return fail(e, 501, "Duplicate %.*s parameter", KW(it));
		if (key_is(it, "NOTIFY")) {
			if (parse_notify(it, &out->notify) < 0)
				return fail(e, 501, "Bad %.*s parameter", KW(it));
		} else if (key_is(it, "ORCPT")) {
			if (it->vlen >= sizeof(out->orcpt) ||
			    check_orcpt(it, utf8) < 0)
				return fail(e, 501, "Bad %.*s parameter", KW(it));
			memcpy(out->orcpt, it->val, it->vlen);
			out->orcpt[it->vlen] = 0;
		} else
			return fail(e, 555, "Unsupported option: %.*s", KW(it));
	}
	return 0;
}
