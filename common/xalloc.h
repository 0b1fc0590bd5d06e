/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_XALLOC_H
#define POSTHORN_COMMON_XALLOC_H

#include <stddef.h>

/*
 * Allocation that never returns NULL: on failure the process logs and exits
 * with status 75 (EX_TEMPFAIL) so master restarts it. Callers free the
 * result with free().
 */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copies at most n bytes of s and NUL-terminates; s need not be terminated. */
char *xstrndup(const char *s, size_t n);
/* Copies exactly n bytes (may contain NUL) and appends a NUL. */
char *xmemdup(const void *p, size_t n);
/* printf into a new string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Overflow-checked size arithmetic: 0 and *out set, or -1 on overflow. */
int size_add(size_t a, size_t b, size_t *out);
int size_mul(size_t a, size_t b, size_t *out);

#endif
