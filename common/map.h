/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MAP_H
#define POSTHORN_COMMON_MAP_H

#include <stddef.h>

#include "common/err.h"
#include "common/str.h"

/*
 * Lookup tables named "type:name", as in Postfix:
 *   lmdb:/path/file   /path/file.lmdb, built from /path/file by map_build
 *                     (hash: and btree: are accepted as aliases of lmdb:);
 *                     a rebuilt file is noticed (stat at most once per
 *                     second) and reopened, so daemons need no restart
 *   inline:{ k=v, k2=v2 }   small tables written in main.cf (values may
 *                     not contain commas; braces required)
 *   static:value      every key maps to value (static:{ value } also)
 *   unix:passwd.byname  system users; the value is the passwd entry
 *                     "name:uid:gid:gecos:dir:shell" (no password field)
 *
 * Keys are compared in ASCII lower case: they are folded when a table is
 * built and when it is looked up (mail addresses and domains in these
 * tables are case-insensitive).
 */

#define MAP_KEY_MAX 1024    /* bytes in a key */
#define MAP_VALUE_MAX 65536 /* bytes in a value */
#define MAP_LINE_MAX 65536  /* bytes in one line of a source file */

struct map;

/* Opens the table named by spec. NULL with e set on a syntax error, an
 * unknown type, or (lmdb) a missing or unreadable file. Free with
 * map_close. Opens files; does not block otherwise. */
struct map *map_open(const char *spec, struct err *e);
/*
 * Looks key up. 1 found with *value_out a new NUL-terminated string the
 * caller frees; 0 not found; -1 error with e set (the caller should defer,
 * not bounce: the table is unreadable, not missing the key). May reopen
 * an lmdb file that was rebuilt.
 */
int map_lookup(struct map *m, const char *key, char **value_out, struct err *e);
/* Closes the table; *mp = NULL; accepts NULL. */
void map_close(struct map **mp);
/* The spec the table was opened with, for log lines. */
const char *map_spec(const struct map *m);

/* A list of tables searched in order (a MAP parameter). */
struct maplist;

/* Opens every spec of specs (an empty list gives a list that finds
 * nothing). NULL with e set when one fails to open; free with
 * maplist_close. */
struct maplist *maplist_open(const struct strv *specs, struct err *e);
/* Looks key up in each table in order; the first hit wins. Returns as
 * map_lookup; an error in one table stops the search with -1. */
int maplist_lookup(struct maplist *ml, const char *key, char **value_out,
                   struct err *e);
void maplist_close(struct maplist **mlp);

/*
 * Splits the text of a MAP parameter into specs, at commas and white
 * space outside braces, so "inline:{ a=b, c=d }, lmdb:/x" gives two specs.
 * Appends to out. 0, or -1 with e set on unbalanced braces.
 */
int map_spec_split(const char *s, struct strv *out, struct err *e);

enum map_format {
	MAP_FORMAT_KV,      /* postmap: "key  value", # comments */
	MAP_FORMAT_ALIASES, /* /etc/aliases: "name: value, value2" */
};

/*
 * Builds textfile + ".lmdb" from textfile. Both formats: lines whose first
 * non-blank character is '#' are comments, blank lines are skipped, a line
 * starting with white space continues the previous entry (joined with one
 * space). KV: the key is the first word, the value the rest of the entry.
 * ALIASES: the name is the text before the first ':' ("quoted names"
 * may hold white space and ':'), the value the full text after it, kept
 * as written for alias_split. Keys are folded to lower case; a duplicate
 * key is warned about and the first entry kept.
 *
 * The new file is written under a temporary name in the same directory,
 * synced, and renamed over the old one, so readers see the old table or
 * the new one, never a mix; it gets the text file's permission bits
 * (minus execute) and, when run as root, its owner. 0, or -1 with e set
 * ("file:line: reason" for a syntax or size error); on error the old
 * table is left in place. Blocks on disk I/O.
 */
int map_build(const char *textfile, enum map_format fmt, struct err *e);

/*
 * Splits the right-hand side of an alias into destinations at commas
 * outside double quotes, trimming white space and skipping empty ones. A
 * destination that is one quoted string ("|cmd arg, arg") loses its
 * quotes, with \" and \\ unescaped inside; a partly quoted one
 * ("a b"@example.com) is kept as written. Appends to out. 0, or -1 with e
 * set on an unterminated quote.
 */
int alias_split(const char *rhs, size_t len, struct strv *out, struct err *e);

/* For tests: how long an lmdb table trusts its open file before it checks
 * for a rebuild, in milliseconds (default 1000; 0 checks every lookup). */
void map_set_recheck_interval(unsigned ms);

#endif
