/* SPDX-License-Identifier: MIT */
/*
 * test_rfc822.c - header blocks: end of header, fields, folding, filters
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rfc822.h"

static void header_len_cases(void **state)
{
	(void)state;
	static const struct {
		const char *msg;
		size_t want;
		bool blank;
	} cases[] = {
	        {"A: b\r\n\r\nbody", 8, true},
	        {"A: b\n\nbody", 6, true},
	        {"A: b\n\r\nbody", 7, true},
	        {"\r\nbody", 2, true},
	        {"\nbody", 1, true},
	        {"A: b\nC: d\n", 10, false},
	        {"A: b", 4, false},
	        {"", 0, false},
	        {"A: b\n \n\nx", 8, true}, /* a line of one space is no end */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool blank = !cases[i].blank;
		size_t got = rfc822_header_len(cases[i].msg,
		                               strlen(cases[i].msg), &blank);
		if (got != cases[i].want || blank != cases[i].blank)
			fail_msg("case %zu: got %zu/%d, want %zu/%d", i, got,
			         blank, cases[i].want, cases[i].blank);
	}
}

static void iterate_fields(void **state)
{
	(void)state;
	const char *h = "From user@host Mon Jan  1 00:00:00 2024\n"
	                "Subject: hello\r\n"
	                "  world\r\n"
	                " orphan continuation? no, part of Subject\n"
	                "no colon here\n"
	                "Bad Name: x\n"
	                "X-Old  : obsolete space\n"
	                "Empty:\n"
	                "Last: v";
	struct rfc822_iter it;
	struct rfc822_field f;
	rfc822_iter_init(&it, h, strlen(h));
	assert_int_equal(rfc822_iter_next(&it, &f), 1);
	assert_true(rfc822_field_is(&f, "subject"));
	assert_int_equal(f.value_len, strlen(" hello\r\n  world\r\n orphan "
	                                     "continuation? no, part of "
	                                     "Subject"));
	assert_memory_equal(f.value, " hello\r\n  world", 15);
	assert_int_equal(f.off, 40);
	assert_int_equal(rfc822_iter_next(&it, &f), 1);
	assert_int_equal(f.name_len, 5);
	assert_memory_equal(f.name, "X-Old", 5);
	assert_memory_equal(f.value, " obsolete space", f.value_len);
	assert_int_equal(rfc822_iter_next(&it, &f), 1);
	assert_true(rfc822_field_is(&f, "EMPTY"));
	assert_int_equal(f.value_len, 0);
	assert_int_equal(rfc822_iter_next(&it, &f), 1);
	assert_true(rfc822_field_is(&f, "last"));
	assert_int_equal(f.value_len, 2);
	assert_int_equal(f.off + f.len, strlen(h));
	assert_int_equal(rfc822_iter_next(&it, &f), 0);
	assert_int_equal(rfc822_iter_next(&it, &f), 0);
}

static void stops_at_blank_line(void **state)
{
	(void)state;
	const char *h = " leading continuation\nA: 1\n\nB: 2\n";
	struct rfc822_iter it;
	struct rfc822_field f;
	rfc822_iter_init(&it, h, strlen(h));
	assert_int_equal(rfc822_iter_next(&it, &f), 1);
	assert_true(rfc822_field_is(&f, "a"));
	assert_int_equal(rfc822_iter_next(&it, &f), 0);
	assert_int_equal(rfc822_header_find(h, strlen(h), "B", &f), 0);
	assert_int_equal(rfc822_header_find(h, strlen(h), "a", &f), 1);
}

static void unfold_cases(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {" hello\r\n world ", "hello world"},
	        {"\t a\n\tb\t", "a\tb"},
	        {"   ", ""},
	        {"", ""},
	        {"x\ry", "xy"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dst[64];
		size_t n = rfc822_unfold(cases[i].in, strlen(cases[i].in), dst);
		if (n != strlen(cases[i].want) ||
		    memcmp(dst, cases[i].want, n) != 0)
			fail_msg("case %zu: got [%.*s]", i, (int)n, dst);
	}
}

static void filter_fields(void **state)
{
	(void)state;
	const char *h = "From: a@b\n"
	                "To: c@d,\n"
	                " e@f\n"
	                "Subject: s\r\n"
	                "X-Spam: yes\n"
	                "\n";
	struct rfc822_str names[] = {{"subject", 7}, {"TO", 2}};
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(
	        rfc822_header_filter(h, strlen(h), names, 2, false, &b), 0);
	assert_string_equal(buf_cstr(&b),
	                    "To: c@d,\r\n e@f\r\nSubject: s\r\n\r\n");
	buf_reset(&b);
	assert_int_equal(rfc822_header_filter(h, strlen(h), names, 2, true, &b),
	                 0);
	assert_string_equal(buf_cstr(&b), "From: a@b\r\nX-Spam: yes\r\n\r\n");
	buf_reset(&b);
	/* A header without its empty line still gets complete lines. */
	assert_int_equal(rfc822_header_filter("A: 1", 4, NULL, 0, true, &b), 0);
	assert_string_equal(buf_cstr(&b), "A: 1\r\n\r\n");
	buf_deinit(&b);
	struct buf small;
	buf_init(&small, 5);
	assert_int_equal(
	        rfc822_header_filter(h, strlen(h), NULL, 0, true, &small), -1);
	buf_deinit(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(header_len_cases),
	        cmocka_unit_test(iterate_fields),
	        cmocka_unit_test(stops_at_blank_line),
	        cmocka_unit_test(unfold_cases),
	        cmocka_unit_test(filter_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
