/* SPDX-License-Identifier: MIT */
/*
 * test_maincf.c - main.cf syntax, bounds with file:line, and the editor
 *
 * Parse cases are a table of (text, entries or exact error). Editor cases
 * compare against golden files in tests/unit/data/maincf/ (the test runs
 * from the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cfgtest.h"
#include "common/buf.h"
#include "common/maincf.h"

#define DATA "tests/unit/data/maincf/"

/* "name=value@line;..." for cf. */
static char *dump(const struct maincf *cf)
{
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < cf->n; i++)
		(void)buf_printf(&b, "%s%s=%s@%d", i ? ";" : "", cf->v[i].name,
				 cf->v[i].value, cf->v[i].line);
	return buf_take(&b);
}

static const struct {
	const char *text;
	const char *want; /* entries, or NULL when err is expected */
	const char *err;
} parse_cases[] = {
	{"a = b\n", "a=b@1", NULL},
	{"a=b", "a=b@1", NULL},
	{"a =\n", "a=@1", NULL},
	{"a\t=\t  spaced  value  \n", "a=spaced  value@1", NULL},
	{"a = b,\n  c\n\td\n", "a=b, c d@1", NULL},
	{"a = b\n# x\n\n  c\nz = 1\n", "a=b c@1;z=1@5", NULL},
	{"  # indented comment\na = 1", "a=1@2", NULL},
	{"a = b\r\n c\r\nd = e\r\n", "a=b c@1;d=e@3", NULL},
	{"a = x=y # not a comment\n", "a=x=y # not a comment@1", NULL},
	{"a = 1\na = 2\n", "a=1@1;a=2@2", NULL},
	{"", "", NULL},
	{"\n\n# only comments\n   \n", "", NULL},
	{"Smtp_tls_CAfile = /x\n", "Smtp_tls_CAfile=/x@1", NULL},
	{"v = inline:{ a=b,\n    c=d }\n", "v=inline:{ a=b, c=d }@1", NULL},
	{"a b\n", NULL, "t.cf:1: missing '=' after parameter name \"a\""},
	{"x = 1\nfoo-bar = 2\n", NULL,
	 "t.cf:2: bad parameter name \"foo-bar\""},
	{"  c = 1\n", NULL,
	 "t.cf:1: continuation line without an entry before it"},
	{"# c\n\n = 3\n", NULL,
	 "t.cf:3: continuation line without an entry before it"},
	{"= 3\n", NULL, "t.cf:1: bad parameter name \"\""},
	{"a = 1\nb = x\0y\n", NULL, "t.cf:2: NUL byte in line"},
	{"a = 1\nb = x\n  y\0\n", NULL, "t.cf:3: NUL byte in line"},
};

static void parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		struct maincf cf;
		struct err e = {""};
		const char *t = parse_cases[i].text;
		/* Texts with an embedded NUL: measure to the last '\n'. */
		size_t len = strlen(t);
		if (parse_cases[i].err && strstr(parse_cases[i].err, "NUL"))
			len += strlen(t + len + 1) + 1;
		int r = maincf_parse("t.cf", t, len, &cf, &e);
		if (parse_cases[i].want) {
			if (r != 0)
				fail_msg("case %zu: got error %s", i, e.msg);
			char *got = dump(&cf);
			if (strcmp(got, parse_cases[i].want) != 0)
				fail_msg("case %zu: got %s, want %s", i, got,
					 parse_cases[i].want);
			free(got);
		} else {
			if (r != -1 || strcmp(e.msg, parse_cases[i].err) != 0)
				fail_msg("case %zu: got %d \"%s\", want \"%s\"",
					 i, r, e.msg, parse_cases[i].err);
			assert_int_equal(cf.n, 0);
		}
		maincf_free(&cf);
	}
}

static void get_last_and_lines(void **state)
{
	(void)state;
	struct maincf cf;
	struct err e;
	const char *t = "a = 1\nb = x,\n   y\n# c\n   z\na = 2\n";
	assert_int_equal(maincf_parse("t.cf", t, strlen(t), &cf, &e), 0);
	const struct maincf_entry *en = maincf_get(&cf, "a");
	assert_non_null(en);
	assert_string_equal(en->value, "2");
	assert_int_equal(en->line, 6);
	en = maincf_get(&cf, "b");
	assert_int_equal(en->line, 2);
	assert_int_equal(en->last_line, 5);
	assert_string_equal(en->value, "x, y z");
	assert_null(maincf_get(&cf, "c"));
	assert_string_equal(cf.path, "t.cf");
	maincf_free(&cf);
	maincf_free(&cf); /* an emptied cf may be freed again */
}

