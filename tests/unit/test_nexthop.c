/* SPDX-License-Identifier: MIT */
/*
 * test_nexthop.c - next-hop forms ("[host]:port", "host:port", "domain",
 * addresses), canonical text, transport table values and the
 * transport(5) combination rules
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/nexthop.h"

static void good_forms(void **state)
{
	(void)state;
	static const struct {
		const char *in, *host;
		unsigned port;
		bool no_mx, is_addr;
		const char *canon;
	} cases[] = {
	        {"example.com", "example.com", 0, false, false, "example.com"},
	        {"Example.COM.", "example.com", 0, false, false, "example.com"},
	        {"example.com:2525", "example.com", 2525, false, false,
	         "example.com:2525"},
	        {"[mail.example.com]", "mail.example.com", 0, true, false,
	         "[mail.example.com]"},
	        {"[mail.example.com]:587", "mail.example.com", 587, true, false,
	         "[mail.example.com]:587"},
	        {"[mail.example.com]:submission", "mail.example.com", 587, true,
	         false, "[mail.example.com]:587"},
	        {"relay:smtp", "relay", 25, false, false, "relay:25"},
	        {"[192.0.2.1]", "192.0.2.1", 0, true, true, "[192.0.2.1]"},
	        {"192.0.2.1:25", "192.0.2.1", 25, true, true, "[192.0.2.1]:25"},
	        {"[ipv6:2001:DB8::1]:25", "2001:db8::1", 25, true, true,
	         "[2001:db8::1]:25"},
	        {"[2001:db8:0:0::1]", "2001:db8::1", 0, true, true,
	         "[2001:db8::1]"},
	        {"[ipv6:::1]", "::1", 0, true, true, "[::1]"},
	        {"_dmarc-x.example", "_dmarc-x.example", 0, false, false,
	         "_dmarc-x.example"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nexthop nh;
		struct err e;
		char canon[300];
		if (nexthop_parse(cases[i].in, strlen(cases[i].in), &nh, &e) <
		    0)
			fail_msg("\"%s\": %s", cases[i].in, e.msg);
		assert_string_equal(nh.host, cases[i].host);
		assert_int_equal(nh.port, cases[i].port);
		assert_int_equal(nh.no_mx, cases[i].no_mx);
		assert_int_equal(nh.is_addr, cases[i].is_addr);
		assert_string_equal(nexthop_format(&nh, canon, sizeof(canon)),
		                    cases[i].canon);
	}
}

static void bad_forms(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "[",
	        "[host",
	        "[]",
	        "[host]x",
	        "[host]:",
	        "host:",
	        "host:0",
	        "host:65536",
	        "host:http",
	        "host:25x",
	        "2001:db8::1",
	        "bad..name",
	        "-lead.example",
	        "trail-.example",
	        "sp ace.example",
	        "[ipv6:]",
	        "a\nb",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nexthop nh;
		struct err e;
		if (nexthop_parse(bad[i], strlen(bad[i]), &nh, &e) == 0)
			fail_msg("\"%s\" accepted as host %s port %u", bad[i],
			         nh.host, nh.port);
	}
	/* Length is honoured, not a NUL: "example.com:25" cut after the
	 * colon has an empty port. */
	struct nexthop nh;
	struct err e;
	assert_int_equal(nexthop_parse("example.com:25", 12, &nh, &e), -1);
	assert_int_equal(nexthop_parse("example.com:25", 11, &nh, &e), 0);
	assert_string_equal(nh.host, "example.com");
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name));
	assert_int_equal(nexthop_parse(long_name, sizeof(long_name), &nh, &e),
	                 -1);
}

static void transport_split(void **state)
{
	(void)state;
	static const struct {
		const char *in, *transport, *nexthop;
	} cases[] = {
	        {"smtp:[relay.example]:587", "smtp", "[relay.example]:587"},
	        {"smtp:", "smtp", ""},
	        {":[relay.example]", "", "[relay.example]"},
	        {":", "", ""},
	        {"local", "local", ""},
	        {"error:5.1.1 no such user: x", "error",
	         "5.1.1 no such user: x"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nexthop_transport t;
		nexthop_transport_split(cases[i].in, strlen(cases[i].in), &t);
		assert_int_equal(t.transport_len, strlen(cases[i].transport));
		assert_memory_equal(t.transport, cases[i].transport,
		                    t.transport_len);
		assert_int_equal(t.nexthop_len, strlen(cases[i].nexthop));
		assert_memory_equal(t.nexthop, cases[i].nexthop, t.nexthop_len);
	}
}

static void route_rules(void **state)
{
	(void)state;
	static const struct {
		const char *def, *relayhost, *map, *want_t, *want_n;
	} cases[] = {
	        /* No table entry: default_transport, relayhost or the
	         * domain. */
	        {"smtp", "", NULL, "smtp", "dest.example"},
	        {"smtp", "[relay.isp]:587", NULL, "smtp", "[relay.isp]:587"},
	        {"smtp:[fixed]", "[relay.isp]", NULL, "smtp", "[fixed]"},
	        {" smtp ", NULL, NULL, "smtp", "dest.example"},
	        /* transport(5): ":" changes nothing. */
	        {"smtp", "[relay.isp]", ":", "smtp", "[relay.isp]"},
	        /* "transport:" resets the nexthop to the domain. */
	        {"smtp", "[relay.isp]", "relay:", "relay", "dest.example"},
	        /* ":nexthop" keeps the transport. */
	        {"smtp", "[relay.isp]", ":[inner.example]:25", "smtp",
	         "[inner.example]:25"},
	        {"smtp", "", "lmtp:[backend]:24", "lmtp", "[backend]:24"},
	        {"smtp", "", "error:5.7.1 go away", "error", "5.7.1 go away"},
	        {"smtp", "", "local", "local", "dest.example"},
	};
	struct buf t, n;
	buf_init(&t, 1024);
	buf_init(&n, 1024);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e;
		if (nexthop_route(cases[i].def, cases[i].relayhost,
		                  cases[i].map, "dest.example", &t, &n, &e) < 0)
			fail_msg("case %zu: %s", i, e.msg);
		if (strcmp(buf_cstr(&t), cases[i].want_t) ||
		    strcmp(buf_cstr(&n), cases[i].want_n))
			fail_msg("case %zu: got %s:%s, want %s:%s", i,
			         buf_cstr(&t), buf_cstr(&n), cases[i].want_t,
			         cases[i].want_n);
	}
	struct err e;
	assert_int_equal(nexthop_route(":[x]", "", NULL, "d", &t, &n, &e), -1);
	buf_deinit(&t);
	buf_deinit(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(good_forms),
	        cmocka_unit_test(bad_forms),
	        cmocka_unit_test(transport_split),
	        cmocka_unit_test(route_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
