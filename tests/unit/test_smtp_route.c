/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_route.c - from a next hop to addresses, with a fake resolver:
 * MX preference order and ties, implicit MX, null MX, NXDOMAIN/SERVFAIL,
 * unresolvable MX hosts, address preference and limit, duplicates, and
 * "loops back to myself" by name and by address
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/xalloc.h"
#include "smtp/smtp.h"

/* ---- the fake resolver ------------------------------------------------- */

struct fake_mx {
	unsigned pref;
	const char *host;
};

struct fake_name {
	const char *name;
	enum dns_status mx_status;
	struct fake_mx mx[6];
	enum dns_status addr_status;
	const char *addrs[6];
};

struct fake {
	const struct fake_name *names;
	size_t n;
	int mx_queries, addr_queries;
};

static const struct fake_name *find(struct fake *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->names[i].name, name) == 0)
			return &f->names[i];
	return NULL;
}

static enum dns_status fake_mx(void *ctx, const char *domain,
                               struct dns_result *res)
{
	struct fake *f = ctx;
	f->mx_queries++;
	const struct fake_name *n = find(f, domain);
	res->status = n ? n->mx_status : DNS_NXDOMAIN;
	snprintf(res->why, sizeof(res->why), "%s",
	         res->status == DNS_NXDOMAIN ? "Host not found" : "why");
	if (res->status != DNS_OK)
		return res->status;
	res->mx = xcalloc(6, sizeof(*res->mx));
	for (size_t i = 0; i < 6 && n->mx[i].host; i++) {
		snprintf(res->mx[i].host, sizeof(res->mx[i].host), "%s",
		         n->mx[i].host);
		res->mx[i].pref = n->mx[i].pref;
		res->nmx++;
	}
	return res->status;
}

static enum dns_status fake_addr(void *ctx, const char *host,
                                 struct dns_result *res)
{
	struct fake *f = ctx;
	f->addr_queries++;
	const struct fake_name *n = find(f, host);
	res->status = n ? n->addr_status : DNS_NXDOMAIN;
	snprintf(res->why, sizeof(res->why), "%s",
	         res->status == DNS_TEMPFAIL ? "Host not found, try again"
	                                     : "Host not found");
	if (res->status != DNS_OK)
		return res->status;
	res->addr = xcalloc(6, sizeof(*res->addr));
	for (size_t i = 0; i < 6 && n->addrs[i]; i++)
		assert_true(
		        dns_parse_addr(n->addrs[i], &res->addr[res->naddr++]));
	return res->status;
}

static uint32_t counter_rnd(void *ctx)
{
	return (*(uint32_t *)ctx)++;
}

static const char *const *mine_list;

static bool fake_is_mine(void *ctx, const struct dns_addr *a)
{
	(void)ctx;
	for (size_t i = 0; mine_list && mine_list[i]; i++)
		if (strcmp(mine_list[i], a->text) == 0)
			return true;
	return false;
}

struct bed {
	struct fake fake;
	struct smtp_resolver resolver;
	struct smtp_route_config cfg;
	uint32_t seed;
};

static void bed_init(struct bed *b, const struct fake_name *names, size_t n)
{
	memset(b, 0, sizeof(*b));
	b->fake.names = names;
	b->fake.n = n;
	b->resolver = (struct smtp_resolver){fake_mx, fake_addr, &b->fake};
	b->cfg = (struct smtp_route_config){
	        .resolver = &b->resolver,
	        .default_port = 25,
	        .addr_limit = 5,
	        .pref = SMTP_PREF_IPV4,
	        .myhostname = "mail.me.example",
	        .is_mine = fake_is_mine,
	        .rnd = counter_rnd,
	        .rnd_ctx = &b->seed,
	};
	mine_list = NULL;
}

static enum smtp_route_status route(struct bed *b, const char *nexthop,
                                    struct smtp_route *out)
{
	struct nexthop nh;
	struct err e;
	if (nexthop_parse(nexthop, strlen(nexthop), &nh, &e) < 0)
		fail_msg("%s: %s", nexthop, e.msg);
	return smtp_route_build(&b->cfg, &nh, out);
}

