/* SPDX-License-Identifier: MIT */
/*
 * test_imapd_parse.c - the IMAP command reader and argument parser:
 * lines, literals (synchronizing and LITERAL+), limits and resync, bytes
 * fed one at a time, tokens, nesting bounds, FETCH items
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/buf.h"
#include "imapd/imapd_args.h"
#include "imapd/imapd_fetch.h"
#include "imapd/imapd_reader.h"
#include "imapd/imapd_seqset.h"

/* Feeds input in pieces of `step` bytes (0: all at once) and records the
 * events as text: "C:<cmd>" "+" "L:<tag>" "B:<tag>". */
static void run(const char *in, size_t len, size_t step, size_t line_max,
                size_t lit_max, struct buf *log)
{
	struct imapd_reader r;
	imapd_reader_init(&r, line_max, lit_max);
	size_t pos = 0;
	while (pos < len) {
		size_t n = step ? (len - pos < step ? len - pos : step)
		                : len - pos;
		size_t off = 0;
		while (off < n) {
			size_t used;
			enum imapd_read_event ev = imapd_reader_feed(
			        &r, in + pos + off, n - off, &used);
			off += used;
			switch (ev) {
			case IMAPD_READ_MORE:
				break;
			case IMAPD_READ_CONTINUE:
				buf_append_str(log, "+|");
				break;
			case IMAPD_READ_COMMAND:
				buf_append_str(log, "C:");
				buf_append(log, r.cmd.data, r.cmd.len);
				buf_append_str(log, "|");
				break;
			case IMAPD_READ_TOO_LONG:
				buf_printf(log, "L:%s|", imapd_reader_tag(&r));
				break;
			case IMAPD_READ_TOO_BIG:
				buf_printf(log, "B:%s|", imapd_reader_tag(&r));
				break;
			}
		}
		pos += n;
	}
	assert_int_equal(r.bytes_in, len);
	imapd_reader_deinit(&r);
}

static void reader_cases(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t line_max, lit_max;
		const char *want;
	} cases[] = {
	        {"a1 NOOP\r\n", 100, 100, "C:a1 NOOP|"},
	        {"a1 NOOP\n", 100, 100, "C:a1 NOOP|"},
	        {"\r\n\r\na1 NOOP\r\n", 100, 100, "C:a1 NOOP|"},
	        {"a LOGIN {3}\r\nabc {2}\r\nxy\r\n", 100, 100,
	         "+|+|C:a LOGIN {3}\r\nabc {2}\r\nxy|"},
	        {"a LOGIN {3+}\r\nabc {2+}\nxy\r\nb NOOP\r\n", 100, 100,
	         "C:a LOGIN {3}\r\nabc {2}\r\nxy|C:b NOOP|"},
	        /* A literal may hold CR LF and "{5}" without effect. */
	        {"a X {6}\r\n{5}\r\n\r\n\r\n", 100, 100,
	         "+|C:a X {6}\r\n{5}\r\n\r|"},
	        /* A literal ending in "{1}" announces nothing. */
	        {"a X {3}\r\n{1}\r\nb NOOP\r\n", 100, 100,
	         "+|C:a X {3}\r\n{1}|C:b NOOP|"},
	        {"a X {0}\r\n\r\n", 100, 100, "+|C:a X {0}\r\n|"},
	        /* Line limit, then resynchronised. */
	        {"tag1 SEARCH aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nb NOOP\r\n",
	         20, 100, "L:tag1|C:b NOOP|"},
	        /* An over-long line announcing LITERAL+: the literal goes
	         * too. */
	        {"t2 APPEND xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx {5+}\r\nHELLO\r\n"
	         "c NOOP\r\n",
	         20, 100, "L:t2|C:c NOOP|"},
	        /* The limit falls inside the literal header: the skipped
	         * literal must still be recognised (found by the fuzzer). */
	        {"t9 X aaaa {5+}\r\nHELLO\r\nd NOOP\r\n", 10, 100,
	         "L:t9|C:d NOOP|"},
	        {"t9 X aaaa {5+}\r\nHELLO\r\nd NOOP\r\n", 12, 100,
	         "L:t9|C:d NOOP|"},
	        /* Synchronizing literal too big: refused at once. */
	        {"t3 APPEND INBOX {500}\r\nd NOOP\r\n", 100, 100,
	         "B:t3|C:d NOOP|"},
	        /* LITERAL+ too big: read, dropped with the rest. */
	        {"t4 APPEND INBOX {5+}\r\n12345 more {2+}\r\nxy\r\ne NOOP\r\n",
	         100, 4, "B:t4|C:e NOOP|"},
	        /* Absurd literal length. */
	        {"t5 X {99999999999}\r\nf NOOP\r\n", 100, 100,
	         "B:t5|C:f NOOP|"},
	        /* No usable tag. */
	        {"{bad\r\n", 100, 100, "C:{bad|"},
	        {"* X aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 10, 100,
	         "L:*|"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t step = 0; step <= 3; step++) {
			struct buf log;
			buf_init(&log, 0);
			run(cases[i].in, strlen(cases[i].in), step,
			    cases[i].line_max, cases[i].lit_max, &log);
			if (strcmp(buf_cstr(&log), cases[i].want) != 0)
				fail_msg("case %zu step %zu: got \"%s\", want "
				         "\"%s\"",
				         i, step, buf_cstr(&log),
				         cases[i].want);
			buf_deinit(&log);
		}
	}
}

