/* SPDX-License-Identifier: MIT */
/*
 * map_build.c - build lmdb: tables from text (postmap and aliases syntax);
 * split alias values into destinations
 *
 * The whole text file is parsed into memory first, so a syntax error
 * leaves the old table untouched and db_write's retry after a map-full
 * growth only has to put the records again. Entries are sorted by key,
 * which finds duplicates (the first one in the file wins, as in Postfix)
 * and lets LMDB fill its pages in order.
 *
 * Readers never see a half-built table: the file is written under a
 * temporary name in the same directory, synced (LMDB's commit, then fsync
 * of the file), renamed over the old one, and the directory synced so the
 * rename itself survives a crash.
 */
#include "common/map.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/db.h"
#include "common/log.h"
#include "common/map_db.h"
#include "common/xalloc.h"

struct entry {
	char *key;
	size_t klen;
	char *value;
	size_t vlen;
	unsigned line;
};

struct parse {
	const char *file;
	enum map_format fmt;
	struct entry *v;
	size_t n, cap;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trims blanks from both ends of s[0..*len); returns the new start. */
static const char *trim(const char *s, size_t *len)
{
	while (*len && is_blank(*s))
		s++, (*len)--;
	while (*len && is_blank(s[*len - 1]))
		(*len)--;
	return s;
}

static int add_entry(struct parse *ps, unsigned line, const char *key,
                     size_t klen, const char *value, size_t vlen, struct err *e)
{
	if (klen == 0) {
		err_set(e, "%s:%u: empty key", ps->file, line);
		return -1;
	}
	if (klen > MAP_KEY_MAX) {
		err_set(e, "%s:%u: key longer than %d bytes", ps->file, line,
		        MAP_KEY_MAX);
		return -1;
	}
	if (vlen == 0) {
		err_set(e, "%s:%u: missing value for \"%.*s\"", ps->file, line,
		        (int)(klen > 64 ? 64 : klen), key);
		return -1;
	}
	if (vlen > MAP_VALUE_MAX) {
		err_set(e, "%s:%u: value longer than %d bytes", ps->file, line,
		        MAP_VALUE_MAX);
		return -1;
	}
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64, bytes;
		if (size_mul(cap, sizeof(*ps->v), &bytes) < 0) {
			err_set(e, "%s: too many entries", ps->file);
			return -1;
		}
		ps->v = xrealloc(ps->v, bytes);
		ps->cap = cap;
	}
	char *k = xmemdup(key, klen);
	str_lower(k);
	ps->v[ps->n++] =
	        (struct entry){k, klen, xmemdup(value, vlen), vlen, line};
	return 0;
}

/* "key whitespace value" */
static int parse_kv(struct parse *ps, unsigned line, const char *s, size_t len,
                    struct err *e)
{
	size_t klen = 0;
	while (klen < len && !is_blank(s[klen]))
		klen++;
	size_t vlen = len - klen;
	const char *v = trim(s + klen, &vlen);
	return add_entry(ps, line, s, klen, v, vlen, e);
}

/* "name: value" or "\"quoted name\": value" */
static int parse_alias(struct parse *ps, unsigned line, const char *s,
                       size_t len, struct err *e)
{
	struct buf name;
	buf_init(&name, MAP_KEY_MAX + 1);
	size_t i = 0;
	const char *why = NULL;
	if (s[0] == '"') {
		for (i = 1; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			(void)buf_append_char(&name, s[i]);
		}
		if (i == len)
			why = "unterminated quoted name";
		i++;
		while (i < len && is_blank(s[i]))
			i++;
		if (!why && (i == len || s[i] != ':'))
			why = "expected ':' after the quoted name";
	} else {
		while (i < len && s[i] != ':')
			i++;
		size_t nlen = i;
		const char *n = trim(s, &nlen);
		for (size_t j = 0; j < nlen; j++)
			if (is_blank(n[j]))
				why = "white space in a name (quote it)";
		(void)buf_append(&name, n, nlen);
		if (i == len)
			why = "expected \"name: value\"";
	}
	int r = -1;
	if (why) {
		err_set(e, "%s:%u: %s", ps->file, line, why);
	} else {
		size_t vlen = len - i - 1;
		const char *v = trim(s + i + 1, &vlen);
		r = add_entry(ps, line, name.data ? name.data : "", name.len, v,
		              vlen, e);
	}
	buf_deinit(&name);
	return r;
}

static int parse_entry(struct parse *ps, unsigned line, struct buf *entry,
                       struct err *e)
{
	if (entry->len == 0)
		return 0;
	int r = ps->fmt == MAP_FORMAT_ALIASES
	                ? parse_alias(ps, line, entry->data, entry->len, e)
	                : parse_kv(ps, line, entry->data, entry->len, e);
	buf_reset(entry);
	return r;
}