static void collect_mode_reports_every_line(void **state)
{
	(void)state;
	struct maincf cf;
	struct err e;
	struct cfgtest_collected c = {.n = 0};
	const char *t = "a = 1\nbroken\n  x = y\nb = 2\nbad name = 3\nc=3";
	int r = maincf_parse_all("t.cf", t, strlen(t), &cf, cfgtest_collect,
				 &c, &e);
	assert_int_equal(r, 2);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.lines[0],
			    "t.cf:2: missing '=' after parameter name "
			    "\"broken\"");
	assert_string_equal(c.lines[1], "t.cf:5: missing '=' after parameter "
					"name \"bad\"");
	char *got = dump(&cf);
	assert_string_equal(got, "a=1@1;b=2@4;c=3@6");
	free(got);
	maincf_free(&cf);
}

static void overlong_logical_line(void **state)
{
	(void)state;
	struct buf t;
	struct maincf cf;
	struct err e;
	struct cfgtest_collected c = {.n = 0};

	buf_init(&t, 0);
	/* 70,000 bytes in one physical line. */
	(void)buf_append_str(&t, "a = 1\nlong = ");
	for (int i = 0; i < 70000; i++)
		(void)buf_append_char(&t, 'x');
	(void)buf_append_str(&t, "\nb = 2\n");
	assert_int_equal(maincf_parse("t.cf", t.data, t.len, &cf, &e), -1);
	assert_string_equal(e.msg,
			    "t.cf:2: logical line longer than 65536 bytes");
	/* The same bytes spread over 1,000 continuation lines; the next
	 * entry is still read in collecting mode. */
	buf_reset(&t);
	(void)buf_append_str(&t, "# head\nlong = x\n");
	for (int i = 0; i < 1000; i++)
		(void)buf_printf(&t, "  %070d\n", i);
	(void)buf_append_str(&t, "b = 2\n");
	assert_int_equal(
		maincf_parse_all("t.cf", t.data, t.len, &cf, cfgtest_collect,
				 &c, &e),
		1);
	assert_string_equal(c.lines[0],
			    "t.cf:2: logical line longer than 65536 bytes");
	char *got = dump(&cf);
	assert_string_equal(got, "b=2@1003");
	free(got);
	maincf_free(&cf);
	/* Exactly at the limit is fine. */
	buf_reset(&t);
	(void)buf_append_str(&t, "a = ");
	for (int i = 0; i < MAINCF_LINE_MAX - 4; i++)
		(void)buf_append_char(&t, 'y');
	assert_int_equal(maincf_parse("t.cf", t.data, t.len, &cf, &e), 0);
	assert_int_equal(strlen(cf.v[0].value), MAINCF_LINE_MAX - 4);
	maincf_free(&cf);
	buf_deinit(&t);
}

static void too_many_entries_and_too_large(void **state)
{
	(void)state;
	struct buf t;
	struct maincf cf;
	struct err e;
	struct cfgtest_collected c = {.n = 0};

	buf_init(&t, 0);
	for (int i = 0; i <= MAINCF_ENTRIES_MAX; i++)
		(void)buf_printf(&t, "p%d = %d\n", i, i);
	assert_int_equal(maincf_parse("t.cf", t.data, t.len, &cf, &e), -1);
	assert_string_equal(e.msg, "t.cf:10001: more than 10000 entries");
	/* A bound stops even the collecting reader. */
	assert_int_equal(
		maincf_parse_all("t.cf", t.data, t.len, &cf, cfgtest_collect,
				 &c, &e),
		-1);
	assert_int_equal(c.n, 0);
	maincf_free(&cf);

	buf_reset(&t);
	while (t.len <= MAINCF_FILE_MAX)
		(void)buf_append_str(&t, "# 0123456789012345678901234567890\n");
	assert_int_equal(maincf_parse("t.cf", t.data, t.len, &cf, &e), -1);
	char want[128];
	(void)snprintf(want, sizeof(want),
		       "t.cf:%d: file longer than 4194304 bytes",
		       MAINCF_FILE_MAX / 34 + 1);
	assert_string_equal(e.msg, want);
	buf_deinit(&t);
}

static void every_prefix_parses_or_fails_cleanly(void **state)
{
	(void)state;
	size_t len = 0;
	char *t = cfgtest_read(DATA "edit_in.cf", &len);
	assert_non_null(t);
	for (size_t n = 0; n <= len; n++) {
		struct maincf cf;
		struct err e;
		struct cfgtest_collected c = {.n = 0};
		int r = maincf_parse_all("t.cf", t, n, &cf, cfgtest_collect,
					 &c, &e);
		assert_true(r >= 0);
		assert_int_equal(r, c.n);
		for (size_t i = 0; i < cf.n; i++)
			assert_true(cf.v[i].line <= cf.v[i].last_line);
		maincf_free(&cf);
	}
	free(t);
}

static void read_missing_file(void **state)
{
	(void)state;
	struct maincf cf;
	struct err e;
	assert_int_equal(maincf_read("/nonexistent/main.cf", &cf, &e), -1);
	assert_string_equal(e.msg, "open /nonexistent/main.cf: No such file "
				   "or directory");
	maincf_free(&cf);
}

