/* SPDX-License-Identifier: MIT */
/*
 * test_params.c - value types, splitting, $ expansion, and params_load
 *
 * Converters and the expansion engine are table-driven with a fixed lookup;
 * loads write a main.cf into a temp directory and compare every reported
 * problem, as "main.cf:LINE: error|warning: text", with the exact list
 * wanted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cfgtest.h"
#include "common/params.h"

#define DAYS(n) ((n) * 86400L)

/* ---- converters ----------------------------------------------------- */

static void size_and_time(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int ok;
		uint64_t want;
	} sizes[] = {
		{"0", 1, 0},
		{"10", 1, 10},
		{"10k", 1, 10240},
		{"2M", 1, 2097152},
		{"1g", 1, 1073741824},
		{"18446744073709551615", 1, UINT64_MAX},
		{"18446744073709551616", 0, 0},
		{"17179869184g", 0, 0},
		{"10kb", 0, 0},
		{"10 k", 0, 0},
		{"", 0, 0},
		{"k", 0, 0},
		{"-1", 0, 0},
		{"+1", 0, 0},
		{"1.5m", 0, 0},
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t v = 0;
		struct err e;
		int r = param_parse_size(sizes[i].s, &v, &e);
		if ((r == 0) != sizes[i].ok || (r == 0 && v != sizes[i].want))
			fail_msg("size \"%s\": got r=%d v=%llu", sizes[i].s, r,
				 (unsigned long long)v);
	}
	static const struct {
		const char *s;
		int ok;
		long want;
	} times[] = {
		{"30", 1, 30},  {"30s", 1, 30},    {"5m", 1, 300},
		{"2h", 1, 7200}, {"1d", 1, 86400},  {"1W", 1, 604800},
		{"5x", 0, 0},   {"m", 0, 0},       {"", 0, 0},
		{"1dd", 0, 0},  {"-5s", 0, 0},     {"9999999999999999w", 0, 0},
	};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		long v = 0;
		struct err e;
		int r = param_parse_time(times[i].s, &v, &e);
		if ((r == 0) != times[i].ok || (r == 0 && v != times[i].want))
			fail_msg("time \"%s\": got r=%d v=%ld", times[i].s, r,
				 v);
	}
	struct err e;
	bool b = false;
	assert_int_equal(param_parse_bool("YES", &b, &e), 0);
	assert_true(b);
	assert_int_equal(param_parse_bool("No", &b, &e), 0);
	assert_false(b);
	assert_int_equal(param_parse_bool("true", &b, &e), -1);
	assert_string_equal(e.msg, "\"true\" is not yes or no");
	assert_int_equal(param_parse_bool("", &b, &e), -1);
	long l;
	assert_int_equal(param_parse_int("42", &l, &e), 0);
	assert_int_equal(l, 42);
	assert_int_equal(param_parse_int("-1", &l, &e), -1);
	assert_int_equal(param_parse_int("9223372036854775808", &l, &e), -1);
}

static void split(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		const char *want; /* words joined by '|', or NULL: error */
	} cases[] = {
		{"a, b c\td\ne,,f", "a|b|c|d|e|f"},
		{"", ""},
		{" ,, ", ""},
		{"inline:{ a=b, c=d } lmdb:/x", "inline:{ a=b, c=d }|lmdb:/x"},
		{"inline:{ a={x y}, b }, z", "inline:{ a={x y}, b }|z"},
		{"{ a b } c", "{ a b }|c"},
		{"inline:{ a=b", NULL},
		{"a}", NULL},
		{"a } b", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strv sv;
		struct err e;
		char got[256] = "";
		strv_init(&sv);
		int r = param_split(&sv, cases[i].s, ", \t\r\n", &e);
		for (size_t k = 0; k < sv.n; k++) {
			size_t room = sizeof(got) - strlen(got) - 1;
			if (k && room) {
				strncat(got, "|", room);
				room--;
			}
			strncat(got, sv.v[k], room);
		}
		if (!cases[i].want ? r != -1
				   : r != 0 || strcmp(got, cases[i].want) != 0)
			fail_msg("split \"%s\": got r=%d \"%s\"", cases[i].s, r,
				 got);
		strv_deinit(&sv);
	}
}

