/* SPDX-License-Identifier: MIT */
/*
 * test_passwd_hash.c - scrypt hashes: round trip, known answers computed
 * by another implementation (Python's hashlib.scrypt), malformed stored
 * strings, cost upgrades, SCRAM-SHA-256 verifier syntax
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/passwd_hash.h"

/* Cheap cost so the table-driven tests stay fast. */
static const struct passwd_cost cheap = {.ln = 4, .r = 1, .p = 1};

static void round_trip_default_cost(void **state)
{
	(void)state;
	char h[PASSWD_HASH_MAX];
	struct err e;
	assert_int_equal(passwd_hash_new("secret", 6, NULL, h, sizeof(h), &e),
			 0);
	assert_true(strncmp(h, "$scrypt$ln=14,r=8,p=1$", 22) == 0);
	assert_int_equal(passwd_hash_verify(h, "secret", 6, &e), 1);
	assert_int_equal(passwd_hash_verify(h, "secreT", 6, &e), 0);
	assert_int_equal(passwd_hash_verify(h, "secret", 5, &e), 0);
	assert_int_equal(passwd_hash_verify(h, "secret!", 7, &e), 0);
	assert_false(passwd_hash_needs_rehash(h));
	assert_true(passwd_hash_valid(h));
}

static void salts_differ(void **state)
{
	(void)state;
	char a[PASSWD_HASH_MAX], b[PASSWD_HASH_MAX];
	assert_int_equal(passwd_hash_new("pw", 2, &cheap, a, sizeof(a), NULL),
			 0);
	assert_int_equal(passwd_hash_new("pw", 2, &cheap, b, sizeof(b), NULL),
			 0);
	assert_string_not_equal(a, b);
	assert_int_equal(passwd_hash_verify(a, "pw", 2, NULL), 1);
	assert_int_equal(passwd_hash_verify(b, "pw", 2, NULL), 1);
}

/* Values from Python: hashlib.scrypt(pw, salt=b"0123456789abcdef",
 * n=1024, r=8, p=1, dklen=32), unpadded base64. */
static void known_answers(void **state)
{
	(void)state;
	static const char h1[] = "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg"
				 "$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw";
	static const char h2[] = "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg"
				 "$TGOG+s1NLmSxVhUf5etn2dmhsDJkPbU1xHpAsYvO5Bo";
	assert_int_equal(passwd_hash_verify(h1, "password", 8, NULL), 1);
	assert_int_equal(passwd_hash_verify(h1, "Password", 8, NULL), 0);
	/* UTF-8 passwords are hashed as the bytes given. */
	assert_int_equal(passwd_hash_verify(h2, "p\xc3\xa4sSw\xc3\xb6rd", 10,
					    NULL),
			 0);
	assert_int_equal(passwd_hash_verify(h2, "p\xc3\xa4ssw\xc3\xb6rd", 10,
					    NULL),
			 1);
	assert_true(passwd_hash_needs_rehash(h1));
}

static void malformed_hashes(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"$scrypt$",
		"$2y$10$abcdefghijklmnopqrstuu",
		"$scrypt$ln=10,r=8$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ",
		"$scrypt$ln=0,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ",
		"$scrypt$ln=10,r=0,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ",
		"$scrypt$ln=10,r=8,p=0$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ",
		/* 128 * 64 * 2^24 bytes: over the memory bound */
		"$scrypt$ln=24,r=64,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ",
		"$scrypt$ln=99999,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ",
		"$scrypt$ln=+10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ",
		"$scrypt$r=8,ln=10,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ",
		/* padded base64, bad characters, short salt, missing hash */
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg==$ZEBCzLptWM7dhpNJDU2HbQ",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLpt*M7dhpNJDU2HbQ",
		"$scrypt$ln=10,r=8,p=1$MDEy$ZEBCzLptWM7dhpNJDU2HbQ",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg",
		/* stray low bits in the last character (non-canonical) */
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZh$ZEBCzLptWM7dhpNJDU2HbQ",
		"$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ$",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err e = {{0}};
		int got = passwd_hash_verify(bad[i], "password", 8, &e);
		if (got != -1)
			fail_msg("case %zu (%s): got %d, want -1", i, bad[i],
				 got);
		assert_true(e.msg[0] != '\0');
		assert_true(passwd_hash_needs_rehash(bad[i]));
		assert_false(passwd_hash_valid(bad[i]));
	}
}

static void length_limits(void **state)
{
	(void)state;
	char *big = malloc(PASSWD_MAX + 1);
	memset(big, 'x', PASSWD_MAX + 1);
	char h[PASSWD_HASH_MAX];
	struct err e;
	assert_int_equal(passwd_hash_new(big, PASSWD_MAX + 1, &cheap, h,
					 sizeof(h), &e),
			 -1);
	assert_int_equal(
		passwd_hash_new(big, PASSWD_MAX, &cheap, h, sizeof(h), &e), 0);
	assert_int_equal(passwd_hash_verify(h, big, PASSWD_MAX, &e), 1);
	/* Longer than accepted never verifies, and is not an error. */
	assert_int_equal(passwd_hash_verify(h, big, PASSWD_MAX + 1, &e), 0);
	/* Output buffer too small. */
	assert_int_equal(passwd_hash_new("pw", 2, &cheap, h, 20, &e), -1);
	/* Cost out of range. */
	struct passwd_cost huge = {.ln = 25, .r = 8, .p = 1};
	assert_int_equal(passwd_hash_new("pw", 2, &huge, h, sizeof(h), &e),
			 -1);
	free(big);
}

static void scram_verifier(void **state)
{
	(void)state;
	char s[PASSWD_SCRAM_MAX];
	struct err e;
	assert_int_equal(passwd_scram_new("pencil", 6, 4096, s, sizeof(s), &e),
			 0);
	assert_true(strncmp(s, "SCRAM-SHA-256$4096:", 19) == 0);
	assert_true(passwd_scram_valid(s, strlen(s)));
	assert_false(passwd_scram_valid(s, strlen(s) - 1));
	assert_int_equal(passwd_scram_new("pencil", 6, 4095, s, sizeof(s), &e),
			 -1);
	assert_int_equal(
		passwd_scram_new("pencil", 6, 65537, s, sizeof(s), &e), -1);
	assert_int_equal(passwd_scram_new("", 0, 4096, s, sizeof(s), &e), -1);

	static const char *const bad[] = {
		"",
		"SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92$"
		"a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs=:"
		"a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs=",
		"SCRAM-SHA-256$100:QSXCR+Q6sek8bf92$"
		"a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs=:"
		"a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs=",
		"SCRAM-SHA-256$4096:QSXCR+Q6sek8bf92$"
		"a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbw:"
		"a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs=",
		"SCRAM-SHA-256$4096:QSXCR+Q6sek8bf92$"
		"a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs=",
		"SCRAM-SHA-256$4096:QSXCR+Q6sek8bf92$"
		"a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs=:"
		"a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs= ",
	};
	static const char good[] = "SCRAM-SHA-256$4096:QSXCR+Q6sek8bf92$"
				   "a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs=:"
				   "a5ZR6ydKT0TThT9Jt0o5jBJI0ZnQjnu+jBLwqqbwaJs=";
	assert_true(passwd_scram_valid(good, strlen(good)));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (passwd_scram_valid(bad[i], strlen(bad[i])))
			fail_msg("case %zu accepted: %s", i, bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_default_cost),
		cmocka_unit_test(salts_differ),
		cmocka_unit_test(known_answers),
		cmocka_unit_test(malformed_hashes),
		cmocka_unit_test(length_limits),
		cmocka_unit_test(scram_verifier),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
