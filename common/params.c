/* SPDX-License-Identifier: MIT */
/*
 * params.c - load main.cf and overrides into the published struct params
 *
 * The table in params.def becomes param_table[] and struct params. A load
 * builds a new generation: every table row plus every other name set in
 * main.cf or an override gets a variable holding its raw text and source;
 * each is $-expanded once (memoised, so a chain of references costs one
 * expansion each), converted by params_value.c, and stored in the struct.
 *
 * Lifetime: generations are never freed before params_unload(). A daemon
 * may keep `params->smtpd_banner` across a SIGHUP reload; the memory it
 * points into stays valid. A reload is rare and a generation is a few KB,
 * so keeping them all costs less than the dangling pointers freeing would
 * invite. Loading is single-threaded; nothing here is thread-safe.
 *
 * Loops ($a -> $b -> $a) are caught by marking variables being expanded;
 * the error names the whole cycle and is reported once, at the variable
 * where it closes, not again for every variable that referred to it.
 */
#include "common/params_impl.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/maincf.h"
#include "common/xalloc.h"

#define PARAM(name, type, def, min, max, desc)                                \
	{#name, PARAM_##type, def, min, max, desc,                            \
	 offsetof(struct params, name)},
const struct param_info param_table[] = {
#include "common/params.def"
};
#undef PARAM
const size_t param_count = sizeof(param_table) / sizeof(param_table[0]);

const struct params *params;

#define DEPTH_MAX 100

enum var_state { VAR_NEW, VAR_BUSY, VAR_DONE, VAR_FAILED };

struct pvar {
	const struct param_info *info; /* NULL: not in the table */
	char *name;                    /* owned, for names not in the table */
	char *raw;
	struct param_source src;
	char *text; /* expanded, NULL until done */
	enum var_state state;
	bool domain; /* the computed %domain default */
	bool referenced;
	bool bad; /* its text did not convert */
	bool loop_reported;
};

struct pgen {
	struct params p;
	struct pvar *vars; /* the table rows first, in table order */
	size_t n;
	char *cfpath;
	struct pgen *older;
};

static struct pgen *current;

struct loader {
	struct pgen *g;
	params_problem_fn problem;
	void *ctx;
	bool lenient;
	int errors;
	struct err first;
	struct pvar *stack[DEPTH_MAX];
	int depth;
	bool reported; /* the failure being unwound was reported */
	bool dep_bad;  /* a reference of the value checked is bad */
};

static const char *var_name(const struct pvar *v)
{
	return v->info ? v->info->name : v->name;
}

static struct pvar *find_var(struct pgen *g, const char *name, size_t len)
{
	for (size_t i = 0; g && i < g->n; i++) {
		const char *vn = var_name(&g->vars[i]);
		if (strncmp(vn, name, len) == 0 && vn[len] == 0)
			return &g->vars[i];
	}
	return NULL;
}

static struct pvar *add_var(struct pgen *g, const char *name)
{
	g->vars = xrealloc(g->vars, (g->n + 1) * sizeof(*g->vars));
	struct pvar *v = &g->vars[g->n++];
	memset(v, 0, sizeof(*v));
	v->name = xstrdup(name);
	return v;
}

const struct param_info *param_lookup(const char *name)
{
	for (size_t i = 0; i < param_count; i++)
		if (strcmp(param_table[i].name, name) == 0)
			return &param_table[i];
	return NULL;
}

__attribute__((format(printf, 5, 6))) static void
report(struct loader *L, const char *file, int line, bool is_error,
       const char *fmt, ...)
{
	char msg[sizeof(L->first.msg)];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line < 0)
		line = 0;
	if (is_error)
		L->errors++;
	if (L->problem)
		L->problem(L->ctx, file, line, is_error, msg);
	else if (!is_error && file)
		log_warn("%s:%d: %s", file, line, msg);
	else if (!is_error)
		log_warn("%s", msg);
	else if (L->errors == 1 && file)
		err_set(&L->first, "%s:%d: %s", file, line, msg);
	else if (L->errors == 1)
		err_set(&L->first, "%s", msg);
}