/* "host=addr host=addr ..." for easy comparison. */
static const char *targets(const struct smtp_route *r, char *out, size_t sz)
{
	size_t off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < r->n && off < sz; i++)
		off += (size_t)snprintf(out + off, sz - off, "%s%s=%s:%u",
		                        i ? " " : "", r->t[i].host,
		                        r->t[i].addr.text, r->t[i].port);
	return out;
}

/* Routes nexthop and checks it succeeds with exactly the targets want. */
static void expect_route(struct bed *b, const char *nexthop, const char *want)
{
	struct smtp_route r;
	char got[512];
	enum smtp_route_status st = route(b, nexthop, &r);
	if (st != SMTP_ROUTE_OK)
		fail_msg("%s: status %d (%s)", nexthop, st, r.reason);
	if (strcmp(targets(&r, got, sizeof(got)), want))
		fail_msg("%s: got \"%s\", want \"%s\"", nexthop, got, want);
	smtp_route_deinit(&r);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- tests ----------------------------------------------------------------
 */

static const struct fake_name zone[] = {
        {"example.org",
         DNS_OK,
         {{20, "mx2.example.org"},
          {10, "mx1a.example.org"},
          {10, "mx1b.example.org"},
          {30, "mx3.example.org"}},
         DNS_OK,
         {NULL}},
        {"mx1a.example.org", DNS_NODATA, {{0}}, DNS_OK, {"192.0.2.1"}},
        {"mx1b.example.org", DNS_NODATA, {{0}}, DNS_OK, {"192.0.2.2"}},
        {"mx2.example.org",
         DNS_NODATA,
         {{0}},
         DNS_OK,
         {"2001:db8::2", "192.0.2.20"}},
        {"mx3.example.org", DNS_NODATA, {{0}}, DNS_OK, {"192.0.2.3"}},
        {"plain.example", DNS_NODATA, {{0}}, DNS_OK, {"198.51.100.7"}},
        {"nullmx.example", DNS_NULLMX, {{0}}, DNS_NODATA, {NULL}},
        {"broken.example", DNS_TEMPFAIL, {{0}}, DNS_TEMPFAIL, {NULL}},
        {"ghosts.example",
         DNS_OK,
         {{10, "ghost1.example"}, {20, "ghost2.example"}},
         DNS_OK,
         {NULL}},
        {"flaky.example",
         DNS_OK,
         {{10, "tempfail.example"}, {20, "mx3.example.org"}},
         DNS_OK,
         {NULL}},
        {"tempfail.example", DNS_NODATA, {{0}}, DNS_TEMPFAIL, {NULL}},
        {"halfghost.example",
         DNS_OK,
         {{10, "tempfail.example"}, {20, "ghost1.example"}},
         DNS_OK,
         {NULL}},
        {"relay.example",
         DNS_OK,
         {{10, "elsewhere.example"}},
         DNS_OK,
         {"203.0.113.5", "203.0.113.5"}},
        {"self.example",
         DNS_OK,
         {{10, "mail.me.example"}, {20, "mx3.example.org"}},
         DNS_OK,
         {NULL}},
        {"backup.example",
         DNS_OK,
         {{10, "mx1a.example.org"},
          {20, "MAIL.ME.EXAMPLE"},
          {30, "mx3.example.org"}},
         DNS_OK,
         {NULL}},
        {"byaddr.example",
         DNS_OK,
         {{10, "mx1a.example.org"},
          {10, "myself.example"},
          {20, "mx3.example.org"}},
         DNS_OK,
         {NULL}},
        {"myself.example", DNS_NODATA, {{0}}, DNS_OK, {"192.0.2.99"}},
        {"dup.example",
         DNS_OK,
         {{10, "mx1a.example.org"}, {20, "alias.example"}},
         DNS_OK,
         {NULL}},
        {"alias.example", DNS_NODATA, {{0}}, DNS_OK, {"192.0.2.1"}},
        {"tie.example",
         DNS_OK,
         {{10, "mx1a.example.org"}, {10, "mail.me.example"}},
         DNS_OK,
         {NULL}},
};

static void mx_order_with_shuffled_ties(void **state)
{
	(void)state;
	/* The resolver hands MX records over sorted (dns_mx_sort(), the
	 * route keeps their order): lowest preference first, ties in an
	 * order that depends on the random source. */
	bool seen_a_first = false, seen_b_first = false;
	for (uint32_t seed = 0; seed < 8; seed++) {
		struct dns_mx mx[4] = {
		        {"mx2", 20}, {"mx1a", 10}, {"mx1b", 10}, {"mx3", 30}};
		uint32_t s = seed;
		dns_mx_sort(mx, 4, counter_rnd, &s);
		assert_int_equal(mx[0].pref, 10);
		assert_int_equal(mx[1].pref, 10);
		assert_string_equal(mx[2].host, "mx2");
		assert_string_equal(mx[3].host, "mx3");
		if (!strcmp(mx[0].host, "mx1a"))
			seen_a_first = true;
		else
			seen_b_first = true;
	}
	assert_true(seen_a_first && seen_b_first);
}

static void addresses_follow_mx_order_and_limit(void **state)
{
	(void)state;
	static const struct fake_name sorted[] = {
	        {"example.org",
	         DNS_OK,
	         {{10, "mx1a.example.org"},
	          {20, "mx2.example.org"},
	          {30, "mx3.example.org"}},
	         DNS_OK,
	         {NULL}},
	        {"mx1a.example.org", DNS_NODATA, {{0}}, DNS_OK, {"192.0.2.1"}},
	        {"mx2.example.org",
	         DNS_NODATA,
	         {{0}},
	         DNS_OK,
	         {"2001:db8::2", "192.0.2.20"}},
	        {"mx3.example.org", DNS_NODATA, {{0}}, DNS_OK, {"192.0.2.3"}},
	};
	struct bed b;
	struct smtp_route r;
	char got[512];
	bed_init(&b, sorted, N(sorted));
	assert_int_equal(route(&b, "example.org", &r), SMTP_ROUTE_OK);
	assert_string_equal(targets(&r, got, sizeof(got)),
	                    "mx1a.example.org=192.0.2.1:25 "
	                    "mx2.example.org=192.0.2.20:25 "
	                    "mx2.example.org=2001:db8::2:25 "
	                    "mx3.example.org=192.0.2.3:25");
	smtp_route_deinit(&r);

	b.cfg.pref = SMTP_PREF_IPV6;
	b.cfg.addr_limit = 2;
	b.fake.addr_queries = 0;
	assert_int_equal(route(&b, "example.org:2525", &r), SMTP_ROUTE_OK);
	assert_string_equal(targets(&r, got, sizeof(got)),
	                    "mx1a.example.org=192.0.2.1:2525 "
	                    "mx2.example.org=2001:db8::2:2525");
	/* The limit also stops the lookups: mx3 was never asked for. */
	assert_int_equal(b.fake.addr_queries, 2);
	smtp_route_deinit(&r);
}

static void implicit_mx(void **state)
{
	(void)state;
	struct bed b;
	bed_init(&b, zone, N(zone));
	expect_route(&b, "plain.example", "plain.example=198.51.100.7:25");
}

static void failures(void **state)
{
	(void)state;
	static const struct {
		const char *nexthop;
		enum smtp_route_status st;
		const char *dsn, *reason;
	} cases[] = {
	        {"nullmx.example", SMTP_ROUTE_BOUNCE, "5.1.10",
	         "Domain nullmx.example does not accept mail (nullMX)"},
	        {"nosuch.example", SMTP_ROUTE_BOUNCE, "5.1.2",
	         "Host or domain name not found. Name service error for "
	         "name=nosuch.example type=MX: Host not found"},
	        {"broken.example", SMTP_ROUTE_DEFER, "4.4.3", NULL},
	        {"ghosts.example", SMTP_ROUTE_BOUNCE, "5.4.4",
	         "Host or domain name not found. Name service error for "
	         "name=ghost2.example type=A: Host not found"},
	        {"halfghost.example", SMTP_ROUTE_DEFER, "4.4.3", NULL},
	        {"[nosuch.example]", SMTP_ROUTE_BOUNCE, "5.1.2", NULL},
	        {"[tempfail.example]", SMTP_ROUTE_DEFER, "4.4.3", NULL},
	        {"self.example", SMTP_ROUTE_BOUNCE, "5.4.6",
	         "mail for self.example loops back to myself"},
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct bed b;
		struct smtp_route r;
		bed_init(&b, zone, N(zone));
		enum smtp_route_status st = route(&b, cases[i].nexthop, &r);
		if (st != cases[i].st || strcmp(r.dsn, cases[i].dsn))
			fail_msg("%s: got %d %s (%s), want %d %s",
			         cases[i].nexthop, st, r.dsn, r.reason,
			         cases[i].st, cases[i].dsn);
		if (cases[i].reason)
			assert_string_equal(r.reason, cases[i].reason);
		assert_int_equal(r.n, 0);
		smtp_route_deinit(&r);
	}
}

static void one_unresolvable_mx_is_skipped(void **state)
{
	(void)state;
	struct bed b;
	bed_init(&b, zone, N(zone));
	expect_route(&b, "flaky.example", "mx3.example.org=192.0.2.3:25");
}

static void bracketed_host_skips_mx(void **state)
{
	(void)state;
	struct bed b;
	bed_init(&b, zone, N(zone));
	/* The same address twice is tried once. */
	expect_route(&b, "[relay.example]:587",
	             "relay.example=203.0.113.5:587");
	assert_int_equal(b.fake.mx_queries, 0);
	b.fake.addr_queries = 0;
	expect_route(&b, "[192.0.2.77]", "192.0.2.77=192.0.2.77:25");
	assert_int_equal(b.fake.addr_queries, 0);
}

static void loops_are_cut_at_our_preference(void **state)
{
	(void)state;
	struct bed b;
	struct smtp_route r;
	bed_init(&b, zone, N(zone));
	/* We are the backup (by name, any case): only the primary. */
	expect_route(&b, "backup.example", "mx1a.example.org=192.0.2.1:25");
	/* By address, at the best preference, next to another host of
	 * the same preference: that one goes too. */
	static const char *const mine[] = {"192.0.2.99", NULL};
	mine_list = mine;
	assert_int_equal(route(&b, "byaddr.example", &r), SMTP_ROUTE_BOUNCE);
	assert_string_equal(r.dsn, "5.4.6");
	assert_string_equal(r.reason,
	                    "mail for byaddr.example loops back to myself");
	smtp_route_deinit(&r);
	mine_list = NULL;
	expect_route(
	        &b, "byaddr.example",
	        "mx1a.example.org=192.0.2.1:25 "
	        "myself.example=192.0.2.99:25 mx3.example.org=192.0.2.3:25");
}

/* We are an MX host by name at the best preference, after a peer of
 * the same preference: the peer is cut however soon the address limit
 * ends the walk (it once stayed when the limit was reached first). */
static void own_preference_cut_before_the_limit(void **state)
{
	(void)state;
	struct bed b;
	struct smtp_route r;
	bed_init(&b, zone, N(zone));
	for (size_t limit = 1; limit <= 2; limit++) {
		b.cfg.addr_limit = limit;
		assert_int_equal(route(&b, "tie.example", &r),
		                 SMTP_ROUTE_BOUNCE);
		assert_string_equal(r.dsn, "5.4.6");
		smtp_route_deinit(&r);
	}
}

static void duplicate_addresses_once(void **state)
{
	(void)state;
	struct bed b;
	bed_init(&b, zone, N(zone));
	expect_route(&b, "dup.example", "mx1a.example.org=192.0.2.1:25");
}

static void address_preference_names(void **state)
{
	(void)state;
	enum smtp_addr_pref p;
	assert_int_equal(smtp_route_parse_pref("IPv4", &p), 0);
	assert_int_equal(p, SMTP_PREF_IPV4);
	assert_int_equal(smtp_route_parse_pref("ipv6", &p), 0);
	assert_int_equal(p, SMTP_PREF_IPV6);
	assert_int_equal(smtp_route_parse_pref("any", &p), 0);
	assert_int_equal(p, SMTP_PREF_ANY);
	assert_int_equal(smtp_route_parse_pref("both", &p), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(mx_order_with_shuffled_ties),
	        cmocka_unit_test(addresses_follow_mx_order_and_limit),
	        cmocka_unit_test(implicit_mx),
	        cmocka_unit_test(failures),
	        cmocka_unit_test(one_unresolvable_mx_is_skipped),
	        cmocka_unit_test(bracketed_host_skips_mx),
	        cmocka_unit_test(loops_are_cut_at_our_preference),
	        cmocka_unit_test(own_preference_cut_before_the_limit),
	        cmocka_unit_test(duplicate_addresses_once),
	        cmocka_unit_test(address_preference_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
