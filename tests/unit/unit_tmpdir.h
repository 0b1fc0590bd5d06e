/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TESTS_UNIT_TMPDIR_H
#define POSTHORN_TESTS_UNIT_TMPDIR_H

/*
 * unit_tmpdir.h - a private temporary directory per test case, removed
 * with everything in it afterwards. Header-only: each unit test is one
 * program.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Creates /tmp/<prefix>.XXXXXX into dir (at least 64 bytes); 0 or -1. */
static inline int unit_tmpdir_make(char *dir, size_t size, const char *prefix)
{
	int n = snprintf(dir, size, "/tmp/%s.XXXXXX", prefix);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

static inline int unit_tmpdir_rm_one(const char *p, const struct stat *st,
                                     int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(p);
}

/* Removes dir and everything below it. */
static inline void unit_tmpdir_remove(const char *dir)
{
	(void)nftw(dir, unit_tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
