/* SPDX-License-Identifier: MIT */
/*
 * test_dns.c - c-ares behind common/dns.h, against a tiny DNS server on
 * loopback run by this test: MX order and null MX, NXDOMAIN vs NODATA vs
 * SERVFAIL vs timeout, A/AAAA, PTR, malformed names and MX hosts,
 * dns_servers parsing, and the event-loop interface
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/dns.h"
#include "common/event.h"

/* ---- a DNS server for the test --------------------------------------- */

enum { T_A = 1, T_PTR = 12, T_MX = 15, T_AAAA = 28 };
enum { RC_OK = 0, RC_SERVFAIL = 2, RC_NXDOMAIN = 3, RC_DROP = 99 };

struct rr {
	const char *name; /* lower case, no trailing dot */
	int type;         /* 0: any type (for rcode entries) */
	int rcode;
	const char *data; /* A/AAAA address, PTR name, or "pref host" */
};

static const struct rr zone[] = {
        {"example.test", T_MX, RC_OK, "20 mx2.example.test"},
        {"example.test", T_MX, RC_OK, "10 mx1.example.test"},
        {"example.test", T_MX, RC_OK, "30 MX3.Example.Test."},
        {"mx1.example.test", T_A, RC_OK, "192.0.2.1"},
        {"mx1.example.test", T_A, RC_OK, "192.0.2.11"},
        {"mx1.example.test", T_AAAA, RC_OK, "2001:db8::1"},
        {"v6only.example.test", T_AAAA, RC_OK, "2001:db8::6"},
        {"nullmx.test", T_MX, RC_OK, "0 ."},
        {"mixednull.test", T_MX, RC_OK, "0 ."},
        {"mixednull.test", T_MX, RC_OK, "10 mx1.example.test"},
        {"badhost.test", T_MX, RC_OK, "10 bad_host-.test"},
        {"badhost.test", T_MX, RC_OK, "20 mx1.example.test"},
        {"onlybad.test", T_MX, RC_OK, "10 -bad.test"},
        {"servfail.test", 0, RC_SERVFAIL, NULL},
        {"silent.test", 0, RC_DROP, NULL},
        {"halfbroken.test", T_A, RC_SERVFAIL, NULL},
        {"halfbroken.test", T_AAAA, RC_OK, "2001:db8::7"},
        {"1.2.0.192.in-addr.arpa", T_PTR, RC_OK, "mx1.example.test"},
        {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
         "ip6.arpa",
         T_PTR, RC_OK, "v6.example.test"},
};

struct server {
	int fd;
	unsigned short port;
	pthread_t thread;
	volatile int stop;
};

static size_t put_name(unsigned char *p, const char *name)
{
	size_t n = 0;
	while (*name && strcmp(name, ".") != 0) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);
		p[n++] = (unsigned char)len;
		memcpy(p + n, name, len);
		n += len;
		name += len + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

static size_t put_rdata(unsigned char *p, const struct rr *r)
{
	switch (r->type) {
	case T_A:
		inet_pton(AF_INET, r->data, p);
		return 4;
	case T_AAAA:
		inet_pton(AF_INET6, r->data, p);
		return 16;
	case T_PTR:
		return put_name(p, r->data);
	default: { /* MX */
		unsigned pref = 0;
		char host[256];
		sscanf(r->data, "%u %255s", &pref, host);
		p[0] = (unsigned char)(pref >> 8);
		p[1] = (unsigned char)pref;
		return 2 + put_name(p + 2, host);
	}
	}
}

