/* SPDX-License-Identifier: MIT */
/*
 * rfc822_addr.c - RFC 5322 address lists into IMAP's four address parts
 *
 * Two layers: a tokenizer (atoms, quoted strings, comments, domain
 * literals, specials, each marked with whether white space preceded it)
 * and a parser that cuts the list into elements at top-level "," ";" ":"
 * and turns each element into an address. Comments and quoted strings are
 * kept as raw spans and unescaped only when a string is built. An element
 * holds at most MAX_TOKENS tokens; the rest are ignored, so the work and
 * memory per element are bounded whatever the header holds. Everything
 * returned lives in the caller's arena.
 */
#include "common/rfc822_addr.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"

#define MAX_TOKENS 1024

enum tok_kind { T_ATOM, T_QSTR, T_COMMENT, T_DLIT, T_SPECIAL };

struct tok {
	enum tok_kind kind;
	char c;        /* the special character */
	const char *p; /* atom, domain literal (with brackets), or the inside
	                  of a quoted string or comment, still escaped */
	size_t len;
	bool ws; /* white space or a comment came before it */
};

struct parser {
	struct arena *a;
	const char *v;
	size_t len, pos;
	struct rfc822_addr *head, **tail;
	size_t count, max;
	struct tok *toks;
	size_t ntok;
	struct buf b;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
	return c != 0 && strchr("()<>[]:;@\\,.\"", c) != NULL;
}

/*
 * Scans the construct opened at v[i] (a quoted string, comment or domain
 * literal) with quoted pairs; comments nest (RFC 5322 3.2.2). Returns the
 * index of its closing character, or len when it is unterminated.
 */
static size_t scan_close(const char *v, size_t len, size_t i, char close)
{
	size_t depth = 0;
	for (i++; i < len; i++) {
		if (v[i] == '\\') {
			i++;
		} else if (close == ')' && v[i] == '(') {
			depth++;
		} else if (v[i] == close) {
			if (depth == 0)
				return i;
			depth--;
		}
	}
	return len;
}

/* Reads the next token; false at the end of the input. */
static bool next_token(struct parser *ps, struct tok *t)
{
	const char *v = ps->v;
	size_t i = ps->pos;
	t->ws = false;
	while (i < ps->len && is_wsp(v[i])) {
		t->ws = true;
		i++;
	}
	if (i >= ps->len) {
		ps->pos = i;
		return false;
	}
	size_t start = i;
	char c = v[i];
	if (c == '"' || c == '(' || c == '[') {
		size_t close = scan_close(v, ps->len, i,
		                          c == '"'   ? '"'
		                          : c == '(' ? ')'
		                                     : ']');
		t->kind = c == '"' ? T_QSTR : c == '(' ? T_COMMENT : T_DLIT;
		i = close < ps->len ? close + 1 : ps->len;
		if (t->kind == T_DLIT) {
			t->p = v + start;
			t->len = i - start;
		} else {
			t->p = v + start + 1;
			t->len = close - start - 1;
		}
	} else if (is_special(c)) {
		t->kind = T_SPECIAL;
		t->c = c;
		i++;
	} else {
		while (i < ps->len && !is_wsp(v[i]) && !is_special(v[i]))
			i++;
		t->kind = T_ATOM;
		t->p = v + start;
		t->len = i - start;
	}
	ps->pos = i;
	return true;
}

/* Appends a quoted string's or comment's inside, unescaped and unfolded. */
static void put_unescaped(struct buf *b, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\\' && i + 1 < len)
			i++;
		if (p[i] != '\r' && p[i] != '\n')
			(void)buf_append_char(b, p[i]);
	}
}

static struct rfc822_str take(struct parser *ps)
{
	struct rfc822_str s = {arena_memdup(ps->a, buf_cstr(&ps->b), ps->b.len),
	                       ps->b.len};
	buf_reset(&ps->b);
	return s;
}

static bool is_sp(const struct tok *t, char c)
{
	return t->kind == T_SPECIAL && t->c == c;
}

/*
 * Joins the words of t[0..n) into ps->b: atoms, quoted strings (unquoted)
 * and dots, with one space where white space separated two words. In a
 * local part (local true) dots bind without spaces and a stray '@' (when
 * the address has several) is kept. Comments and other specials go.
 */
static void join_words(struct parser *ps, const struct tok *t, size_t n,
                       bool local)
{
	bool prev_tight = false;
	for (size_t i = 0; i < n; i++) {
		bool tight = is_sp(&t[i], '.') || (local && is_sp(&t[i], '@'));
		if (t[i].kind != T_ATOM && t[i].kind != T_QSTR && !tight)
			continue;
		if (ps->b.len > 0 && t[i].ws &&
		    !(local && (tight || prev_tight)))
			(void)buf_append_char(&ps->b, ' ');
		if (tight)
			(void)buf_append_char(&ps->b, t[i].c);
		else if (t[i].kind == T_QSTR)
			put_unescaped(&ps->b, t[i].p, t[i].len);
		else
			(void)buf_append(&ps->b, t[i].p, t[i].len);
		prev_tight = tight;
	}
}

