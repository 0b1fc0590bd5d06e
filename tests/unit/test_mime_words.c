/* SPDX-License-Identifier: MIT */
/*
 * test_mime_words.c - RFC 2047 words, RFC 2231 values, charsets to UTF-8
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/mime_words.h"

static void check(int (*fn)(const char *, size_t, struct buf *), size_t i,
                  const char *in, const char *want)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(fn(in, strlen(in), &b), 0);
	if (strcmp(buf_cstr(&b), want) != 0)
		fail_msg("case %zu [%s]: got [%s], want [%s]", i, in,
		         buf_cstr(&b), want);
	buf_deinit(&b);
}

static void words_cases(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"plain text", "plain text"},
	        {"=?utf-8?q?J=C3=BCrgen?=", "J\xc3\xbcrgen"},
	        {"=?UTF-8?B?SsO8cmdlbg==?=", "J\xc3\xbcrgen"},
	        {"=?iso-8859-1?q?caf=E9?=", "caf\xc3\xa9"},
	        {"=?ISO-8859-15?Q?=A4?=", "\xe2\x82\xac"},
	        {"=?windows-1252?q?=93q=94?=", "\xe2\x80\x9cq\xe2\x80\x9d"},
	        {"=?us-ascii?q?a=FFb?=", "a\xef\xbf\xbd"
	                                 "b"},
	        /* RFC 2047 8 examples. */
	        {"(=?ISO-8859-1?Q?a?=)", "(a)"},
	        {"(=?ISO-8859-1?Q?a?= b)", "(a b)"},
	        {"(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"},
	        {"(=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?=)", "(ab)"},
	        {"(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)"},
	        {"(=?ISO-8859-1?Q?a_b?=)", "(a b)"},
	        {"(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)",
	         "(a =?ISO-8859-2?Q?_b?=)"},
	        /* A character split over two words is joined first. */
	        {"=?utf-8?B?w6k=?= =?utf-8?B?gA==?=", "\xc3\xa9\xef\xbf\xbd"},
	        {"=?utf-8?B?4oK=?= =?utf-8?B?rA==?=", "\xe2\x82\xac"},
	        {"=?utf-8*en?q?hi?=", "hi"},
	        /* Unknown sets and malformed words are kept as they are. */
	        {"=?koi8-r?b?8NLJ18XU?= x", "=?koi8-r?b?8NLJ18XU?= x"},
	        {"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
	        {"=?utf-8?q?no end", "=?utf-8?q?no end"},
	        {"=?utf-8?q?sp ace?=", "=?utf-8?q?sp ace?="},
	        {"a=?utf-8?q?glued?=b", "agluedb"},
	        {"=?utf-8?q?"
	         "?=",
	         ""},
	        /* Controls never survive: no header injection. */
	        {"=?utf-8?q?a=0D=0Ab=00c?=", "a  b c"},
	        /* Raw 8-bit: UTF-8 kept, anything else read as cp1252. */
	        {"J\xc3\xbcrgen", "J\xc3\xbcrgen"},
	        {"caf\xe9 \x80", "caf\xc3\xa9 \xe2\x82\xac"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(mime_words_decode, i, cases[i].in, cases[i].want);
}

static void rfc2231_cases(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
	         "This is ***fun***"},
	        {"utf-8''%E2%82%AC%20rates.pdf", "\xe2\x82\xac rates.pdf"},
	        {"iso-8859-1''caf%E9", "caf\xc3\xa9"},
	        {"''plain", "plain"},
	        {"no-quotes%41", "no-quotesA"},
	        {"utf-8''bad%zzescape%4", "bad%zzescape%4"},
	        {"koi8-r''%F0", "\xc3\xb0"}, /* unknown set: cp1252 reading */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(mime_words_decode_2231, i, cases[i].in, cases[i].want);
}

static void charset_names(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_charset_to_utf8("LATIN1", 6, "\xe9", 1, &b), 1);
	assert_string_equal(buf_cstr(&b), "\xc3\xa9");
	assert_int_equal(mime_charset_to_utf8("big5", 4, "\xe9", 1, &b), 0);
	assert_int_equal(b.len, 2);
	buf_reset(&b);
	/* Invalid UTF-8: overlong, surrogate, truncated. */
	assert_int_equal(mime_charset_to_utf8("utf-8", 5,
	                                      "\xc0\xaf|\xed\xa0\x80|\xe2\x82",
	                                      9, &b),
	                 1);
	assert_string_equal(buf_cstr(&b), "\xef\xbf\xbd\xef\xbf\xbd|"
	                                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                                  "|\xef\xbf\xbd\xef\xbf\xbd");
	buf_deinit(&b);
	struct buf small;
	buf_init(&small, 4);
	assert_int_equal(mime_words_decode("=?utf-8?q?abcdef?=", 18, &small),
	                 -1);
	buf_deinit(&small);
}

static void unterminated_words_are_linear(void **state)
{
	(void)state;
	/* Each "=?c?q?" starts a word that never ends; a naive scan for its
	 * "?=" from every start is quadratic (minutes here, not ms). */
	struct buf in, out;
	buf_init(&in, 0);
	buf_init(&out, 0);
	for (int i = 0; i < 300000; i++)
		(void)buf_append_str(&in, "=?c?q?x");
	assert_int_equal(mime_words_decode(in.data, in.len, &out), 0);
	assert_int_equal(out.len, in.len);
	buf_deinit(&in);
	buf_deinit(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(words_cases),
	        cmocka_unit_test(rfc2231_cases),
	        cmocka_unit_test(charset_names),
	        cmocka_unit_test(unterminated_words_are_linear),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