static void check_value(void **state)
{
	(void)state;
	struct err e;
	const struct param_info *pi = param_lookup("message_size_limit");
	assert_non_null(pi);
	assert_int_equal(param_check_value(pi, "1023", &e), -1);
	assert_string_equal(e.msg, "1023 is below the minimum 1024");
	assert_int_equal(param_check_value(pi, "1k", &e), 0);
	assert_int_equal(param_check_value(pi, "4g", &e), -1);
	assert_string_equal(e.msg, "4g is above the maximum 4294967295");
	/* min = max = 0: no bounds. */
	struct param_info free_int = {"x", PARAM_INT, "0", 0, 0, "", 0};
	assert_int_equal(param_check_value(&free_int, "9223372036854775807",
					   &e),
			 0);
	pi = param_lookup("transport_maps");
	assert_int_equal(param_check_value(pi, "inline:{ a=b, c=d }", &e), 0);
	assert_int_equal(param_check_value(pi, "hash:/x, lmdb:/y", &e), 0);
	assert_int_equal(param_check_value(pi, "example.com", &e), -1);
	assert_string_equal(e.msg,
			    "\"example.com\" is not a type:name lookup table");
	assert_int_equal(param_check_value(pi, "lmdb:", &e), -1);
	assert_null(param_lookup("no_such_parameter"));
}

/* ---- the expansion engine ------------------------------------------- */

static int fixed_lookup(void *ctx, const char *name, size_t len,
			const char **text, struct err *e)
{
	static const char *const names[][2] = {
		{"a", "A"}, {"b", "B"}, {"empty", ""}, {"nest", "$a"}};
	(void)ctx;
	if (len == 3 && memcmp(name, "bad", 3) == 0) {
		err_set(e, "lookup failed");
		return -1;
	}
	for (size_t i = 0; i < 4; i++)
		if (strlen(names[i][0]) == len &&
		    memcmp(names[i][0], name, len) == 0) {
			*text = names[i][1];
			return 1;
		}
	return 0;
}

static void expand_engine(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		const char *want; /* or the error text when err */
		int err;
	} cases[] = {
		{"$a", "A", 0},
		{"x${a}y$(b)z", "xAyBz", 0},
		{"$a$b", "AB", 0},
		{"$nest", "$a", 0}, /* the engine does not recurse itself */
		{"${a?yes}", "yes", 0},
		{"${empty?yes}", "", 0},
		{"${a:no}", "", 0},
		{"${empty:fallback}", "fallback", 0},
		{"$(empty:x)", "x", 0},
		{"${a?${b}x}", "Bx", 0},
		{"${a?{braces} kept}", "{braces} kept", 0},
		{"$home/.forward", "$home/.forward", 0},
		{"${home}/x ${ext?+$ext} $(u)", "${home}/x ${ext?+$ext} $(u)",
		 0},
		{"cost $5", "cost $5", 0},
		{"a$", "a$", 0},
		{"$$a", "$A", 0},
		{"^foo$ bar", "^foo$ bar", 0},
		{"${a", "missing '}' after \"${a\"", 1},
		{"$(a", "missing ')' after \"$(a\"", 1},
		{"${}", "bad reference \"${}\"", 1},
		{"${a b}", "bad reference \"${a b}\"", 1},
		{"${a!x}", "bad reference \"${a!x}\"", 1},
		{"$bad", "lookup failed", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;
		struct err e = {""};
		buf_init(&out, 1024);
		int r = params_expand_with(cases[i].s, strlen(cases[i].s),
					   fixed_lookup, NULL, &out, &e);
		const char *got = cases[i].err ? e.msg : buf_cstr(&out);
		if ((r < 0) != cases[i].err || strcmp(got, cases[i].want) != 0)
			fail_msg("expand \"%s\": got r=%d \"%s\", want \"%s\"",
				 cases[i].s, r, got, cases[i].want);
		buf_deinit(&out);
	}
}

