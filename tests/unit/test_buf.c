/* SPDX-License-Identifier: MIT */
/*
 * test_buf.c - bounded buffers: growth, the hard maximum, consume/take
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"

static void append_within_max(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "abcd"), 0);
	assert_int_equal(buf_append_str(&b, "efgh"), 0);
	assert_int_equal(b.len, 8);
	assert_string_equal(buf_cstr(&b), "abcdefgh");
	/* One byte past the maximum fails and changes nothing. */
	assert_int_equal(buf_append_char(&b, 'x'), -1);
	assert_int_equal(b.len, 8);
	assert_string_equal(buf_cstr(&b), "abcdefgh");
	buf_deinit(&b);
}

static void printf_respects_max(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 10);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "ok"), 0);
	assert_string_equal(buf_cstr(&b), "42-ok");
	assert_int_equal(buf_printf(&b, "%s", "too long!"), -1);
	assert_string_equal(buf_cstr(&b), "42-ok");
	buf_deinit(&b);
}

static void consume_and_truncate(void **state)
{
	(void)state;
	struct buf *b = buf_new(0);
	assert_int_equal(buf_append(b, "hello\0world", 11), 0);
	assert_int_equal(b->len, 11);
	buf_consume(b, 6);
	assert_int_equal(b->len, 5);
	assert_memory_equal(b->data, "world", 5);
	assert_int_equal(b->data[5], 0);
	buf_truncate(b, 2);
	assert_string_equal(buf_cstr(b), "wo");
	buf_consume(b, 100);
	assert_int_equal(b->len, 0);
	assert_string_equal(buf_cstr(b), "");
	buf_free(&b);
	assert_null(b);
	buf_free(&b); /* NULL is accepted */
}

static void grows_byte_by_byte(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 100000);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(buf_append_char(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(buf_append_char(&b, 'x'), -1);
	assert_true(b.cap <= 100001);
	assert_int_equal(b.data[99999], 'a' + 99999 % 26);
	char *p = buf_take(&b);
	assert_int_equal(strlen(p), 100000);
	assert_int_equal(b.len, 0);
	free(p);
}

static void empty_cstr(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_within_max),
		cmocka_unit_test(printf_respects_max),
		cmocka_unit_test(consume_and_truncate),
		cmocka_unit_test(grows_byte_by_byte),
		cmocka_unit_test(empty_cstr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
