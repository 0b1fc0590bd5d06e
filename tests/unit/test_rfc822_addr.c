/* SPDX-License-Identifier: MIT */
/*
 * test_rfc822_addr.c - address lists into IMAP's (name adl mailbox host)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rfc822_addr.h"

/* "name|adl|mailbox|host" per address, ";" between, "-" for NULL. */
static void show(struct buf *b, const struct rfc822_addr *a)
{
	for (; a; a = a->next) {
		const struct rfc822_str *f[4] = {&a->name, &a->adl, &a->mailbox,
		                                 &a->host};
		for (int i = 0; i < 4; i++) {
			if (f[i]->p)
				(void)buf_append(b, f[i]->p, f[i]->len);
			else
				(void)buf_append_char(b, '-');
			(void)buf_append_char(b, i < 3 ? '|' : ';');
		}
	}
}

static const struct {
	const char *in, *want;
} cases[] = {
        {"user@example.com", "-|-|user|example.com;"},
        {"John Doe <jd@example.com>", "John Doe|-|jd|example.com;"},
        {"\"Doe, John\" <jd@example.com>", "Doe, John|-|jd|example.com;"},
        {"\"Say \\\"hi\\\"\" <a@b>", "Say \"hi\"|-|a|b;"},
        {"user@domain (Real Name)", "Real Name|-|user|domain;"},
        {"Name (comment) <a@b> (other)", "Name|-|a|b;"},
        {"a@b, c@d ,e@f", "-|-|a|b;-|-|c|d;-|-|e|f;"},
        {"a@b,,  , c@d", "-|-|a|b;-|-|c|d;"},
        {"<@route1,@route2:user@domain>", "-|@route1,@route2|user|domain;"},
        {"<@route:user@domain>", "-|@route|user|domain;"},
        {"\"john doe\"@example.com", "-|-|john doe|example.com;"},
        {"john . doe @ example . com", "-|-|john.doe|example.com;"},
        {"John Q. Public <jqp@x>", "John Q. Public|-|jqp|x;"},
        {"user@[192.0.2.1]", "-|-|user|[192.0.2.1];"},
        {"root", "-|-|root|;"},
        {"<>", "-|-||;"},
        {"=?utf-8?q?J=C3=BCrgen?= <j@x>", "=?utf-8?q?J=C3=BCrgen?=|-|j|x;"},
        {"J\xc3\xbcrgen <j@x>", "J\xc3\xbcrgen|-|j|x;"},
        {"Folded\r\n Name\r\n <a@b>", "Folded Name|-|a|b;"},
        {"group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;",
         "-|-|group|-;-|-|g1|d1.org;-|-|g2|d2.org;-|-|-|-;"
         "-|-|group2|-;-|-|g3|d3.org;-|-|-|-;"},
        {"undisclosed-recipients:;", "-|-|undisclosed-recipients|-;-|-|-|-;"},
        {"group:;, group2: (foo) ;",
         "-|-|group|-;-|-|-|-;-|-|group2|-;-|-|-|-;"},
        {"open group: a@b", "-|-|open group|-;-|-|a|b;-|-|-|-;"},
        {"Weird <a@b", "Weird|-|a|b;"},
        {"\"unterminated <a@b>", "-|-|unterminated <a@b>|;"},
        {"(only a comment)", ""},
        {"", ""},
        {"a@b (unterminated comment", "unterminated comment|-|a|b;"},
        {"two@at@signs", "-|-|two@at|signs;"},
};

static void parse_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct arena *a = arena_new();
		struct buf b;
		buf_init(&b, 0);
		show(&b, rfc822_addr_parse(a, cases[i].in, strlen(cases[i].in),
		                           100));
		if (strcmp(buf_cstr(&b), cases[i].want) != 0)
			fail_msg("case %zu [%s]: got [%s], want [%s]", i,
			         cases[i].in, buf_cstr(&b), cases[i].want);
		buf_deinit(&b);
		arena_free(&a);
	}
}

static void bounded(void **state)
{
	(void)state;
	struct buf in;
	buf_init(&in, 0);
	for (int i = 0; i < 1000; i++)
		(void)buf_printf(&in, "u%d@h, ", i);
	struct arena *a = arena_new();
	size_t n = 0;
	for (struct rfc822_addr *ad = rfc822_addr_parse(a, in.data, in.len, 10);
	     ad; ad = ad->next)
		n++;
	assert_int_equal(n, 10);
	/* A group cut by the limit is still closed. */
	n = 0;
	const char *g = "g: a@b, c@d, e@f;";
	struct rfc822_addr *ad = rfc822_addr_parse(a, g, strlen(g), 2);
	for (; ad; ad = ad->next, n++)
		if (!ad->next)
			assert_null(ad->mailbox.p);
	assert_int_equal(n, 3);
	/* Deeply nested comments and a long junk element cost nothing. */
	buf_reset(&in);
	for (int i = 0; i < 100000; i++)
		(void)buf_append_char(&in, '(');
	for (int i = 0; i < 5000; i++)
		(void)buf_append_str(&in, " x.");
	assert_null(rfc822_addr_parse(a, in.data, in.len, 10));
	buf_reset(&in);
	for (int i = 0; i < 5000; i++)
		(void)buf_append_str(&in, " x.");
	assert_non_null(rfc822_addr_parse(a, in.data, in.len, 10));
	arena_free(&a);
	buf_deinit(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(parse_cases),
	        cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
