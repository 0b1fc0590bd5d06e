/* SPDX-License-Identifier: MIT */
/*
 * maincf.c - read main.cf into name/value entries; edit it in place
 *
 * Owns the logical-line syntax that main.cf and master.cf share (comments,
 * blank lines, continuation lines) through maincf_each_line(), the
 * "name = value" parser, and the editor behind `posthorn config name=value`.
 * It does not expand $name or know any parameter: params.c does that.
 *
 * Every read is bounded (file, logical line, entry count) so a hostile or
 * broken file cannot make a daemon allocate without limit. The editor keeps
 * every byte it does not have to change: lines outside the edited entry are
 * copied verbatim, line endings included, and the file is replaced by
 * rename() after fsync so a crash leaves the old or the new file, never a
 * mix.
 */
#include "common/maincf.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"

#define STR2(x) #x
#define STR1(x) STR2(x)
#define LINE_MAX_TEXT STR1(MAINCF_LINE_MAX)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

bool maincf_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* ---- the logical-line scanner --------------------------------------- */

/*
 * One call yields one logical line in sc->logical with sc->first and
 * sc->last its physical lines: 1, or -1 with e set to the reason alone and
 * sc->err_line to its line (the bad line is consumed; scanning may go on),
 * or 0 at the end.
 */
struct scan {
	const char *text;
	size_t len;
	size_t pos;
	int lineno; /* physical lines consumed */
	struct buf logical;
	int first;
	int last;
	int err_line;
};

static void scan_init(struct scan *sc, const char *text, size_t len)
{
	memset(sc, 0, sizeof(*sc));
	sc->text = text;
	sc->len = len;
	buf_init(&sc->logical, MAINCF_LINE_MAX);
}

static void scan_deinit(struct scan *sc)
{
	buf_deinit(&sc->logical);
}