static void expand_bounds(void **state)
{
	(void)state;
	struct buf out;
	struct err e;
	buf_init(&out, 8);
	assert_int_equal(params_expand_with("$a$a$a$a$a$a$a$a$a", 18,
					    fixed_lookup, NULL, &out, &e),
			 -1);
	assert_string_equal(e.msg, "expansion longer than 8 bytes");
	buf_deinit(&out);
	/* ${a?${a?...}} nested 40 deep. */
	char deep[400] = "";
	for (int i = 0; i < 40; i++)
		strncat(deep, "${a?", sizeof(deep) - strlen(deep) - 1);
	for (int i = 0; i < 40; i++)
		strncat(deep, "}", sizeof(deep) - strlen(deep) - 1);
	buf_init(&out, 1024);
	assert_int_equal(params_expand_with(deep, strlen(deep), fixed_lookup,
					    NULL, &out, &e),
			 -1);
	assert_string_equal(e.msg, "${...} nested more than 32 deep");
	buf_deinit(&out);
}

/* ---- loading -------------------------------------------------------- */

struct problems {
	char v[16][300];
	int n;
	const char *dir;
};

static void on_problem(void *ctx, const char *file, int line, bool is_error,
		       const char *msg)
{
	struct problems *p = ctx;
	const char *level = is_error ? "error" : "warning";
	if (p->n >= 16)
		fail_msg("too many problems");
	if (file) {
		size_t dl = strlen(p->dir);
		if (strncmp(file, p->dir, dl) == 0 && file[dl] == '/')
			file += dl + 1;
		(void)snprintf(p->v[p->n], sizeof(p->v[0]), "%s:%d: %s: %s",
			       file, line, level, msg);
	} else {
		(void)snprintf(p->v[p->n], sizeof(p->v[0]), "%s: %s", level,
			       msg);
	}
	p->n++;
}

/* Writes main_cf into a new directory and loads it with overrides (a
 * NULL-terminated array or NULL). Returns params_load()'s result. */
static int load(const char *main_cf, const char *const *overrides,
		struct problems *p, char **dir_out)
{
	struct strv ov;
	struct err e;
	char *dir = cfgtest_tmpdir();
	cfgtest_puts(dir, "main.cf", main_cf);
	strv_init(&ov);
	for (size_t i = 0; overrides && overrides[i]; i++)
		strv_push(&ov, overrides[i]);
	memset(p, 0, sizeof(*p));
	p->dir = dir;
	int r = params_load(dir, &ov, on_problem, p, &e);
	strv_deinit(&ov);
	if (dir_out)
		*dir_out = dir;
	else
		cfgtest_rmrf(dir);
	return r;
}

static void defaults_all_convert(void **state)
{
	(void)state;
	struct problems p;
	char *dir;
	assert_int_equal(load("", NULL, &p, &dir), 0);
	for (int i = 0; i < p.n; i++)
		print_message("%s\n", p.v[i]);
	assert_int_equal(p.n, 0);
	assert_non_null(params);
	assert_string_equal(params->config_directory, dir);
	assert_int_equal(params->smtpd_recipient_limit, 1000);
	assert_int_equal(params->message_size_limit, 10240000);
	assert_int_equal(params->maximal_queue_lifetime, DAYS(5));
	assert_int_equal(params->imapd_timeout, 1800);
	assert_int_equal(params->imapd_literal_size_limit, 10240000);
	assert_false(params->smtpd_helo_required);
	assert_true(params->smtpd_sasl_auth_enable);
	assert_string_equal(params->daemon_directory, POSTHORN_DAEMON_DIR);
	/* %hostname always has a dot; %domain is what follows the first. */
	const char *h = params->myhostname;
	assert_non_null(strchr(h, '.'));
	assert_string_equal(params->mydomain, strchr(h, '.') + 1);
	assert_string_equal(params->myorigin, h);
	assert_int_equal(params->mydestination.n, 3);
	assert_string_equal(params->mydestination.v[0], h);
	assert_true(strv_contains_nocase(&params->mydestination, "localhost"));
	char *aliases = NULL;
	assert_true(asprintf(&aliases, "lmdb:%s/aliases", dir) > 0);
	assert_int_equal(params->alias_maps.n, 1);
	assert_string_equal(params->alias_maps.v[0], aliases);
	free(aliases);
	/* $home is not a parameter: it stays for local to expand. */
	assert_string_equal(params->forward_path.v[0], "$home/.forward");
	assert_string_equal(params->imapd_special_use_folders.v[0],
			    "Sent:\\Sent");
	assert_int_equal(params->mynetworks.n, 2);
	assert_int_equal(params->transport_maps.n, 0);
	/* Raw values and sources. */
	struct param_source src;
	assert_string_equal(params_raw("smtpd_banner", &src),
			    "$myhostname ESMTP $mail_name");
	assert_null(src.file);
	assert_int_equal(src.line, 0);
	assert_string_equal(params_raw("mydomain", NULL), params->mydomain);
	assert_null(params_raw("no_such_name", NULL));
	cfgtest_rmrf(dir);
	params_unload();
	assert_null(params);
}

