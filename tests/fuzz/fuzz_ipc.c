/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ipc.c - the IPC decoder on arbitrary bytes, arriving in pieces
 *
 * The input is a byte stream from a peer. It is decoded twice with two
 * different chunkings derived from the input (so runs are reproducible):
 * once with ipc_msg_decode() on growing prefixes, checked against a
 * decode of everything available (a prefix may only say "need more"
 * until the point of decision, then agree), and once through a
 * socketpair into ipc_conn, whose resumed scan and lazy compaction must
 * not change any answer. Every decoded message is re-encoded with
 * ipc_put() and must come out as the same bytes and decode to the same
 * attributes; the getters must agree with ipc_count().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ipc.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

/* xorshift64: chunk sizes from a seed, reproducible per input. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t seed_of(const uint8_t *data, size_t size, uint64_t salt)
{
	uint64_t h = 1469598103934665603ull ^ salt; /* FNV-1a */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ull;
	return h ? h : 1;
}

/* Mostly small pieces (as a trickling peer sends), sometimes big ones. */
static size_t chunk(uint64_t *s)
{
	uint64_t r = next_rand(s);
	return r % 4 == 0 ? (size_t)(r >> 8) % 4096 + 1
			  : (size_t)(r >> 8) % 7 + 1;
}

/* memcmp that accepts NULL for empty ranges (an unused buf has none). */
static int same(const void *a, const void *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

static void check_getters(const struct ipc_msg *m)
{
	for (size_t i = 0; i < m->nattrs; i++) {
		const char *name = m->attrs[i].name, *v;
		size_t n = ipc_count(m, name), len, pos = 0, seen = 0;
		uint64_t u;
		int64_t s;
		CHECK(n >= 1);
		int r = ipc_get_bytes(m, name, &v, &len);
		CHECK(n == 1 ? r == 1 : r == -1);
		if (r == 1)
			CHECK(len == m->attrs[i].value_len &&
			      same(v, m->attrs[i].value, len));
		r = ipc_get_str(m, name, &v);
		CHECK(r == -1 || (r == 1 && n == 1 && strlen(v) == len));
		r = ipc_get_u64(m, name, 0, UINT64_MAX, &u);
		CHECK(r == -1 || (r == 1 && n == 1));
		r = ipc_get_i64(m, name, INT64_MIN, INT64_MAX, &s);
		CHECK(r == -1 || (r == 1 && n == 1));
		while (ipc_get_next(m, name, &pos, &v, &len) == 1)
			seen++;
		CHECK(seen == n);
	}
	(void)ipc_type(m);
	(void)ipc_status_ok(m);
	(void)ipc_reason(m);
}

/* Re-encodes d attribute by attribute: same bytes, same attributes. */
static void check_reencode(const struct ipc_msg *d, const uint8_t *raw,
			   size_t consumed)
{
	struct ipc_msg m, again;
	ipc_msg_init(&m);
	ipc_msg_init(&again);
	for (size_t i = 0; i < d->nattrs; i++)
		CHECK(ipc_put(&m, d->attrs[i].name, d->attrs[i].value,
			      d->attrs[i].value_len) == 0);
	CHECK(m.wire.len + 4 == consumed);
	CHECK(same(m.wire.data, raw, m.wire.len));
	CHECK(d->wire.len == m.wire.len && same(d->wire.data, raw, m.wire.len));

	struct buf enc;
	buf_init(&enc, 0);
	CHECK(buf_append(&enc, m.wire.data, m.wire.len) == 0);
	CHECK(buf_append(&enc, "\0\0\0\0", 4) == 0);
	size_t c2 = 0;
	CHECK(ipc_msg_decode(&again, enc.data, enc.len, &c2, NULL) == 1);
	CHECK(c2 == consumed && again.nattrs == d->nattrs);
	for (size_t i = 0; i < d->nattrs; i++) {
		const struct ipc_attr *a = &d->attrs[i], *b = &again.attrs[i];
		CHECK(strcmp(a->name, b->name) == 0);
		CHECK(a->value_len == b->value_len);
		CHECK(same(a->value, b->value, a->value_len));
		CHECK(b->value[b->value_len] == 0);
	}
	buf_deinit(&enc);
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&again);
}

/* How a stream ended: the messages' ends, then 0 (incomplete) or -1. */
struct outcome {
	size_t ends[64];
	size_t n;
	int last;
};

static void walk_prefixes(const uint8_t *data, size_t size, struct outcome *o)
{
	uint64_t s = seed_of(data, size, 1);
	struct ipc_msg m, whole;
	ipc_msg_init(&m);
	ipc_msg_init(&whole);
	size_t start = 0, have = 0;
	o->n = 0;
	o->last = 0;
	size_t all_c = 0;
	int all = ipc_msg_decode(&whole, data, size, &all_c, NULL);
	while (o->n < 64) {
		size_t step = chunk(&s);
		have = have + step > size ? size : have + step;
		size_t c = 0;
		int r = ipc_msg_decode(&m, data + start, have - start, &c,
				       NULL);
		if (all == 1 && have - start < all_c)
			CHECK(r == 0);
		else if (all == 1)
			CHECK(r == 1 && c == all_c);
		else
			CHECK(r == 0 || r == all);
		if (r == 1) {
			check_getters(&m);
			check_reencode(&m, data + start, c);
			start += c;
			o->ends[o->n++] = start;
			have = start;
			all = ipc_msg_decode(&whole, data + start, size - start,
					     &all_c, NULL);
			continue;
		}
		if (r < 0 || have == size) {
			o->last = r;
			break;
		}
	}
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&whole);
}

/* The same stream through a socketpair into ipc_conn, with another
 * chunking: each piece is written, then read with ipc_conn_fill(). */
static void walk_conn(const uint8_t *data, size_t size, struct outcome *o)
{
	uint64_t s = seed_of(data, size, 2);
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	struct ipc_conn c;
	ipc_conn_init(&c, sv[0], "fuzz");
	struct ipc_msg m;
	ipc_msg_init(&m);
	size_t fed = 0, consumed = 0;
	o->n = 0;
	o->last = 0;
	for (;;) {
		int r = 0;
		size_t step = chunk(&s);
		if (step > size - fed)
			step = size - fed;
		/* Pieces are small and drained at once: writes never block. */
		CHECK(step == 0 ||
		      write(sv[1], data + fed, step) == (ssize_t)step);
		fed += step;
		CHECK(ipc_conn_fill(&c) == 1);
		while (o->n < 64 && (r = ipc_conn_next(&c, &m, NULL)) == 1) {
			consumed += m.wire.len + 4;
			o->ends[o->n++] = consumed;
		}
		if (o->n == 64)
			break;
		if (r < 0 || fed == size) {
			o->last = r;
			break;
		}
	}
	ipc_msg_deinit(&m);
	ipc_conn_deinit(&c);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > IPC_MSG_MAX)
		return 0;
	struct outcome a, b;
	walk_prefixes(data, size, &a);
	walk_conn(data, size, &b);
	CHECK(a.n == b.n);
	CHECK(same(a.ends, b.ends, a.n * sizeof(a.ends[0])));
	if (a.n < 64)
		CHECK(a.last == b.last);
	return 0;
}
