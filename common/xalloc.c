/* SPDX-License-Identifier: MIT */
/*
 * xalloc.c - allocation wrappers that never return NULL
 *
 * Out of memory is not something a mail daemon can recover from mid-session,
 * so the wrappers log and exit with the temporary-failure status; master
 * restarts the service and the client retries. Nothing here is acknowledged
 * work, so nothing is lost.
 */
#include "common/xalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void oom(size_t n)
{
	log_fatal("out of memory allocating %zu bytes", n);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xmemdup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	const char *nul = memchr(s, 0, n);
	return xmemdup(s, nul ? (size_t)(nul - s) : n);
}

char *xmemdup(const void *p, size_t n)
{
	size_t total;
	if (size_add(n, 1, &total) < 0)
		oom(SIZE_MAX);
	char *s = xmalloc(total);
	if (n)
		memcpy(s, p, n);
	s[n] = 0;
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return s;
}

int size_add(size_t a, size_t b, size_t *out)
{
	if (a > SIZE_MAX - b)
		return -1;
	*out = a + b;
	return 0;
}

int size_mul(size_t a, size_t b, size_t *out)
{
	if (a && b > SIZE_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}