/* Builds the answer to q[0..n); 0 to send nothing. */
static size_t answer(const unsigned char *q, size_t n, unsigned char *out)
{
	char name[256];
	size_t i = 12, o = 0;
	while (i < n && q[i] && o < sizeof(name) - 2) {
		size_t len = q[i++];
		for (size_t k = 0; k < len && i < n; k++) {
			char c = (char)q[i++];
			name[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		name[o++] = '.';
	}
	if (o)
		o--;
	name[o] = '\0';
	if (i + 5 > n)
		return 0;
	int type = q[i + 1] << 8 | q[i + 2];
	size_t qend = i + 5;
	memcpy(out, q, qend);
	int rcode = RC_NXDOMAIN;
	size_t an = 0, len = qend;
	for (size_t k = 0; k < sizeof(zone) / sizeof(zone[0]); k++) {
		const struct rr *r = &zone[k];
		if (strcmp(r->name, name) != 0)
			continue;
		if (rcode == RC_NXDOMAIN)
			rcode = RC_OK; /* the name exists */
		if (r->type != 0 && r->type != type)
			continue;
		if (r->rcode != RC_OK) {
			rcode = r->rcode;
			continue;
		}
		unsigned char *p = out + len;
		p[0] = 0xc0;
		p[1] = 12;
		p[2] = 0;
		p[3] = (unsigned char)r->type;
		p[4] = 0;
		p[5] = 1;
		memset(p + 6, 0, 3);
		p[9] = 60;
		size_t rdlen = put_rdata(p + 12, r);
		p[10] = (unsigned char)(rdlen >> 8);
		p[11] = (unsigned char)rdlen;
		len += 12 + rdlen;
		an++;
	}
	if (rcode == RC_DROP)
		return 0;
	out[2] = 0x84 | (q[2] & 1); /* QR, AA, RD copied */
	out[3] = (unsigned char)(0x80 | rcode);
	out[6] = 0;
	out[7] = (unsigned char)(rcode == RC_OK ? an : 0);
	memset(out + 8, 0, 4);
	return rcode == RC_OK ? len : qend;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	unsigned char q[512], out[4096];
	while (!s->stop) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(s->fd, q, sizeof(q), 0,
		                     (struct sockaddr *)&peer, &plen);
		if (n < 12)
			continue;
		size_t len = answer(q, (size_t)n, out);
		if (len)
			(void)sendto(s->fd, out, len, 0,
			             (struct sockaddr *)&peer, plen);
	}
	return NULL;
}

static struct server srv;
static char server_text[64];
static struct strv servers;

static int setup(void **state)
{
	(void)state;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&sin, sizeof(sin)))
		return -1;
	socklen_t len = sizeof(sin);
	getsockname(srv.fd, (struct sockaddr *)&sin, &len);
	srv.port = ntohs(sin.sin_port);
	snprintf(server_text, sizeof(server_text), "127.0.0.1:%u", srv.port);
	strv_init(&servers);
	strv_push(&servers, server_text);
	return pthread_create(&srv.thread, NULL, serve, &srv) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	srv.stop = 1;
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	strv_deinit(&servers);
	return 0;
}

static struct dns_resolver *resolver(long timeout_ms)
{
	struct dns_config cfg = {.servers = &servers, .timeout_ms = timeout_ms};
	struct err e;
	struct dns_resolver *r = dns_resolver_new(&cfg, NULL, &e);
	if (!r)
		fail_msg("resolver: %s", e.msg);
	return r;
}

/* ---- tests ----------------------------------------------------------------
 */

static void mx_sorted_and_lower_cased(void **state)
{
	(void)state;
	struct dns_resolver *r = resolver(2000);
	struct dns_result res;
	dns_result_init(&res);
	assert_int_equal(dns_lookup_mx(r, "example.test", &res), DNS_OK);
	assert_int_equal(res.nmx, 3);
	assert_string_equal(res.mx[0].host, "mx1.example.test");
	assert_int_equal(res.mx[0].pref, 10);
	assert_string_equal(res.mx[1].host, "mx2.example.test");
	assert_string_equal(res.mx[2].host, "mx3.example.test");
	/* A trailing dot and upper case ask the same. */
	assert_int_equal(dns_lookup_mx(r, "EXAMPLE.test.", &res), DNS_OK);
	assert_int_equal(res.nmx, 3);
	dns_result_deinit(&res);
	dns_resolver_free(&r);
	assert_null(r);
}

static void mx_outcomes(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		enum dns_status want;
		size_t nmx;
	} cases[] = {
	        {"nullmx.test", DNS_NULLMX, 0},
	        {"mixednull.test", DNS_OK, 1},
	        {"badhost.test", DNS_OK, 1},
	        {"onlybad.test", DNS_TEMPFAIL, 0},
	        {"nosuch.test", DNS_NXDOMAIN, 0},
	        {"mx1.example.test", DNS_NODATA, 0},
	        {"servfail.test", DNS_TEMPFAIL, 0},
	        {"bad..name", DNS_BADNAME, 0},
	        {"", DNS_BADNAME, 0},
	};
	struct dns_resolver *r = resolver(2000);
	struct dns_result res;
	dns_result_init(&res);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dns_status st = dns_lookup_mx(r, cases[i].name, &res);
		if (st != cases[i].want || res.nmx != cases[i].nmx)
			fail_msg("%s: got %s with %zu MX (%s), want %s",
			         cases[i].name, dns_status_name(st), res.nmx,
			         res.why, dns_status_name(cases[i].want));
		if (st != DNS_OK)
			assert_true(res.why[0] != '\0');
	}
	dns_result_deinit(&res);
	dns_resolver_free(&r);
}

