/* SPDX-License-Identifier: MIT */
/*
 * test_posthorn_config.c - `posthorn config` and `posthorn check`
 *
 * Each case runs the subcommand function on a temp instance directory with
 * stdout and stderr captured, and compares exit status and output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pwd.h>

#include "cfgtest.h"
#include "common/params.h"
#include "tools/posthorn_cmd.h"

static int run_config(void *ctx, int argc, char **argv)
{
	return cmd_config(ctx, argc, argv);
}

static int run_check(void *ctx, int argc, char **argv)
{
	return cmd_check(ctx, argc, argv);
}

/* Runs "config ARGS..." (NULL-terminated) in dir. */
static int config(const char *dir, char **out, char **err, ...)
{
	char *argv[16] = {"config"};
	int argc = 1;
	va_list ap;
	va_start(ap, err);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
		argv[argc++] = (char *)a;
	va_end(ap);
	struct posthorn_ctx ctx = {dir, 0};
	int r = cfgtest_capture(run_config, &ctx, argc, argv, out, err);
	params_unload();
	return r;
}

#define MAIN_CF                                                               \
	"# instance\n"                                                        \
	"myhostname = mail.example.test\n"                                    \
	"smtpd_recipient_limit = 50\n"                                        \
	"myvar = hello\n"                                                     \
	"smtpd_banner = $myhostname $myvar\n"

static void config_show(void **state)
{
	(void)state;
	char *dir = cfgtest_tmpdir(), *out, *err;
	cfgtest_puts(dir, "main.cf", MAIN_CF);

	assert_int_equal(config(dir, &out, &err, NULL), 0);
	assert_string_equal(err, "");
	size_t lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, param_count);
	assert_non_null(strstr(out, "\nsmtpd_recipient_limit = 50\n"));
	assert_non_null(strstr(out, "\nrelayhost =\n"));
	assert_true(strncmp(out, "account_database = ", 19) == 0);
	free(out);
	free(err);

	assert_int_equal(config(dir, &out, &err, "-n", NULL), 0);
	assert_string_equal(out, "myhostname = mail.example.test\n"
				 "myvar = hello\n"
				 "smtpd_banner = $myhostname $myvar\n"
				 "smtpd_recipient_limit = 50\n");
	free(out);
	free(err);

	assert_int_equal(config(dir, &out, &err, "-nx", "smtpd_banner",
				"relayhost", NULL),
			 0);
	assert_string_equal(out, "smtpd_banner = mail.example.test hello\n");
	free(out);
	free(err);

	assert_int_equal(config(dir, &out, &err, "-d", "smtpd_recipient_limit",
				"smtpd_banner", NULL),
			 0);
	assert_string_equal(out, "smtpd_recipient_limit = 1000\n"
				 "smtpd_banner = $myhostname ESMTP "
				 "$mail_name\n");
	free(out);
	free(err);

	assert_int_equal(config(dir, &out, &err, "-x", "smtpd_proxy_ehlo",
				"bogus", "myvar", NULL),
			 1);
	assert_string_equal(out, "smtpd_proxy_ehlo = mail.example.test\n"
				 "myvar = hello\n");
	assert_non_null(strstr(err, "error: unknown parameter bogus"));
	free(out);
	free(err);
	cfgtest_rmrf(dir);
}

static void config_show_problems(void **state)
{
	(void)state;
	char *dir = cfgtest_tmpdir(), *out, *err;
	/* A missing main.cf. */
	assert_int_equal(config(dir, &out, &err, NULL), 1);
	assert_string_equal(out, "");
	assert_non_null(strstr(err, "No such file or directory"));
	free(out);
	free(err);
	/* -d needs no main.cf. */
	assert_int_equal(config(dir, &out, &err, "-d", "max_use", NULL), 0);
	assert_string_equal(out, "max_use = 100\n");
	free(out);
	free(err);
	/* A bad value: still shown, problems on stderr, status 1. */
	cfgtest_puts(dir, "main.cf", "max_use = lots\nfoo = 1\n");
	assert_int_equal(config(dir, &out, &err, "max_use", NULL), 1);
	assert_string_equal(out, "max_use = lots\n");
	assert_non_null(strstr(err, "/main.cf:1: bad value for max_use"));
	assert_non_null(strstr(err, "/main.cf:2: unknown parameter foo"));
	free(out);
	free(err);
	cfgtest_rmrf(dir);
}

