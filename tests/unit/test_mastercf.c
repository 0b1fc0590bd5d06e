/* SPDX-License-Identifier: MIT */
/*
 * test_mastercf.c - master.cf columns, inet addresses, -o forms, errors
 *
 * Good lines are checked through a one-line dump of the parsed service;
 * bad ones by their exact "file:line: reason" message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cfgtest.h"
#include "common/buf.h"
#include "common/mastercf.h"

/* name|type|priv unpriv chroot|wakeup|maxproc|command|args|overrides|
 * host|port@line */
static char *dump(const struct mastercf_service *s)
{
	struct buf b;
	buf_init(&b, 0);
	(void)buf_printf(&b, "%s|%s|%c%c%c|%d|%d|%s|", s->name, s->type,
			 s->private_ ? 'y' : 'n', s->unpriv ? 'y' : 'n',
			 s->chroot ? 'y' : 'n', s->wakeup, s->maxproc,
			 s->command);
	for (size_t i = 0; i < s->args.n; i++)
		(void)buf_printf(&b, "%s%s", i ? "," : "", s->args.v[i]);
	(void)buf_append_char(&b, '|');
	for (size_t i = 0; i < s->overrides.n; i++)
		(void)buf_printf(&b, "%s%s", i ? "," : "", s->overrides.v[i]);
	if (s->port)
		(void)buf_printf(&b, "|%s|%s", s->host, s->port);
	(void)buf_printf(&b, "@%d", s->line);
	return buf_take(&b);
}

static const struct {
	const char *text;
	const char *want;
} good[] = {
	{"smtp inet n - n - - smtpd", "smtp|inet|nyn|0|0|smtpd||||25@1"},
	{"2525 inet n - n - - smtpd", "2525|inet|nyn|0|0|smtpd||||2525@1"},
	{"127.0.0.1:2525 inet n - n - - smtpd",
	 "127.0.0.1:2525|inet|nyn|0|0|smtpd|||127.0.0.1|2525@1"},
	{"[::1]:2525 inet n - n - - smtpd",
	 "[::1]:2525|inet|nyn|0|0|smtpd|||::1|2525@1"},
	{"*:submission inet n - n - - smtpd",
	 "*:submission|inet|nyn|0|0|smtpd||||587@1"},
	{"localhost:smtp inet n - n - - smtpd",
	 "localhost:smtp|inet|nyn|0|0|smtpd|||localhost|25@1"},
	{"qmgr unix n - n 300 1 qmgr", "qmgr|unix|nyn|300|1|qmgr||@1"},
	{"local unix - n y - 10 local", "local|unix|yny|0|10|local||@1"},
	{"x unix - - - - - echod -v arg", "x|unix|yyn|0|0|echod|-v,arg|@1"},
	{"submission inet n - n - - smtpd -o a=b -oc=d -o\n  e=f g",
	 "submission|inet|nyn|0|0|smtpd|g|a=b,c=d,e=f||587@1"},
	{"s unix - - n - - smtpd -o { a = b c } -o x= -o u=v=w",
	 "s|unix|yyn|0|0|smtpd||a=b c,x=,u=v=w@1"},
	{"s unix - - n - - smtpd -o r=inline:{a=b,c=d}",
	 "s|unix|yyn|0|0|smtpd||r=inline:{a=b,c=d}@1"},
	{"# comment\n\n  # indented\ns\n unix - - n\n# mid\n - - smtpd\n",
	 "s|unix|yyn|0|0|smtpd||@4"},
	{"s\tunix\t-\t-\tn\t-\t100000\tsmtpd\r\n",
	 "s|unix|yyn|0|100000|smtpd||@1"},
};

static void parse_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct mastercf cf;
		struct err e;
		if (mastercf_parse("m.cf", good[i].text, strlen(good[i].text),
				   &cf, &e) != 0)
			fail_msg("case %zu: %s", i, e.msg);
		assert_int_equal(cf.n, 1);
		char *got = dump(&cf.v[0]);
		if (strcmp(got, good[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got,
				 good[i].want);
		free(got);
		mastercf_free(&cf);
	}
}

