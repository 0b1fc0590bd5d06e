/* SPDX-License-Identifier: MIT */
/*
 * imapd_seqset.c - sequence sets: parse, normalise, test, print
 *
 * The parser takes the RFC 3501 grammar strictly (nz-numbers, "*", ":",
 * ","); the number of ranges is bounded by the command's length, which
 * the reader bounded. The normal form is what every command works with.
 */
#include "imapd/imapd_seqset.h"

#include <stdlib.h>
#include <string.h>

static int seq_number(struct imapd_args *a, uint32_t *out)
{
	if (imapd_args_take(a, '*')) {
		*out = IMAPD_SEQ_STAR;
		return 0;
	}
	if (!(a->pos < a->len && a->p[a->pos] >= '0' && a->p[a->pos] <= '9'))
		return imapd_args_fail(a, "Invalid sequence set");
	return imapd_args_nz_number(a, out);
}

int imapd_args_seqset(struct imapd_args *a, struct imapd_seqset *out)
{
	/* Count the commas first so one allocation holds every range. */
	size_t cap = 1;
	for (size_t i = a->pos; i < a->len && a->p[i] != ' ' && a->p[i] != ')';
	     i++)
		if (a->p[i] == ',')
			cap++;
	out->r = arena_calloc(a->a, cap, sizeof(*out->r));
	out->n = 0;
	do {
		struct imapd_range r;
		if (seq_number(a, &r.lo) < 0)
			return -1;
		r.hi = r.lo;
		if (imapd_args_take(a, ':') && seq_number(a, &r.hi) < 0)
			return -1;
		if (out->n >= cap)
			return imapd_args_fail(a, "Invalid sequence set");
		out->r[out->n++] = r;
	} while (imapd_args_take(a, ','));
	return 0;
}

static int cmp_range(const void *x, const void *y)
{
	const struct imapd_range *a = x, *b = y;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return a->hi < b->hi ? -1 : a->hi > b->hi;
}

void imapd_seqset_resolve(const struct imapd_seqset *in, uint32_t star,
                          struct arena *a, struct imapd_seqset *out)
{
	struct imapd_range *r = arena_calloc(a, in->n ? in->n : 1, sizeof(*r));
	size_t n = 0;
	for (size_t i = 0; i < in->n; i++) {
		/* In an empty mailbox a range with "*" names nothing. */
		if (star == 0 && (in->r[i].lo == IMAPD_SEQ_STAR ||
		                  in->r[i].hi == IMAPD_SEQ_STAR))
			continue;
		uint32_t lo =
		        in->r[i].lo == IMAPD_SEQ_STAR ? star : in->r[i].lo;
		uint32_t hi =
		        in->r[i].hi == IMAPD_SEQ_STAR ? star : in->r[i].hi;
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		r[n].lo = lo;
		r[n].hi = hi;
		n++;
	}
	qsort(r, n, sizeof(*r), cmp_range);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m > 0 &&
		    (r[m - 1].hi == UINT32_MAX || r[i].lo <= r[m - 1].hi + 1)) {
			if (r[i].hi > r[m - 1].hi)
				r[m - 1].hi = r[i].hi;
			continue;
		}
		r[m++] = r[i];
	}
	out->r = r;
	out->n = m;
}

bool imapd_seqset_has(const struct imapd_seqset *s, uint32_t v)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v < s->r[mid].lo)
			hi = mid;
		else if (v > s->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint32_t imapd_seqset_max(const struct imapd_seqset *s)
{
	return s->n ? s->r[s->n - 1].hi : 0;
}

uint64_t imapd_seqset_count(const struct imapd_seqset *s)
{
	uint64_t c = 0;
	for (size_t i = 0; i < s->n; i++)
		c += (uint64_t)s->r[i].hi - s->r[i].lo + 1;
	return c;
}

static int put_range(struct buf *out, bool first, uint32_t lo, uint32_t hi)
{
	if (lo == hi)
		return buf_printf(out, "%s%u", first ? "" : ",", lo);
	return buf_printf(out, "%s%u:%u", first ? "" : ",", lo, hi);
}

int imapd_seqset_format(const struct imapd_seqset *s, struct buf *out)
{
	for (size_t i = 0; i < s->n; i++)
		if (put_range(out, i == 0, s->r[i].lo, s->r[i].hi) < 0)
			return -1;
	return 0;
}

int imapd_seqset_format_list(const uint32_t *v, size_t n, struct buf *out)
{
	size_t i = 0;
	bool first = true;
	while (i < n) {
		size_t j = i;
		while (j + 1 < n && v[j] != UINT32_MAX && v[j + 1] == v[j] + 1)
			j++;
		if (put_range(out, first, v[i], v[j]) < 0)
			return -1;
		first = false;
		i = j + 1;
	}
	return 0;
}
