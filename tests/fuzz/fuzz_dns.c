/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dns.c - what a DNS server sends back, from c-ares' parsers through
 * dns.c's reading of the reply to the smtp client's list of hosts to try
 *
 * Input: byte 0 configures the route (address preference, address limit,
 * whether an MX host is called like us); the rest is a list of DNS replies,
 * each a 2-byte big-endian length and the bytes. Reply 0 is the MX answer
 * for the destination, reply 1 is also read as a PTR answer, and the
 * replies after it answer the A and AAAA lookups of the MX hosts in turn
 * (NXDOMAIN when they run out). Checks what dns.h promises (valid lower
 * case names without the trailing dot, MX by preference, null MX only
 * for a lone ".", addresses of the family asked for, their text
 * matching their bytes, no duplicate PTR names, every count bounded) and
 * what smtp_route_build() promises (at most the address limit, each
 * address once, preference order, never this host, nothing from our own
 * preference on, a result code that matches the status).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/nexthop.h"
#include "common/str.h"
#include "smtp/smtp.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLIES_MAX 64
#define ME "mx.me.example"

struct replies {
	const uint8_t *p[REPLIES_MAX];
	size_t len[REPLIES_MAX];
	size_t n, next; /* next: the next one an address lookup takes */
};

static void split(const uint8_t *d, size_t n, struct replies *r)
{
	memset(r, 0, sizeof(*r));
	while (n >= 2 && r->n < REPLIES_MAX) {
		size_t len = (size_t)d[0] << 8 | d[1];
		d += 2;
		n -= 2;
		if (len > n)
			len = n;
		r->p[r->n] = d;
		r->len[r->n++] = len;
		d += len;
		n -= len;
	}
}

static void check_why(const struct dns_result *res)
{
	CHECK(memchr(res->why, 0, sizeof(res->why)));
	CHECK((res->status == DNS_OK) == (res->why[0] == 0));
}

static void check_name(const char *s)
{
	size_t len = strlen(s);
	CHECK(len > 0 && len <= DNS_NAME_MAX && s[len - 1] != '.');
	CHECK(dns_valid_hostname(s, len));
	for (size_t i = 0; i < len; i++)
		CHECK(!(s[i] >= 'A' && s[i] <= 'Z'));
}

static void check_mx(const struct dns_result *res)
{
	check_why(res);
	if (res->status != DNS_OK) {
		CHECK(res->nmx == 0);
		return;
	}
	CHECK(res->nmx >= 1 && res->nmx <= DNS_MX_MAX);
	for (size_t i = 0; i < res->nmx; i++) {
		check_name(res->mx[i].host);
		CHECK(i == 0 || res->mx[i - 1].pref <= res->mx[i].pref);
		CHECK(res->mx[i].pref <= 65535);
	}
}

static void check_addrs(const struct dns_result *res, size_t from, int family)
{
	CHECK(res->naddr <= DNS_ADDR_MAX);
	for (size_t i = from; i < res->naddr; i++) {
		const struct dns_addr *a = &res->addr[i];
		char text[sizeof(a->text)];
		CHECK(a->family == family);
		CHECK(inet_ntop(family, &a->a, text, sizeof(text)));
		CHECK(strcmp(text, a->text) == 0);
	}
}

static void check_ptr(const struct dns_result *res)
{
	check_why(res);
	CHECK((res->status == DNS_OK) == (res->nnames > 0));
	CHECK(res->nnames <= DNS_PTR_MAX);
	for (size_t i = 0; i < res->nnames; i++) {
		check_name(res->names[i]);
		for (size_t k = 0; k < i; k++)
			CHECK(!str_eq_nocase(res->names[i], res->names[k]));
	}
}

/* ---- the resolver smtp_route asks -------------------------------------- */

static int by_pref_host(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;
	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcmp(x->host, y->host);
}

static uint32_t counter_rnd(void *ctx)
{
	return (*(uint32_t *)ctx)++;
}

static enum dns_status fake_mx(void *ctx, const char *domain,
			       struct dns_result *res)
{
	struct replies *r = ctx;
	if (r->n == 0)
		return res->status = DNS_TEMPFAIL;
	dns_answer_mx(r->p[0], r->len[0], domain, res);
	check_mx(res);
	/* dns_answer_mx shuffles ties with arc4random; redo the order
	 * from a fixed start with a fixed source so runs repeat. */
	uint32_t seed = 7;
	if (res->nmx > 1)
		qsort(res->mx, res->nmx, sizeof(*res->mx), by_pref_host);
	dns_mx_sort(res->mx, res->nmx, counter_rnd, &seed);
	return res->status;
}

