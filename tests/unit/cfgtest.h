/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TESTS_UNIT_CFGTEST_H
#define POSTHORN_TESTS_UNIT_CFGTEST_H

/*
 * cfgtest.h - temp directories and whole-file helpers for the tests of the
 * configuration modules (test_maincf, test_mastercf, test_params,
 * test_posthorn_config). Header-only so each test stays one program.
 * Failures abort the test program: a test cannot go on without its files.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new empty directory under TMPDIR; caller frees and removes. */
static inline char *cfgtest_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char *d = NULL;
	if (asprintf(&d, "%s/posthorn-test.XXXXXX", t ? t : "/tmp") < 0 ||
	    !mkdtemp(d))
		abort();
	return d;
}

/* Writes len bytes to dir/name (dir NULL: name is the path). */
static inline void cfgtest_write(const char *dir, const char *name,
				 const char *text, size_t len)
{
	char *p = NULL;
	if (asprintf(&p, "%s%s%s", dir ? dir : "", dir ? "/" : "", name) < 0)
		abort();
	FILE *f = fopen(p, "wb");
	if (!f || (len && fwrite(text, 1, len, f) != len) || fclose(f) != 0)
		abort();
	free(p);
}

static inline void cfgtest_puts(const char *dir, const char *name,
				const char *text)
{
	cfgtest_write(dir, name, text, strlen(text));
}

/* Everything in fd from offset 0, NUL-terminated (caller frees); closes
 * fd. *len may be NULL. */
static inline char *cfgtest_take_fd(int fd, size_t *len)
{
	char *buf = NULL;
	size_t n = 0, cap = 0;
	ssize_t r;
	(void)lseek(fd, 0, SEEK_SET);
	do {
		if (n + 4097 > cap) {
			cap = (cap + 4097) * 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r > 0)
			n += (size_t)r;
	} while (r > 0);
	buf[n] = 0;
	close(fd);
	if (len)
		*len = n;
	return buf;
}

/* The whole file at path, NUL-terminated, or NULL; *len may be NULL. */
static inline char *cfgtest_read(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	return fd < 0 ? NULL : cfgtest_take_fd(fd, len);
}

/* Problems reported through a maincf/mastercf problem callback, as
 * "file:line: msg"; the first 8 are kept. */
struct cfgtest_collected {
	char lines[8][200];
	int n;
};

static inline void cfgtest_collect(void *ctx, const char *file, int line,
				   const char *msg)
{
	struct cfgtest_collected *c = ctx;
	if (c->n < 8)
		(void)snprintf(c->lines[c->n], sizeof(c->lines[0]), "%s:%d: %s",
			       file, line, msg);
	c->n++;
}

static inline int cfgtest_rm_one(const char *p, const struct stat *st,
				 int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Removes dir and everything below it, and frees the name. */
static inline void cfgtest_rmrf(char *dir)
{
	(void)nftw(dir, cfgtest_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}


/* Runs fn(ctx, argc, argv) with stdout and stderr captured into *out and
 * *err (caller frees). Returns fn's result. */
static inline int cfgtest_capture(int (*fn)(void *, int, char **), void *ctx,
				  int argc, char **argv, char **out,
				  char **err)
{
	char o[] = "/tmp/posthorn-out.XXXXXX", e[] = "/tmp/posthorn-err.XXXXXX";
	int fo = mkstemp(o), fe = mkstemp(e);
	if (fo < 0 || fe < 0)
		abort();
	(void)unlink(o);
	(void)unlink(e);
	fflush(stdout);
	fflush(stderr);
	int so = dup(1), se = dup(2);
	if (so < 0 || se < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
		abort();
	int r = fn(ctx, argc, argv);
	fflush(stdout);
	fflush(stderr);
	if (dup2(so, 1) < 0 || dup2(se, 2) < 0)
		abort();
	close(so);
	close(se);
	*out = cfgtest_take_fd(fo, NULL);
	*err = cfgtest_take_fd(fe, NULL);
	return r;
}

#endif