static int resolve(struct loader *L, struct pvar *v);

/* The cycle from v (on the stack) to the top, as "$a -> $b -> $a". */
static void loop_error(struct loader *L, struct pvar *v, struct err *e)
{
	char msg[sizeof(e->msg)];
	size_t off = 0;
	int k = L->depth - 1;
	while (k > 0 && L->stack[k] != v)
		k--;
	msg[0] = 0;
	for (; k < L->depth && off < sizeof(msg); k++) {
		int n = snprintf(msg + off, sizeof(msg) - off, "$%s -> ",
				 var_name(L->stack[k]));
		off += n > 0 ? (size_t)n : 0;
	}
	err_set(e, "expansion loop: %s$%s", msg, var_name(v));
}

static int loader_lookup(void *ctx, const char *name, size_t len,
			 const char **text_out, struct err *e)
{
	struct loader *L = ctx;
	struct pvar *v = find_var(L->g, name, len);
	if (!v)
		return 0;
	v->referenced = true;
	switch (v->state) {
	case VAR_BUSY:
		/* Reported at the variable where the loop closes, the one
		 * the admin most likely wrote, and nowhere else. */
		loop_error(L, v, e);
		if (!v->loop_reported)
			report(L, v->src.file, v->src.line, true,
			       "bad value for %s: %s", var_name(v), e->msg);
		v->loop_reported = true;
		L->reported = true;
		return -1;
	case VAR_FAILED:
		L->reported = true;
		err_set(e, "$%s is bad", var_name(v));
		return -1;
	case VAR_NEW:
		if (resolve(L, v) < 0)
			return -1;
		break;
	case VAR_DONE:
		break;
	}
	*text_out = v->text;
	return 1;
}

/* Expands s through lookup into a new string; NULL with e set. */
static char *expand_new(const char *s, params_lookup_fn lookup, void *ctx,
			struct err *e)
{
	struct buf b;
	buf_init(&b, PARAMS_EXPAND_MAX);
	if (params_expand_with(s, strlen(s), lookup, ctx, &b, e) < 0) {
		buf_deinit(&b);
		return NULL;
	}
	return buf_take(&b);
}

static char *expand_str(struct loader *L, const char *s, struct err *e)
{
	return expand_new(s, loader_lookup, L, e);
}

/* The expanded default of v, or "" (lenient mode's fallback). */
static char *default_text(struct loader *L, struct pvar *v)
{
	struct err ignored;
	char *t = NULL;
	if (v->info) {
		char *d = param_default(v->info);
		bool saved = L->reported;
		t = expand_str(L, d, &ignored);
		L->reported = saved;
		free(d);
	}
	return t ? t : xstrdup("");
}

/* Expands v->raw into v->text; reports its own failure once. */
static int resolve(struct loader *L, struct pvar *v)
{
	struct err why;
	char *t = NULL;

	if (L->depth >= DEPTH_MAX) {
		err_set(&why, "references nested more than %d deep",
			DEPTH_MAX);
	} else {
		v->state = VAR_BUSY;
		L->stack[L->depth++] = v;
		t = expand_str(L, v->domain ? "$myhostname" : v->raw, &why);
		L->depth--;
	}
	if (t) {
		if (v->domain) {
			char *d = param_domain_of(t);
			free(t);
			t = d;
		}
		v->text = t;
		v->state = VAR_DONE;
		return 0;
	}
	if (!L->reported)
		report(L, v->src.file, v->src.line, true,
		       "bad value for %s: %s", var_name(v), why.msg);
	L->reported = true;
	if (L->lenient) {
		v->text = default_text(L, v);
		v->state = VAR_DONE;
		L->reported = false;
		return 0;
	}
	v->state = VAR_FAILED;
	return -1;
}

static void cf_problem(void *ctx, const char *file, int line, const char *msg)
{
	report(ctx, file, line, true, "%s", msg);
}