static void values_and_overrides(void **state)
{
	(void)state;
	struct problems p;
	static const char *const ov[] = {"smtpd_recipient_limit=70",
					 "myvar=from override", NULL};
	const char *cf = "# main.cf\n"
			 "myhostname = mail.example.test\n"
			 "smtpd_recipient_limit = 50\n"
			 "message_size_limit = 20m\n"
			 "myvar = from main.cf\n"
			 "smtpd_banner = $myhostname ${myvar}\n"
			 "  $(mail_name) ${relayhost?relay}"
			 "${relayhost:direct}\n"
			 "mynetworks = 10.0.0.0/8,\n"
			 "# comment inside\n"
			 "    192.168.0.0/16\n"
			 "transport_maps = inline:{ a.example=smtp:[x], "
			 "b.example=local: } lmdb:/etc/t\n"
			 "maximal_queue_lifetime = 2w\n"
			 "smtpd_helo_required = YES\n";
	assert_int_equal(load(cf, ov, &p, NULL), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(params->smtpd_recipient_limit, 70);
	assert_int_equal(params->message_size_limit, 20 * 1024 * 1024);
	assert_string_equal(params->mydomain, "example.test");
	assert_string_equal(params->smtpd_banner,
			    "mail.example.test from override Posthorn direct");
	assert_int_equal(params->mynetworks.n, 2);
	assert_string_equal(params->mynetworks.v[1], "192.168.0.0/16");
	assert_int_equal(params->transport_maps.n, 2);
	assert_string_equal(params->transport_maps.v[0],
			    "inline:{ a.example=smtp:[x], b.example=local: }");
	assert_int_equal(params->maximal_queue_lifetime, DAYS(14));
	assert_true(params->smtpd_helo_required);
	struct param_source src;
	assert_string_equal(params_raw("smtpd_recipient_limit", &src), "70");
	assert_null(src.file);
	assert_int_equal(src.line, -1);
	assert_string_equal(params_raw("message_size_limit", &src), "20m");
	assert_int_equal(src.line, 4);
	assert_string_equal(params_text("myvar"), "from override");
	assert_string_equal(params_text("smtpd_proxy_ehlo"),
			    "mail.example.test");
	/* params_expand against what was loaded. */
	struct err e;
	char *x = params_expand("$myhostname:$home:${mydomain}", &e);
	assert_string_equal(x, "mail.example.test:$home:example.test");
	free(x);
	assert_null(params_expand("${oops", &e));
	params_unload();
}

static void hostname_and_domain(void **state)
{
	(void)state;
	struct problems p;
	assert_int_equal(load("myhostname = mail\n", NULL, &p, NULL), 0);
	assert_string_equal(params->mydomain, "localdomain");
	assert_int_equal(load("mydomain = example.org\n"
			      "myhostname = mx1.$mydomain\n",
			      NULL, &p, NULL),
			 0);
	assert_string_equal(params->myhostname, "mx1.example.org");
	assert_string_equal(params->mydomain, "example.org");
	/* mydomain's default comes from myhostname: a loop. */
	assert_int_equal(load("myhostname = mx1.$mydomain\n", NULL, &p, NULL),
			 -1);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0],
			    "main.cf:1: error: bad value for myhostname: "
			    "expansion loop: $myhostname -> $mydomain -> "
			    "$myhostname");
	params_unload();
}