/* Reads one physical line without its end into line: 1 read, 0 at end
 * of file, -1 (too long, NUL byte, read error) with e set. */
static int read_line(FILE *fp, const char *file, unsigned lineno,
                     struct buf *line, struct err *e)
{
	buf_reset(line);
	int c;
	while ((c = getc_unlocked(fp)) != EOF && c != '\n') {
		if (c == 0) {
			err_set(e, "%s:%u: NUL byte", file, lineno);
			return -1;
		}
		if (buf_append_char(line, (char)c) < 0) {
			err_set(e, "%s:%u: line longer than %d bytes", file,
			        lineno, MAP_LINE_MAX);
			return -1;
		}
	}
	if (ferror(fp)) {
		err_set(e, "%s: read: %s", file, strerror(errno));
		return -1;
	}
	if (c == EOF && line->len == 0)
		return 0;
	if (line->len && line->data[line->len - 1] == '\r')
		buf_truncate(line, line->len - 1);
	return 1;
}

/* Reads every entry of fp into ps (see map_build in map.h for the
 * syntax). */
static int parse_file(FILE *fp, struct parse *ps, struct err *e)
{
	struct buf line, entry;
	buf_init(&line, MAP_LINE_MAX);
	/* An entry is a key, a separator and a value, each bounded. */
	buf_init(&entry, MAP_KEY_MAX + MAP_VALUE_MAX + 64);
	unsigned lineno = 0, start = 0;
	int r;
	while ((r = read_line(fp, ps->file, ++lineno, &line, e)) == 1) {
		size_t len = line.len;
		const char *s = trim(line.data ? line.data : "", &len);
		if (len == 0 || *s == '#')
			continue;
		if (is_blank(line.data[0])) {
			if (entry.len == 0) {
				err_set(e,
				        "%s:%u: continuation line without an "
				        "entry before it",
				        ps->file, lineno);
				r = -1;
				break;
			}
			if (buf_append_char(&entry, ' ') < 0 ||
			    buf_append(&entry, s, len) < 0) {
				err_set(e, "%s:%u: entry too long", ps->file,
				        start);
				r = -1;
				break;
			}
			continue;
		}
		if ((r = parse_entry(ps, start, &entry, e)) < 0)
			break;
		start = lineno;
		(void)buf_append(&entry, s, len); /* fits: line < entry max */
	}
	if (r == 0)
		r = parse_entry(ps, start, &entry, e);
	buf_deinit(&line);
	buf_deinit(&entry);
	return r;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sorts the entries and drops duplicate keys but the first in the file. */
static void dedupe(struct parse *ps)
{
	if (ps->n == 0)
		return;
	qsort(ps->v, ps->n, sizeof(*ps->v), entry_cmp);
	size_t out = 1;
	for (size_t i = 1; i < ps->n; i++) {
		struct entry *prev = &ps->v[out - 1], *cur = &ps->v[i];
		if (cur->klen == prev->klen &&
		    memcmp(cur->key, prev->key, cur->klen) == 0) {
			char q[80];
			log_warn("%s:%u: duplicate key \"%s\" ignored (first "
			         "at line %u)",
			         ps->file, cur->line,
			         log_quote(q, sizeof(q), cur->key, cur->klen),
			         prev->line);
			free(cur->key);
			free(cur->value);
			continue;
		}
		ps->v[out++] = *cur;
	}
	ps->n = out;
}

static void parse_free(struct parse *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->v[i].key);
		free(ps->v[i].value);
	}
	free(ps->v);
}

/* db_write function: every record of the table, from the start. */
static int put_all(struct db_txn *txn, void *ctx, struct err *e)
{
	struct parse *ps = ctx;
	if (db_put(txn, NULL, MAP_DB_FORMAT_KEY, MAP_DB_FORMAT_KEY_LEN,
	           MAP_DB_FORMAT_VALUE, strlen(MAP_DB_FORMAT_VALUE), e) < 0)
		return -1;
	struct buf rec;
	buf_init(&rec, 0);
	int r = 0;
	for (size_t i = 0; i < ps->n && r == 0; i++) {
		const struct entry *en = &ps->v[i];
		char dbkey[MAP_DB_KEY_BUF];
		size_t dklen = map_db_key(en->key, en->klen, dbkey);
		if (en->klen <= MAP_DB_SHORT_MAX) {
			r = db_put(txn, NULL, dbkey, dklen, en->value, en->vlen,
			           e);
			continue;
		}
		const void *old;
		size_t olen;
		r = db_get(txn, NULL, dbkey, dklen, &old, &olen, e);
		if (r == 1) {
			err_set(e,
			        "%s:%u: long key collides with another one; "
			        "shorten it",
			        ps->file, en->line);
			r = -1;
			break;
		}
		buf_reset(&rec);
		(void)buf_append(&rec, en->key, en->klen);
		(void)buf_append_char(&rec, 0);
		(void)buf_append(&rec, en->value, en->vlen);
		if (r == 0)
			r = db_put(txn, NULL, dbkey, dklen, rec.data, rec.len,
			           e);
	}
	buf_deinit(&rec);
	return r < 0 ? -1 : 0;
}