/* ---- editing -------------------------------------------------------- */

static const struct {
	const char *name;
	const char *value;
	const char *golden;
} edit_cases[] = {
	{"relayhost", "[mx.example.test]:587", "set_relayhost.cf"},
	{"mynetworks", "10.1.0.0/16", "set_mynetworks.cf"},
	{"mynetworks", NULL, "remove_mynetworks.cf"},
	{"message_size_limit", "20m", "append.cf"},
	{"smtpd_banner", NULL, "remove_last.cf"},
	{"not_there", NULL, "edit_in.cf"},
};

static void edit_golden(void **state)
{
	(void)state;
	char *in = cfgtest_read(DATA "edit_in.cf", NULL);
	assert_non_null(in);
	for (size_t i = 0; i < sizeof(edit_cases) / sizeof(edit_cases[0]);
	     i++) {
		char *dir = cfgtest_tmpdir();
		char *path = NULL;
		struct err e;
		struct stat st;
		assert_true(asprintf(&path, "%s/main.cf", dir) > 0);
		cfgtest_puts(dir, "main.cf", in);
		assert_int_equal(chmod(path, 0600), 0);
		if (maincf_edit(path, edit_cases[i].name, edit_cases[i].value,
				&e) != 0)
			fail_msg("case %zu: %s", i, e.msg);
		char *got = cfgtest_read(path, NULL);
		char *gold = NULL;
		assert_true(asprintf(&gold, DATA "%s", edit_cases[i].golden) >
			    0);
		char *want = cfgtest_read(gold, NULL);
		assert_non_null(want);
		if (strcmp(got, want) != 0)
			fail_msg("case %zu (%s): got\n%s\nwant\n%s", i,
				 edit_cases[i].golden, got, want);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		free(got);
		free(want);
		free(gold);
		free(path);
		cfgtest_rmrf(dir);
	}
	free(in);
}

static void edit_edge_cases(void **state)
{
	(void)state;
	char *dir = cfgtest_tmpdir();
	char *path = NULL;
	struct err e;
	struct stat st;
	assert_true(asprintf(&path, "%s/main.cf", dir) > 0);

	/* A missing file is created. */
	assert_int_equal(maincf_edit(path, "a", "1", &e), 0);
	char *got = cfgtest_read(path, NULL);
	assert_string_equal(got, "a = 1\n");
	free(got);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	/* No final newline, CRLF lines kept byte for byte. */
	cfgtest_puts(dir, "main.cf", "# c\r\nx = 1\r\ny = 2");
	assert_int_equal(maincf_edit(path, "z", "3", &e), 0);
	got = cfgtest_read(path, NULL);
	assert_string_equal(got, "# c\r\nx = 1\r\ny = 2\nz = 3\n");
	free(got);

	/* Duplicates: the last is replaced, earlier ones go. */
	cfgtest_puts(dir, "main.cf", "a = 1\nb = 2\na = 3\nc = 4\n");
	assert_int_equal(maincf_edit(path, "a", "9", &e), 0);
	got = cfgtest_read(path, NULL);
	assert_string_equal(got, "b = 2\na = 9\nc = 4\n");
	free(got);

	/* Bad lines are kept as they are. */
	cfgtest_puts(dir, "main.cf", "  orphan\nbroken\na = 1\n");
	assert_int_equal(maincf_edit(path, "a", "2", &e), 0);
	got = cfgtest_read(path, NULL);
	assert_string_equal(got, "  orphan\nbroken\na = 2\n");
	free(got);

	/* A prefix of a name is another name. */
	cfgtest_puts(dir, "main.cf", "ab = 1\na=2\n");
	assert_int_equal(maincf_edit(path, "a", NULL, &e), 0);
	got = cfgtest_read(path, NULL);
	assert_string_equal(got, "ab = 1\n");
	free(got);

	/* Refused: a line break would inject entries; a bad name. */
	assert_int_equal(maincf_edit(path, "a", "1\nrelayhost = evil", &e),
			 -1);
	assert_int_equal(maincf_edit(path, "a b", "1", &e), -1);
	assert_string_equal(e.msg, "bad parameter name \"a b\"");
	assert_int_equal(maincf_edit("/nonexistent/dir/main.cf", "a", "1", &e),
			 -1);
	got = cfgtest_read(path, NULL);
	assert_string_equal(got, "ab = 1\n");
	free(got);
	free(path);
	cfgtest_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_table),
		cmocka_unit_test(get_last_and_lines),
		cmocka_unit_test(collect_mode_reports_every_line),
		cmocka_unit_test(overlong_logical_line),
		cmocka_unit_test(too_many_entries_and_too_large),
		cmocka_unit_test(every_prefix_parses_or_fails_cleanly),
		cmocka_unit_test(read_missing_file),
		cmocka_unit_test(edit_golden),
		cmocka_unit_test(edit_edge_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