static void config_edit(void **state)
{
	(void)state;
	char *dir = cfgtest_tmpdir(), *out, *err, *path = NULL;
	assert_true(asprintf(&path, "%s/main.cf", dir) > 0);
	cfgtest_puts(dir, "main.cf", MAIN_CF);

	assert_int_equal(config(dir, &out, &err, "smtpd_recipient_limit=70",
				"relayhost = [mx.example.test]:587", NULL),
			 0);
	free(out);
	free(err);
	char *got = cfgtest_read(path, NULL);
	assert_string_equal(got, "# instance\n"
				 "myhostname = mail.example.test\n"
				 "smtpd_recipient_limit = 70\n"
				 "myvar = hello\n"
				 "smtpd_banner = $myhostname $myvar\n"
				 "relayhost = [mx.example.test]:587\n");
	free(got);

	/* A bad literal value: nothing is written, not even the good one. */
	assert_int_equal(config(dir, &out, &err, "max_use=5",
				"message_size_limit=10q", NULL),
			 1);
	assert_non_null(strstr(err, "error: bad value for message_size_limit"));
	free(out);
	free(err);
	got = cfgtest_read(path, NULL);
	assert_null(strstr(got, "max_use"));
	free(got);

	/* Unknown names are allowed with a warning; -X removes. */
	assert_int_equal(config(dir, &out, &err, "my_own=1", NULL), 0);
	assert_non_null(strstr(err, "warning: unknown parameter my_own"));
	free(out);
	free(err);
	assert_int_equal(config(dir, &out, &err, "-X", "my_own", "myvar",
				"never_set", NULL),
			 0);
	free(out);
	free(err);
	got = cfgtest_read(path, NULL);
	assert_null(strstr(got, "my_own"));
	assert_null(strstr(got, "myvar ="));
	free(got);
	free(path);
	cfgtest_rmrf(dir);
}

static void config_usage(void **state)
{
	(void)state;
	static const char *const bad[][3] = {
		{"-d", "-n", NULL}, {"-q", NULL, NULL},   {"-X", NULL, NULL},
		{"-X", "a=b", NULL}, {"a=b", "c", NULL},  {"-n", "a=b", NULL},
		{"-Xd", "a", NULL},
	};
	char *dir = cfgtest_tmpdir();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out, *err;
		int r = config(dir, &out, &err, bad[i][0], bad[i][1], NULL);
		if (r != 2 || strncmp(err, "usage: ", 7) != 0)
			fail_msg("case %zu: got %d \"%s\"", i, r, err);
		free(out);
		free(err);
	}
	cfgtest_rmrf(dir);
}

/* ---- check ---------------------------------------------------------- */

/* A complete instance in dir: main.cf, master.cf, bin/smtpd, a queue. */
static void make_instance(const char *dir, const char *extra_main,
			  const char *master)
{
	char *p = NULL;
	const char *owner = "nobody";
	struct passwd *pw = getpwnam(owner);
	if (geteuid() != 0 || !pw)
		owner = "posthorn";
	assert_true(asprintf(&p,
			     "queue_directory = %s/q\n"
			     "daemon_directory = %s/bin\n"
			     "mail_owner = %s\n%s",
			     dir, dir, owner, extra_main) > 0);
	cfgtest_puts(dir, "main.cf", p);
	free(p);
	cfgtest_puts(dir, "master.cf", master);
	/* The layout init makes: pid/ stays root's. */
	static const char *const sub[] = {"bin",     "q",         "q/incoming",
					  "q/queue", "q/private", "q/public",
					  "q/pid"};
	for (size_t i = 0; i < 7; i++) {
		assert_true(asprintf(&p, "%s/%s", dir, sub[i]) > 0);
		assert_int_equal(mkdir(p, i >= 2 && i <= 4 ? 0700 : 0755), 0);
		if (i >= 2 && i <= 5 && geteuid() == 0 && pw)
			assert_int_equal(chown(p, pw->pw_uid, pw->pw_gid), 0);
		free(p);
	}
	cfgtest_puts(dir, "bin/smtpd", "#!/bin/sh\n");
	assert_true(asprintf(&p, "%s/bin/smtpd", dir) > 0);
	assert_int_equal(chmod(p, 0755), 0);
	free(p);
}

static int check(const char *dir, char **err)
{
	char *argv[] = {"check", NULL}, *out;
	struct posthorn_ctx ctx = {dir, 0};
	int r = cfgtest_capture(run_check, &ctx, 1, argv, &out, err);
	assert_string_equal(out, "");
	free(out);
	params_unload();
	return r;
}