/* fsync of a file or directory by name. */
static int sync_path(const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		err_set(e, "fsync %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Creates the empty temporary file with the source file's permissions
 * (and owner, as root). Returns its name, or NULL with e set. */
static char *make_temp(const char *out, const struct stat *src, struct err *e)
{
	char *tmp = xasprintf("%s.tmpXXXXXX", out);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		err_set(e, "create %s: %s", tmp, strerror(errno));
		free(tmp);
		return NULL;
	}
	int r = fchmod(fd, src->st_mode & 0666);
	if (r == 0 && geteuid() == 0)
		r = fchown(fd, src->st_uid, src->st_gid);
	if (r < 0) {
		err_set(e, "%s: %s", tmp, strerror(errno));
		close(fd);
		(void)unlink(tmp);
		free(tmp);
		return NULL;
	}
	close(fd);
	return tmp;
}

/* Writes ps into a new file and renames it to out. */
static int write_table(struct parse *ps, const char *out,
                       const struct stat *src, struct err *e)
{
	char *tmp = make_temp(out, src, e);
	if (!tmp)
		return -1;
	struct db_env *env;
	/* An empty file is a new environment to LMDB; nobody else knows
	 * the name, so no lock file is needed. */
	int r = db_open(&env, tmp, DB_NOSUBDIR | DB_CREATE | DB_NOLOCK, 0, e);
	if (r == 0) {
		r = db_write(env, put_all, ps, e);
		db_close(&env);
	}
	if (r == 0)
		r = sync_path(tmp, e);
	if (r == 0 && rename(tmp, out) < 0) {
		err_set(e, "rename %s to %s: %s", tmp, out, strerror(errno));
		r = -1;
	}
	if (r < 0) {
		(void)unlink(tmp);
	} else {
		char *dir = xstrdup(out);
		r = sync_path(dirname(dir), e);
		free(dir);
	}
	free(tmp);
	return r;
}

int map_build(const char *textfile, enum map_format fmt, struct err *e)
{
	FILE *fp = fopen(textfile, "re");
	if (!fp) {
		err_set(e, "%s: %s", textfile, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(fp), &st) < 0) {
		err_set(e, "%s: %s", textfile, strerror(errno));
		fclose(fp);
		return -1;
	}
	struct parse ps = {.file = textfile, .fmt = fmt};
	int r = parse_file(fp, &ps, e);
	fclose(fp);
	if (r == 0) {
		dedupe(&ps);
		char *out = xasprintf("%s.lmdb", textfile);
		r = write_table(&ps, out, &st, e);
		free(out);
	}
	parse_free(&ps);
	return r;
}

/* Pushes one destination, unquoting it when it is one quoted string. */
static void push_dest(struct strv *out, const char *s, size_t len)
{
	s = trim(s, &len);
	if (len == 0)
		return;
	if (len < 2 || s[0] != '"') {
		strv_pushn(out, s, len);
		return;
	}
	size_t i = 1;
	while (i < len && s[i] != '"')
		i += s[i] == '\\' && i + 1 < len ? 2 : 1;
	if (i != len - 1) { /* quotes cover only part of it */
		strv_pushn(out, s, len);
		return;
	}
	char *u = xmalloc(len);
	size_t n = 0;
	for (size_t j = 1; j < len - 1; j++) {
		if (s[j] == '\\' && j + 1 < len - 1)
			j++;
		u[n++] = s[j];
	}
	strv_pushn(out, u, n);
	free(u);
}

int alias_split(const char *rhs, size_t len, struct strv *out, struct err *e)
{
	size_t start = 0;
	bool quoted = false;
	for (size_t i = 0; i < len; i++) {
		if (quoted && rhs[i] == '\\' && i + 1 < len)
			i++;
		else if (rhs[i] == '"')
			quoted = !quoted;
		else if (rhs[i] == ',' && !quoted) {
			push_dest(out, rhs + start, i - start);
			start = i + 1;
		}
	}
	if (quoted) {
		char q[80];
		err_set(e, "unterminated quote in \"%s\"",
		        log_quote(q, sizeof(q), rhs, len));
		return -1;
	}
	push_dest(out, rhs + start, len - start);
	return 0;
}
