/* SPDX-License-Identifier: MIT */
/*
 * str.c - number parsing, case folding, string vectors
 *
 * Case folding is ASCII only on purpose: protocol keywords and domain names
 * are ASCII, and locale-dependent tolower() would make comparisons depend on
 * the environment a daemon was started in.
 */
#include "common/str.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static int lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int parse_uintn(const char *s, size_t len, uint64_t min, uint64_t max,
		uint64_t *out)
{
	if (len == 0 || len > 20)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	return parse_uintn(s, strlen(s), min, max, out);
}

bool str_eq_nocase(const char *a, const char *b)
{
	while (*a && *b) {
		if (lc((unsigned char)*a) != lc((unsigned char)*b))
			return false;
		a++, b++;
	}
	return *a == *b;
}

bool strn_eq_nocase(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
			return false;
	return true;
}

bool str_prefix_nocase(const char *s, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);
	if (len < plen)
		return false;
	for (size_t i = 0; i < plen; i++)
		if (lc((unsigned char)s[i]) != lc((unsigned char)prefix[i]))
			return false;
	return true;
}

void str_lower(char *s)
{
	for (; *s; s++)
		*s = (char)lc((unsigned char)*s);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	       c == '\v';
}

char *str_trim(char *s)
{
	char *p = s;
	while (is_space(*p))
		p++;
	size_t n = strlen(p);
	while (n && is_space(p[n - 1]))
		n--;
	memmove(s, p, n);
	s[n] = 0;
	return s;
}

void strv_init(struct strv *sv)
{
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

void strv_pushn(struct strv *sv, const char *s, size_t len)
{
	if (sv->n + 2 > sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 8, bytes;
		if (size_mul(cap, sizeof(char *), &bytes) < 0)
			abort();
		sv->v = xrealloc(sv->v, bytes);
		sv->cap = cap;
	}
	sv->v[sv->n++] = xstrndup(s, len);
	sv->v[sv->n] = NULL;
}

void strv_push(struct strv *sv, const char *s)
{
	strv_pushn(sv, s, strlen(s));
}

void strv_deinit(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	strv_init(sv);
}

void strv_split(struct strv *sv, const char *s, const char *seps)
{
	while (*s) {
		size_t skip = strspn(s, seps);
		s += skip;
		size_t len = strcspn(s, seps);
		if (len)
			strv_pushn(sv, s, len);
		s += len;
	}
}

bool strv_contains_nocase(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (str_eq_nocase(sv->v[i], s))
			return true;
	return false;
}
