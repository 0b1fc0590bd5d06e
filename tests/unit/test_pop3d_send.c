/* SPDX-License-Identifier: MIT */
/*
 * test_pop3d_send.c - RETR/TOP encoding: CRLF conversion, byte-stuffing,
 * the terminator, TOP's cut, and the octet count that LIST announces,
 * fed whole, one byte at a time and in odd pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/mbox.h"
#include "pop3d/pop3d_send.h"

struct send_case {
	const char *name;
	const char *in;
	bool top;
	uint64_t lines;
	const char *want;
};

static const struct send_case cases[] = {
        {"lf", "A: b\n\nbody\n", false, 0, "A: b\r\n\r\nbody\r\n.\r\n"},
        {"crlf kept", "A: b\r\n\r\nbody\r\n", false, 0,
         "A: b\r\n\r\nbody\r\n.\r\n"},
        {"mixed", "A\r\nB\nC\r\n", false, 0, "A\r\nB\r\nC\r\n.\r\n"},
        {"no final newline", "A: b\n\nlast", false, 0,
         "A: b\r\n\r\nlast\r\n.\r\n"},
        {"empty message", "", false, 0, ".\r\n"},
        {"stuffing", ".\n..\n.x\nx.\n", false, 0,
         "..\r\n...\r\n..x\r\nx.\r\n.\r\n"},
        {"stuffing first line", ".a", false, 0, "..a\r\n.\r\n"},
        {"bare cr is data", "a\rb\n\r.\n", false, 0, "a\rb\r\n\r.\r\n.\r\n"},
        {"cr at end", "a\r", false, 0, "a\r\r\n.\r\n"},
        {"top 0", "A: b\nC: d\n\nl1\nl2\n", true, 0,
         "A: b\r\nC: d\r\n\r\n.\r\n"},
        {"top 1", "A: b\n\nl1\nl2\n", true, 1, "A: b\r\n\r\nl1\r\n.\r\n"},
        {"top 2 crlf", "A: b\r\n\r\nl1\r\n.l2\r\nl3\r\n", true, 2,
         "A: b\r\n\r\nl1\r\n..l2\r\n.\r\n"},
        {"top more than body", "A: b\n\nl1\n", true, 10,
         "A: b\r\n\r\nl1\r\n.\r\n"},
        {"top no body", "A: b\nC: d\n", true, 3, "A: b\r\nC: d\r\n.\r\n"},
        {"top unterminated", "A: b\n\nl1", true, 3, "A: b\r\n\r\nl1\r\n.\r\n"},
        {"top empty cr line ends header", "A: b\r\n\r\nx\r\n", true, 0,
         "A: b\r\n\r\n.\r\n"},
        {"top first line empty", "\nbody\nmore\n", true, 1,
         "\r\nbody\r\n.\r\n"},
        {"top huge", "A\n\n1\n2\n3\n", true, UINT64_MAX,
         "A\r\n\r\n1\r\n2\r\n3\r\n.\r\n"},
};

/* Encodes in, delivered in pieces of `piece` bytes (0: whole). */
static void encode(const struct send_case *c, size_t piece, struct buf *out,
                   struct pop3d_send *ps)
{
	size_t len = strlen(c->in), off = 0;
	pop3d_send_init(ps, c->top, c->lines);
	while (off < len && !ps->done) {
		size_t n = piece ? piece : len;
		if (n > len - off)
			n = len - off;
		size_t used = pop3d_send_chunk(ps, c->in + off, n, out);
		assert_true(used <= n);
		if (used < n)
			assert_true(ps->done);
		off += used;
	}
	pop3d_send_finish(ps, out);
}

static void test_cases(void **state)
{
	(void)state;
	static const size_t pieces[] = {0, 1, 2, 3, 7};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct send_case *c = &cases[i];
		for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]);
		     p++) {
			struct buf out;
			struct pop3d_send ps;
			buf_init(&out, 0);
			encode(c, pieces[p], &out, &ps);
			if (strcmp(buf_cstr(&out), c->want) != 0)
				fail_msg("%s (pieces of %zu): got \"%s\", want "
				         "\"%s\"",
				         c->name, pieces[p], buf_cstr(&out),
				         c->want);
			buf_deinit(&out);
		}
	}
}

/* RETR's octet count is the index's vsize (what LIST says): the CRLF
 * size of the stored bytes, without stuffing or terminator. */
static void test_octets_match_vsize(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct send_case *c = &cases[i];
		if (c->top)
			continue;
		struct buf out;
		struct pop3d_send ps;
		buf_init(&out, 0);
		encode(c, 1, &out, &ps);
		bool cr = false;
		uint64_t v = mbox_crlf_size(c->in, strlen(c->in), &cr);
		if (ps.octets != v)
			fail_msg("%s: octets %llu, vsize %llu", c->name,
			         (unsigned long long)ps.octets,
			         (unsigned long long)v);
		/* What went out = octets + added dots + terminator (+ the
		 * CRLF for an unterminated last line). */
		size_t len = strlen(c->in);
		bool ends_lf = len > 0 && c->in[len - 1] == '\n';
		uint64_t extra = ps.stuffed + 3 + (len > 0 && !ends_lf ? 2 : 0);
		assert_int_equal(out.len, ps.octets + extra);
		buf_deinit(&out);
	}
}

/* Output never grows past twice the input plus the terminator. */
static void test_worst_case_growth(void **state)
{
	(void)state;
	char in[4096];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = i % 2 ? '\n' : '.';
	struct buf out;
	buf_init(&out, 2 * sizeof(in) + 5);
	struct pop3d_send ps;
	pop3d_send_init(&ps, false, 0);
	assert_int_equal(pop3d_send_chunk(&ps, in, sizeof(in), &out),
	                 sizeof(in));
	pop3d_send_finish(&ps, &out);
	assert_int_equal(out.len, 2 * sizeof(in) + 3);
	buf_deinit(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cases),
	        cmocka_unit_test(test_octets_match_vsize),
	        cmocka_unit_test(test_worst_case_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
