/* SPDX-License-Identifier: MIT */
/*
 * qmgr_hash.c - a string-keyed hash table with entries embedded in the
 * caller's structs
 *
 * qmgr finds active messages by queue id and destinations by their key
 * on every result and every admin request; the sets grow to tens of
 * thousands. The table owns only its slot array: entries live in (and
 * die with) the structs that embed them, so removing one never
 * allocates. It doubles when the load passes one entry per slot.
 */
#include "qmgr.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* FNV-1a: keys are short (queue ids, transport+nexthop). */
static size_t hash_of(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

void qmgr_hash_init(struct qmgr_hash *h)
{
	h->nslots = 64;
	h->count = 0;
	h->slots = xcalloc(h->nslots, sizeof(*h->slots));
}

void qmgr_hash_deinit(struct qmgr_hash *h)
{
	free(h->slots);
	h->slots = NULL;
	h->nslots = h->count = 0;
}

struct qmgr_hash_entry *qmgr_hash_find(const struct qmgr_hash *h,
                                       const char *key)
{
	if (!h->nslots)
		return NULL;
	struct qmgr_hash_entry *e = h->slots[hash_of(key) % h->nslots];
	while (e && strcmp(e->key, key) != 0)
		e = e->next;
	return e;
}

static void grow(struct qmgr_hash *h)
{
	size_t n = h->nslots * 2;
	struct qmgr_hash_entry **s = xcalloc(n, sizeof(*s));
	for (size_t i = 0; i < h->nslots; i++) {
		struct qmgr_hash_entry *e = h->slots[i];
		while (e) {
			struct qmgr_hash_entry *next = e->next;
			size_t k = hash_of(e->key) % n;
			e->next = s[k];
			s[k] = e;
			e = next;
		}
	}
	free(h->slots);
	h->slots = s;
	h->nslots = n;
}

void qmgr_hash_add(struct qmgr_hash *h, struct qmgr_hash_entry *e)
{
	if (!h->nslots)
		qmgr_hash_init(h);
	if (h->count >= h->nslots)
		grow(h);
	size_t k = hash_of(e->key) % h->nslots;
	e->next = h->slots[k];
	h->slots[k] = e;
	h->count++;
}

void qmgr_hash_remove(struct qmgr_hash *h, struct qmgr_hash_entry *e)
{
	struct qmgr_hash_entry **p = &h->slots[hash_of(e->key) % h->nslots];
	while (*p && *p != e)
		p = &(*p)->next;
	if (*p) {
		*p = e->next;
		h->count--;
	}
	e->next = NULL;
}

void qmgr_hash_walk(const struct qmgr_hash *h,
                    void (*fn)(struct qmgr_hash_entry *e, void *ctx),
                    void *ctx)
{
	for (size_t i = 0; i < h->nslots; i++)
		for (struct qmgr_hash_entry *e = h->slots[i]; e; e = e->next)
			fn(e, ctx);
}
