/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_tls.c - the smtp agent's TLS policy and session cache:
 * policy text (levels, match=, what is refused), its canonical form,
 * lookup by next hop and parent domains, match names resolved for a
 * connection, and the cache's expiry, bound and take-once rule
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/map.h"
#include "common/str.h"
#include "smtp/smtp_tls.h"

/* ---- parsing ------------------------------------------------------------ */

static void policy_parse(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *want; /* smtp_tls_policy_format, or NULL */
		const char *error;
	} cases[] = {
	        {"none", "none", NULL},
	        {"may", "may", NULL},
	        {"  Encrypt\t", "encrypt", NULL},
	        {"verify", "verify", NULL},
	        {"secure", "secure", NULL},
	        {"verify match=hostname", "verify match=hostname", NULL},
	        {"secure match=nexthop:dot-nexthop:MX.Example.COM",
	         "secure match=nexthop:dot-nexthop:mx.example.com", NULL},
	        {"secure match=.example.com match=mx.example.net",
	         "secure match=.example.com:mx.example.net", NULL},
	        {"SECURE MATCH=a.test", "secure match=a.test", NULL},
	        /* Postfix ignores match= below verify; so do we. */
	        {"may match=anything.test", "may match=anything.test", NULL},
	        {"", NULL, "empty TLS policy"},
	        {"   ", NULL, "empty TLS policy"},
	        {"dane", NULL, "unknown or unsupported TLS level \"dane\""},
	        {"dane-only", NULL, "unsupported TLS level \"dane-only\""},
	        {"fingerprint", NULL, "unsupported TLS level"},
	        {"maybe", NULL, "unknown or unsupported TLS level \"maybe\""},
	        {"averyveryverylonglevelname", NULL, "unknown"},
	        {"secure ciphers=high", NULL,
	         "unknown or unsupported attribute \"ciphers=high\""},
	        {"verify protocols=!SSLv2", NULL, "attribute"},
	        {"verify match=", NULL, "empty match list"},
	        {"verify match=a.test:", NULL, "bad match name length 0"},
	        {"verify match=::", NULL, "bad match name length 0"},
	        {"verify match=a..test", NULL, "bad match name \"a..test\""},
	        {"verify match=a.test.", NULL, "bad match name"},
	        {"verify match=.", NULL, "bad match name \".\""},
	        {"verify match=a/b", NULL, "bad match name"},
	        {"verify match=a:b:c:d:e:f:g:h:i:j:k:l:m:n:o:p:q", NULL,
	         "more than 16 match names"},
	};
	struct arena *a = arena_new();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_tls_policy p;
		struct err e;
		int rc = smtp_tls_policy_parse(cases[i].text,
		                               strlen(cases[i].text), a, &p, &e);
		if (cases[i].error) {
			if (rc != -1 || !strstr(e.msg, cases[i].error))
				fail_msg("\"%s\": got rc %d \"%s\", want \"%s\"",
				         cases[i].text, rc, rc ? e.msg : "",
				         cases[i].error);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": %s", cases[i].text, e.msg);
		char out[256];
		smtp_tls_policy_format(&p, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"",
			         cases[i].text, out, cases[i].want);
		assert_false(p.from_map);
	}
	arena_free(&a);
}

static void policy_parse_bounds(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct smtp_tls_policy p;
	struct err e;
	/* Not NUL-terminated: only len bytes are read. */
	const char text[] = {'m', 'a', 'y', 'X'};
	assert_int_equal(smtp_tls_policy_parse(text, 3, a, &p, &e), 0);
	assert_int_equal(p.level, TLS_LEVEL_MAY);
	char big[SMTP_TLS_POLICY_MAX + 2];
	memset(big, ' ', sizeof(big));
	memcpy(big, "may", 3);
	assert_int_equal(smtp_tls_policy_parse(big, sizeof(big), a, &p, &e),
	                 -1);
	assert_non_null(strstr(e.msg, "longer than"));
	/* A name of 256 bytes is one too many. */
	char name[300] = "verify match=";
	size_t n = strlen(name);
	memset(name + n, 'a', 256);
	name[n + 256] = '\0';
	assert_int_equal(
	        smtp_tls_policy_parse(name, strlen(name), a, &p, &e), -1);
	assert_non_null(strstr(e.msg, "bad match name length 256"));
	name[n + 255] = '\0';
	assert_int_equal(
	        smtp_tls_policy_parse(name, strlen(name), a, &p, &e), 0);
	/* A short output buffer cuts the text. */
	char small[8];
	assert_string_equal(smtp_tls_policy_format(&p, small, sizeof(small)),
	                    "verify");
	arena_free(&a);
}

/* ---- lookup ------------------------------------------------------------- */

static struct maplist *open_maps(const char *spec)
{
	struct strv sv;
	struct err e;
	strv_init(&sv);
	if (map_spec_split(spec, &sv, &e) < 0)
		fail_msg("%s", e.msg);
	struct maplist *ml = maplist_open(&sv, &e);
	strv_deinit(&sv);
	if (!ml)
		fail_msg("%s", e.msg);
	return ml;
}

