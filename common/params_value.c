/* SPDX-License-Identifier: MIT */
/*
 * params_value.c - typed values: parse, bounds-check, split, defaults
 *
 * Turns the text of one parameter (already $-expanded) into what struct
 * params holds: numbers with unit suffixes, booleans, brace-aware word
 * lists, type:name tables. Also computes the three computed defaults
 * (%hostname, %domain, %daemon_dir). Knows nothing about main.cf or where
 * a value came from; params.c adds the file:line.
 *
 * Numbers are parsed digit by digit with overflow checks: a value that does
 * not fit is an error, never a silent wrap.
 */
#include "common/params_impl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

#ifndef POSTHORN_DAEMON_DIR
#define POSTHORN_DAEMON_DIR "/usr/local/libexec/posthorn"
#endif

/* Digits then an optional one-letter unit looked up in units/mult. */
static int parse_unit(const char *s, const char *units,
		      const uint64_t *mult, uint64_t *out, struct err *e)
{
	size_t n = strspn(s, "0123456789");
	uint64_t v, m = 1;
	if (n == 0 || parse_uintn(s, n, 0, UINT64_MAX, &v) < 0) {
		err_set(e, "\"%.40s\" is not a number", s);
		return -1;
	}
	if (s[n]) {
		char c = s[n];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		const char *u = s[n + 1] ? NULL : strchr(units, c);
		if (!u || !c) {
			err_set(e, "\"%.40s\": unknown unit (want one of %s)",
				s, units);
			return -1;
		}
		m = mult[u - units];
	}
	if (v > UINT64_MAX / m) {
		err_set(e, "\"%.40s\" is too large", s);
		return -1;
	}
	*out = v * m;
	return 0;
}

int param_parse_int(const char *s, long *out, struct err *e)
{
	uint64_t v;
	if (parse_uint(s, 0, LONG_MAX, &v) < 0) {
		err_set(e, "\"%.40s\" is not a number from 0 to %ld", s,
			LONG_MAX);
		return -1;
	}
	*out = (long)v;
	return 0;
}

int param_parse_size(const char *s, uint64_t *out, struct err *e)
{
	static const uint64_t mult[] = {1024, 1024 * 1024, 1024 * 1024 * 1024};
	return parse_unit(s, "kmg", mult, out, e);
}

int param_parse_time(const char *s, long *out, struct err *e)
{
	static const uint64_t mult[] = {1, 60, 3600, 86400, 604800};
	uint64_t v;
	if (parse_unit(s, "smhdw", mult, &v, e) < 0)
		return -1;
	if (v > LONG_MAX) {
		err_set(e, "\"%.40s\" is too large", s);
		return -1;
	}
	*out = (long)v;
	return 0;
}

int param_parse_bool(const char *s, bool *out, struct err *e)
{
	if (str_eq_nocase(s, "yes"))
		*out = true;
	else if (str_eq_nocase(s, "no"))
		*out = false;
	else {
		err_set(e, "\"%.40s\" is not yes or no", s);
		return -1;
	}
	return 0;
}

int param_split(struct strv *sv, const char *s, const char *seps,
		struct err *e)
{
	const char *p = s;
	while (*p) {
		p += strspn(p, seps);
		if (!*p)
			break;
		const char *w = p;
		int depth = 0;
		for (; *p && (depth > 0 || !strchr(seps, *p)); p++) {
			if (*p == '{')
				depth++;
			else if (*p == '}' && --depth < 0)
				break;
		}
		if (depth != 0) {
			err_set(e, depth > 0 ? "missing '}' in \"%.40s\""
					     : "unexpected '}' in \"%.40s\"",
				w);
			return -1;
		}
		strv_pushn(sv, w, (size_t)(p - w));
	}
	return 0;
}

/* A lookup table reference: type:name with type [A-Za-z0-9_]+. */
static int check_map(const char *w, struct err *e)
{
	size_t n = strspn(w, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
	if (n == 0 || w[n] != ':' || w[n + 1] == 0) {
		err_set(e, "\"%.60s\" is not a type:name lookup table", w);
		return -1;
	}
	return 0;
}

static int check_bounds(const struct param_info *pi, uint64_t v,
			const char *text, struct err *e)
{
	if (pi->min == 0 && pi->max == 0)
		return 0;
	if (v < pi->min) {
		err_set(e, "%s is below the minimum %llu", text,
			(unsigned long long)pi->min);
		return -1;
	}
	if (v > pi->max) {
		err_set(e, "%s is above the maximum %llu", text,
			(unsigned long long)pi->max);
		return -1;
	}
	return 0;
}

int param_convert(const struct param_info *pi, const char *text,
		  void *field, struct err *e)
{
	struct strv sv;
	uint64_t u;
	long l;
	bool b;
	int r;

	switch (pi->type) {
	case PARAM_STR:
		if (field)
			*(const char **)field = text;
		return 0;
	case PARAM_INT:
	case PARAM_TIME:
		r = pi->type == PARAM_INT ? param_parse_int(text, &l, e)
					  : param_parse_time(text, &l, e);
		if (r < 0 || check_bounds(pi, (uint64_t)l, text, e) < 0)
			return -1;
		if (field)
			*(long *)field = l;
		return 0;
	case PARAM_SIZE:
		if (param_parse_size(text, &u, e) < 0 ||
		    check_bounds(pi, u, text, e) < 0)
			return -1;
		if (field)
			*(uint64_t *)field = u;
		return 0;
	case PARAM_BOOL:
		if (param_parse_bool(text, &b, e) < 0)
			return -1;
		if (field)
			*(bool *)field = b;
		return 0;
	case PARAM_LIST:
	case PARAM_MAP:
		strv_init(&sv);
		if (param_split(&sv, text, ", \t\r\n", e) < 0)
			goto bad;
		for (size_t i = 0; pi->type == PARAM_MAP && i < sv.n; i++)
			if (check_map(sv.v[i], e) < 0)
				goto bad;
		if (field)
			*(struct strv *)field = sv;
		else
			strv_deinit(&sv);
		return 0;
	bad:
		strv_deinit(&sv);
		return -1;
	}
	err_set(e, "unknown parameter type");
	return -1;
}

int param_check_value(const struct param_info *pi, const char *text,
		      struct err *e)
{
	return param_convert(pi, text, NULL, e);
}

char *param_hostname(void)
{
	char h[256];
	if (gethostname(h, sizeof(h) - 1) < 0 || !h[0])
		(void)snprintf(h, sizeof(h), "localhost");
	h[sizeof(h) - 1] = 0;
	/* A name without a dot is not an internet name; Postfix would
	 * refuse to start, we make one up that is clearly local. */
	if (!strchr(h, '.'))
		return xasprintf("%s.localdomain", h);
	return xstrdup(h);
}

char *param_domain_of(const char *host)
{
	const char *dot = strchr(host, '.');
	return xstrdup(dot && dot[1] ? dot + 1 : "localdomain");
}

char *param_default(const struct param_info *pi)
{
	if (strcmp(pi->def, "%hostname") == 0)
		return param_hostname();
	if (strcmp(pi->def, "%domain") == 0) {
		char *h = param_hostname();
		char *d = param_domain_of(h);
		free(h);
		return d;
	}
	if (strcmp(pi->def, "%daemon_dir") == 0)
		return xstrdup(POSTHORN_DAEMON_DIR);
	return xstrdup(pi->def);
}