/* The bound on all literals of one command together. */
static void reader_total_literals(void **state)
{
	(void)state;
	struct buf in, log;
	buf_init(&in, 0);
	buf_init(&log, 0);
	buf_append_str(&in, "a X");
	for (int i = 0; i < 10; i++)
		buf_append_str(&in, " {60+}\r\n"
		                    "0123456789012345678901234567890123456789"
		                    "01234567890123456789");
	buf_append_str(&in, "\r\nb NOOP\r\n");
	run(in.data, in.len, 7, 200, 100, &log);
	assert_string_equal(buf_cstr(&log), "B:a|C:b NOOP|");
	buf_deinit(&in);
	buf_deinit(&log);
}

static struct arena *A;

static void args_tokens(void **state)
{
	(void)state;
	const char cmd[] = "tag LOGIN \"us\\\"er\" {4}\r\np\0ss NIL atom] "
	                   "(a (b)) 42 0";
	struct imapd_args a;
	struct imapd_str s;
	imapd_args_init(&a, cmd, sizeof(cmd) - 1, A, 2);
	assert_int_equal(imapd_args_tag(&a, &s), 0);
	assert_string_equal(s.p, "tag");
	assert_int_equal(imapd_args_sp(&a), 0);
	assert_int_equal(imapd_args_atom(&a, &s), 0);
	assert_string_equal(s.p, "LOGIN");
	assert_int_equal(imapd_args_sp(&a), 0);
	assert_int_equal(imapd_args_astring(&a, &s), 0);
	assert_string_equal(s.p, "us\"er");
	assert_int_equal(imapd_args_sp(&a), 0);
	assert_int_equal(imapd_args_astring(&a, &s), 0);
	assert_int_equal(s.len, 4);
	assert_memory_equal(s.p, "p\0ss", 4);
	assert_int_equal(imapd_args_sp(&a), 0);
	assert_int_equal(imapd_args_nstring(&a, &s), 0);
	assert_null(s.p);
	assert_int_equal(imapd_args_sp(&a), 0);
	assert_int_equal(imapd_args_astring(&a, &s), 0);
	assert_string_equal(s.p, "atom]");
	assert_int_equal(imapd_args_sp(&a), 0);
	assert_int_equal(imapd_args_open(&a), 0);
	assert_int_equal(imapd_args_atom(&a, &s), 0);
	assert_int_equal(imapd_args_sp(&a), 0);
	assert_int_equal(imapd_args_open(&a), 0);
	assert_int_equal(imapd_args_atom(&a, &s), 0);
	assert_int_equal(imapd_args_close(&a), 0);
	assert_int_equal(imapd_args_close(&a), 0);
	uint32_t n;
	assert_int_equal(imapd_args_sp(&a), 0);
	assert_int_equal(imapd_args_number(&a, &n), 0);
	assert_int_equal(n, 42);
	assert_int_equal(imapd_args_sp(&a), 0);
	assert_int_equal(imapd_args_nz_number(&a, &n), -1);
	assert_non_null(a.err);
}

