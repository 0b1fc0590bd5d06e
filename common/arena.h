/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_ARENA_H
#define POSTHORN_COMMON_ARENA_H

#include <stddef.h>

/*
 * A bump allocator for memory that lives exactly as long as a session or a
 * transaction: everything is freed at once by arena_reset() or arena_free(),
 * so handlers need no per-object cleanup on their error paths.
 */
struct arena;

/* A new empty arena; free with arena_free(). Never fails. */
struct arena *arena_new(void);
/* Frees every block and *ap itself; sets *ap to NULL; accepts NULL. */
void arena_free(struct arena **ap);
/* Frees everything allocated so far; the arena stays usable. */
void arena_reset(struct arena *a);
/* n bytes aligned for any type, valid until reset/free. Never fails. */
void *arena_alloc(struct arena *a, size_t n);
/* Zeroed n * size bytes (overflow-checked). */
void *arena_calloc(struct arena *a, size_t n, size_t size);
char *arena_strdup(struct arena *a, const char *s);
/* Copies n bytes (may hold NUL) and appends a NUL. */
char *arena_memdup(struct arena *a, const void *p, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