/* Domain (or route) text: atoms, dots, literals, '@' and ',' when
 * keep_route, all without white space. */
static void join_domain(struct parser *ps, const struct tok *t, size_t n,
                        bool keep_route)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].kind == T_ATOM || t[i].kind == T_DLIT)
			(void)buf_append(&ps->b, t[i].p, t[i].len);
		else if (is_sp(&t[i], '.') ||
		         (keep_route &&
		          (is_sp(&t[i], '@') || is_sp(&t[i], ','))))
			(void)buf_append_char(&ps->b, t[i].c);
	}
}

static struct rfc822_addr *add(struct parser *ps)
{
	struct rfc822_addr *ad = arena_calloc(ps->a, 1, sizeof(*ad));
	*ps->tail = ad;
	ps->tail = &ad->next;
	ps->count++;
	return ad;
}

/* Makes an address of the addr-spec t[0..n); false when it is empty. */
static bool addr_spec(struct parser *ps, const struct tok *t, size_t n,
                      struct rfc822_addr *ad)
{
	size_t at = n;
	for (size_t i = 0; i < n; i++)
		if (is_sp(&t[i], '@'))
			at = i;
	join_words(ps, t, at, true);
	ad->mailbox = take(ps);
	if (at < n)
		join_domain(ps, t + at + 1, n - at - 1, false);
	ad->host = take(ps);
	return ad->mailbox.len > 0 || at < n;
}

/* Turns the element in ps->toks into an address, if it holds one. */
static void element(struct parser *ps)
{
	const struct tok *t = ps->toks;
	size_t n = ps->ntok, lt = n, gt = n, comment = n;
	ps->ntok = 0;
	for (size_t i = 0; i < n; i++) {
		if (lt == n && is_sp(&t[i], '<'))
			lt = i;
		else if (lt < n && gt == n && is_sp(&t[i], '>'))
			gt = i;
		else if (t[i].kind == T_COMMENT)
			comment = i;
	}
	struct rfc822_addr ad = {{0}, {0}, {0}, {0}, NULL};
	size_t s = 0, e = n; /* the addr-spec */
	if (lt < n) {
		join_words(ps, t, lt, false);
		if (ps->b.len > 0)
			ad.name = take(ps);
		s = lt + 1;
		e = gt;
		if (s < e && is_sp(&t[s], '@')) { /* obs-route */
			size_t colon = s;
			while (colon < e && !is_sp(&t[colon], ':'))
				colon++;
			if (colon < e) {
				join_domain(ps, t + s, colon - s, true);
				ad.adl = take(ps);
				s = colon + 1;
			}
		}
	}
	if (!addr_spec(ps, t + s, e - s, &ad) && lt == n)
		return; /* nothing but comments or junk */
	if (!ad.name.p && comment < n) {
		put_unescaped(&ps->b, t[comment].p, t[comment].len);
		char *c = ps->b.data;
		size_t cl = ps->b.len;
		while (cl > 0 && is_wsp(c[0]))
			c++, cl--;
		while (cl > 0 && is_wsp(c[cl - 1]))
			cl--;
		if (cl > 0)
			ad.name = (struct rfc822_str){
			        arena_memdup(ps->a, c, cl), cl};
		buf_reset(&ps->b);
	}
	if (ps->count >= ps->max)
		return;
	struct rfc822_addr *out = add(ps);
	*out = ad;
	out->next = NULL;
}

static void group_start(struct parser *ps)
{
	join_words(ps, ps->toks, ps->ntok, false);
	struct rfc822_str name = take(ps);
	ps->ntok = 0;
	struct rfc822_addr *ad = add(ps);
	ad->mailbox = name;
}

struct rfc822_addr *rfc822_addr_parse(struct arena *a, const char *v,
                                      size_t len, size_t max)
{
	struct parser ps = {.a = a, .v = v, .len = len, .max = max};
	ps.tail = &ps.head;
	ps.toks = xmalloc(MAX_TOKENS * sizeof(*ps.toks));
	buf_init(&ps.b, 0);
	bool in_group = false;
	int angle = 0;
	struct tok t;
	while (ps.count < ps.max) {
		bool more = next_token(&ps, &t);
		bool end_elem = !more || (angle == 0 && t.kind == T_SPECIAL &&
		                          (t.c == ',' || t.c == ';' ||
		                           (t.c == ':' && !in_group)));
		if (!end_elem) {
			if (is_sp(&t, '<'))
				angle++;
			else if (is_sp(&t, '>') && angle > 0)
				angle--;
			if (ps.ntok < MAX_TOKENS)
				ps.toks[ps.ntok++] = t;
			continue;
		}
		angle = 0;
		if (more && t.c == ':') {
			group_start(&ps);
			in_group = true;
			continue;
		}
		element(&ps);
		if (in_group && (!more || t.c == ';')) {
			(void)add(&ps); /* the group's end marker */
			in_group = false;
		}
		if (!more)
			break;
	}
	if (in_group)
		(void)add(&ps); /* close a group cut short by max */
	free(ps.toks);
	buf_deinit(&ps.b);
	return ps.head;
}
