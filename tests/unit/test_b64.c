/* SPDX-License-Identifier: MIT */
/*
 * test_b64.c - strict base64: RFC 4648 10 vectors, padded and unpadded,
 * one spelling per value, output bounds
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/b64.h"

static const struct {
	const char *raw, *padded, *bare;
} vectors[] = {
	/* RFC 4648 10 */
	{"", "", ""},
	{"f", "Zg==", "Zg"},
	{"fo", "Zm8=", "Zm8"},
	{"foo", "Zm9v", "Zm9v"},
	{"foob", "Zm9vYg==", "Zm9vYg"},
	{"fooba", "Zm9vYmE=", "Zm9vYmE"},
	{"foobar", "Zm9vYmFy", "Zm9vYmFy"},
	{"\xff\xfe\x00", "//4A", "//4A"},
};

static void rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char out[32];
		unsigned char raw[32];
		size_t n = strlen(vectors[i].raw);
		if (i == 7)
			n = 3;
		assert_int_equal(b64_encode(vectors[i].raw, n, true, out,
					    sizeof(out)),
				 strlen(vectors[i].padded));
		assert_string_equal(out, vectors[i].padded);
		assert_int_equal(b64_encoded_len(n, true),
				 strlen(vectors[i].padded));
		assert_int_equal(b64_encode(vectors[i].raw, n, false, out,
					    sizeof(out)),
				 strlen(vectors[i].bare));
		assert_string_equal(out, vectors[i].bare);
		assert_int_equal(b64_decode(vectors[i].padded,
					    strlen(vectors[i].padded), true,
					    raw, sizeof(raw)),
				 n);
		assert_memory_equal(raw, vectors[i].raw, n);
		assert_int_equal(b64_decode(vectors[i].bare,
					    strlen(vectors[i].bare), false, raw,
					    sizeof(raw)),
				 n);
		assert_memory_equal(raw, vectors[i].raw, n);
	}
}

static void malformed(void **state)
{
	(void)state;
	static const char *const bad_padded[] = {
		"Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v ", " Zm9v", "Zm9v\r\n",
		"Zh==", /* stray bits */
		"Zm9=", "Zm-v", "Zm_v", "*", "=", "====", "Zm9vY===",
	};
	unsigned char raw[32];
	for (size_t i = 0; i < sizeof(bad_padded) / sizeof(bad_padded[0]);
	     i++)
		if (b64_decode(bad_padded[i], strlen(bad_padded[i]), true, raw,
			       sizeof(raw)) != -1)
			fail_msg("padded case %zu '%s' accepted", i,
				 bad_padded[i]);
	static const char *const bad_bare[] = {"Zg==", "Z", "Zm9vY", "Zh"};
	for (size_t i = 0; i < sizeof(bad_bare) / sizeof(bad_bare[0]); i++)
		if (b64_decode(bad_bare[i], strlen(bad_bare[i]), false, raw,
			       sizeof(raw)) != -1)
			fail_msg("bare case %zu '%s' accepted", i, bad_bare[i]);
	/* The input is bounded by len, not by a NUL. */
	assert_int_equal(b64_decode("Zm9vXXXX", 4, true, raw, sizeof(raw)), 3);
}

static void bounds(void **state)
{
	(void)state;
	char out[8];
	unsigned char raw[2];
	assert_int_equal(b64_encode("foobar", 6, true, out, 8), -1);
	assert_int_equal(b64_encode("foobar", 6, true, out, 9 - 1), -1);
	assert_int_equal(b64_encode("fooba", 5, true, out, 8), -1);
	assert_int_equal(b64_encode("foob", 4, false, out, 7), 6);
	assert_int_equal(b64_decode("Zm9v", 4, true, raw, sizeof(raw)), -1);
	assert_int_equal(b64_decode("Zm8=", 4, true, raw, sizeof(raw)), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc4648_vectors),
		cmocka_unit_test(malformed),
		cmocka_unit_test(bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