/* Table rows with their defaults, then main.cf, then the overrides. */
static int collect(struct loader *L, const char *config_dir,
		   const struct strv *overrides, struct err *e)
{
	struct pgen *g = L->g;
	struct maincf cf;

	g->vars = xcalloc(param_count, sizeof(*g->vars));
	g->n = param_count;
	for (size_t i = 0; i < param_count; i++) {
		struct pvar *v = &g->vars[i];
		v->info = &param_table[i];
		v->domain = strcmp(v->info->def, "%domain") == 0;
		v->raw = v->domain ? xstrdup(v->info->def)
				   : param_default(v->info);
	}
	memset(&cf, 0, sizeof(cf));
	if (config_dir &&
	    maincf_read_all(g->cfpath, &cf, cf_problem, L, e) < 0) {
		maincf_free(&cf);
		return -1;
	}
	for (size_t i = 0; i < cf.n; i++) {
		const char *name = cf.v[i].name;
		struct pvar *v = find_var(g, name, strlen(name));
		if (!v)
			v = add_var(g, cf.v[i].name);
		free(v->raw);
		v->raw = xstrdup(cf.v[i].value);
		v->src.file = g->cfpath;
		v->src.line = cf.v[i].line;
		v->domain = false;
	}
	maincf_free(&cf);
	for (size_t i = 0; overrides && i < overrides->n; i++) {
		const char *o = overrides->v[i], *eq = strchr(o, '=');
		if (!eq || !maincf_name_ok(o, (size_t)(eq - o))) {
			report(L, NULL, 0, true,
			       "bad override \"%.60s\": want name=value", o);
			continue;
		}
		struct pvar *v = find_var(g, o, (size_t)(eq - o));
		if (!v) {
			char *name = xstrndup(o, (size_t)(eq - o));
			v = add_var(g, name);
			free(name);
		}
		free(v->raw);
		v->raw = xstrdup(eq + 1);
		v->src.file = NULL;
		v->src.line = -1;
		v->domain = false;
	}
	struct pvar *cd = find_var(g, "config_directory", 16);
	if (config_dir) {
		free(cd->raw);
		cd->raw = xstrdup(config_dir);
		cd->src.file = NULL;
		cd->src.line = 0;
	}
	return 0;
}

static int failed_lookup(void *ctx, const char *name, size_t len,
			 const char **text_out, struct err *e)
{
	struct loader *L = ctx;
	struct pvar *v = find_var(L->g, name, len);
	(void)e;
	if (v && v->bad)
		L->dep_bad = true;
	*text_out = "";
	return v != NULL;
}

/* Reports v's conversion failure; quiet when v is a default that went bad
 * only through a parameter it refers to, which was reported already. */
static void report_bad(struct loader *L, struct pvar *v, const char *why)
{
	struct buf scratch;
	struct err ignored;
	bool via_default = !v->src.file && v->src.line == 0 &&
			   strchr(v->raw, '$');
	if (via_default) {
		buf_init(&scratch, PARAMS_EXPAND_MAX);
		L->dep_bad = false;
		(void)params_expand_with(v->raw, strlen(v->raw), failed_lookup,
					 L, &scratch, &ignored);
		buf_deinit(&scratch);
		if (L->dep_bad)
			return;
		report(L, NULL, 0, true,
		       "bad value for %s (default \"%s\"): %s", v->info->name,
		       v->raw, why);
	} else {
		report(L, v->src.file, v->src.line, true,
		       "bad value for %s: %s", v->info->name, why);
	}
}

/* Converts every table row into its field: all first, so that problems
 * can tell a cause from its consequence, then the reports. */
static void convert_all(struct loader *L)
{
	struct pgen *g = L->g;
	struct err *why = xcalloc(param_count, sizeof(*why));
	for (size_t i = 0; i < param_count; i++) {
		struct pvar *v = &g->vars[i];
		void *field = (char *)&g->p + v->info->offset;
		if (v->state == VAR_DONE &&
		    param_convert(v->info, v->text, field, &why[i]) < 0)
			v->bad = true;
	}
	for (size_t i = 0; i < param_count; i++) {
		struct pvar *v = &g->vars[i];
		if (!v->bad)
			continue;
		report_bad(L, v, why[i].msg);
		if (L->lenient) {
			void *field = (char *)&g->p + v->info->offset;
			free(v->text);
			v->text = default_text(L, v);
			(void)param_convert(v->info, v->text, field, &why[i]);
		}
	}
	free(why);
}