#define L1 "smtp inet n - n - - smtpd\n"
static const struct {
	const char *text;
	const char *err;
} bad[] = {
	{"x unix - -", "m.cf:1: want at least 8 columns (service type "
		       "private unpriv chroot wakeup maxproc command), got 4"},
	{L1 "x fifo - - n - - smtpd",
	 "m.cf:2: unknown service type \"fifo\": want inet or unix"},
	{"x unix q - n - - smtpd",
	 "m.cf:1: private column must be y, n or -, not \"q\""},
	{"x unix - yes n - - smtpd",
	 "m.cf:1: unpriv column must be y, n or -, not \"yes\""},
	{"x unix - - N - - smtpd",
	 "m.cf:1: chroot column must be y, n or -, not \"N\""},
	{"x unix - - n -1 - smtpd",
	 "m.cf:1: wakeup must be a number from 0 to 86400 or -, not \"-1\""},
	{"x unix - - n - abc smtpd", "m.cf:1: maxproc must be a number from "
				     "1 to 100000 or -, not \"abc\""},
	{"x unix - - n - 0 smtpd", "m.cf:1: maxproc must be a number from 1 "
				   "to 100000 or -, not \"0\""},
	{"x unix - - n - 100001 smtpd",
	 "m.cf:1: maxproc must be a number from 1 to 100000 or -, not "
	 "\"100001\""},
	{L1 "# c\nsmtp inet n - n - - smtpd",
	 "m.cf:3: duplicate service smtp/inet (first at line 1)"},
	{L1 "25 inet n - n - - smtpd",
	 "m.cf:2: duplicate service 25/inet (first at line 1)"},
	{"q unix - - n - - qmgr\nq unix - - n - - qmgr",
	 "m.cf:2: duplicate service q/unix (first at line 1)"},
	{"[::1]2525 inet n - n - - smtpd",
	 "m.cf:1: bad service address \"[::1]2525\": want [address]:port"},
	{"[x]:25 inet n - n - - smtpd",
	 "m.cf:1: bad IPv6 address in \"[x]:25\""},
	{"::1:25 inet n - n - - smtpd",
	 "m.cf:1: IPv6 address in \"::1:25\" must be in brackets"},
	{"99999 inet n - n - - smtpd", "m.cf:1: bad port \"99999\""},
	{"0 inet n - n - - smtpd", "m.cf:1: bad port \"0\""},
	{"h:nosuchservice inet n - n - - smtpd",
	 "m.cf:1: unknown service name \"nosuchservice\""},
	{"a/b:25 inet n - n - - smtpd",
	 "m.cf:1: bad host in service address \"a/b:25\""},
	{"../x unix - - n - - smtpd", "m.cf:1: bad unix service name \"../x\""},
	{"x unix - - n - - /usr/bin/x",
	 "m.cf:1: bad command \"/usr/bin/x\": want a program name in "
	 "daemon_directory"},
	{"x unix - - n - - smtpd -o", "m.cf:1: -o without name=value"},
	{"x unix - - n - - smtpd -o novalue",
	 "m.cf:1: bad -o argument \"novalue\": want name=value"},
	{"x unix - - n - - smtpd -o=x",
	 "m.cf:1: bad -o argument \"=x\": want name=value"},
	{"x unix - - n - - smtpd -o {a=b",
	 "m.cf:1: missing '}' in \"{a=b\""},
	{"  x unix - - n - - smtpd",
	 "m.cf:1: continuation line without an entry before it"},
};

static void parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mastercf cf;
		struct err e = {""};
		int r = mastercf_parse("m.cf", bad[i].text, strlen(bad[i].text),
				       &cf, &e);
		if (r != -1 || strcmp(e.msg, bad[i].err) != 0)
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r,
				 e.msg, bad[i].err);
		assert_int_equal(cf.n, 0);
		mastercf_free(&cf);
	}
}

static void collect_every_problem(void **state)
{
	(void)state;
	struct mastercf cf;
	struct err e;
	struct cfgtest_collected c = {.n = 0};
	const char *t = "a unix - - n - - x\n"
			"b unix\n"
			"a unix - - n - - y\n"
			"c unix - - n - - z\n"
			"  -o\n"
			"d unix - - n - - w\n";
	assert_int_equal(
		mastercf_parse_all("m.cf", t, strlen(t), &cf, cfgtest_collect,
				   &c, &e),
		3);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.lines[0],
			    "m.cf:2: want at least 8 columns (service type "
			    "private unpriv chroot wakeup maxproc command), "
			    "got 2");
	assert_string_equal(c.lines[1],
			    "m.cf:3: duplicate service a/unix (first at line "
			    "1)");
	assert_string_equal(c.lines[2], "m.cf:4: -o without name=value");
	assert_int_equal(cf.n, 2);
	assert_string_equal(cf.v[0].name, "a");
	assert_string_equal(cf.v[1].name, "d");
	assert_int_equal(cf.v[1].line, 6);
	mastercf_free(&cf);
}