static void args_errors(void **state)
{
	(void)state;
	static const struct {
		const char *cmd;
		int what; /* 0 astring, 1 nesting, 2 number, 3 tag */
	} cases[] = {
	        {"\"unterminated", 0}, {"\"bad\\escape\"", 0},
	        {"{5}\r\nabc", 0}, /* literal shorter than announced */
	        {"{5}abcde", 0},   /* no CRLF after the header */
	        {"{}\r\n", 0},         {"(((", 1},
	        {"99999999999", 2},    {"x", 2},
	        {"+tag", 3},           {"", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imapd_args a;
		struct imapd_str s;
		uint32_t n;
		imapd_args_init(&a, cases[i].cmd, strlen(cases[i].cmd), A, 2);
		int rc = 0;
		switch (cases[i].what) {
		case 0:
			rc = imapd_args_astring(&a, &s);
			break;
		case 1:
			rc = imapd_args_open(&a) | imapd_args_open(&a) |
			     imapd_args_open(&a);
			break;
		case 2:
			rc = imapd_args_number(&a, &n);
			break;
		case 3:
			rc = imapd_args_tag(&a, &s);
			break;
		}
		if (rc != -1 || !a.err)
			fail_msg("case %zu (%s): accepted", i, cases[i].cmd);
	}
}

static void seqset_parse(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		uint32_t star;
		const char *want; /* normal form, or NULL: syntax error */
	} cases[] = {
	        {"1", 10, "1"},
	        {"1:3,2:5,9", 10, "1:5,9"},
	        {"5:2", 10, "2:5"},
	        {"*", 10, "10"},
	        {"3:*", 10, "3:10"},
	        {"*:3", 10, "3:10"},
	        {"20:*", 10, "10:20"},
	        {"1:*", 0, ""},
	        {"1:*,3", 0, "3"},
	        {"*", 0, ""},
	        {"4,3,2,1", 10, "1:4"},
	        {"4294967295", 10, "4294967295"},
	        {"1:4294967295,7", 10, "1:4294967295"},
	        {"0", 10, NULL},
	        {"1,", 10, NULL},
	        {",1", 10, NULL},
	        {"1::2", 10, NULL},
	        {"a", 10, NULL},
	        {"4294967296", 10, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imapd_args a;
		struct imapd_seqset set, norm;
		imapd_args_init(&a, cases[i].in, strlen(cases[i].in), A, 8);
		int rc = imapd_args_seqset(&a, &set);
		if (rc == 0 && !imapd_args_end(&a))
			rc = -1;
		if (!cases[i].want) {
			if (rc == 0)
				fail_msg("case %zu (%s): accepted", i,
				         cases[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu (%s): %s", i, cases[i].in, a.err);
		imapd_seqset_resolve(&set, cases[i].star, A, &norm);
		struct buf b;
		buf_init(&b, 0);
		imapd_seqset_format(&norm, &b);
		if (strcmp(buf_cstr(&b), cases[i].want) != 0)
			fail_msg("case %zu (%s): got %s, want %s", i,
			         cases[i].in, buf_cstr(&b), cases[i].want);
		buf_deinit(&b);
	}
}

static void seqset_members(void **state)
{
	(void)state;
	struct imapd_args a;
	struct imapd_seqset set, norm;
	const char *in = "2:4,8,10:*";
	imapd_args_init(&a, in, strlen(in), A, 8);
	assert_int_equal(imapd_args_seqset(&a, &set), 0);
	imapd_seqset_resolve(&set, 12, A, &norm);
	const bool want[14] = {0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0};
	for (uint32_t v = 0; v < 14; v++)
		assert_int_equal(imapd_seqset_has(&norm, v), want[v]);
	assert_int_equal(imapd_seqset_count(&norm), 7);
	assert_int_equal(imapd_seqset_max(&norm), 12);
	const uint32_t list[] = {3, 4, 5, 9, 7, 8, 4294967295u};
	struct buf b;
	buf_init(&b, 0);
	imapd_seqset_format_list(list, 7, &b);
	assert_string_equal(buf_cstr(&b), "3:5,9,7:8,4294967295");
	buf_deinit(&b);
}

static void fetch_items(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *want; /* rnames/kinds joined, NULL: error */
	} cases[] = {
	        {"FAST", "0 1 2"},
	        {"ALL", "0 1 2 3"},
	        {"FULL", "0 1 2 3 4"},
	        {"(UID FLAGS)", "6 0"},
	        {"BODY[]", "BODY[]"},
	        {"body.peek[1.2.mime]<0.100>", "BODY[1.2.MIME]"},
	        {"(BODY.PEEK[HEADER.FIELDS (From \"To\")] RFC822.SIZE)",
	         "BODY[HEADER.FIELDS (From To)] 2"},
	        {"BODY[TEXT]<5.10>", "BODY[TEXT]"},
	        {"RFC822.HEADER", "RFC822.HEADER"},
	        {"(RFC822 RFC822.TEXT)", "RFC822 RFC822.TEXT"},
	        {"BODYSTRUCTURE", "5"},
	        {"BODY[0]", NULL},
	        {"BODY[1.TEXT.x]", NULL},
	        {"BODY[HEADER.FIELDS]", NULL},
	        {"BODY[HEADER.FIELDS ()]", NULL},
	        {"BODY[]<1>", NULL},
	        {"BODY[]<1.0>", NULL},
	        {"BOGUS", NULL},
	        {"(FLAGS", NULL},
	        {"BODY.PEEK", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imapd_args a;
		struct imapd_fetch f;
		imapd_args_init(&a, cases[i].in, strlen(cases[i].in), A, 8);
		int rc = imapd_fetch_parse(&a, &f);
		if (rc == 0 && !imapd_args_end(&a))
			rc = -1;
		if (!cases[i].want) {
			if (rc == 0)
				fail_msg("case %zu (%s): accepted", i,
				         cases[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu (%s): %s", i, cases[i].in, a.err);
		struct buf b;
		buf_init(&b, 0);
		for (size_t k = 0; k < f.n; k++) {
			if (f.items[k].kind == IMAPD_FI_SECTION)
				buf_printf(&b, "%s%s", k ? " " : "",
				           f.items[k].rname);
			else
				buf_printf(&b, "%s%d", k ? " " : "",
				           (int)f.items[k].kind);
		}
		if (strcmp(buf_cstr(&b), cases[i].want) != 0)
			fail_msg("case %zu (%s): got %s, want %s", i,
			         cases[i].in, buf_cstr(&b), cases[i].want);
		buf_deinit(&b);
	}
}

static int setup(void **state)
{
	(void)state;
	A = arena_new();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(&A);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(reader_cases),
	        cmocka_unit_test(reader_total_literals),
	        cmocka_unit_test(args_tokens),
	        cmocka_unit_test(args_errors),
	        cmocka_unit_test(seqset_parse),
	        cmocka_unit_test(seqset_members),
	        cmocka_unit_test(fetch_items),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
