/* SPDX-License-Identifier: MIT */
/*
 * mastercf.c - parse master.cf into service definitions
 *
 * Checks everything that can be checked from the file alone: the column
 * count, the type, the y/n/- flags, wakeup and maxproc numbers, the -o
 * syntax, inet addresses (host:port, [v6]:port, port, services(5) names)
 * and duplicate services. Whether a command exists in daemon_directory is
 * for `posthorn check` and master, which know where that is.
 *
 * Lines come from the scanner in maincf.c, so comments and continuation
 * lines behave exactly as in main.cf. Every string in a service is owned by
 * the struct and freed by mastercf_free().
 */
#include "common/mastercf.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/maincf.h"
#include "common/params.h"
#include "common/xalloc.h"

static bool chars_ok(const char *s, const char *extra)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr(extra, c)))
			return false;
	}
	return true;
}

/* "y", "n" or "-" (the default) into *out. */
static int parse_flag(const char *col, const char *w, bool def, bool *out,
		      struct err *e)
{
	if (strcmp(w, "-") == 0)
		*out = def;
	else if (strcmp(w, "y") == 0)
		*out = true;
	else if (strcmp(w, "n") == 0)
		*out = false;
	else {
		err_set(e, "%s column must be y, n or -, not \"%.40s\"", col,
			w);
		return -1;
	}
	return 0;
}

/* A number in [min, max] or "-" (0). */
static int parse_num(const char *col, const char *w, uint64_t min,
		     uint64_t max, int *out, struct err *e)
{
	uint64_t v;
	if (strcmp(w, "-") == 0) {
		*out = 0;
		return 0;
	}
	if (parse_uint(w, min, max, &v) < 0) {
		err_set(e,
			"%s must be a number from %llu to %llu or -, not "
			"\"%.40s\"",
			col, (unsigned long long)min, (unsigned long long)max,
			w);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* A port number or services(5) name into a decimal string. */
static int parse_port(const char *p, char **out, struct err *e)
{
	uint64_t v;
	if (*p >= '0' && *p <= '9') {
		if (parse_uint(p, 1, 65535, &v) < 0) {
			err_set(e, "bad port \"%.40s\"", p);
			return -1;
		}
		*out = xasprintf("%llu", (unsigned long long)v);
		return 0;
	}
	struct servent *se = chars_ok(p, "-_") && strlen(p) <= 64
				     ? getservbyname(p, "tcp")
				     : NULL;
	if (!se) {
		err_set(e, "unknown service name \"%.40s\"", p);
		return -1;
	}
	*out = xasprintf("%u", (unsigned)ntohs((uint16_t)se->s_port));
	return 0;
}

/* "port", "host:port", "[v6addr]:port" or "*:port" into host and port. */
static int parse_inet_name(const char *name, struct mastercf_service *sv,
			   struct err *e)
{
	const char *colon, *hs = name;
	size_t hl = 0;

	if (name[0] == '[') {
		const char *rb = strchr(name, ']');
		if (!rb || rb[1] != ':') {
			err_set(e, "bad service address \"%.60s\": want "
				   "[address]:port", name);
			return -1;
		}
		hs = name + 1;
		hl = (size_t)(rb - hs);
		colon = rb + 1;
		if (hl == 0 || strspn(hs, "0123456789abcdefABCDEF:.") < hl) {
			err_set(e, "bad IPv6 address in \"%.60s\"", name);
			return -1;
		}
	} else if ((colon = strrchr(name, ':')) != NULL) {
		hl = (size_t)(colon - name);
		if (memchr(name, ':', hl)) {
			err_set(e, "IPv6 address in \"%.60s\" must be in "
				   "brackets", name);
			return -1;
		}
		char *h = xstrndup(name, hl);
		bool ok = chars_ok(h, ".-_*");
		free(h);
		if (!ok) {
			err_set(e, "bad host in service address \"%.60s\"",
				name);
			return -1;
		}
	}
	if (parse_port(colon ? colon + 1 : name, &sv->port, e) < 0)
		return -1;
	if (hl == 1 && hs[0] == '*')
		hl = 0; /* "*:25" means every address, as in Postfix */
	sv->host = xstrndup(hs, hl);
	return 0;
}

/* One -o argument: "name=value" or "{ name = value }" into "name=value". */
static int add_override(struct mastercf_service *sv, const char *w,
			struct err *e)
{
	char *s = xstrdup(w);
	size_t n = strlen(s);
	char *p = s;
	if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
		s[n - 1] = 0;
		p = str_trim(s + 1);
	}
	char *eq = strchr(p, '=');
	if (eq) {
		*eq = 0;
		char *name = str_trim(p);
		char *value = str_trim(eq + 1);
		if (maincf_name_ok(name, strlen(name))) {
			char *o = xasprintf("%s=%s", name, value);
			strv_push(&sv->overrides, o);
			free(o);
			free(s);
			return 0;
		}
	}
	free(s);
	err_set(e, "bad -o argument \"%.60s\": want name=value", w);
	return -1;
}

/* Command arguments: "-o X", "-oX" are overrides, the rest pass through. */
static int parse_args(struct mastercf_service *sv, char **w, size_t n,
		      struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(w[i], "-o") == 0) {
			if (i + 1 == n) {
				err_set(e, "-o without name=value");
				return -1;
			}
			if (add_override(sv, w[++i], e) < 0)
				return -1;
		} else if (strncmp(w[i], "-o", 2) == 0) {
			if (add_override(sv, w[i] + 2, e) < 0)
				return -1;
		} else {
			strv_push(&sv->args, w[i]);
		}
	}
	return 0;
}

