/* SPDX-License-Identifier: MIT */
/*
 * mime_params.c - Content-Type / Content-Disposition values and parameters
 *
 * Reads "token; name=value; ..." leniently: comments (RFC 2045 allows
 * them) and folding are removed, quoted strings unescaped, unquoted values
 * with spaces kept up to the next ";" (a common mailer bug), and RFC 2231
 * continuations (name*0, name*1*, ...) joined into one parameter that
 * keeps its charset'language' encoding. The parsed strings are arena
 * copies; the raw header is not needed afterwards.
 */
#include "common/mime_params.h"

#include <string.h>

#include "common/mime_words.h"
#include "common/str.h"

/* One name=value as written, before continuations are joined. */
struct raw_param {
	const char *base; /* name without '*' suffixes */
	size_t base_len;
	int section; /* -1: not a continuation */
	bool extended;
	const char *value;
	size_t value_len;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 2045 5.1 tspecials. */
static bool is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL && c != 0;
}

bool mime_is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 32 || c >= 127 || is_tspecial((char)c))
			return false;
	}
	return true;
}

/* Skips a comment starting at v[i] == '(' (nested, with quoted pairs). */
static size_t skip_comment(const char *v, size_t len, size_t i)
{
	unsigned depth = 0;
	for (; i < len; i++) {
		if (v[i] == '\\') {
			i++;
		} else if (v[i] == '(') {
			depth++;
		} else if (v[i] == ')') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return len;
}

static size_t skip_cfws(const char *v, size_t len, size_t i)
{
	while (i < len) {
		if (is_wsp(v[i]))
			i++;
		else if (v[i] == '(')
			i = skip_comment(v, len, i);
		else
			break;
	}
	return i;
}

/* Reads a quoted string at v[i] == '"' into b; returns the index after. */
static size_t read_quoted(const char *v, size_t len, size_t i, struct buf *b)
{
	for (i++; i < len && v[i] != '"'; i++) {
		if (v[i] == '\\' && i + 1 < len)
			i++;
		if (v[i] != '\r' && v[i] != '\n')
			(void)buf_append_char(b, v[i]);
	}
	return i < len ? i + 1 : len;
}

/* Reads an unquoted value up to ';' (or a comment after white space). */
static size_t read_bare(const char *v, size_t len, size_t i, struct buf *b)
{
	for (; i < len && v[i] != ';'; i++) {
		if (v[i] == '(' && b->len > 0 && is_wsp(b->data[b->len - 1]))
			break;
		if (v[i] != '\r' && v[i] != '\n')
			(void)buf_append_char(b, v[i]);
	}
	while (b->len > 0 && is_wsp(b->data[b->len - 1]))
		b->len--;
	return i;
}

static size_t to_semicolon(const char *v, size_t len, size_t i)
{
	while (i < len && v[i] != ';') {
		if (v[i] == '"') {
			struct buf junk;
			buf_init(&junk, 1);
			i = read_quoted(v, len, i, &junk);
			buf_deinit(&junk);
		} else if (v[i] == '(') {
			i = skip_comment(v, len, i);
		} else {
			i++;
		}
	}
	return i;
}

/* Splits "name*3*" into base, section and the extended flag. */
static void split_name(const char *n, size_t len, struct raw_param *rp)
{
	rp->extended = len > 0 && n[len - 1] == '*';
	if (rp->extended)
		len--;
	rp->section = -1;
	const char *star = memchr(n, '*', len);
	if (star) {
		uint64_t sec;
		size_t slen = len - (size_t)(star + 1 - n);
		if (parse_uintn(star + 1, slen, 0, MIME_MAX_SECTIONS - 1,
		                &sec) == 0)
			rp->section = (int)sec;
		len = (size_t)(star - n);
	}
	rp->base = n;
	rp->base_len = len;
}

static char *copy(struct arena *a, struct buf *b, size_t *len_out)
{
	*len_out = b->len;
	return arena_memdup(a, buf_cstr(b), b->len);
}

/* Reads the parameters after the main token into raw[]; returns count. */
static size_t read_params(struct arena *a, const char *v, size_t len, size_t i,
                          struct raw_param *raw)
{
	size_t n = 0;
	struct buf b;
	buf_init(&b, len + 1);
	while (i < len && n < MIME_MAX_PARAMS) {
		i = skip_cfws(v, len, i + 1); /* past the ';' */
		size_t ns = i;
		while (i < len && v[i] != '=' && v[i] != ';' && !is_wsp(v[i]) &&
		       v[i] != '(')
			i++;
		size_t ne = i;
		i = skip_cfws(v, len, i);
		if (ne == ns || i >= len || v[i] != '=') {
			i = to_semicolon(v, len, i);
			continue;
		}
		i = skip_cfws(v, len, i + 1);
		buf_reset(&b);
		if (i < len && v[i] == '"')
			i = read_quoted(v, len, i, &b);
		else
			i = read_bare(v, len, i, &b);
		i = to_semicolon(v, len, i);
		struct raw_param *rp = &raw[n++];
		split_name(v + ns, ne - ns, rp);
		rp->value = copy(a, &b, &rp->value_len);
		if (rp->base_len == 0)
			n--;
	}
	buf_deinit(&b);
	return n;
}

/* RFC 2231 7: attribute-char, what an extended value may hold bare. */
static bool is_attr_char(char c)
{
	return (unsigned char)c > 32 && (unsigned char)c < 127 &&
	       !is_tspecial(c) && c != '*' && c != '\'' && c != '%';
}

/* Joins the sections of raw[first]'s name (RFC 2231 3, 4.1) into *out. */
static void join_sections(struct arena *a, struct raw_param *raw, size_t n,
                          size_t first, struct mime_param *out)
{
	size_t idx[MIME_MAX_PARAMS], k = 0;
	bool ext = false;
	for (size_t i = first; i < n; i++) {
		if (raw[i].section < 0 ||
		    !rfc822_eq_nocase(raw[i].base, raw[i].base_len,
		                      raw[first].base, raw[first].base_len))
			continue;
		size_t j = k++;
		while (j > 0 && raw[idx[j - 1]].section > raw[i].section) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
		ext |= raw[i].extended;
	}
	for (size_t j = 0; j < k; j++)
		raw[idx[j]].section = -2; /* consumed */
	struct buf b;
	buf_init(&b, 0);
	if (ext && !raw[idx[0]].extended)
		(void)buf_append(&b, "''", 2); /* no charset, no language */
	for (size_t j = 0; j < k; j++) {
		const struct raw_param *rp = &raw[idx[j]];
		for (size_t c = 0; c < rp->value_len; c++) {
			char ch = rp->value[c];
			if (ext && !rp->extended && !is_attr_char(ch))
				(void)buf_printf(&b, "%%%02X",
				                 (unsigned char)ch);
			else
				(void)buf_append_char(&b, ch);
		}
	}
	out->name.p = raw[first].base;
	out->name.len = raw[first].base_len;
	out->value.p = copy(a, &b, &out->value.len);
	out->extended = ext;
	buf_deinit(&b);
}

static bool already_have(const struct mime_param *ps, size_t n,
                         const struct mime_param *p)
{
	for (size_t i = 0; i < n; i++)
		if (ps[i].extended == p->extended &&
		    rfc822_eq_nocase(ps[i].name.p, ps[i].name.len, p->name.p,
		                     p->name.len))
			return true;
	return false;
}

void mime_field_parse(struct arena *a, const char *v, size_t len,
                      struct mime_field *out)
{
	struct raw_param raw[MIME_MAX_PARAMS];
	struct buf b;
	size_t i = skip_cfws(v, len, 0);
	buf_init(&b, len + 1);
	while (i < len && v[i] != ';') {
		if (v[i] == '(')
			i = skip_comment(v, len, i);
		else if (is_wsp(v[i]) || v[i] == '"')
			i++;
		else
			(void)buf_append_char(&b, v[i++]);
	}
	out->token.p = copy(a, &b, &out->token.len);
	buf_deinit(&b);
	size_t nraw = read_params(a, v, len, i, raw);
	out->params = arena_calloc(a, nraw ? nraw : 1, sizeof(*out->params));
	out->nparams = 0;
	for (size_t r = 0; r < nraw; r++) {
		struct mime_param p;
		if (raw[r].section == -2)
			continue;
		if (raw[r].section >= 0) {
			join_sections(a, raw, nraw, r, &p);
		} else {
			p.name.p = raw[r].base;
			p.name.len = raw[r].base_len;
			p.value.p = raw[r].value;
			p.value.len = raw[r].value_len;
			p.extended = raw[r].extended;
		}
		p.name.p = arena_memdup(a, p.name.p, p.name.len);
		if (!already_have(out->params, out->nparams, &p))
			out->params[out->nparams++] = p;
	}
}

bool mime_ctype_split(const struct rfc822_str *token, struct rfc822_str *type,
                      struct rfc822_str *subtype)
{
	const char *slash = token->p ? memchr(token->p, '/', token->len) : NULL;
	if (!slash)
		return false;
	size_t tl = (size_t)(slash - token->p);
	size_t sl = token->len - tl - 1;
	if (!mime_is_token(token->p, tl) || !mime_is_token(slash + 1, sl))
		return false;
	type->p = token->p;
	type->len = tl;
	subtype->p = slash + 1;
	subtype->len = sl;
	return true;
}

const struct mime_param *mime_param_find(const struct mime_field *f,
                                         const char *name, bool extended)
{
	for (size_t i = 0; i < f->nparams; i++)
		if (f->params[i].extended == extended &&
		    strn_eq_nocase(f->params[i].name.p, f->params[i].name.len,
		                   name))
			return &f->params[i];
	return NULL;
}

int mime_param_value_utf8(const struct mime_field *f, const char *name,
                          struct buf *out)
{
	const struct mime_param *p = mime_param_find(f, name, true);
	if (p)
		return mime_words_decode_2231(p->value.p, p->value.len, out) < 0
		               ? -1
		               : 1;
	p = mime_param_find(f, name, false);
	if (!p)
		return 0;
	return mime_words_decode(p->value.p, p->value.len, out) < 0 ? -1 : 1;
}
