/* SPDX-License-Identifier: MIT */
/*
 * posthorn_config.c - `posthorn config`: show and edit main.cf, postconf-like
 *
 *   config [-d | -n] [-x] [name ...]   print name = value, sorted by name
 *   config name=value ...              set in main.cf (comments kept)
 *   config -X name ...                 remove from main.cf
 *
 * Printing loads the configuration leniently, so a main.cf with a bad value
 * still shows every value (the problems go to stderr and the exit status
 * is 1). Edits check a literal value against its type and bounds before
 * touching the file, and are all checked before any is made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/maincf.h"
#include "common/params.h"
#include "common/xalloc.h"
#include "posthorn_cmd.h"

#ifndef POSTHORN_CONFIG_DIR
#define POSTHORN_CONFIG_DIR "/etc/posthorn"
#endif

enum {
	OPT_D = 1, /* defaults */
	OPT_N = 2, /* only names set in main.cf */
	OPT_X = 4, /* expand values */
	OPT_REMOVE = 8,
};

static int usage(void)
{
	fprintf(stderr,
		"usage: posthorn [-c DIR] config [-d | -n] [-x] [name ...]\n"
		"       posthorn [-c DIR] config name=value ...\n"
		"       posthorn [-c DIR] config -X name ...\n");
	return 2;
}

static void print_value(const char *name, const char *value)
{
	if (*value)
		printf("%s = %s\n", name, value);
	else
		printf("%s =\n", name);
}

static void on_problem(void *ctx, const char *file, int line, bool is_error,
		       const char *msg)
{
	int *errors = ctx;
	if (is_error)
		(*errors)++;
	if (file && is_error)
		log_error("%s:%d: %s", file, line, msg);
	else if (file)
		log_warn("%s:%d: %s", file, line, msg);
	else if (is_error)
		log_error("%s", msg);
	else
		log_warn("%s", msg);
}