static void gen_free(struct pgen *g)
{
	for (size_t i = 0; i < g->n; i++) {
		struct pvar *v = &g->vars[i];
		if (v->info && (v->info->type == PARAM_LIST ||
				v->info->type == PARAM_MAP))
			strv_deinit((struct strv *)((char *)&g->p +
						     v->info->offset));
		free(v->name);
		free(v->raw);
		free(v->text);
	}
	free(g->vars);
	free(g->cfpath);
	free(g);
}

static int load(const char *config_dir, const struct strv *overrides,
		params_problem_fn problem, void *ctx, bool lenient,
		struct err *e)
{
	struct loader L;
	size_t dlen = config_dir ? strlen(config_dir) : 0;

	memset(&L, 0, sizeof(L));
	L.problem = problem;
	L.ctx = ctx;
	L.lenient = lenient;
	L.g = xcalloc(1, sizeof(*L.g));
	while (dlen > 1 && config_dir[dlen - 1] == '/')
		dlen--;
	L.g->cfpath = config_dir ? xasprintf("%.*s/main.cf", (int)dlen,
					     config_dir)
				 : xstrdup("(defaults)");
	if (collect(&L, config_dir, overrides, e) < 0) {
		gen_free(L.g);
		return -1;
	}
	for (size_t i = 0; i < L.g->n; i++) {
		L.reported = false;
		if (L.g->vars[i].state == VAR_NEW)
			(void)resolve(&L, &L.g->vars[i]);
	}
	convert_all(&L);
	for (size_t i = param_count; i < L.g->n; i++) {
		struct pvar *v = &L.g->vars[i];
		if (!v->referenced)
			report(&L, v->src.file, v->src.line, false,
			       "unknown parameter %s", v->name);
	}
	if (L.errors && !lenient) {
		if (problem)
			err_set(e, "%s: %d error%s", L.g->cfpath, L.errors,
				L.errors > 1 ? "s" : "");
		else if (e)
			*e = L.first;
		gen_free(L.g);
		return -1;
	}
	for (size_t i = 0; i < param_count; i++) {
		struct pvar *v = &L.g->vars[i];
		if (v->domain) {
			free(v->raw);
			v->raw = xstrdup(v->text);
		}
	}
	L.g->older = current;
	current = L.g;
	params = &L.g->p;
	return L.errors;
}

int params_load(const char *config_dir, const struct strv *overrides,
		params_problem_fn problem, void *ctx, struct err *e)
{
	return load(config_dir, overrides, problem, ctx, false, e) < 0 ? -1
								       : 0;
}

int params_load_lenient(const char *config_dir, const struct strv *overrides,
			params_problem_fn problem, void *ctx, struct err *e)
{
	return load(config_dir, overrides, problem, ctx, true, e);
}

void params_unload(void)
{
	while (current) {
		struct pgen *g = current;
		current = g->older;
		gen_free(g);
	}
	params = NULL;
}

const char *params_raw(const char *name, struct param_source *src)
{
	struct pvar *v = find_var(current, name, strlen(name));
	if (!v)
		return NULL;
	if (src)
		*src = v->src;
	return v->raw;
}

const char *params_text(const char *name)
{
	struct pvar *v = find_var(current, name, strlen(name));
	return v ? v->text : NULL;
}

static int current_lookup(void *ctx, const char *name, size_t len,
			  const char **text_out, struct err *e)
{
	(void)ctx;
	(void)e;
	struct pvar *v = find_var(current, name, len);
	if (!v || !v->text)
		return 0;
	*text_out = v->text;
	return 1;
}

char *params_expand(const char *s, struct err *e)
{
	return expand_new(s, current_lookup, NULL, e);
}
