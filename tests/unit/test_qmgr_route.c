/* SPDX-License-Identifier: MIT */
/*
 * test_qmgr_route.c - recipient routing (qmgr_route.c): address classes,
 * relayhost, transport_maps lookup order and value forms (the rule itself
 * is common/nexthop.c's, tested in test_nexthop.c), domain extraction
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/params.h"
#include "common/str.h"
#include "qmgr/qmgr.h"

/* Loads the parameters from "name=value" strings (NULL-terminated) and
 * opens transport_maps. */
static void load(const char *const *kv)
{
	struct strv ov;
	struct err e;
	strv_init(&ov);
	strv_push(&ov, "myhostname=mx.example.test");
	strv_push(&ov, "mydomain=example.test");
	strv_push(&ov, "mydestination=$myhostname, localhost");
	strv_push(&ov, "virtual_mailbox_domains=virt.test");
	strv_push(&ov, "virtual_alias_domains=alias.test");
	strv_push(&ov, "relay_domains=relay.test");
	for (; kv && *kv; kv++)
		strv_push(&ov, *kv);
	if (params_load(NULL, &ov, NULL, NULL, &e) < 0)
		fail_msg("params: %s", e.msg);
	strv_deinit(&ov);
	qmgr_route_deinit();
	if (qmgr_route_init(&e) < 0)
		fail_msg("route init: %s", e.msg);
}

struct want {
	const char *addr;
	enum qmgr_class cls;
	const char *transport, *nexthop;
};

static void check(const struct want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct qmgr_route r;
		struct err e;
		if (qmgr_route_rcpt(w[i].addr, &r, &e) < 0)
			fail_msg("%s: %s", w[i].addr, e.msg);
		if (r.cls != w[i].cls || strcmp(r.transport, w[i].transport) ||
		    strcmp(r.nexthop, w[i].nexthop))
			fail_msg("%s: got class %d %s:%s, want class %d %s:%s",
			         w[i].addr, r.cls, r.transport, r.nexthop,
			         w[i].cls, w[i].transport, w[i].nexthop);
	}
}

static void test_address_classes(void **state)
{
	(void)state;
	load(NULL);
	static const struct want w[] = {
	        {"u@mx.example.test", QMGR_CLASS_LOCAL, "local",
	         "mx.example.test"},
	        {"u@MX.Example.TEST.", QMGR_CLASS_LOCAL, "local",
	         "mx.example.test"},
	        {"u@localhost", QMGR_CLASS_LOCAL, "local", "localhost"},
	        {"postmaster", QMGR_CLASS_LOCAL, "local", "mx.example.test"},
	        {"u@virt.test", QMGR_CLASS_VIRTUAL, "local", "virt.test"},
	        {"u@alias.test", QMGR_CLASS_VIRTUAL, "local", "alias.test"},
	        {"u@relay.test", QMGR_CLASS_RELAY, "smtp", "relay.test"},
	        {"u@Remote.Example", QMGR_CLASS_DEFAULT, "smtp",
	         "remote.example"},
	        {"\"a@b\"@remote.example", QMGR_CLASS_DEFAULT, "smtp",
	         "remote.example"},
	        {"u@[192.0.2.1]", QMGR_CLASS_DEFAULT, "smtp", "[192.0.2.1]"},
	};
	check(w, sizeof(w) / sizeof(w[0]));
}

static void test_relayhost_and_class_transports(void **state)
{
	(void)state;
	static const char *const kv[] = {
	        "relayhost=[smarthost.test]:587",
	        "virtual_transport=lmtp:unix:private/dovecot",
	        "relay_transport=relay", NULL};
	load(kv);
	static const struct want w[] = {
	        {"u@remote.example", QMGR_CLASS_DEFAULT, "smtp",
	         "[smarthost.test]:587"},
	        {"u@relay.test", QMGR_CLASS_RELAY, "relay",
	         "[smarthost.test]:587"},
	        {"u@virt.test", QMGR_CLASS_VIRTUAL, "lmtp",
	         "unix:private/dovecot"},
	        /* relayhost is for remote mail only. */
	        {"u@localhost", QMGR_CLASS_LOCAL, "local", "localhost"},
	};
	check(w, sizeof(w) / sizeof(w[0]));
	static const char *const kv2[] = {"default_transport=smtp:[gw.test]",
	                                  "relayhost=[other.test]", NULL};
	load(kv2);
	static const struct want w2[] = {
	        /* A nexthop in default_transport wins over relayhost. */
	        {"u@remote.example", QMGR_CLASS_DEFAULT, "smtp", "[gw.test]"},
	        {"u@relay.test", QMGR_CLASS_RELAY, "smtp", "[other.test]"},
	};
	check(w2, sizeof(w2) / sizeof(w2[0]));
}

