/* SPDX-License-Identifier: MIT */
/*
 * params_expand.c - $name, ${name}, $(name), ${name?text}, ${name:text}
 *
 * The expansion engine, independent of where names come from: the caller's
 * lookup function answers each name (params.c resolves parameters
 * recursively through it and detects loops there; local can answer $home).
 * A name the lookup does not know is copied as written, so a later stage
 * can expand it.
 *
 * Bounds: the result is limited by the output buffer's max, and the
 * nesting of ${a?${b?...}} by EXPAND_NEST_MAX, so a hostile value cannot
 * exhaust the stack or memory.
 */
#include "common/params.h"

#include <string.h>

#define EXPAND_NEST_MAX 32

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

static int put(struct buf *out, const char *s, size_t n, struct err *e)
{
	if (buf_append(out, s, n) < 0) {
		err_set(e, "expansion longer than %zu bytes", out->max);
		return -1;
	}
	return 0;
}

/* The index of the bracket closing the one at s[open], or len. */
static size_t match_close(const char *s, size_t len, size_t open)
{
	char o = s[open], c = o == '{' ? '}' : ')';
	int depth = 0;
	for (size_t i = open; i < len; i++) {
		if (s[i] == o)
			depth++;
		else if (s[i] == c && --depth == 0)
			return i;
	}
	return len;
}

static int expand(const char *s, size_t len, params_lookup_fn lookup,
		  void *ctx, struct buf *out, int nest, struct err *e);

/*
 * One reference starting at s[at] == '$'. Sets *next to the index after
 * it. A '$' that starts no reference is copied.
 */
static int expand_ref(const char *s, size_t len, size_t at,
		      params_lookup_fn lookup, void *ctx, struct buf *out,
		      int nest, size_t *next, struct err *e)
{
	size_t i = at + 1, end, nstart;
	char op = 0;
	const char *text = NULL;

	if (i < len && (s[i] == '{' || s[i] == '(')) {
		char close = s[i] == '{' ? '}' : ')';
		end = match_close(s, len, i);
		if (end == len) {
			err_set(e, "missing '%c' after \"%.*s\"", close,
				(int)(len - at > 40 ? 40 : len - at), s + at);
			return -1;
		}
		nstart = ++i;
		while (i < end && name_char(s[i]))
			i++;
		op = s[i];
		if (i == nstart || (op != close && op != '?' && op != ':')) {
			err_set(e, "bad reference \"%.*s\"",
				(int)(end + 1 - at > 40 ? 40 : end + 1 - at),
				s + at);
			return -1;
		}
		*next = end + 1;
	} else {
		nstart = i;
		while (i < len && name_char(s[i]))
			i++;
		if (i == nstart) {
			*next = at + 1;
			return put(out, "$", 1, e);
		}
		end = i;
		op = 0;
		*next = i;
	}
	int r = lookup(ctx, s + nstart, i - nstart, &text, e);
	if (r < 0)
		return -1;
	if (r == 0)
		return put(out, s + at, *next - at, e);
	if (op == '?' || op == ':') {
		if ((op == '?') != (text[0] != 0))
			return 0;
		if (nest >= EXPAND_NEST_MAX) {
			err_set(e, "${...} nested more than %d deep",
				EXPAND_NEST_MAX);
			return -1;
		}
		return expand(s + i + 1, end - i - 1, lookup, ctx, out,
			      nest + 1, e);
	}
	return put(out, text, strlen(text), e);
}

static int expand(const char *s, size_t len, params_lookup_fn lookup,
		  void *ctx, struct buf *out, int nest, struct err *e)
{
	size_t i = 0;
	while (i < len) {
		const char *d = memchr(s + i, '$', len - i);
		size_t at = d ? (size_t)(d - s) : len;
		if (put(out, s + i, at - i, e) < 0)
			return -1;
		if (!d)
			break;
		if (expand_ref(s, len, at, lookup, ctx, out, nest, &i, e) < 0)
			return -1;
	}
	return 0;
}

int params_expand_with(const char *s, size_t len, params_lookup_fn lookup,
		       void *ctx, struct buf *out, struct err *e)
{
	return expand(s, len, lookup, ctx, out, 0, e);
}