static void policy_find(void **state)
{
	(void)state;
	struct maplist *ml = open_maps(
	        "inline:{ example.com=secure match=.example.com, "
	        ".example.com=encrypt, .org=may, "
	        "[relay.example.net]:587=verify, bad.test=dane, "
	        "[10.0.0.1]=encrypt }, "
	        "inline:{ example.net=none, relay.example.net=encrypt }");
	static const struct {
		const char *nexthop;
		int rc;
		const char *want; /* format, when found */
		const char *key;  /* which key matched, or the error */
	} cases[] = {
	        {"example.com", 1, "secure match=.example.com", "example.com"},
	        {"EXAMPLE.com", 1, "secure match=.example.com", "EXAMPLE.com"},
	        {"mx.example.com", 1, "encrypt", ".example.com"},
	        {"a.b.example.com", 1, "encrypt", ".example.com"},
	        {"example.org", 1, "may", ".org"},
	        /* The second table answers what the first does not. */
	        {"example.net", 1, "none", "example.net"},
	        {"sub.example.net", 0, NULL, NULL},
	        /* [host] and :port are one server: no parent domains. */
	        {"[mx.example.com]", 0, NULL, NULL},
	        {"mx.example.com:2525", 0, NULL, NULL},
	        {"[relay.example.net]:587", 1, "verify",
	         "[relay.example.net]:587"},
	        {"[relay.example.net]:submission", 1, "verify",
	         "[relay.example.net]:587"},
	        {"[relay.example.net]", 0, NULL, NULL},
	        {"10.0.0.1", 1, "encrypt", "[10.0.0.1]"},
	        {"bad.test", -2, NULL, "invalid TLS policy for bad.test: "},
	        {"other.test", 0, NULL, NULL},
	};
	struct arena *a = arena_new();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nexthop nh;
		struct err e;
		const char *t = cases[i].nexthop;
		if (nexthop_parse(t, strlen(t), &nh, &e) < 0)
			fail_msg("%s: %s", t, e.msg);
		struct smtp_tls_policy p = {.level = TLS_LEVEL_MAY};
		const char *key = NULL;
		int rc = smtp_tls_policy_find(ml, t, &nh, a, &p, &key, &e);
		if (rc != cases[i].rc)
			fail_msg("%s: got rc %d (%s), want %d", t, rc,
			         rc < 0 ? e.msg : "", cases[i].rc);
		if (rc < 0) {
			if (!strstr(e.msg, cases[i].key))
				fail_msg("%s: got \"%s\"", t, e.msg);
			continue;
		}
		if (rc == 0) {
			assert_int_equal(p.level, TLS_LEVEL_MAY);
			assert_null(key);
			continue;
		}
		char out[256];
		smtp_tls_policy_format(&p, out, sizeof(out));
		if (strcmp(out, cases[i].want) || strcmp(key, cases[i].key))
			fail_msg("%s: got \"%s\" from %s, want \"%s\" from %s",
			         t, out, key, cases[i].want, cases[i].key);
		assert_true(p.from_map);
	}
	/* No tables: nothing found. */
	struct nexthop nh;
	struct err e;
	assert_int_equal(nexthop_parse("example.com", 11, &nh, &e), 0);
	struct smtp_tls_policy p;
	assert_int_equal(
	        smtp_tls_policy_find(NULL, "example.com", &nh, a, &p, NULL, &e),
	        0);
	arena_free(&a);
	maplist_close(&ml);
}

/* ---- names -------------------------------------------------------------- */

static void policy_names(void **state)
{
	(void)state;
	static const struct {
		const char *policy;
		const char *want; /* names joined by spaces */
	} cases[] = {
	        {"may", ""},
	        {"encrypt match=x.test", ""},
	        {"verify", "mx.example.net"},
	        {"secure", "example.com .example.com"},
	        {"verify match=nexthop", "example.com"},
	        {"verify match=hostname:nexthop:dot-nexthop",
	         "mx.example.net example.com .example.com"},
	        {"secure match=.example.com:mx.example.net:hostname",
	         ".example.com mx.example.net"},
	        {"secure match=Hostname:NEXTHOP", "mx.example.net example.com"},
	};
	struct arena *a = arena_new();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_tls_policy p;
		struct err e;
		const char *t = cases[i].policy;
		assert_int_equal(smtp_tls_policy_parse(t, strlen(t), a, &p, &e),
		                 0);
		const char *names[SMTP_TLS_MATCH_MAX];
		size_t n = smtp_tls_policy_names(&p, "mx.example.net",
		                                 "example.com", a, names,
		                                 SMTP_TLS_MATCH_MAX);
		char got[512] = "";
		size_t used = 0;
		for (size_t k = 0; k < n; k++)
			used += (size_t)snprintf(got + used, sizeof(got) - used,
			                         "%s%s", k ? " " : "", names[k]);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", t, got,
			         cases[i].want);
	}
	/* out is bounded by max. */
	struct smtp_tls_policy p;
	struct err e;
	const char *t = "verify match=a.test:b.test:c.test";
	assert_int_equal(smtp_tls_policy_parse(t, strlen(t), a, &p, &e), 0);
	const char *two[2];
	assert_int_equal(smtp_tls_policy_names(&p, "h", "d", a, two, 2), 2);
	assert_string_equal(two[1], "b.test");
	arena_free(&a);
}

