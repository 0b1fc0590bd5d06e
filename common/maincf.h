/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MAINCF_H
#define POSTHORN_COMMON_MAINCF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/*
 * main.cf syntax: "name = value" lines; a line starting with white space
 * continues the previous logical line (joined with one space); '#' at the
 * start of a line (after optional white space) is a comment; blank lines
 * are ignored, also between continuation lines. Names are [A-Za-z0-9_]+.
 * Values are kept raw (no $ expansion here). Later assignments of a name
 * override earlier ones.
 *
 * Bounds: a file of at most MAINCF_FILE_MAX bytes, a logical line of at
 * most MAINCF_LINE_MAX, at most MAINCF_ENTRIES_MAX entries; beyond them the
 * read fails naming file:line. master.cf shares the line syntax and bounds.
 */
#define MAINCF_FILE_MAX 4194304 /* 4 MiB */
#define MAINCF_LINE_MAX 65536   /* 64 KiB */
#define MAINCF_ENTRIES_MAX 10000

struct maincf_entry {
	char *name;
	char *value;
	int line;      /* first physical line of the entry */
	int last_line; /* its last continuation line */
};

struct maincf {
	char *path;
	struct maincf_entry *v;
	size_t n;
};

/* Called for each bad line by the _all readers: msg is the reason alone. */
typedef void (*maincf_problem_fn)(void *ctx, const char *file, int line,
				  const char *msg);

/* Parses path. 0, or -1 with e = "path:line: reason" (or the open error).
 * cf is always initialised: free it with maincf_free() in both cases. */
int maincf_read(const char *path, struct maincf *cf, struct err *e);
/* Parses text already in memory; path is used in messages only. */
int maincf_parse(const char *path, const char *text, size_t len,
		 struct maincf *cf, struct err *e);
/*
 * Like maincf_read()/maincf_parse(), but a bad line is reported through
 * problem and skipped, and the good entries are kept in cf. Returns the
 * number of bad lines reported (0: all good), or -1 with e set on a failure
 * that stops the read (open error, a bound), which is not reported.
 */
int maincf_read_all(const char *path, struct maincf *cf,
		    maincf_problem_fn problem, void *ctx, struct err *e);
int maincf_parse_all(const char *path, const char *text, size_t len,
		     struct maincf *cf, maincf_problem_fn problem, void *ctx,
		     struct err *e);
/* Frees everything cf holds and empties it; accepts an empty cf. */
void maincf_free(struct maincf *cf);
/* The last entry for name, or NULL. */
const struct maincf_entry *maincf_get(const struct maincf *cf,
				      const char *name);

/*
 * Sets name = value in the file at path, keeping every comment, blank line
 * and the order of other entries: the last entry for name (with its
 * continuation lines) is replaced where it stands and earlier ones are
 * removed; comment and blank lines between its continuation lines stay.
 * A new entry is appended. value NULL removes every entry for name. A
 * missing file is created (mode 0644). The file is rewritten atomically
 * (temp file, fsync, rename) with its mode kept. Lines that do not parse
 * are kept as they are. value may not hold a line break. 0, or -1 with e.
 */
int maincf_edit(const char *path, const char *name, const char *value,
		struct err *e);

/* True when s[0..len) is a valid parameter name. */
bool maincf_name_ok(const char *s, size_t len);

/*
 * The logical-line driver main.cf and master.cf share. Checks the file
 * size bound, then calls line(arg, text, len, first, last, e) for each
 * logical line (continuations joined by one space, outer white space
 * trimmed; text is NUL-terminated) with its first and last physical line.
 * line returns 0, MAINCF_LINE_BAD with e set to the reason for a bad line,
 * or MAINCF_LINE_STOP with e set to the whole message to end the read.
 * A bad line (from line or the syntax) goes to problem(ctx, path, line,
 * reason) and the read goes on; without problem the read stops with e =
 * "path:line: reason". Returns the number of bad lines reported, or -1.
 */
#define MAINCF_LINE_BAD (-1)
#define MAINCF_LINE_STOP (-2)
typedef int (*maincf_line_fn)(void *arg, const char *text, size_t len,
			      int first, int last, struct err *e);
int maincf_each_line(const char *path, const char *text, size_t len,
		     maincf_line_fn line, void *arg, maincf_problem_fn problem,
		     void *ctx, struct err *e);
/* Reads a config file whole into out, which it initialises (the caller
 * buf_deinit()s it after success): at most MAINCF_FILE_MAX + 1 bytes, so a
 * caller can tell a file that is too large. 0, or -1 with e and errno set
 * (out then needs no cleanup). */
int maincf_slurp(const char *path, struct buf *out, struct err *e);

#endif