/* err with every occurrence of dir replaced by "D". */
static char *undir(const char *err, const char *dir)
{
	size_t dl = strlen(dir);
	char *r = calloc(1, strlen(err) + 1), *w = r;
	for (const char *p = err; *p;) {
		if (strncmp(p, dir, dl) == 0) {
			*w++ = 'D';
			p += dl;
		} else {
			*w++ = *p++;
		}
	}
	return r;
}

static void check_clean(void **state)
{
	(void)state;
	char *dir = cfgtest_tmpdir(), *err;
	make_instance(dir, "", "2525 inet n - n - - smtpd\n");
	assert_int_equal(check(dir, &err), 0);
	assert_string_equal(err, "");
	free(err);
	/* Warnings alone do not fail. */
	char *p = NULL;
	assert_true(asprintf(&p, "%s/main.cf", dir) > 0);
	FILE *f = fopen(p, "a");
	assert_non_null(f);
	fputs("my_own_thing = 1\n", f);
	fclose(f);
	free(p);
	assert_int_equal(check(dir, &err), 0);
	char *u = undir(err, dir);
	assert_string_equal(u, "D/main.cf:4: warning: unknown parameter "
			       "my_own_thing\n");
	free(u);
	free(err);
	cfgtest_rmrf(dir);
}

static void check_every_problem(void **state)
{
	(void)state;
	char *dir = cfgtest_tmpdir(), *err, *p = NULL;
	make_instance(dir,
		      "smtpd_recipient_limit = 0\n"
		      "broken\n"
		      "smtpd_tls_cert_file = $config_directory/cert.pem\n",
		      "# master.cf\n"
		      "2525 inet n - n - - smtpd\n"
		      "qmgr unix n - n 300 1 qmgr\n"
		      "2525 inet n - n - - smtpd\n"
		      "sub inet n - n - - smtpd -o max_use=0 -o my_opt=1\n");
	assert_true(asprintf(&p, "%s/q/queue", dir) > 0);
	assert_int_equal(chmod(p, 0755), 0);
	free(p);
	assert_true(asprintf(&p, "%s/q/pid", dir) > 0);
	assert_int_equal(rmdir(p), 0);
	free(p);

	assert_int_equal(check(dir, &err), 1);
	char *u = undir(err, dir);
	const char *want =
		"D/main.cf:4: error: bad value for smtpd_recipient_limit: 0 "
		"is below the minimum 1\n"
		"D/main.cf:5: error: missing '=' after parameter name "
		"\"broken\"\n"
		"D/master.cf:3: error: service qmgr/unix: command qmgr not "
		"found in D/bin: No such file or directory\n"
		"D/master.cf:4: error: duplicate service 2525/inet (first at "
		"line 2)\n"
		"D/master.cf:5: error: unknown service name \"sub\"\n"
		"error: D/q/queue: mode 0755, want 0700\n"
		"error: D/q/pid: No such file or directory\n"
		"error: smtpd_tls_cert_file D/cert.pem: No such file or "
		"directory\n";
	if (strcmp(u, want) != 0)
		fail_msg("got\n%s\nwant\n%s", u, want);
	free(u);
	free(err);
	cfgtest_rmrf(dir);
}

static void check_service_overrides(void **state)
{
	(void)state;
	char *dir = cfgtest_tmpdir(), *err;
	make_instance(dir, "",
		      "2587 inet n - n - - smtpd -o max_use=0 -o my_opt=1\n"
		      "  -o smtpd_tls_cert_file=/nonexistent/c.pem\n");
	assert_int_equal(check(dir, &err), 1);
	char *u = undir(err, dir);
	const char *want =
		"D/master.cf:1: error: service 2587/inet: bad value for "
		"max_use: 0 is below the minimum 1\n"
		"D/master.cf:1: warning: service 2587/inet: unknown parameter "
		"my_opt\n"
		"D/master.cf:1: error: service 2587/inet: smtpd_tls_cert_file "
		"/nonexistent/c.pem: No such file or directory\n";
	if (strcmp(u, want) != 0)
		fail_msg("got\n%s\nwant\n%s", u, want);
	free(u);
	free(err);
	/* No main.cf at all. */
	char *p = NULL;
	assert_true(asprintf(&p, "%s/main.cf", dir) > 0);
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_int_equal(check(dir, &err), 1);
	u = undir(err, dir);
	assert_string_equal(u, "error: open D/main.cf: No such file or "
			       "directory\n");
	free(u);
	free(err);
	cfgtest_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_show),
		cmocka_unit_test(config_show_problems),
		cmocka_unit_test(config_edit),
		cmocka_unit_test(config_usage),
		cmocka_unit_test(check_clean),
		cmocka_unit_test(check_every_problem),
		cmocka_unit_test(check_service_overrides),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