static void test_transport_maps_lookup_order(void **state)
{
	(void)state;
	static const char *const kv[] = {
	        "relayhost=[smarthost.test]",
	        "transport_maps=inline:{ special@remote.example=error:no, "
	        "remote.example=slow:, .sub.test=:[hub.test]:2525, "
	        "sub.test=fast, virt.test=retry:maintenance, "
	        "blank.test=: }",
	        NULL};
	load(kv);
	static const struct want w[] = {
	        /* The whole address first. */
	        {"special@remote.example", QMGR_CLASS_DEFAULT, "error", "no"},
	        /* "transport:" resets the nexthop to the domain. */
	        {"u@remote.example", QMGR_CLASS_DEFAULT, "slow",
	         "remote.example"},
	        /* The domain itself before its parents. */
	        {"u@sub.test", QMGR_CLASS_DEFAULT, "fast", "sub.test"},
	        /* ".parent" matches subdomains; ":nexthop" keeps the
	         * transport. */
	        {"u@a.sub.test", QMGR_CLASS_DEFAULT, "smtp", "[hub.test]:2525"},
	        {"u@b.a.sub.test", QMGR_CLASS_DEFAULT, "smtp",
	         "[hub.test]:2525"},
	        /* Applies to every class; texts keep their case. */
	        {"u@virt.test", QMGR_CLASS_VIRTUAL, "retry", "maintenance"},
	        /* ":" changes nothing. */
	        {"u@blank.test", QMGR_CLASS_DEFAULT, "smtp",
	         "[smarthost.test]"},
	        {"u@none.test", QMGR_CLASS_DEFAULT, "smtp", "[smarthost.test]"},
	};
	check(w, sizeof(w) / sizeof(w[0]));
	static const char *const kv2[] = {
	        "transport_maps=inline:{ *=catchall:[all.test] }", NULL};
	load(kv2);
	static const struct want w2[] = {
	        {"u@anything.test", QMGR_CLASS_DEFAULT, "catchall",
	         "[all.test]"},
	        {"u@localhost", QMGR_CLASS_LOCAL, "catchall", "[all.test]"},
	};
	check(w2, sizeof(w2) / sizeof(w2[0]));
}

static void test_bad_configuration_defers(void **state)
{
	(void)state;
	static const char *const kv[] = {
	        "default_transport=:[gw.test]",
	        "virtual_transport=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	        NULL};
	load(kv);
	struct qmgr_route r;
	struct err e;
	/* No transport name, or one too long: an error (the recipient is
	 * deferred), never a guess. */
	assert_int_equal(qmgr_route_rcpt("u@remote.example", &r, &e), -1);
	assert_int_equal(qmgr_route_rcpt("u@virt.test", &r, &e), -1);
	assert_int_equal(qmgr_route_rcpt("u@localhost", &r, &e), 0);
}

static void test_domain(void **state)
{
	(void)state;
	char d[16];
	qmgr_route_domain("a@B.Example.", d, sizeof(d));
	assert_string_equal(d, "b.example");
	qmgr_route_domain("nodomain", d, sizeof(d));
	assert_string_equal(d, "");
	qmgr_route_domain("\"x@y\"@Z", d, sizeof(d));
	assert_string_equal(d, "z");
	qmgr_route_domain("a@very-long-domain.example", d, sizeof(d));
	assert_int_equal(strlen(d), sizeof(d) - 1);
}

static int teardown(void **state)
{
	(void)state;
	qmgr_route_deinit();
	params_unload();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_address_classes),
	        cmocka_unit_test(test_relayhost_and_class_transports),
	        cmocka_unit_test(test_transport_maps_lookup_order),
	        cmocka_unit_test(test_bad_configuration_defers),
	        cmocka_unit_test(test_domain),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
