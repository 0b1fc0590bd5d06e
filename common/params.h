/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_PARAMS_H
#define POSTHORN_COMMON_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/str.h"

/*
 * The parameter table (common/params.def) turned into a struct. After
 * params_load() every daemon reads `params->name`; nobody else parses
 * main.cf or keeps a default.
 *
 * Field types: STR char *, INT long, SIZE uint64_t, TIME long (seconds),
 * BOOL bool, LIST and MAP struct strv (one element per word / table).
 */
enum param_type {
	PARAM_STR,
	PARAM_INT,
	PARAM_SIZE,
	PARAM_TIME,
	PARAM_BOOL,
	PARAM_LIST,
	PARAM_MAP,
};

#define PARAM_FIELD_STR(n) char *n;
#define PARAM_FIELD_INT(n) long n;
#define PARAM_FIELD_SIZE(n) uint64_t n;
#define PARAM_FIELD_TIME(n) long n;
#define PARAM_FIELD_BOOL(n) bool n;
#define PARAM_FIELD_LIST(n) struct strv n;
#define PARAM_FIELD_MAP(n) struct strv n;

struct params {
#define PARAM(name, type, def, min, max, desc) PARAM_FIELD_##type(name)
#include "common/params.def"
#undef PARAM
};

/* One row of the table, for config -d and the loader. */
struct param_info {
	const char *name;
	enum param_type type;
	const char *def;
	uint64_t min;
	uint64_t max;
	const char *desc;
	size_t offset; /* of the field in struct params */
};

extern const struct param_info param_table[];
extern const size_t param_count;

/* The loaded parameters; NULL until params_load() succeeds. */
extern const struct params *params;

/* Where a value came from, for problems and `config -n`. */
struct param_source {
	const char *file; /* NULL: built-in default or override */
	int line;         /* 0: default, -1: override */
};

/*
 * Called for each problem found while loading: unknown names (is_error
 * false: a warning) and bad values (is_error true). file may be NULL (line
 * 0) for a problem with a built-in default or an override. msg names the
 * parameter but not file:line.
 */
typedef void (*params_problem_fn)(void *ctx, const char *file, int line,
				  bool is_error, const char *msg);

/*
 * Loads <config_dir>/main.cf, applies overrides ("name=value" strings, as
 * from master.cf -o or the command line; they win over main.cf), expands
 * $name references, converts and bounds-checks every value, and publishes
 * the result in `params`. config_directory is set to config_dir whatever
 * main.cf or an override says.
 *
 * Problems: a name that is neither a parameter nor referenced as $name by
 * some value is a warning ("unknown parameter NAME"); a main.cf syntax
 * error, a value that does not expand (loop, bad ${...}) or convert
 * ("bad value for NAME: ...") is an error.
 *
 * With problem == NULL, warnings are logged and the first error fails the
 * load (-1, e filled with "file:line: ..."). With a callback, every problem
 * is reported through it and the load fails at the end if any was an error.
 * A missing or unreadable main.cf is an error (-1, e set, no callback).
 * config_dir NULL loads the defaults and overrides alone, without main.cf
 * (for `config -dx` and tests).
 *
 * May be called again (SIGHUP reload). Every struct ever published stays
 * valid, with all its strings, until params_unload(): a reload never frees
 * memory a daemon may still hold a pointer into. A failed load leaves the
 * previous `params` in place.
 */
int params_load(const char *config_dir, const struct strv *overrides,
		params_problem_fn problem, void *ctx, struct err *e);

/*
 * Like params_load() with a callback (which is required), but a value that
 * does not expand or convert is reported and then replaced by its default,
 * so a result is always published. For `posthorn check`, which goes on to
 * check the files that the good values name. Returns the number of errors
 * reported, or -1 with e set when main.cf cannot be read at all.
 */
int params_load_lenient(const char *config_dir, const struct strv *overrides,
			params_problem_fn problem, void *ctx, struct err *e);

/* Frees every struct params_load() ever published; `params` becomes NULL.
 * For the end of tests and tools; daemons never need it. */
void params_unload(void);

/* The info row for name, or NULL. */
const struct param_info *param_lookup(const char *name);

/* The default of a row as `config -d` shows it: computed defaults
 * (%hostname, %domain, %daemon_dir) are computed, $name is not expanded.
 * Caller frees. */
char *param_default(const struct param_info *pi);

/* The raw (unexpanded) value of name as loaded: override or main.cf text,
 * else the default (computed defaults computed); NULL for a name that is
 * neither a parameter nor set in main.cf or an override. src may be NULL;
 * for an override src->file is NULL and src->line is -1. Valid until
 * params_unload(). */
const char *params_raw(const char *name, struct param_source *src);

/* The expanded text value of name as loaded (parameters and names set in
 * main.cf), or NULL. Valid until params_unload(). */
const char *params_text(const char *name);

/*
 * Expands $name, ${name}, $(name), ${name?text} and ${name:text} in s
 * against the loaded parameters. Names that are neither parameters nor set
 * in main.cf are left as written (so local can expand $home later).
 * Returns a new string (caller frees), or NULL with e set on a syntax error
 * or a result longer than PARAMS_EXPAND_MAX.
 */
char *params_expand(const char *s, struct err *e);

/*
 * The expansion engine behind the loader and params_expand(), for callers
 * with their own names (local expanding $home, ${extension?...}).
 * lookup(ctx, name, len, &text, e) answers 1 with *text set, 0 when the
 * name is unknown (the reference is copied as written, text and all), or
 * -1 with e set to fail the expansion. ${name?text} gives the expanded text
 * when name is known and non-empty, else nothing; ${name:text} the reverse.
 * '$' not followed by a name, '{' or '(' is kept as is. Appends to out
 * (whose max bounds the result); 0, or -1 with e set.
 */
#define PARAMS_EXPAND_MAX (1024 * 1024)
typedef int (*params_lookup_fn)(void *ctx, const char *name, size_t len,
				const char **text_out, struct err *e);
int params_expand_with(const char *s, size_t len, params_lookup_fn lookup,
		       void *ctx, struct buf *out, struct err *e);

/* Converters shared with the loader, for values that arrive elsewhere
 * (e.g. a daemon's own option). No bounds beyond the type's own range.
 * SIZE: digits with an optional k, m or g suffix (binary, any case);
 * TIME: digits with an optional s, m, h, d or w suffix (bare = seconds);
 * BOOL: yes or no in any case. 0 ok, -1 with e set. */
int param_parse_int(const char *s, long *out, struct err *e);
int param_parse_size(const char *s, uint64_t *out, struct err *e);
int param_parse_time(const char *s, long *out, struct err *e);
int param_parse_bool(const char *s, bool *out, struct err *e);

/* Checks that text (already expanded) is a good value for pi: type, bounds
 * from the row (min = max = 0: unbounded), MAP elements of the form
 * type:name. 0, or -1 with e set to the reason (without the name). */
int param_check_value(const struct param_info *pi, const char *text,
		      struct err *e);

/*
 * Splits s into words at any character in seps, like strv_split(), except
 * that braces group: from a '{' to its matching '}' no separator splits, so
 * "inline:{ a=b, c=d }" is one word. Appends to sv; 0, or -1 with e set on
 * an unbalanced brace (sv then holds the words before it).
 */
int param_split(struct strv *sv, const char *s, const char *seps,
		struct err *e);

#endif
