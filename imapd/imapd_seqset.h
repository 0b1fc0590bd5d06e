/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_SEQSET_H
#define POSTHORN_IMAPD_IMAPD_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "imapd/imapd_args.h"

/*
 * Sequence sets (RFC 3501 9 sequence-set): message sequence numbers or
 * UIDs, as ranges. As parsed, a range keeps its order and "*" (stored as
 * IMAPD_SEQ_STAR, which no nz-number can be); imapd_seqset_resolve()
 * then gives the normal form: "*" replaced, each range low to high,
 * sorted, overlapping and adjacent ranges merged, so membership is a
 * binary search and iteration visits each number once, in order.
 */

#define IMAPD_SEQ_STAR 0u

struct imapd_range {
	uint32_t lo, hi;
};

struct imapd_seqset {
	struct imapd_range *r; /* in the arena */
	size_t n;
};

/* Parses a sequence-set at the cursor. 0, or -1 with a->err. */
int imapd_args_seqset(struct imapd_args *a, struct imapd_seqset *out);

/*
 * The normal form of in, with "*" meaning star (the largest number in
 * use; 0 when the mailbox is empty: then a range with "*" names nothing,
 * so "FETCH 1:*" of an empty mailbox is no error). out may be in.
 */
void imapd_seqset_resolve(const struct imapd_seqset *in, uint32_t star,
                          struct arena *a, struct imapd_seqset *out);

/* In a normal form: is v a member? */
bool imapd_seqset_has(const struct imapd_seqset *s, uint32_t v);
/* In a normal form: the largest member (0 for the empty set). */
uint32_t imapd_seqset_max(const struct imapd_seqset *s);
/* In a normal form: how many members. */
uint64_t imapd_seqset_count(const struct imapd_seqset *s);

/* Appends the normal form as "1:3,7,9:12". 0, or -1 when out is full. */
int imapd_seqset_format(const struct imapd_seqset *s, struct buf *out);
/* Appends v[0..n) in their order, consecutive ascending runs joined as
 * "a:b" (RFC 4315 COPYUID keeps source and destination in step). 0 or
 * -1. */
int imapd_seqset_format_list(const uint32_t *v, size_t n, struct buf *out);

#endif
