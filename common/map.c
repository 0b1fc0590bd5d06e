/* SPDX-License-Identifier: MIT */
/*
 * map.c - lookup tables: open by "type:name", look up, close; map lists
 *
 * Reading side of the tables described in map.h (map_build.c writes lmdb
 * files). An lmdb table holds its file open read-only without a lock
 * file: map_build never writes a file in place, it renames a new one over
 * it, so the open file never changes under us. To pick up a rebuild, a
 * lookup stats the path at most once per recheck interval and reopens
 * when the inode (or size or mtime) differs. The stat is taken before the
 * open, so a rebuild racing with a reopen costs at most one extra reopen,
 * never a missed change.
 *
 * Keys are folded to ASCII lower case here, as map_build folds them.
 */
#include "common/map.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/db.h"
#include "common/log.h"
#include "common/map_db.h"
#include "common/xalloc.h"

enum map_type {
	MAP_LMDB,
	MAP_INLINE,
	MAP_STATIC,
	MAP_UNIX,
};

struct map_entry {
	char *key;
	char *value;
};

struct map {
	enum map_type type;
	char *spec;
	/* lmdb */
	char *path; /* name + ".lmdb" */
	struct db_env *env;
	struct stat st; /* of path, taken before env was opened */
	uint64_t checked_ms;
	/* inline */
	struct map_entry *entries;
	size_t n;
	/* static */
	char *value;
};

struct maplist {
	struct map **maps;
	size_t n;
};

static unsigned recheck_ms = 1000;

void map_set_recheck_interval(unsigned ms)
{
	recheck_ms = ms;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

size_t map_db_key(const char *key, size_t klen, char *out)
{
	if (klen <= MAP_DB_SHORT_MAX) {
		memcpy(out, key, klen);
		return klen;
	}
	uint64_t h = 0xcbf29ce484222325u; /* FNV-1a 64 */
	for (size_t i = 0; i < klen; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3u;
	}
	memcpy(out, key, MAP_DB_PREFIX);
	out[MAP_DB_PREFIX] = 0;
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++)
		out[MAP_DB_PREFIX + 1 + i] = hex[(h >> (60 - 4 * i)) & 0xf];
	return MAP_DB_KEY_BUF;
}

/* ---- lmdb --------------------------------------------------------- */

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Opens m->path into *env after checking it was built by map_build. */
static int lmdb_open_file(struct map *m, struct db_env **env, struct err *e)
{
	struct err de;
	if (db_open(env, m->path, DB_RDONLY | DB_NOSUBDIR | DB_NOLOCK, 0, &de) <
	    0) {
		err_set(e, "%s: %s", m->spec, de.msg);
		return -1;
	}
	struct db_txn *txn;
	const void *v;
	size_t vlen;
	int r = db_read_begin(*env, &txn, &de);
	if (r == 0) {
		r = db_get(txn, NULL, MAP_DB_FORMAT_KEY, MAP_DB_FORMAT_KEY_LEN,
		           &v, &vlen, &de);
		if (r == 1 && (vlen != strlen(MAP_DB_FORMAT_VALUE) ||
		               memcmp(v, MAP_DB_FORMAT_VALUE, vlen) != 0))
			r = 0;
		db_txn_end(&txn);
	}
	if (r == 1)
		return 0;
	if (r == 0)
		err_set(e,
		        "%s: %s was not built by posthorn map build (or by "
		        "another version); rebuild it",
		        m->spec, m->path);
	else
		err_set(e, "%s: %s", m->spec, de.msg);
	db_close(env);
	return -1;
}

static int lmdb_open(struct map *m, const char *name, struct err *e)
{
	if (!*name) {
		err_set(e, "%s: missing file name", m->spec);
		return -1;
	}
	m->path = xasprintf("%s.lmdb", name);
	if (stat(m->path, &m->st) < 0) {
		err_set(e, "%s: %s: %s", m->spec, m->path, strerror(errno));
		return -1;
	}
	m->checked_ms = now_ms();
	return lmdb_open_file(m, &m->env, e);
}

/* Reopens the file when it was replaced since we opened it. */
static int lmdb_recheck(struct map *m, struct err *e)
{
	uint64_t now = now_ms();
	if (now - m->checked_ms < recheck_ms)
		return 0;
	m->checked_ms = now;
	struct stat st;
	if (stat(m->path, &st) < 0) {
		err_set(e, "%s: %s: %s", m->spec, m->path, strerror(errno));
		return -1;
	}
	if (same_file(&st, &m->st))
		return 0;
	struct db_env *env;
	if (lmdb_open_file(m, &env, e) < 0)
		return -1;
	db_close(&m->env);
	m->env = env;
	m->st = st;
	log_debug(1, "%s: reopened rebuilt %s", m->spec, m->path);
	return 0;
}