static const struct {
	const char *cf;
	const char *want[4]; /* problems in order, NULL-terminated */
} problem_cases[] = {
	{"message_size_limit = 10q\n",
	 {"main.cf:1: error: bad value for message_size_limit: \"10q\": "
	  "unknown unit (want one of kmg)"}},
	{"# c\nmessage_size_limit =\n  100\n",
	 {"main.cf:2: error: bad value for message_size_limit: 100 is below "
	  "the minimum 1024"}},
	{"smtpd_timeout = 2h\n",
	 {"main.cf:1: error: bad value for smtpd_timeout: 2h is above the "
	  "maximum 3600"}},
	{"smtpd_helo_required = maybe\n",
	 {"main.cf:1: error: bad value for smtpd_helo_required: \"maybe\" is "
	  "not yes or no"}},
	{"transport_maps = example.com\n",
	 {"main.cf:1: error: bad value for transport_maps: \"example.com\" "
	  "is not a type:name lookup table"}},
	{"transport_maps = inline:{ a=b\n",
	 {"main.cf:1: error: bad value for transport_maps: missing '}' in "
	  "\"inline:{ a=b\""}},
	{"a = $b\nb = $a\nrelayhost = $a\n",
	 {"main.cf:1: error: bad value for a: expansion loop: $a -> $b -> "
	  "$a"}},
	{"a = $a\nrelayhost = x$a\n",
	 {"main.cf:1: error: bad value for a: expansion loop: $a -> $a"}},
	{"relayhost = ${oops\n",
	 {"main.cf:1: error: bad value for relayhost: missing '}' after "
	  "\"${oops\""}},
	{"foo = 1\nbar = 2\nrelayhost = $bar\n",
	 {"main.cf:1: warning: unknown parameter foo"}},
	{"x = 1\nbroken\nsmtpd_recipient_limit = 0\n",
	 {"main.cf:2: error: missing '=' after parameter name \"broken\"",
	  "main.cf:3: error: bad value for smtpd_recipient_limit: 0 is below "
	  "the minimum 1",
	  "main.cf:1: warning: unknown parameter x"}},
	/* imapd_literal_size_limit defaults to $message_size_limit: one
	 * cause, one message. */
	{"message_size_limit = 500\n",
	 {"main.cf:1: error: bad value for message_size_limit: 500 is below "
	  "the minimum 1024"}},
};

static void problems_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(problem_cases) / sizeof(problem_cases[0]);
	     i++) {
		struct problems p;
		int nwant = 0, errors = 0;
		while (nwant < 4 && problem_cases[i].want[nwant])
			errors += strstr(problem_cases[i].want[nwant++],
					 "error:") != NULL;
		int r = load(problem_cases[i].cf, NULL, &p, NULL);
		for (int k = 0; k < p.n || k < nwant; k++) {
			const char *got = k < p.n ? p.v[k] : "(none)";
			const char *want =
				k < nwant ? problem_cases[i].want[k] : "(none)";
			if (strcmp(got, want) != 0)
				fail_msg("case %zu problem %d: got\n  %s\n"
					 "want\n  %s",
					 i, k, got, want);
		}
		assert_int_equal(r, errors ? -1 : 0);
	}
	params_unload();
}

static void override_problems(void **state)
{
	(void)state;
	struct problems p;
	static const char *const ov[] = {"nonsense", "zzz=1", "=x",
					 "max_use=0", NULL};
	assert_int_equal(load("", ov, &p, NULL), -1);
	assert_int_equal(p.n, 4);
	assert_string_equal(p.v[0], "error: bad override \"nonsense\": want "
				    "name=value");
	assert_string_equal(p.v[1], "error: bad override \"=x\": want "
				    "name=value");
	assert_string_equal(p.v[2], "error: bad value for max_use: 0 is below "
				    "the minimum 1");
	assert_string_equal(p.v[3], "warning: unknown parameter zzz");
}

