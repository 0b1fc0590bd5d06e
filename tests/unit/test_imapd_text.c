/* SPDX-License-Identifier: MIT */
/*
 * test_imapd_text.c - modified UTF-7 names, IMAP and RFC 5322 dates,
 * LIST wildcards, response strings (session counts: test_anvil.c)
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
#include "imapd/imapd_date.h"
#include "imapd/imapd_resp.h"
#include "imapd/imapd_session.h"
#include "imapd/imapd_utf7.h"

static void utf7_roundtrip(void **state)
{
	(void)state;
	static const struct {
		const char *utf8, *utf7;
	} cases[] = {
	        {"INBOX", "INBOX"},
	        {"a&b", "a&-b"},
	        {"&", "&-"},
	        {"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
	        {"\xe5\x8f\xb0\xe5\x8c\x97", "&U,BTFw-"},
	        {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac"
	         "\xe8\xaa\x9e",
	         "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	        {"\xf0\x9f\x98\x80", "&2D3eAA-"}, /* a surrogate pair */
	        {"caf\xc3\xa9 & cr\xc3\xa8me", "caf&AOk- &- cr&AOg-me"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(imapd_utf8_to_utf7(cases[i].utf8,
		                                    strlen(cases[i].utf8), &b),
		                 0);
		if (strcmp(buf_cstr(&b), cases[i].utf7) != 0)
			fail_msg("case %zu: encoded %s, want %s", i,
			         buf_cstr(&b), cases[i].utf7);
		buf_reset(&b);
		assert_int_equal(imapd_utf7_to_utf8(cases[i].utf7,
		                                    strlen(cases[i].utf7), &b),
		                 0);
		if (strcmp(buf_cstr(&b), cases[i].utf8) != 0)
			fail_msg("case %zu: decoded wrongly", i);
		buf_deinit(&b);
	}
}

static void utf7_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "&",           /* unterminated */
	        "&AGE-",       /* "a" must be written directly */
	        "&APw-&AOk-",  /* two runs where one belongs */
	        "&APx-",       /* non-zero padding bits */
	        "&AP-",        /* too few bits for a character */
	        "&2D0-",       /* a lone high surrogate */
	        "&3gA-",       /* a lone low surrogate */
	        "&A/w-",       /* "/" is not modified base64 */
	        "caf\xc3\xa9", /* raw 8-bit */
	        "a\tb",        /* control */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (imapd_utf7_check(bad[i], strlen(bad[i])) == 0)
			fail_msg("case %zu (%s) accepted", i, bad[i]);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imapd_utf8_to_utf7("\xc3", 1, &b), -1);
	assert_int_equal(imapd_utf8_to_utf7("\xed\xa0\x80", 3, &b), -1);
	assert_int_equal(imapd_utf8_to_utf7("\xc0\xaf", 2, &b), -1);
	buf_deinit(&b);
}