static void timeout_is_temporary_and_bounded(void **state)
{
	(void)state;
	struct dns_resolver *r = resolver(600);
	struct dns_result res;
	dns_result_init(&res);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(dns_lookup_mx(r, "silent.test", &res), DNS_TEMPFAIL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 +
	          (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 500 && ms < 1500);
	assert_non_null(strstr(res.why, "timeout"));
	/* The resolver still works afterwards. */
	assert_int_equal(dns_lookup_mx(r, "example.test", &res), DNS_OK);
	dns_result_deinit(&res);
	dns_resolver_free(&r);
}

static void addresses(void **state)
{
	(void)state;
	struct dns_resolver *r = resolver(2000);
	struct dns_result res;
	dns_result_init(&res);
	assert_int_equal(
	        dns_lookup_addr(r, "mx1.example.test", DNS_FAMILY_ANY, &res),
	        DNS_OK);
	assert_int_equal(res.naddr, 3);
	assert_string_equal(res.addr[0].text, "192.0.2.1");
	assert_string_equal(res.addr[1].text, "192.0.2.11");
	assert_string_equal(res.addr[2].text, "2001:db8::1");
	assert_int_equal(res.addr[2].family, AF_INET6);
	assert_int_equal(
	        dns_lookup_addr(r, "mx1.example.test", DNS_FAMILY_V6, &res),
	        DNS_OK);
	assert_int_equal(res.naddr, 1);
	assert_int_equal(
	        dns_lookup_addr(r, "v6only.example.test", DNS_FAMILY_V4, &res),
	        DNS_NODATA);
	assert_int_equal(
	        dns_lookup_addr(r, "v6only.example.test", DNS_FAMILY_ANY, &res),
	        DNS_OK);
	assert_int_equal(
	        dns_lookup_addr(r, "nosuch.test", DNS_FAMILY_ANY, &res),
	        DNS_NXDOMAIN);
	assert_string_equal(res.why, "Host not found");
	assert_int_equal(
	        dns_lookup_addr(r, "servfail.test", DNS_FAMILY_ANY, &res),
	        DNS_TEMPFAIL);
	/* One family failing does not hide the other's addresses, and
	 * without any, a temporary failure wins over NODATA. */
	assert_int_equal(
	        dns_lookup_addr(r, "halfbroken.test", DNS_FAMILY_ANY, &res),
	        DNS_OK);
	assert_int_equal(
	        dns_lookup_addr(r, "halfbroken.test", DNS_FAMILY_V4, &res),
	        DNS_TEMPFAIL);
	/* Numeric addresses answer themselves. */
	assert_int_equal(
	        dns_lookup_addr(r, "198.51.100.9", DNS_FAMILY_ANY, &res),
	        DNS_OK);
	assert_string_equal(res.addr[0].text, "198.51.100.9");
	assert_int_equal(dns_lookup_addr(r, "::1", DNS_FAMILY_V4, &res),
	                 DNS_NODATA);
	dns_result_deinit(&res);
	dns_resolver_free(&r);
}

static void ptr(void **state)
{
	(void)state;
	struct dns_resolver *r = resolver(2000);
	struct dns_result res;
	dns_result_init(&res);
	assert_int_equal(dns_lookup_ptr(r, "192.0.2.1", &res), DNS_OK);
	assert_int_equal(res.nnames, 1);
	assert_string_equal(res.names[0], "mx1.example.test");
	assert_int_equal(dns_lookup_ptr(r, "2001:db8::1", &res), DNS_OK);
	assert_string_equal(res.names[0], "v6.example.test");
	assert_int_equal(dns_lookup_ptr(r, "192.0.2.99", &res), DNS_NXDOMAIN);
	assert_int_equal(dns_lookup_ptr(r, "not-an-address", &res),
	                 DNS_BADNAME);
	dns_result_deinit(&res);
	dns_resolver_free(&r);
}

static void server_lists(void **state)
{
	(void)state;
	static const char *const good[] = {"127.0.0.1", "127.0.0.1:5353",
	                                   "[::1]:53", "::1", "[::1]"};
	static const char *const bad[] = {"localhost",       "127.0.0.1:0",
	                                  "127.0.0.1:99999", "[::1",
	                                  "[::1]x",          "1.2.3.4:"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct strv sv;
		strv_init(&sv);
		strv_push(&sv, good[i]);
		struct dns_config cfg = {.servers = &sv, .timeout_ms = 100};
		struct err e;
		struct dns_resolver *r = dns_resolver_new(&cfg, NULL, &e);
		if (!r)
			fail_msg("%s refused: %s", good[i], e.msg);
		dns_resolver_free(&r);
		strv_deinit(&sv);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct strv sv;
		strv_init(&sv);
		strv_push(&sv, bad[i]);
		struct dns_config cfg = {.servers = &sv, .timeout_ms = 100};
		struct err e;
		struct dns_resolver *r = dns_resolver_new(&cfg, NULL, &e);
		strv_deinit(&sv);
		if (r)
			fail_msg("%s accepted", bad[i]);
		assert_non_null(strstr(e.msg, "dns_servers"));
	}
}

static void mx_sort_ties(void **state)
{
	(void)state;
	/* Equal preferences come out in every order over many draws. */
	int first_a = 0, first_b = 0;
	for (int i = 0; i < 200; i++) {
		struct dns_mx mx[3] = {{"c", 5}, {"a", 1}, {"b", 1}};
		dns_mx_sort(mx, 3, NULL, NULL);
		assert_int_equal(mx[0].pref, 1);
		assert_string_equal(mx[2].host, "c");
		if (!strcmp(mx[0].host, "a"))
			first_a++;
		else
			first_b++;
	}
	assert_true(first_a > 20 && first_b > 20);
	dns_mx_sort(NULL, 0, NULL, NULL);
}

static void hostnames(void **state)
{
	(void)state;
	static const char *const good[] = {"a", "a.b", "a-b.c.", "_x.y",
	                                   "xn--bcher-kva.example"};
	static const char *const bad[] = {"",     ".",     "a..b",
	                                  "-a.b", "a-.b",  "a b",
	                                  "a/b",  "a.b..", "\xc3\xa4.de"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(dns_valid_hostname(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dns_valid_hostname(bad[i], strlen(bad[i])))
			fail_msg("\"%s\" accepted", bad[i]);
	char label[70];
	memset(label, 'a', sizeof(label));
	assert_true(dns_valid_hostname(label, 63));
	assert_false(dns_valid_hostname(label, 64));
}

/* ---- the event-loop interface ------------------------------------------ */

struct async {
	int done;
	enum dns_status st[3];
	size_t n[3];
	struct event_loop *loop;
};

static void on_done(const struct dns_result *res, void *ctx)
{
	struct async *a = ctx;
	a->st[a->done] = res->status;
	a->n[a->done] = res->nmx + res->naddr + res->nnames;
	if (++a->done == 3)
		event_loop_stop(a->loop);
}

static void on_deadline(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	event_loop_stop(ctx);
}

static void event_loop_lookups(void **state)
{
	(void)state;
	struct async a = {0};
	a.loop = event_loop_new();
	struct dns_config cfg = {.servers = &servers, .timeout_ms = 2000};
	struct err e;
	struct dns_resolver *r = dns_resolver_new(&cfg, a.loop, &e);
	assert_non_null(r);
	/* Synchronous calls are for synchronous resolvers only; async
	 * starts need a loop resolver. */
	assert_int_equal(dns_start_mx(r, "example.test", on_done, &a), 0);
	assert_int_equal(
	        dns_start_addr(r, "192.0.2.5", DNS_FAMILY_ANY, on_done, &a), 0);
	assert_int_equal(dns_start_ptr(r, "192.0.2.1", on_done, &a), 0);
	/* Never called back from inside a start. */
	assert_int_equal(a.done, 0);
	struct event *deadline =
	        event_add_timer(a.loop, 5000, on_deadline, a.loop);
	assert_int_equal(event_loop_run(a.loop), 0);
	event_del(&deadline);
	assert_int_equal(a.done, 3);
	/* The numeric address completes first, then the network ones. */
	assert_int_equal(a.st[0], DNS_OK);
	assert_int_equal(a.n[0], 1);
	assert_int_equal(a.st[1], DNS_OK);
	assert_int_equal(a.st[2], DNS_OK);
	/* Pending lookups are dropped without callbacks on free. */
	assert_int_equal(dns_start_mx(r, "silent.test", on_done, &a), 0);
	dns_resolver_free(&r);
	event_loop_free(&a.loop);
	assert_int_equal(a.done, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(mx_sorted_and_lower_cased),
	        cmocka_unit_test(mx_outcomes),
	        cmocka_unit_test(timeout_is_temporary_and_bounded),
	        cmocka_unit_test(addresses),
	        cmocka_unit_test(ptr),
	        cmocka_unit_test(server_lists),
	        cmocka_unit_test(mx_sort_ties),
	        cmocka_unit_test(hostnames),
	        cmocka_unit_test(event_loop_lookups),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