static void strict_reload_and_lenient(void **state)
{
	(void)state;
	struct problems p;
	struct err e;
	char *dir;

	/* A good load, and a pointer a daemon keeps. */
	assert_int_equal(load("smtpd_banner = first\n", NULL, &p, &dir), 0);
	const struct params *first = params;
	const char *banner = params->smtpd_banner;

	/* Without a callback the first error fails the load with file:line,
	 * and the previous struct stays published. */
	cfgtest_puts(dir, "main.cf",
		     "smtpd_banner = second\nmax_idle = x\nsmtpd_timeout = "
		     "0\n");
	assert_int_equal(params_load(dir, NULL, NULL, NULL, &e), -1);
	char *want = NULL;
	assert_true(asprintf(&want,
			     "%s/main.cf:2: bad value for max_idle: \"x\" is "
			     "not a number",
			     dir) > 0);
	assert_string_equal(e.msg, want);
	free(want);
	assert_ptr_equal(params, first);

	/* Lenient: every error reported, bad values fall back. */
	memset(&p, 0, sizeof(p));
	p.dir = dir;
	assert_int_equal(params_load_lenient(dir, NULL, on_problem, &p, &e),
			 2);
	assert_int_equal(p.n, 2);
	assert_int_equal(params->max_idle, 100);
	assert_int_equal(params->smtpd_timeout, 300);
	assert_string_equal(params->smtpd_banner, "second");
	assert_string_equal(params_raw("max_idle", NULL), "x");
	/* The old generation is still intact (ASan would see a UAF). */
	assert_string_equal(banner, "first");
	assert_string_equal(first->smtpd_banner, "first");

	/* A missing main.cf is an error of its own. */
	char *cf = NULL;
	assert_true(asprintf(&cf, "%s/main.cf", dir) > 0);
	assert_int_equal(unlink(cf), 0);
	assert_int_equal(params_load(dir, NULL, NULL, NULL, &e), -1);
	assert_true(strncmp(e.msg, "open ", 5) == 0);
	free(cf);

	/* A loop through a default is reported once, also when lenient
	 * mode falls back to that default. */
	cfgtest_puts(dir, "main.cf", "myhostname = x.$myorigin\n");
	memset(&p, 0, sizeof(p));
	p.dir = dir;
	assert_int_equal(params_load_lenient(dir, NULL, on_problem, &p, &e),
			 1);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0], "main.cf:1: error: bad value for "
				    "myhostname: expansion loop: $myhostname "
				    "-> $myorigin -> $myhostname");

	/* No config directory: the defaults alone. */
	assert_int_equal(params_load(NULL, NULL, NULL, NULL, &e), 0);
	assert_string_equal(params->config_directory, "/etc/posthorn");
	cfgtest_rmrf(dir);
	params_unload();
}

static void computed_defaults(void **state)
{
	(void)state;
	char *h = param_default(param_lookup("myhostname"));
	char *d = param_default(param_lookup("mydomain"));
	char *dd = param_default(param_lookup("daemon_directory"));
	char *b = param_default(param_lookup("smtpd_banner"));
	assert_non_null(strchr(h, '.'));
	assert_string_equal(d, strchr(h, '.') + 1);
	assert_string_equal(dd, POSTHORN_DAEMON_DIR);
	assert_string_equal(b, "$myhostname ESMTP $mail_name");
	free(h);
	free(d);
	free(dd);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(size_and_time),
		cmocka_unit_test(split),
		cmocka_unit_test(check_value),
		cmocka_unit_test(expand_engine),
		cmocka_unit_test(expand_bounds),
		cmocka_unit_test(defaults_all_convert),
		cmocka_unit_test(values_and_overrides),
		cmocka_unit_test(hostname_and_domain),
		cmocka_unit_test(problems_table),
		cmocka_unit_test(override_problems),
		cmocka_unit_test(strict_reload_and_lenient),
		cmocka_unit_test(computed_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