static void service_free(struct mastercf_service *sv)
{
	free(sv->name);
	free(sv->type);
	free(sv->command);
	free(sv->host);
	free(sv->port);
	strv_deinit(&sv->args);
	strv_deinit(&sv->overrides);
	memset(sv, 0, sizeof(*sv));
}

/* Fills sv from the words of one logical line; -1 with e set. */
static int parse_service(struct strv *w, struct mastercf_service *sv,
			 struct err *e)
{
	char **c = w->v;
	if (w->n < 8) {
		err_set(e, "want at least 8 columns (service type private "
			   "unpriv chroot wakeup maxproc command), got %zu",
			w->n);
		return -1;
	}
	sv->name = xstrdup(c[0]);
	sv->type = xstrdup(c[1]);
	if (strcmp(c[1], "inet") == 0) {
		if (parse_inet_name(c[0], sv, e) < 0)
			return -1;
	} else if (strcmp(c[1], "unix") == 0) {
		if (!chars_ok(c[0], "-_.") || c[0][0] == '.' ||
		    strlen(c[0]) > 64) {
			err_set(e, "bad unix service name \"%.60s\"", c[0]);
			return -1;
		}
	} else {
		err_set(e, "unknown service type \"%.40s\": want inet or unix",
			c[1]);
		return -1;
	}
	if (parse_flag("private", c[2], true, &sv->private_, e) < 0 ||
	    parse_flag("unpriv", c[3], true, &sv->unpriv, e) < 0 ||
	    parse_flag("chroot", c[4], false, &sv->chroot, e) < 0 ||
	    parse_num("wakeup", c[5], 0, MASTERCF_WAKEUP_MAX, &sv->wakeup, e) <
		    0 ||
	    parse_num("maxproc", c[6], 1, MASTERCF_MAXPROC_MAX, &sv->maxproc,
		      e) < 0)
		return -1;
	if (!chars_ok(c[7], "-_.") || strlen(c[7]) > 64) {
		err_set(e,
			"bad command \"%.60s\": want a program name in "
			"daemon_directory",
			c[7]);
		return -1;
	}
	sv->command = xstrdup(c[7]);
	return parse_args(sv, c + 8, w->n - 8, e);
}