static int lmdb_lookup(struct map *m, const char *key, size_t klen,
                       char **value_out, struct err *e)
{
	if (lmdb_recheck(m, e) < 0)
		return -1;
	char dbkey[MAP_DB_KEY_BUF];
	size_t dklen = map_db_key(key, klen, dbkey);
	struct db_txn *txn;
	struct err de;
	if (db_read_begin(m->env, &txn, &de) < 0) {
		err_set(e, "%s: %s", m->spec, de.msg);
		return -1;
	}
	const void *v;
	size_t vlen;
	int r = db_get(txn, NULL, dbkey, dklen, &v, &vlen, &de);
	if (r < 0)
		err_set(e, "%s: %s", m->spec, de.msg);
	if (r == 1 && klen > MAP_DB_SHORT_MAX) {
		/* "full key NUL value": make sure it is our key. */
		const char *p = v;
		if (vlen > klen && p[klen] == 0 && memcmp(p, key, klen) == 0) {
			v = p + klen + 1;
			vlen -= klen + 1;
		} else {
			r = 0;
		}
	}
	if (r == 1)
		*value_out = xmemdup(v, vlen);
	db_txn_end(&txn);
	return r;
}

/* ---- inline, static, unix ----------------------------------------- */

static int inline_add(struct map *m, const char *s, size_t len, size_t *cap,
                      struct err *e)
{
	const char *eq = memchr(s, '=', len);
	if (!eq) {
		err_set(e, "%s: \"%.*s\" is not key=value", m->spec, (int)len,
		        s);
		return -1;
	}
	char *key = str_trim(xstrndup(s, (size_t)(eq - s)));
	char *value = str_trim(xstrndup(eq + 1, len - (size_t)(eq - s) - 1));
	const char *why = NULL;
	if (!*key)
		why = "empty key";
	else if (strlen(key) > MAP_KEY_MAX)
		why = "key too long";
	else if (strlen(value) > MAP_VALUE_MAX)
		why = "value too long";
	if (why) {
		err_set(e, "%s: %s in \"%.*s\"", m->spec, why, (int)len, s);
		free(key);
		free(value);
		return -1;
	}
	str_lower(key);
	if (m->n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		m->entries = xrealloc(m->entries, *cap * sizeof(*m->entries));
	}
	m->entries[m->n++] = (struct map_entry){key, value};
	return 0;
}

/* inline:{ key=value, key2=value2 } */
static int inline_open(struct map *m, const char *body, struct err *e)
{
	size_t len = strlen(body);
	while (len && (*body == ' ' || *body == '\t'))
		body++, len--;
	while (len && (body[len - 1] == ' ' || body[len - 1] == '\t'))
		len--;
	if (len < 2 || body[0] != '{' || body[len - 1] != '}') {
		err_set(e, "%s: expected inline:{ key=value, ... }", m->spec);
		return -1;
	}
	const char *p = body + 1, *end = body + len - 1;
	size_t cap = 0;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		size_t n = (size_t)(stop - p);
		size_t blank = 0;
		while (blank < n && strchr(" \t\r\n", p[blank]))
			blank++;
		if (blank < n && inline_add(m, p, n, &cap, e) < 0)
			return -1;
		p = comma ? comma + 1 : end;
	}
	return 0;
}

static int inline_lookup(struct map *m, const char *key, char **value_out)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->entries[i].key, key) == 0) {
			*value_out = xstrdup(m->entries[i].value);
			return 1;
		}
	}
	return 0;
}

/* static:value or static:{ value } */
static int static_open(struct map *m, const char *body, struct err *e)
{
	char *v = str_trim(xstrdup(body));
	size_t len = strlen(v);
	if (len >= 2 && v[0] == '{' && v[len - 1] == '}') {
		memmove(v, v + 1, len - 2);
		v[len - 2] = 0;
		(void)str_trim(v);
	}
	if (!*v || strlen(v) > MAP_VALUE_MAX) {
		err_set(e, "%s: %s value", m->spec, *v ? "too long" : "empty");
		free(v);
		return -1;
	}
	m->value = v;
	return 0;
}

static int unix_open(struct map *m, const char *name, struct err *e)
{
	if (strcmp(name, "passwd.byname") != 0) {
		err_set(e, "%s: unsupported unix table (only passwd.byname)",
		        m->spec);
		return -1;
	}
	return 0;
}

static int unix_lookup(struct map *m, const char *key, char **value_out,
                       struct err *e)
{
	struct passwd pw, *res = NULL;
	size_t size = 4096;
	char *mem = NULL;
	int rc;
	for (;;) {
		mem = xrealloc(mem, size);
		rc = getpwnam_r(key, &pw, mem, size, &res);
		if (rc != ERANGE || size >= (1u << 20))
			break;
		size *= 2;
	}
	int r = 0;
	if (res) {
		*value_out = xasprintf(
		        "%s:%ju:%ju:%s:%s:%s", pw.pw_name, (uintmax_t)pw.pw_uid,
		        (uintmax_t)pw.pw_gid, pw.pw_gecos ? pw.pw_gecos : "",
		        pw.pw_dir ? pw.pw_dir : "",
		        pw.pw_shell ? pw.pw_shell : "");
		r = 1;
	} else if (rc != 0 && rc != ENOENT && rc != ESRCH) {
		err_set(e, "%s: getpwnam: %s", m->spec, strerror(rc));
		r = -1;
	}
	free(mem);
	return r;
}

