/* SPDX-License-Identifier: MIT */
/*
 * test_smtpd_addr.c - RFC 5321 path parser: valid and invalid paths,
 * quoted local parts, literals, source routes, SMTPUTF8, bounds, and
 * the external form
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd/smtpd_addr.h"

#define N SMTPD_ADDR_NULL_OK
#define U SMTPD_ADDR_UTF8
#define P SMTPD_ADDR_POSTMASTER

static const struct {
	const char *in;
	unsigned flags;
	enum smtpd_addr_err want;
	const char *text;  /* external form (default domain "d.example") */
	const char *local; /* internal local part, NULL: not checked */
	size_t used;       /* 0: whole input */
} cases[] = {
	{"<user@example.com>", 0, SMTPD_ADDR_OK, "user@example.com", "user",
	 0},
	{"<User.Name+tag@Example.COM>", 0, SMTPD_ADDR_OK,
	 "User.Name+tag@example.com", "User.Name+tag", 0},
	{"<a@b>", 0, SMTPD_ADDR_OK, "a@b", "a", 0},
	{"<!#$%&'*+-/=?^_`{|}~@x.y>", 0, SMTPD_ADDR_OK,
	 "!#$%&'*+-/=?^_`{|}~@x.y", NULL, 0},
	{"<a@b> SIZE=10", 0, SMTPD_ADDR_OK, "a@b", "a", 5},
	/* null path */
	{"<>", N, SMTPD_ADDR_OK, "", NULL, 0},
	{"<>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<> BODY=8BITMIME", N, SMTPD_ADDR_OK, "", NULL, 2},
	/* quoted local parts */
	{"<\"john doe\"@example.com>", 0, SMTPD_ADDR_OK,
	 "\"john doe\"@example.com", "john doe", 0},
	{"<\"a\\\"b\"@x.y>", 0, SMTPD_ADDR_OK, "\"a\\\"b\"@x.y", "a\"b", 0},
	{"<\"a\\\\b\"@x.y>", 0, SMTPD_ADDR_OK, "\"a\\\\b\"@x.y", "a\\b", 0},
	{"<\"plain\"@x.y>", 0, SMTPD_ADDR_OK, "plain@x.y", "plain", 0},
	{"<\"user@remote\"@x.y>", 0, SMTPD_ADDR_OK, "\"user@remote\"@x.y",
	 "user@remote", 0},
	{"<\"\"@x.y>", 0, SMTPD_ADDR_OK, "\"\"@x.y", "", 0},
	{"<\"a>b\"@x.y>", 0, SMTPD_ADDR_OK, "\"a>b\"@x.y", "a>b", 0},
	{"<\"unterminated@x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<\"tab\there\"@x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<\"bs\\\x01\"@x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	/* source routes: accepted, ignored */
	{"<@a.example,@b.example:user@c.example>", 0, SMTPD_ADDR_OK,
	 "user@c.example", "user", 0},
	{"<@a.example:user@c.example>", 0, SMTPD_ADDR_OK, "user@c.example",
	 "user", 0},
	{"<@a.example,user@c.example>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<@:user@c.example>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<@[1.2.3.4]:user@c.example>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL,
	 0},
	/* address literals */
	{"<user@[192.0.2.1]>", 0, SMTPD_ADDR_OK, "user@[192.0.2.1]", "user",
	 0},
	{"<user@[IPv6:2001:db8::1]>", 0, SMTPD_ADDR_OK,
	 "user@[IPv6:2001:db8::1]", "user", 0},
	{"<user@[IPv6:::ffff:192.0.2.1]>", 0, SMTPD_ADDR_OK,
	 "user@[IPv6:::ffff:192.0.2.1]", "user", 0},
	{"<user@[256.0.0.1]>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@[1.2.3]>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@[1.2.3.4.5]>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@[0001.2.3.4]>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@[IPv6:zz::1]>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@[ipv6:::1]>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@[x-tag:stuff]>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@[1.2.3.4>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@[IPv6:::1\x01]>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	/* dot-string and domain syntax */
	{"<.user@x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user.@x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<us..er@x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@-x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@x-.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@x..y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@x.y.>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@.x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@x_y.z>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<@x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@x.y", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"user@x.y", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"< user@x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user @x.y>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@x.y >", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<a@b@c>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<a(comment)@b>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<x\x00y@a.b>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<user@123.example>", 0, SMTPD_ADDR_OK, "user@123.example", "user",
	 0},
	/* <Postmaster> */
	{"<Postmaster>", P, SMTPD_ADDR_OK, "Postmaster@d.example",
	 "Postmaster", 0},
	{"<postmaster>", 0, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<\"postmaster\">", P, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<@a:postmaster>", P, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<postmaster@x.y>", P, SMTPD_ADDR_OK, "postmaster@x.y",
	 "postmaster", 0},
	/* SMTPUTF8 */
	{"<j\xc3\xb6rg@example.com>", 0, SMTPD_ADDR_E8BIT, NULL, NULL, 0},
	{"<j\xc3\xb6rg@example.com>", U, SMTPD_ADDR_OK,
	 "j\xc3\xb6rg@example.com", "j\xc3\xb6rg", 0},
	{"<user@b\xc3\xbc"
	 "cher.example>",
	 U, SMTPD_ADDR_OK, "user@b\xc3\xbc"
			   "cher.example",
	 "user", 0},
	{"<user@b\xc3\xbc"
	 "cher.example>",
	 0, SMTPD_ADDR_E8BIT, NULL, NULL, 0},
	{"<\"\xe2\x82\xac uro\"@x.y>", U, SMTPD_ADDR_OK,
	 "\"\xe2\x82\xac uro\"@x.y", "\xe2\x82\xac uro", 0},
	{"<\xc0\xafx@x.y>", U, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},  /* overlong */
	{"<\xed\xa0\x80x@x.y>", U, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0}, /* surrogate */
	{"<\xf4\x90\x80\x80@x.y>", U, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
	{"<\xc3@x.y>", U, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0}, /* truncated */
	{"<\xff@x.y>", U, SMTPD_ADDR_ESYNTAX, NULL, NULL, 0},
};

static void table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		/* Inputs may hold NUL: the x\0y case is 9 bytes. */
		size_t len = strlen(in);
		if (strstr(in, "<x") == in && len == 2)
			len = 9;
		struct smtpd_addr a;
		size_t used = 0;
		enum smtpd_addr_err got =
			smtpd_addr_parse(in, len, cases[i].flags, &a, &used);
		if (got != cases[i].want)
			fail_msg("case %zu \"%s\": got error %d, want %d", i,
				 in, got, cases[i].want);
		if (got != SMTPD_ADDR_OK)
			continue;
		size_t want_used = cases[i].used ? cases[i].used : len;
		if (used != want_used)
			fail_msg("case %zu \"%s\": used %zu, want %zu", i, in,
				 used, want_used);
		char text[SMTPD_ADDR_TEXT_MAX + 1];
		assert_true(smtpd_addr_format(&a, "d.example", text,
					      sizeof(text)) >= 0);
		if (strcmp(text, cases[i].text) != 0)
			fail_msg("case %zu \"%s\": got text \"%s\", want "
				 "\"%s\"",
				 i, in, text, cases[i].text);
		if (cases[i].local && strcmp(a.local, cases[i].local) != 0)
			fail_msg("case %zu \"%s\": got local \"%s\", want "
				 "\"%s\"",
				 i, in, a.local, cases[i].local);
	}
}

static void flags_and_literals(void **state)
{
	(void)state;
	struct smtpd_addr a;
	size_t used;
	assert_int_equal(smtpd_addr_parse("<@a,@b:u@c>", 11, 0, &a, &used),
			 SMTPD_ADDR_OK);
	assert_true(a.routed);
	assert_int_equal(smtpd_addr_parse("<u@[IPv6:::1]>", 14, 0, &a, &used),
			 SMTPD_ADDR_OK);
	assert_string_equal(a.literal, "::1");
	assert_string_equal(a.domain, "[IPv6:::1]");
	assert_int_equal(smtpd_addr_parse("<u@[10.0.0.1]>", 14, 0, &a, &used),
			 SMTPD_ADDR_OK);
	assert_string_equal(a.literal, "10.0.0.1");
	/* found by fuzzing: a NUL inside a literal must not cut it short */
	static const char nul_lit[] = "<u@[IPv6:2001:db::\0\0006:2001]>";
	assert_int_equal(smtpd_addr_parse(nul_lit, sizeof(nul_lit) - 1, 0, &a,
					  &used),
			 SMTPD_ADDR_ESYNTAX);
	assert_int_equal(smtpd_addr_parse("<>", 2, N, &a, &used),
			 SMTPD_ADDR_OK);
	assert_true(a.null);
	assert_int_equal(smtpd_addr_parse("<Postmaster>", 12, P, &a, &used),
			 SMTPD_ADDR_OK);
	assert_true(a.postmaster);
}

static void bounds(void **state)
{
	(void)state;
	char in[4096], text[SMTPD_ADDR_TEXT_MAX + 1];
	struct smtpd_addr a;
	size_t used;
	/* local part: 256 ok, 257 too long */
	for (size_t n = 256; n <= 257; n++) {
		in[0] = '<';
		memset(in + 1, 'a', n);
		memcpy(in + 1 + n, "@x.y>", 5);
		enum smtpd_addr_err want =
			n == 256 ? SMTPD_ADDR_OK : SMTPD_ADDR_ETOOLONG;
		assert_int_equal(smtpd_addr_parse(in, n + 6, 0, &a, &used),
				 want);
	}
	/* label 63 ok, 64 too long */
	for (size_t n = 63; n <= 64; n++) {
		memcpy(in, "<u@", 3);
		memset(in + 3, 'b', n);
		memcpy(in + 3 + n, ".c>", 3);
		assert_int_equal(smtpd_addr_parse(in, n + 6, 0, &a, &used),
				 n == 63 ? SMTPD_ADDR_OK : SMTPD_ADDR_ETOOLONG);
	}
	/* domain of 4 x 63-byte labels + dots = 255 ok; one more label
	 * letter pushes it over */
	size_t o = 0;
	memcpy(in, "<u@", 3);
	o = 3;
	for (int l = 0; l < 4; l++) {
		size_t ln = l == 3 ? 60 : 63;
		memset(in + o, 'c', ln);
		o += ln;
		if (l < 3)
			in[o++] = '.';
	}
	in[o++] = '>';
	assert_int_equal(smtpd_addr_parse(in, o, 0, &a, &used),
			 SMTPD_ADDR_OK);
	assert_int_equal(strlen(a.domain), 252);
	/* a quoted local part of 256 backslash pairs formats in bounds */
	o = 0;
	in[o++] = '<';
	in[o++] = '"';
	for (int k = 0; k < 256; k++) {
		in[o++] = '\\';
		in[o++] = '"';
	}
	memcpy(in + o, "\"@x.y>", 6);
	o += 6;
	assert_int_equal(smtpd_addr_parse(in, o, 0, &a, &used),
			 SMTPD_ADDR_OK);
	assert_int_equal(smtpd_addr_format(&a, "", text, sizeof(text)),
			 2 + 512 + 4);
	/* whole path over 1000 with a long source route */
	o = 0;
	in[o++] = '<';
	for (int k = 0; k < 20; k++) {
		in[o++] = '@';
		memset(in + o, 'r', 60);
		o += 60;
		in[o++] = k == 19 ? ':' : ',';
	}
	memcpy(in + o, "u@x.y>", 6);
	o += 6;
	assert_int_equal(smtpd_addr_parse(in, o, 0, &a, &used),
			 SMTPD_ADDR_ETOOLONG);
	/* a path cut short by the input */
	assert_int_equal(smtpd_addr_parse("<user@exa", 9, 0, &a, &used),
			 SMTPD_ADDR_ESYNTAX);
	/* output buffer too small */
	assert_int_equal(smtpd_addr_parse("<user@x.y>", 10, 0, &a, &used),
			 SMTPD_ADDR_OK);
	assert_int_equal(smtpd_addr_format(&a, "", text, 5), -1);
}

static void domains_and_utf8(void **state)
{
	(void)state;
	assert_true(smtpd_domain_valid("mail.example.com", 16, false));
	assert_true(smtpd_domain_valid("x", 1, false));
	assert_false(smtpd_domain_valid("", 0, false));
	assert_false(smtpd_domain_valid("a..b", 4, false));
	assert_false(smtpd_domain_valid("-a.b", 4, false));
	assert_false(smtpd_domain_valid("b\xc3\xbc.x", 5, false));
	assert_true(smtpd_domain_valid("b\xc3\xbc.x", 5, true));
	static const unsigned char ok[][4] = {
		{0xc2, 0x80}, {0xdf, 0xbf}, {0xe0, 0xa0, 0x80},
		{0xed, 0x9f, 0xbf}, {0xf0, 0x90, 0x80, 0x80},
		{0xf4, 0x8f, 0xbf, 0xbf}};
	static const size_t oklen[] = {2, 2, 3, 3, 4, 4};
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(smtpd_utf8_char(ok[i], oklen[i]), oklen[i]);
	static const unsigned char bad[][4] = {
		{0xc1, 0xbf}, {0xe0, 0x9f, 0xbf}, {0xed, 0xa0, 0x80},
		{0xf0, 0x8f, 0xbf, 0xbf}, {0xf4, 0x90, 0x80, 0x80},
		{0xf5, 0x80, 0x80, 0x80}, {0x80}, {0xc2, 0x41}};
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(smtpd_utf8_char(bad[i], 4), 0);
	assert_int_equal(smtpd_utf8_char(ok[2], 2), 0); /* truncated */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table),
		cmocka_unit_test(flags_and_literals),
		cmocka_unit_test(bounds),
		cmocka_unit_test(domains_and_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