/* The physical line at which byte offset off lies in text. */
static int line_at(const char *text, size_t off)
{
	int line = 1;
	for (size_t i = 0; i < off; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

static int scan_next(struct scan *sc, struct err *e)
{
	bool have = false;
	const char *bad = NULL;
	int bad_line = 0;

	buf_reset(&sc->logical);
	while (sc->pos < sc->len) {
		const char *s = sc->text + sc->pos;
		size_t rest = sc->len - sc->pos;
		const char *nl = memchr(s, '\n', rest);
		size_t end = nl ? (size_t)(nl - s) : rest;
		size_t next = nl ? end + 1 : rest;
		size_t i = 0;
		while (i < end && is_blank(s[i]))
			i++;
		if (i == end || s[i] == '#') {
			/* Blank and comment lines never end a logical line:
			 * comments may sit between continuation lines. */
			sc->pos += next;
			sc->lineno++;
			continue;
		}
		if (i == 0 && have)
			break; /* the next logical line starts here */
		sc->pos += next;
		sc->lineno++;
		if (i == 0) {
			have = true;
			sc->first = sc->lineno;
		} else if (!have) {
			sc->first = sc->last = sc->err_line = sc->lineno;
			err_set(e, "continuation line without an entry before "
				   "it");
			return -1;
		}
		sc->last = sc->lineno;
		size_t stop = end;
		while (stop > i && is_blank(s[stop - 1]))
			stop--;
		if (bad)
			continue; /* consume the rest of a bad logical line */
		if (memchr(s + i, 0, stop - i)) {
			bad = "NUL byte in line";
			bad_line = sc->lineno;
		} else if ((sc->logical.len &&
			    buf_append_char(&sc->logical, ' ') < 0) ||
			   buf_append(&sc->logical, s + i, stop - i) < 0) {
			bad = "logical line longer than " LINE_MAX_TEXT
			      " bytes";
			bad_line = sc->first;
		}
	}
	if (!have)
		return 0;
	if (bad) {
		sc->err_line = bad_line;
		err_set(e, "%s", bad);
		return -1;
	}
	return 1;
}

int maincf_slurp(const char *path, struct buf *out, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int saved = errno;
		err_set(e, "open %s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	buf_init(out, MAINCF_FILE_MAX + 1);
	for (;;) {
		if (out->len > MAINCF_FILE_MAX)
			break;
		if (buf_reserve(out, 65536) < 0 && buf_reserve(out, 1) < 0)
			break;
		size_t room = out->cap - out->len - 1;
		ssize_t n = read(fd, out->data + out->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			err_set(e, "read %s: %s", path, strerror(saved));
			close(fd);
			buf_deinit(out);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = 0;
	}
	close(fd);
	return 0;
}

/* ---- parsing -------------------------------------------------------- */

static void add_entry(struct maincf *cf, const char *name, size_t nlen,
		      const char *value, size_t vlen, int line, int last)
{
	cf->v = xrealloc(cf->v, (cf->n + 1) * sizeof(*cf->v));
	struct maincf_entry *en = &cf->v[cf->n++];
	en->name = xstrndup(name, nlen);
	en->value = xstrndup(value, vlen);
	en->line = line;
	en->last_line = last;
}

/* Splits one logical line "name = value"; -1 with e set if malformed. */
static int split_entry(const char *s, size_t len, size_t *nlen_out,
		       size_t *vstart_out, struct err *e)
{
	size_t i = 0;
	while (i < len && !is_blank(s[i]) && s[i] != '=')
		i++;
	if (!maincf_name_ok(s, i)) {
		err_set(e, "bad parameter name \"%.*s\"",
			(int)(i > 64 ? 64 : i), s);
		return -1;
	}
	size_t j = i;
	while (j < len && is_blank(s[j]))
		j++;
	if (j == len || s[j] != '=') {
		err_set(e, "missing '=' after parameter name \"%.*s\"", (int)i,
			s);
		return -1;
	}
	j++;
	while (j < len && is_blank(s[j]))
		j++;
	*nlen_out = i;
	*vstart_out = j;
	return 0;
}

int maincf_each_line(const char *path, const char *text, size_t len,
		     maincf_line_fn line, void *arg, maincf_problem_fn problem,
		     void *ctx, struct err *e)
{
	struct scan sc;
	struct err why;
	int r, bad = 0;

	if (len > MAINCF_FILE_MAX) {
		err_set(e, "%s:%d: file longer than %d bytes", path,
			line_at(text, MAINCF_FILE_MAX), MAINCF_FILE_MAX);
		return -1;
	}
	scan_init(&sc, text, len);
	while ((r = scan_next(&sc, &why)) != 0) {
		int at = r < 0 ? sc.err_line : sc.first;
		if (r > 0)
			r = line(arg, buf_cstr(&sc.logical), sc.logical.len,
				 sc.first, sc.last, &why);
		if (r == MAINCF_LINE_STOP) {
			*e = why;
			bad = -1;
			break;
		}
		if (r < 0) {
			bad++;
			if (!problem) {
				err_set(e, "%s:%d: %s", path, at, why.msg);
				break;
			}
			problem(ctx, path, at, why.msg);
		}
	}
	scan_deinit(&sc);
	if (bad > 0 && problem)
		err_set(e, "%s: %d bad line%s", path, bad, bad > 1 ? "s" : "");
	return bad > 0 && !problem ? -1 : bad;
}

/* maincf_each_line()'s callback: one "name = value" entry. */
static int add_line(void *arg, const char *text, size_t len, int first,
		    int last, struct err *e)
{
	struct maincf *cf = arg;
	size_t nlen, vstart;
	if (split_entry(text, len, &nlen, &vstart, e) < 0)
		return MAINCF_LINE_BAD;
	if (cf->n >= MAINCF_ENTRIES_MAX) {
		err_set(e, "%s:%d: more than %d entries", cf->path, first,
			MAINCF_ENTRIES_MAX);
		return MAINCF_LINE_STOP;
	}
	add_entry(cf, text, nlen, text + vstart, len - vstart, first, last);
	return 0;
}

int maincf_parse_all(const char *path, const char *text, size_t len,
		     struct maincf *cf, maincf_problem_fn problem, void *ctx,
		     struct err *e)
{
	memset(cf, 0, sizeof(*cf));
	cf->path = xstrdup(path);
	return maincf_each_line(path, text, len, add_line, cf, problem, ctx,
				e);
}

int maincf_parse(const char *path, const char *text, size_t len,
		 struct maincf *cf, struct err *e)
{
	if (maincf_parse_all(path, text, len, cf, NULL, NULL, e) != 0) {
		maincf_free(cf);
		return -1;
	}
	return 0;
}

int maincf_read_all(const char *path, struct maincf *cf,
		    maincf_problem_fn problem, void *ctx, struct err *e)
{
	struct buf b;
	memset(cf, 0, sizeof(*cf));
	if (maincf_slurp(path, &b, e) < 0)
		return -1;
	int r = maincf_parse_all(path, buf_cstr(&b), b.len, cf, problem, ctx,
				 e);
	buf_deinit(&b);
	return r;
}

int maincf_read(const char *path, struct maincf *cf, struct err *e)
{
	if (maincf_read_all(path, cf, NULL, NULL, e) != 0) {
		maincf_free(cf);
		return -1;
	}
	return 0;
}

void maincf_free(struct maincf *cf)
{
	if (!cf)
		return;
	for (size_t i = 0; i < cf->n; i++) {
		free(cf->v[i].name);
		free(cf->v[i].value);
	}
	free(cf->v);
	free(cf->path);
	memset(cf, 0, sizeof(*cf));
}

const struct maincf_entry *maincf_get(const struct maincf *cf,
				      const char *name)
{
	for (size_t i = cf->n; i > 0; i--)
		if (strcmp(cf->v[i - 1].name, name) == 0)
			return &cf->v[i - 1];
	return NULL;
}

/* ---- editing -------------------------------------------------------- */

struct span {
	int first, last;
};

/* Finds the physical line spans of every entry named name, bad lines
 * skipped. Returns the count; *out is allocated (caller frees). */
static size_t find_spans(const char *text, size_t len, const char *name,
			 struct span **out)
{
	struct scan sc;
	struct err why;
	struct span *v = NULL;
	size_t n = 0, want = strlen(name);
	int r;

	scan_init(&sc, text, len);
	while ((r = scan_next(&sc, &why)) != 0) {
		if (r < 0)
			continue;
		const char *s = sc.logical.data;
		size_t i = 0;
		while (i < sc.logical.len && !is_blank(s[i]) && s[i] != '=')
			i++;
		if (i != want || memcmp(s, name, want) != 0)
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n].first = sc.first;
		v[n].last = sc.last;
		n++;
	}
	scan_deinit(&sc);
	*out = v;
	return n;
}

/* True when the physical line [s, s+len) is blank or a comment. */
static bool line_is_filler(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && is_blank(s[i]))
		i++;
	return i == len || s[i] == '\n' || s[i] == '#';
}

/* Builds the edited text into out; -1 when it would be too large. */
static int rewrite(const char *text, size_t len, const char *name,
		   const char *value, struct buf *out)
{
	struct span *sp;
	size_t nsp = find_spans(text, len, name, &sp);
	size_t pos = 0, k = 0;
	int line = 0, r = 0;

	while (pos < len && r == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t next = nl ? (size_t)(nl - text) + 1 : len;
		line++;
		while (k < nsp && sp[k].last < line)
			k++;
		if (k < nsp && line >= sp[k].first) {
			/* Inside an entry for name: the last one's first line
			 * becomes the new entry; fillers stay. */
			if (value && k == nsp - 1 && line == sp[k].first)
				r = buf_printf(out, "%s = %s\n", name, value);
			else if (line != sp[k].first &&
				 line_is_filler(text + pos, next - pos))
				r = buf_append(out, text + pos, next - pos);
		} else {
			r = buf_append(out, text + pos, next - pos);
		}
		pos = next;
	}
	if (r == 0 && value && nsp == 0) {
		if (out->len && out->data[out->len - 1] != '\n')
			r = buf_append_char(out, '\n');
		if (r == 0)
			r = buf_printf(out, "%s = %s\n", name, value);
	}
	free(sp);
	return r;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Replaces path by data: temp file in the same directory, fsync, rename,
 * fsync of the directory so the rename itself is durable. */
static int replace_file(const char *path, const struct buf *data,
			const struct stat *st, struct err *e)
{
	char *tmp = xasprintf("%s.tmpXXXXXX", path);
	char *dir = xstrdup(path);
	int fd = mkstemp(tmp), r = -1;
	if (fd < 0) {
		err_set(e, "create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, st->st_mode & 07777) < 0 ||
	    (geteuid() == 0 && fchown(fd, st->st_uid, st->st_gid) < 0) ||
	    write_all(fd, data->data ? data->data : "", data->len) < 0 ||
	    fsync(fd) < 0) {
		err_set(e, "write %s: %s", tmp, strerror(errno));
		close(fd);
		(void)unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		err_set(e, "replace %s: %s", path, strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	r = 0;
out:
	free(tmp);
	free(dir);
	return r;
}

int maincf_edit(const char *path, const char *name, const char *value,
		struct err *e)
{
	struct buf old, out;
	struct stat st;

	if (!maincf_name_ok(name, strlen(name))) {
		err_set(e, "bad parameter name \"%s\"", name);
		return -1;
	}
	if (value && (strpbrk(value, "\r\n") ||
		      strlen(value) + strlen(name) + 3 > MAINCF_LINE_MAX)) {
		err_set(e, "%s: value holds a line break or is too long",
			name);
		return -1;
	}
	if (maincf_slurp(path, &old, e) < 0) {
		if (errno != ENOENT)
			return -1;
		buf_init(&old, 0);
		memset(&st, 0, sizeof(st));
		st.st_mode = 0644;
		st.st_uid = geteuid();
		st.st_gid = getegid();
	} else if (stat(path, &st) < 0) {
		err_set(e, "stat %s: %s", path, strerror(errno));
		buf_deinit(&old);
		return -1;
	}
	if (old.len > MAINCF_FILE_MAX) {
		err_set(e, "%s: file longer than %d bytes", path,
			MAINCF_FILE_MAX);
		buf_deinit(&old);
		return -1;
	}
	buf_init(&out, MAINCF_FILE_MAX);
	int r = rewrite(buf_cstr(&old), old.len, name, value, &out);
	if (r < 0)
		err_set(e, "%s: file would be longer than %d bytes", path,
			MAINCF_FILE_MAX);
	else
		r = replace_file(path, &out, &st, e);
	buf_deinit(&old);
	buf_deinit(&out);
	return r;
}