/* ---- maps ----------------------------------------------------------- */

struct map *map_open(const char *spec, struct err *e)
{
	const char *colon = strchr(spec, ':');
	if (!colon || colon == spec) {
		err_set(e, "table \"%s\": expected type:name", spec);
		return NULL;
	}
	struct map *m = xcalloc(1, sizeof(*m));
	m->spec = xstrdup(spec);
	const char *name = colon + 1;
	size_t tlen = (size_t)(colon - spec);
	int r;
	if (strn_eq_nocase(spec, tlen, "lmdb") ||
	    strn_eq_nocase(spec, tlen, "hash") ||
	    strn_eq_nocase(spec, tlen, "btree")) {
		m->type = MAP_LMDB;
		r = lmdb_open(m, name, e);
	} else if (strn_eq_nocase(spec, tlen, "inline")) {
		m->type = MAP_INLINE;
		r = inline_open(m, name, e);
	} else if (strn_eq_nocase(spec, tlen, "static")) {
		m->type = MAP_STATIC;
		r = static_open(m, name, e);
	} else if (strn_eq_nocase(spec, tlen, "unix")) {
		m->type = MAP_UNIX;
		r = unix_open(m, name, e);
	} else {
		err_set(e, "table \"%s\": unsupported type \"%.*s\"", spec,
		        (int)tlen, spec);
		r = -1;
	}
	if (r < 0)
		map_close(&m);
	return m;
}

int map_lookup(struct map *m, const char *key, char **value_out, struct err *e)
{
	*value_out = NULL;
	size_t klen = strlen(key);
	if (klen == 0 || klen > MAP_KEY_MAX)
		return 0; /* no table can hold such a key */
	if (m->type == MAP_STATIC) {
		*value_out = xstrdup(m->value);
		return 1;
	}
	char folded[MAP_KEY_MAX + 1];
	memcpy(folded, key, klen + 1);
	str_lower(folded);
	switch (m->type) {
	case MAP_LMDB:
		return lmdb_lookup(m, folded, klen, value_out, e);
	case MAP_INLINE:
		return inline_lookup(m, folded, value_out);
	case MAP_UNIX:
		return unix_lookup(m, folded, value_out, e);
	default:
		log_panic("map: bad type %d", (int)m->type);
	}
}

const char *map_spec(const struct map *m)
{
	return m->spec;
}

void map_close(struct map **mp)
{
	struct map *m = *mp;
	if (!m)
		return;
	db_close(&m->env);
	for (size_t i = 0; i < m->n; i++) {
		free(m->entries[i].key);
		free(m->entries[i].value);
	}
	free(m->entries);
	free(m->value);
	free(m->path);
	free(m->spec);
	free(m);
	*mp = NULL;
}

/* ---- lists ---------------------------------------------------------- */

struct maplist *maplist_open(const struct strv *specs, struct err *e)
{
	struct maplist *ml = xcalloc(1, sizeof(*ml));
	ml->maps = xcalloc(specs->n ? specs->n : 1, sizeof(*ml->maps));
	for (size_t i = 0; i < specs->n; i++) {
		ml->maps[i] = map_open(specs->v[i], e);
		if (!ml->maps[i]) {
			maplist_close(&ml);
			return NULL;
		}
		ml->n++;
	}
	return ml;
}

int maplist_lookup(struct maplist *ml, const char *key, char **value_out,
                   struct err *e)
{
	*value_out = NULL;
	for (size_t i = 0; i < ml->n; i++) {
		int r = map_lookup(ml->maps[i], key, value_out, e);
		if (r != 0)
			return r;
	}
	return 0;
}

void maplist_close(struct maplist **mlp)
{
	struct maplist *ml = *mlp;
	if (!ml)
		return;
	for (size_t i = 0; i < ml->n; i++)
		map_close(&ml->maps[i]);
	free(ml->maps);
	free(ml);
	*mlp = NULL;
}

int map_spec_split(const char *s, struct strv *out, struct err *e)
{
	const char *start = NULL;
	int depth = 0;
	for (const char *p = s;; p++) {
		bool sep = !*p ||
		           ((*p == ',' || strchr(" \t\r\n", *p)) && depth == 0);
		if (*p == '{') {
			depth++;
		} else if (*p == '}' && --depth < 0) {
			err_set(e, "\"%s\": unbalanced '}'", s);
			return -1;
		}
		if (sep && start) {
			strv_pushn(out, start, (size_t)(p - start));
			start = NULL;
		} else if (!sep && !start) {
			start = p;
		}
		if (!*p)
			break;
	}
	if (depth > 0) {
		err_set(e, "\"%s\": missing '}'", s);
		return -1;
	}
	return 0;
}
