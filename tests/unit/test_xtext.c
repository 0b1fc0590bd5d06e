/* SPDX-License-Identifier: MIT */
/*
 * test_xtext.c - RFC 3461 xtext decoding and encoding (common/xtext.c)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/xtext.h"

static void test_decode(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		long want_len;
		const char *want;
	} c[] = {
	        {"plain", 5, "plain"},
	        {"a+2Bb", 3, "a+b"},
	        {"+3D+20", 2, "= "},
	        {"", 0, ""},
	        {"a+2b", -1, NULL}, /* hex must be upper case */
	        {"a+2", -1, NULL},  /* cut short */
	        {"a=b", -1, NULL},  /* '=' must be encoded */
	        {"a b", -1, NULL},  /* so must space */
	        {"\x80", -1, NULL},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char out[16];
		long n = xtext_decode(c[i].in, strlen(c[i].in), out,
		                      sizeof(out));
		if (n != c[i].want_len)
			fail_msg("case %zu (%s): got %ld, want %ld", i, c[i].in,
			         n, c[i].want_len);
		if (n >= 0 && memcmp(out, c[i].want, (size_t)n) != 0)
			fail_msg("case %zu: wrong bytes", i);
	}
	char small[2];
	assert_int_equal(xtext_decode("abc", 3, small, sizeof(small)), -1);
}

static void test_encode_round_trip(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	const char in[] = "a+b=c d\x01\xff";
	assert_int_equal(xtext_encode(in, sizeof(in) - 1, &b), 0);
	assert_string_equal(buf_cstr(&b), "a+2Bb+3Dc+20d+01+FF");
	char out[32];
	long n = xtext_decode(b.data, b.len, out, sizeof(out));
	assert_int_equal(n, (long)sizeof(in) - 1);
	assert_memory_equal(out, in, sizeof(in) - 1);
	buf_deinit(&b);
	buf_init(&b, 4);
	assert_int_equal(xtext_encode("+++", 3, &b), -1);
	buf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_decode),
	        cmocka_unit_test(test_encode_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