static enum dns_status fake_addr(void *ctx, const char *host,
				 struct dns_result *res)
{
	struct replies *r = ctx;
	(void)host;
	enum dns_status st[2] = {DNS_NXDOMAIN, DNS_NXDOMAIN};
	static const int fam[2] = {AF_INET, AF_INET6};
	for (int i = 0; i < 2; i++) {
		if (r->next >= r->n)
			break;
		size_t before = res->naddr;
		dns_answer_addr(r->p[r->next], r->len[r->next], fam[i], res);
		r->next++;
		check_why(res);
		check_addrs(res, before, fam[i]);
		CHECK((res->status == DNS_OK) == (res->naddr > before));
		st[i] = res->status;
	}
	/* Both families together, as dns_lookup_addr() decides. */
	if (res->naddr > 0)
		res->status = DNS_OK;
	else if (st[0] == DNS_TEMPFAIL || st[1] == DNS_TEMPFAIL)
		res->status = DNS_TEMPFAIL;
	else if (st[0] == DNS_NODATA || st[1] == DNS_NODATA)
		res->status = DNS_NODATA;
	else
		res->status = DNS_NXDOMAIN;
	snprintf(res->why, sizeof(res->why), "%s",
		 res->status == DNS_OK ? "" : "failed");
	return res->status;
}

static bool fake_is_mine(void *ctx, const struct dns_addr *a)
{
	(void)ctx;
	return strcmp(a->text, "127.0.0.1") == 0 || strcmp(a->text, "::1") == 0;
}

/* The lowest preference at which the MX list names us, or UINT_MAX. */
static unsigned my_pref(const struct replies *r, bool me)
{
	struct dns_result res;
	unsigned p = UINT32_MAX;
	if (!me || r->n == 0)
		return p;
	dns_result_init(&res);
	dns_answer_mx(r->p[0], r->len[0], "d.example", &res);
	for (size_t i = 0; i < res.nmx; i++)
		if (strcmp(res.mx[i].host, ME) == 0 && res.mx[i].pref < p)
			p = res.mx[i].pref;
	dns_result_deinit(&res);
	return p;
}

static void route(struct replies *r, uint8_t ctl)
{
	static const enum smtp_addr_pref prefs[4] = {
		SMTP_PREF_ANY, SMTP_PREF_IPV4, SMTP_PREF_IPV6, SMTP_PREF_ANY};
	uint32_t seed = ctl;
	struct smtp_resolver resolver = {fake_mx, fake_addr, r};
	bool me = ctl & 0x20;
	struct smtp_route_config cfg = {
		.resolver = &resolver,
		.default_port = 25,
		.addr_limit = 1 + ((ctl >> 2) & 7),
		.pref = prefs[ctl & 3],
		.myhostname = me ? ME : "other.example",
		.is_mine = fake_is_mine,
		.rnd = counter_rnd,
		.rnd_ctx = &seed,
	};
	struct nexthop nh;
	struct err e;
	struct smtp_route out;
	unsigned mine = my_pref(r, me);
	CHECK(nexthop_parse("d.example", 9, &nh, &e) == 0);
	enum smtp_route_status st = smtp_route_build(&cfg, &nh, &out);
	CHECK(st == out.status);
	CHECK(memchr(out.dsn, 0, sizeof(out.dsn)));
	CHECK(memchr(out.reason, 0, sizeof(out.reason)));
	switch (st) {
	case SMTP_ROUTE_OK:
		CHECK(out.n >= 1 && out.n <= cfg.addr_limit);
		break;
	case SMTP_ROUTE_DEFER:
		CHECK(out.n == 0 && out.dsn[0] == '4');
		break;
	case SMTP_ROUTE_BOUNCE:
		CHECK(out.n == 0 && out.dsn[0] == '5');
		break;
	default:
		abort();
	}
	for (size_t i = 0; i < out.n; i++) {
		const struct smtp_target *t = &out.t[i];
		CHECK(t->port == 25);
		CHECK(!fake_is_mine(NULL, &t->addr));
		CHECK(!str_eq_nocase(t->host, ME) || !me);
		CHECK(t->pref < mine);
		CHECK(i == 0 || out.t[i - 1].pref <= t->pref);
		if (strcmp(t->host, "d.example") != 0)
			check_name(t->host);
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(out.t[k].addr.text, t->addr.text) != 0);
	}
	smtp_route_deinit(&out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	(void)log_to_file("/dev/null");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct replies r;
	split(data + 1, size - 1, &r);
	struct dns_result res;

	/* Each reply read as each kind of answer on its own. */
	for (size_t i = 0; i < r.n; i++) {
		dns_result_init(&res);
		dns_answer_mx(r.p[i], r.len[i], "d.example", &res);
		check_mx(&res);
		dns_result_deinit(&res);
		for (int f = 0; f < 2; f++) {
			dns_result_init(&res);
			int fam = f ? AF_INET6 : AF_INET;
			dns_answer_addr(r.p[i], r.len[i], fam, &res);
			check_why(&res);
			check_addrs(&res, 0, fam);
			dns_result_deinit(&res);
		}
	}
	if (r.n > 1) {
		struct dns_addr a;
		CHECK(dns_parse_addr(data[0] & 1 ? "2001:db8::1" : "192.0.2.1",
				     &a));
		dns_result_init(&res);
		dns_answer_ptr(r.p[1], r.len[1], &a, &res);
		check_ptr(&res);
		dns_result_deinit(&res);
	}
	route(&r, data[0]);
	return 0;
}
