/* SPDX-License-Identifier: MIT */
/*
 * arena.c - per-session / per-transaction bump allocator
 *
 * Blocks are chained; a request larger than the block size gets its own
 * block. arena_reset keeps the first block to avoid malloc churn between
 * transactions of one session.
 */
#include "common/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"

#define ARENA_BLOCK 8192
#define ARENA_ALIGN 16

struct block {
	struct block *next;
	size_t size;
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
	struct block *head;
};

static struct block *block_new(size_t size)
{
	size_t total;
	if (size_add(sizeof(struct block), size, &total) < 0)
		log_fatal("arena: allocation size overflow");
	struct block *b = xmalloc(total);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

struct arena *arena_new(void)
{
	struct arena *a = xmalloc(sizeof(*a));
	a->head = block_new(ARENA_BLOCK);
	return a;
}

static void free_chain(struct block *b)
{
	while (b) {
		struct block *next = b->next;
		free(b);
		b = next;
	}
}

void arena_free(struct arena **ap)
{
	if (!ap || !*ap)
		return;
	free_chain((*ap)->head);
	free(*ap);
	*ap = NULL;
}

void arena_reset(struct arena *a)
{
	struct block *last = a->head;
	while (last->next)
		last = last->next;
	/* The oldest block is the last in the chain; keep it if it is a
	 * normal-sized one. */
	struct block *b = a->head;
	struct block *keep = last->size == ARENA_BLOCK ? last : NULL;
	while (b) {
		struct block *next = b->next;
		if (b != keep)
			free(b);
		b = next;
	}
	a->head = keep ? keep : block_new(ARENA_BLOCK);
	a->head->used = 0;
	a->head->next = NULL;
}

void *arena_alloc(struct arena *a, size_t n)
{
	size_t need;
	if (size_add(n, ARENA_ALIGN - 1, &need) < 0)
		log_fatal("arena: allocation size overflow");
	need &= ~(size_t)(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	struct block *b = a->head;
	if (b->size - b->used < need) {
		if (need > ARENA_BLOCK / 4) {
			/* Big object: its own block, behind the current one so
			 * the current block keeps filling. */
			struct block *big = block_new(need);
			big->used = need;
			big->next = b->next;
			b->next = big;
			return big->data;
		}
		b = block_new(ARENA_BLOCK);
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += need;
	return p;
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
	size_t total;
	if (size_mul(n, size, &total) < 0)
		log_fatal("arena: allocation size overflow");
	void *p = arena_alloc(a, total);
	memset(p, 0, total);
	return p;
}

char *arena_memdup(struct arena *a, const void *p, size_t n)
{
	size_t total;
	if (size_add(n, 1, &total) < 0)
		log_fatal("arena: allocation size overflow");
	char *s = arena_alloc(a, total);
	if (n)
		memcpy(s, p, n);
	s[n] = 0;
	return s;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_memdup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	char *s = arena_alloc(a, (size_t)n + 1);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return s;
}