static void ignore_line(void *ctx, const char *file, int line,
			const char *msg)
{
	(void)ctx;
	(void)file;
	(void)line;
	(void)msg;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names to print with no name arguments, sorted; the strings are
 * owned by the table or by names (which the caller frees). */
static size_t all_names(int opts, const char *dir, struct strv *names,
			const char ***out)
{
	size_t n = 0;
	const char **v;
	if (opts & OPT_N) {
		struct maincf cf;
		struct err e;
		char *path = xasprintf("%s/main.cf", dir);
		/* Bad lines were reported by the load: skip them quietly. */
		(void)maincf_read_all(path, &cf, ignore_line, NULL, &e);
		for (size_t i = 0; i < cf.n; i++)
			if (maincf_get(&cf, cf.v[i].name) == &cf.v[i])
				strv_push(names, cf.v[i].name);
		maincf_free(&cf);
		free(path);
		v = xcalloc(names->n + 1, sizeof(*v));
		for (; n < names->n; n++)
			v[n] = names->v[n];
	} else {
		v = xcalloc(param_count, sizeof(*v));
		for (; n < param_count; n++)
			v[n] = param_table[n].name;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

/* Prints one name; 0, or -1 when it is unknown. */
static int show(int opts, const char *name)
{
	const struct param_info *pi = param_lookup(name);
	struct param_source src;
	if (opts & OPT_D) {
		if (!pi)
			goto unknown;
		char *d = param_default(pi);
		char *x = (opts & OPT_X) ? params_expand(d, NULL) : NULL;
		print_value(name, x ? x : d);
		free(x);
		free(d);
		return 0;
	}
	const char *raw = params_raw(name, &src);
	if (!raw)
		goto unknown;
	if ((opts & OPT_N) && !src.file)
		return 0;
	print_value(name, (opts & OPT_X) ? params_text(name) : raw);
	return 0;
unknown:
	log_error("unknown parameter %s", name);
	return -1;
}

static int show_all(int opts, const char *dir, int argc, char **argv)
{
	int errors = 0, status = 0;
	struct err e;
	/* -d needs no main.cf; -d -x expands against the defaults alone. */
	if (!(opts & OPT_D) || (opts & OPT_X)) {
		const char *from = (opts & OPT_D) ? NULL : dir;
		if (params_load_lenient(from, NULL, on_problem, &errors, &e) <
		    0) {
			log_error("%s", e.msg);
			return 1;
		}
		if (errors)
			status = 1;
	}
	if (argc > 0) {
		for (int i = 0; i < argc; i++)
			if (show(opts, argv[i]) < 0)
				status = 1;
		return status;
	}
	struct strv names;
	const char **v;
	strv_init(&names);
	size_t n = all_names(opts, dir, &names, &v);
	for (size_t i = 0; i < n; i++)
		(void)show(opts, v[i]);
	free(v);
	strv_deinit(&names);
	return status;
}

/* Splits "name=value" (white space around both trimmed). */
static void split_assignment(const char *arg, char **name, char **value)
{
	const char *eq = strchr(arg, '=');
	*name = str_trim(xstrndup(arg, (size_t)(eq - arg)));
	*value = str_trim(xstrdup(eq + 1));
}

/* Checks every assignment, then makes them; 0 or 1. */
static int edit(const char *dir, int argc, char **argv)
{
	char *path = xasprintf("%s/main.cf", dir);
	int status = 0;
	struct err e;

	for (int pass = 0; pass < 2 && status == 0; pass++) {
		for (int i = 0; i < argc && status == 0; i++) {
			char *name, *value;
			split_assignment(argv[i], &name, &value);
			const struct param_info *pi = param_lookup(name);
			if (pass == 1) {
				if (maincf_edit(path, name, value, &e) < 0) {
					log_error("%s", e.msg);
					status = 1;
				}
			} else if (!maincf_name_ok(name, strlen(name))) {
				log_error("bad parameter name \"%s\"", name);
				status = 1;
			} else if (!pi) {
				log_warn("unknown parameter %s", name);
			} else if (!strchr(value, '$') &&
				   param_check_value(pi, value, &e) < 0) {
				log_error("bad value for %s: %s", name, e.msg);
				status = 1;
			}
			free(name);
			free(value);
		}
	}
	free(path);
	return status;
}

static int remove_names(const char *dir, int argc, char **argv)
{
	char *path = xasprintf("%s/main.cf", dir);
	int status = 0;
	struct err e;
	for (int i = 0; i < argc; i++) {
		if (maincf_edit(path, argv[i], NULL, &e) < 0) {
			log_error("%s", e.msg);
			status = 1;
		}
	}
	free(path);
	return status;
}

/* Parses the options; the index of the first operand, or -1. */
static int parse_opts(int argc, char **argv, int *opts)
{
	int i = 1;
	*opts = 0;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "--") == 0)
			return i + 1;
		for (const char *p = argv[i] + 1; *p; p++) {
			switch (*p) {
			case 'd': *opts |= OPT_D; break;
			case 'n': *opts |= OPT_N; break;
			case 'x': *opts |= OPT_X; break;
			case 'X': *opts |= OPT_REMOVE; break;
			default: return -1;
			}
		}
	}
	return i;
}

int cmd_config(struct posthorn_ctx *ctx, int argc, char **argv)
{
	const char *dir = ctx && ctx->config_dir ? ctx->config_dir
						 : POSTHORN_CONFIG_DIR;
	int opts, assignments = 0;
	int first = parse_opts(argc, argv, &opts);
	if (first < 0 || ((opts & OPT_D) && (opts & OPT_N)))
		return usage();
	for (int i = first; i < argc; i++)
		if (strchr(argv[i], '='))
			assignments++;
	argc -= first;
	argv += first;
	if (opts & OPT_REMOVE) {
		if (opts != OPT_REMOVE || argc == 0 || assignments)
			return usage();
		return remove_names(dir, argc, argv);
	}
	if (assignments) {
		if (opts || assignments != argc)
			return usage();
		return edit(dir, argc, argv);
	}
	int status = show_all(opts, dir, argc, argv);
	if (fflush(stdout) != 0) {
		log_error("write to standard output failed");
		status = 1;
	}
	return status;
}