static void dates(void **state)
{
	(void)state;
	int64_t d, t;
	int tz;
	assert_int_equal(imapd_date_parse("1-Jan-1970", 10, &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(imapd_date_parse("29-feb-2024", 11, &d), 0);
	assert_int_equal(d, imapd_days_from_civil(2024, 2, 29));
	assert_int_equal(imapd_date_parse("29-Feb-2023", 11, &d), -1);
	assert_int_equal(imapd_date_parse("1-Foo-2023", 10, &d), -1);
	assert_int_equal(imapd_date_parse("1-Jan-23", 8, &d), -1);

	const char *dt = "17-Jul-1996 02:44:25 -0700";
	assert_int_equal(imapd_datetime_parse(dt, strlen(dt), &t, &tz), 0);
	assert_int_equal(t, 837596665);
	assert_int_equal(tz, -420);
	char out[IMAPD_DATETIME_LEN + 1];
	imapd_datetime_format(t, tz, out);
	assert_string_equal(out, dt);
	imapd_datetime_format(0, 0, out);
	assert_string_equal(out, " 1-Jan-1970 00:00:00 +0000");
	imapd_datetime_format(-1, 90, out);
	assert_string_equal(out, " 1-Jan-1970 01:29:59 +0130");
	assert_int_equal(
	        imapd_datetime_parse(" 7-Jul-1996 02:44:25 +0000", 26, &t, &tz),
	        0);
	assert_int_equal(
	        imapd_datetime_parse("7-Jul-1996 02:44:25 +0000", 25, &t, &tz),
	        0);
	assert_int_equal(
	        imapd_datetime_parse("17-Jul-1996 02:44:25", 20, &t, &tz), -1);
	assert_int_equal(
	        imapd_datetime_parse("17-Jul-1996 24:44:25 +0000", 26, &t, &tz),
	        -1);
	assert_int_equal(imapd_day_of(86400 - 1, 0), 0);
	assert_int_equal(imapd_day_of(86400 - 1, 60), 1);
	assert_int_equal(imapd_day_of(-1, 0), -1);

	static const struct {
		const char *in;
		int64_t t;
		int tz;
	} hdr[] = {
	        {"Wed, 17 Jul 1996 02:44:25 -0700", 837596665, -420},
	        {"17 Jul 1996 02:44:25 -0700 (PDT)", 837596665, -420},
	        {"Wed,\r\n 17 Jul 1996 09:44 +0000", 837596640, 0},
	        {"17 Jul 96 02:44:25 PDT", 837596665, -420},
	        {"(comment) 17 jul 1996 09:44:25 GMT", 837596665, 0},
	        {"17 Jul 1996 09:44:25 XYZ", 837596665, 0},
	};
	for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
		if (imapd_rfc5322_date_parse(hdr[i].in, strlen(hdr[i].in), &t,
		                             &tz) != 0 ||
		    t != hdr[i].t || tz != hdr[i].tz)
			fail_msg("case %zu (%s): got %lld %d", i, hdr[i].in,
			         (long long)t, tz);
	}
	assert_int_equal(imapd_rfc5322_date_parse("yesterday", 9, &t, &tz), -1);
	assert_int_equal(
	        imapd_rfc5322_date_parse("32 Jan 2020 00:00", 17, &t, &tz), -1);
}

static void list_match(void **state)
{
	(void)state;
	static const struct {
		const char *pat, *name;
		size_t inbox;
		bool want;
	} cases[] = {
	        {"*", "a/b/c", 0, true},
	        {"%", "a", 0, true},
	        {"%", "a/b", 0, false},
	        {"a/%", "a/b", 0, true},
	        {"a/%", "a/b/c", 0, false},
	        {"a/*", "a/b/c", 0, true},
	        {"a*c", "abc", 0, true},
	        {"a*c", "a/b/c", 0, true},
	        {"a%c", "a/b/c", 0, false},
	        {"a%", "a", 0, true},
	        {"", "a", 0, false},
	        {"inbox", "INBOX", 5, true},
	        {"inbox/x", "INBOX/x", 5, true},
	        {"inbox/X", "INBOX/x", 5, false},
	        {"A", "a", 0, false},
	        {"%/%/%", "a/b/c", 0, true},
	        {"*%*%*%*%*%*%*%*%*%*%*%*%x",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay", 0, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = imapd_list_match(
		        cases[i].pat, strlen(cases[i].pat), cases[i].name,
		        strlen(cases[i].name), cases[i].inbox);
		if (got != cases[i].want)
			fail_msg("case %zu: %s vs %s: got %d", i, cases[i].pat,
			         cases[i].name, got);
	}
}

static void resp_strings(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	imapd_resp_astring(&b, "INBOX", 5);
	buf_append_char(&b, ' ');
	imapd_resp_astring(&b, "NIL", 3);
	buf_append_char(&b, ' ');
	imapd_resp_astring(&b, "a b\"c\\", 6);
	buf_append_char(&b, ' ');
	imapd_resp_string(&b, "x\r\ny", 4);
	buf_append_char(&b, ' ');
	imapd_resp_string(&b, "\xc3\xa9\0z", 4);
	buf_append_char(&b, ' ');
	imapd_resp_nstring(&b, NULL, 0);
	buf_append_char(&b, ' ');
	imapd_resp_astring(&b, "", 0);
	assert_int_equal(b.len, 49);
	assert_memory_equal(b.data,
	                    "INBOX \"NIL\" \"a b\\\"c\\\\\" {4}\r\nx\r\ny "
	                    "{4}\r\n\xc3\xa9\x80z NIL \"\"",
	                    49);
	buf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(utf7_roundtrip),
	        cmocka_unit_test(utf7_invalid),
	        cmocka_unit_test(dates),
	        cmocka_unit_test(list_match),
	        cmocka_unit_test(resp_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