/* The line of an earlier service that sv duplicates, or 0. */
static int duplicate_of(const struct mastercf *cf,
			const struct mastercf_service *sv)
{
	for (size_t i = 0; i < cf->n; i++) {
		const struct mastercf_service *o = &cf->v[i];
		if (strcmp(o->type, sv->type) != 0)
			continue;
		if (sv->port ? strcmp(o->host, sv->host) == 0 &&
				       strcmp(o->port, sv->port) == 0
			     : strcmp(o->name, sv->name) == 0)
			return o->line;
	}
	return 0;
}

/* maincf_each_line()'s callback: parses one service into cf. */
static int add_line(void *arg, const char *text, size_t len, int first,
		    int last, struct err *e)
{
	struct mastercf *cf = arg;
	struct strv w;
	struct mastercf_service sv;
	int r = MAINCF_LINE_BAD;

	(void)len;
	(void)last;
	if (cf->n >= MASTERCF_SERVICES_MAX) {
		err_set(e, "%s:%d: more than %d services", cf->path, first,
			MASTERCF_SERVICES_MAX);
		return MAINCF_LINE_STOP;
	}
	strv_init(&w);
	memset(&sv, 0, sizeof(sv));
	strv_init(&sv.args);
	strv_init(&sv.overrides);
	sv.line = first;
	if (param_split(&w, text, " \t", e) == 0 &&
	    parse_service(&w, &sv, e) == 0) {
		int dup = duplicate_of(cf, &sv);
		if (dup) {
			err_set(e, "duplicate service %s/%s (first at line %d)",
				sv.name, sv.type, dup);
		} else {
			cf->v = xrealloc(cf->v, (cf->n + 1) * sizeof(*cf->v));
			cf->v[cf->n++] = sv;
			r = 0;
		}
	}
	if (r < 0)
		service_free(&sv);
	strv_deinit(&w);
	return r;
}

int mastercf_parse_all(const char *path, const char *text, size_t len,
		       struct mastercf *cf, mastercf_problem_fn problem,
		       void *ctx, struct err *e)
{
	memset(cf, 0, sizeof(*cf));
	cf->path = xstrdup(path);
	return maincf_each_line(path, text, len, add_line, cf, problem, ctx,
				e);
}

int mastercf_parse(const char *path, const char *text, size_t len,
		   struct mastercf *cf, struct err *e)
{
	if (mastercf_parse_all(path, text, len, cf, NULL, NULL, e) != 0) {
		mastercf_free(cf);
		return -1;
	}
	return 0;
}

int mastercf_read_all(const char *path, struct mastercf *cf,
		      mastercf_problem_fn problem, void *ctx, struct err *e)
{
	struct buf b;
	memset(cf, 0, sizeof(*cf));
	if (maincf_slurp(path, &b, e) < 0)
		return -1;
	int r = mastercf_parse_all(path, buf_cstr(&b), b.len, cf, problem,
				   ctx, e);
	buf_deinit(&b);
	return r;
}

int mastercf_read(const char *path, struct mastercf *cf, struct err *e)
{
	if (mastercf_read_all(path, cf, NULL, NULL, e) != 0) {
		mastercf_free(cf);
		return -1;
	}
	return 0;
}

void mastercf_free(struct mastercf *cf)
{
	if (!cf)
		return;
	for (size_t i = 0; i < cf->n; i++)
		service_free(&cf->v[i]);
	free(cf->v);
	free(cf->path);
	memset(cf, 0, sizeof(*cf));
}

static bool str_same(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool strv_same(const struct strv *a, const struct strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

bool mastercf_service_same(const struct mastercf_service *a,
			   const struct mastercf_service *b)
{
	return str_same(a->name, b->name) && str_same(a->type, b->type) &&
	       a->private_ == b->private_ && a->unpriv == b->unpriv &&
	       a->chroot == b->chroot && a->wakeup == b->wakeup &&
	       a->maxproc == b->maxproc && str_same(a->command, b->command) &&
	       str_same(a->host, b->host) && str_same(a->port, b->port) &&
	       strv_same(&a->args, &b->args) &&
	       strv_same(&a->overrides, &b->overrides);
}