static void bounds(void **state)
{
	(void)state;
	struct buf t;
	struct mastercf cf;
	struct err e;
	buf_init(&t, 0);
	for (int i = 0; i <= MASTERCF_SERVICES_MAX; i++)
		(void)buf_printf(&t, "s%d unix - - n - - x\n", i);
	assert_int_equal(mastercf_parse("m.cf", t.data, t.len, &cf, &e), -1);
	assert_string_equal(e.msg, "m.cf:257: more than 256 services");
	mastercf_free(&cf);
	buf_reset(&t);
	(void)buf_append_str(&t, "s unix - - n - - x");
	while (t.len < 70000)
		(void)buf_append_str(&t, " -o a=b");
	assert_int_equal(mastercf_parse("m.cf", t.data, t.len, &cf, &e), -1);
	assert_string_equal(e.msg,
			    "m.cf:1: logical line longer than 65536 bytes");
	buf_deinit(&t);
	assert_int_equal(mastercf_read("/nonexistent/master.cf", &cf, &e), -1);
	assert_string_equal(e.msg, "open /nonexistent/master.cf: No such "
				   "file or directory");
	mastercf_free(&cf);
}

static void service_same(void **state)
{
	(void)state;
	static const char *const pairs[][2] = {
		{"s unix - - n - - x -o a=b", "s   unix - -  n - - x\n -oa=b"},
		{"smtp inet n - n - - smtpd", "smtp inet n - n - - smtpd"},
	};
	static const char *const diff[][2] = {
		{"s unix - - n - - x -o a=b", "s unix - - n - - x -o a=c"},
		{"s unix - - n - - x", "s unix - - n - 5 x"},
		{"s unix - - n - - x", "s unix - - y - - x"},
		{"s unix - - n - - x", "s unix - - n - - x -v"},
		{"smtp inet n - n - - smtpd", "1.2.3.4:smtp inet n - n - - "
					      "smtpd"},
	};
	for (int same = 1; same >= 0; same--) {
		size_t n = same ? 2 : 5;
		for (size_t i = 0; i < n; i++) {
			const char *a = same ? pairs[i][0] : diff[i][0];
			const char *b = same ? pairs[i][1] : diff[i][1];
			struct mastercf x, y;
			struct err e;
			assert_int_equal(
				mastercf_parse("a", a, strlen(a), &x, &e), 0);
			assert_int_equal(
				mastercf_parse("b", b, strlen(b), &y, &e), 0);
			if (mastercf_service_same(&x.v[0], &y.v[0]) != same)
				fail_msg("\"%s\" vs \"%s\": want same=%d", a,
					 b, same);
			mastercf_free(&x);
			mastercf_free(&y);
		}
	}
}

static void read_file(void **state)
{
	(void)state;
	char *dir = cfgtest_tmpdir();
	char *path = NULL;
	struct mastercf cf;
	struct err e;
	assert_true(asprintf(&path, "%s/master.cf", dir) > 0);
	cfgtest_puts(dir, "master.cf",
		     "# service type private unpriv chroot wakeup maxproc "
		     "command\n"
		     "2525 inet n - n - - smtpd\n"
		     "qmgr unix n - n 300 1 qmgr\n");
	assert_int_equal(mastercf_read(path, &cf, &e), 0);
	assert_int_equal(cf.n, 2);
	assert_string_equal(cf.path, path);
	assert_int_equal(cf.v[1].line, 3);
	mastercf_free(&cf);
	free(path);
	cfgtest_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_good),
		cmocka_unit_test(parse_bad),
		cmocka_unit_test(collect_every_problem),
		cmocka_unit_test(bounds),
		cmocka_unit_test(service_same),
		cmocka_unit_test(read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
