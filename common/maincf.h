/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MAINCF_H
#define POSTHORN_COMMON_MAINCF_H

#include <stddef.h>

#include "common/err.h"

/*
 * main.cf syntax: "name = value" lines; a line starting with white space
 * continues the previous one; '#' at the start of a line (after optional
 * white space) is a comment; blank lines are ignored. Values are kept raw
 * (no $ expansion here). Later assignments of a name override earlier ones.
 *
 * Bounds: a file of at most 4 MiB, a logical line of at most 64 KiB, at most
 * 10,000 entries; beyond them the read fails naming file:line.
 */
struct maincf_entry {
	char *name;
	char *value;
	int line; /* first physical line of the entry */
};

struct maincf {
	char *path;
	struct maincf_entry *v;
	size_t n;
};

/* Parses path. 0, or -1 with e = "path:line: reason" (or the open error).
 * The caller frees cf with maincf_free(). */
int maincf_read(const char *path, struct maincf *cf, struct err *e);
/* Parses text already in memory; path is used in messages only. */
int maincf_parse(const char *path, const char *text, size_t len,
		 struct maincf *cf, struct err *e);
void maincf_free(struct maincf *cf);
/* The last entry for name, or NULL. */
const struct maincf_entry *maincf_get(const struct maincf *cf,
				      const char *name);

/*
 * Sets name = value in the file at path, keeping every comment, blank line
 * and the order of other entries: an existing entry (with its continuation
 * lines) is replaced where it stands, a new one is appended. value NULL
 * removes the entry. The file is rewritten atomically (temp file, fsync,
 * rename) with its mode kept. 0, or -1 with e set.
 */
int maincf_edit(const char *path, const char *name, const char *value,
		struct err *e);

#endif
