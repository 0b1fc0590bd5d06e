/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_PARAMS_H
#define POSTHORN_COMMON_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	const char *file; /* NULL: built-in default */
	int line;
};

/*
 * Called for each problem found while loading: unknown names (is_error
 * false: a warning) and bad values (is_error true). file may be NULL for a
 * problem with a built-in default or an override.
 */
typedef void (*params_problem_fn)(void *ctx, const char *file, int line,
				  bool is_error, const char *msg);

/*
 * Loads <config_dir>/main.cf, applies overrides ("name=value" strings, as
 * from master.cf -o or the command line), expands $name references,
 * converts and bounds-checks every value, and publishes the result in
 * `params`. config_directory is set to config_dir.
 *
 * With problem == NULL, warnings are logged and the first error fails the
 * load (-1, e filled with "file:line: ..."). With a callback, every problem
 * is reported through it and the load fails at the end if any was an error.
 * A missing main.cf is an error. May be called again (SIGHUP reload); the
 * previous struct stays valid until the next successful load.
 */
int params_load(const char *config_dir, const struct strv *overrides,
		params_problem_fn problem, void *ctx, struct err *e);

/* The info row for name, or NULL. */
const struct param_info *param_lookup(const char *name);

/* The raw (unexpanded) value of name as loaded: main.cf or override text,
 * else the default; NULL for an unknown name. src may be NULL. Valid until
 * the next load. */
const char *params_raw(const char *name, struct param_source *src);

/* The expanded text value of any name as loaded, or NULL. Valid until the
 * next load. */
const char *params_text(const char *name);

/*
 * Expands $name, ${name}, $(name), ${name?text} and ${name:text} in s
 * against the loaded parameters. Names that are neither parameters nor set
 * in main.cf are left as written (so local can expand $home later).
 * Returns a new string (caller frees), or NULL with e set on a reference
 * loop or syntax error.
 */
char *params_expand(const char *s, struct err *e);

/* Converters shared with the loader, for values that arrive elsewhere
 * (e.g. a daemon's own option). 0 ok, -1 with e set. */
int param_parse_size(const char *s, uint64_t *out, struct err *e);
int param_parse_time(const char *s, long *out, struct err *e);
int param_parse_bool(const char *s, bool *out, struct err *e);

#endif