/* ---- the session cache -------------------------------------------------- */

static int take(struct smtp_tls_cache *c, const char *key, uint64_t now,
                char *out, size_t outsz)
{
	struct buf b;
	buf_init(&b, 100);
	int rc = smtp_tls_cache_take(c, key, now, &b);
	(void)snprintf(out, outsz, "%s", rc == 1 ? buf_cstr(&b) : "");
	buf_deinit(&b);
	return rc;
}

static void cache_basics(void **state)
{
	(void)state;
	struct smtp_tls_cache *c = smtp_tls_cache_new(3, 3600);
	char got[100];
	assert_int_equal(take(c, "a", 0, got, sizeof(got)), 0);
	smtp_tls_cache_put(c, "a", "one", 3, 60, 1000);
	smtp_tls_cache_put(c, "b", "two", 3, 60, 1000);
	assert_int_equal(smtp_tls_cache_count(c), 2);
	/* Taken once: a TLS 1.3 ticket is offered once. */
	assert_int_equal(take(c, "a", 2000, got, sizeof(got)), 1);
	assert_string_equal(got, "one");
	assert_int_equal(take(c, "a", 2000, got, sizeof(got)), 0);
	/* A new session replaces the old one under the same key. */
	smtp_tls_cache_put(c, "b", "TWO", 3, 60, 2000);
	assert_int_equal(smtp_tls_cache_count(c), 1);
	/* Expiry: the session's own lifetime. */
	assert_int_equal(take(c, "b", 2000 + 60000, got, sizeof(got)), 0);
	assert_int_equal(smtp_tls_cache_count(c), 0);
	smtp_tls_cache_put(c, "b", "TWO", 3, 60, 2000);
	assert_int_equal(take(c, "b", 2000 + 59999, got, sizeof(got)), 1);
	assert_string_equal(got, "TWO");
	/* Nothing to keep: no lifetime, no bytes, too many bytes. */
	smtp_tls_cache_put(c, "x", "1", 1, 0, 0);
	smtp_tls_cache_put(c, "x", "", 0, 60, 0);
	static char huge[SMTP_TLS_SESSION_MAX + 1];
	smtp_tls_cache_put(c, "x", huge, sizeof(huge), 60, 0);
	assert_int_equal(smtp_tls_cache_count(c), 0);
	/* A session that does not fit the caller's buffer is dropped. */
	static char big[200];
	smtp_tls_cache_put(c, "big", big, sizeof(big), 60, 0);
	assert_int_equal(take(c, "big", 0, got, sizeof(got)), 0);
	assert_int_equal(smtp_tls_cache_count(c), 0);
	smtp_tls_cache_free(&c);
	assert_null(c);
	smtp_tls_cache_free(&c);
}

static void cache_bounds(void **state)
{
	(void)state;
	/* The timeout caps a session's lifetime. */
	struct smtp_tls_cache *c = smtp_tls_cache_new(3, 10);
	char got[100];
	smtp_tls_cache_put(c, "a", "one", 3, 3600, 0);
	assert_int_equal(take(c, "a", 10000, got, sizeof(got)), 0);
	/* Full: the oldest goes, unless something has expired. */
	smtp_tls_cache_put(c, "a", "1", 1, 10, 0);
	smtp_tls_cache_put(c, "b", "2", 1, 10, 1);
	smtp_tls_cache_put(c, "c", "3", 1, 10, 2);
	smtp_tls_cache_put(c, "d", "4", 1, 10, 3);
	assert_int_equal(smtp_tls_cache_count(c), 3);
	assert_int_equal(take(c, "a", 4, got, sizeof(got)), 0);
	/* b is the oldest now and goes; a expires at 1004. */
	smtp_tls_cache_put(c, "a", "1", 1, 1, 4);
	assert_int_equal(take(c, "b", 4, got, sizeof(got)), 0);
	assert_int_equal(smtp_tls_cache_count(c), 3);
	/* At 2000 a has expired: it goes rather than c, the oldest. */
	smtp_tls_cache_put(c, "e", "5", 1, 10, 2000);
	assert_int_equal(smtp_tls_cache_count(c), 3);
	assert_int_equal(take(c, "c", 2000, got, sizeof(got)), 1);
	assert_int_equal(take(c, "d", 2000, got, sizeof(got)), 1);
	assert_int_equal(take(c, "e", 2000, got, sizeof(got)), 1);
	smtp_tls_cache_free(&c);

	/* Timeout 0 keeps nothing. */
	c = smtp_tls_cache_new(3, 0);
	smtp_tls_cache_put(c, "a", "one", 3, 3600, 0);
	assert_int_equal(smtp_tls_cache_count(c), 0);
	smtp_tls_cache_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(policy_parse),
	        cmocka_unit_test(policy_parse_bounds),
	        cmocka_unit_test(policy_find),
	        cmocka_unit_test(policy_names),
	        cmocka_unit_test(cache_basics),
	        cmocka_unit_test(cache_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
