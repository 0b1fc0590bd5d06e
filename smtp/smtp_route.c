/* SPDX-License-Identifier: MIT */
/*
 * smtp_route.c - from a next hop to the addresses to try, in order
 *
 * MX lookup (RFC 5321 5.1): hosts by preference, random among equals,
 * the domain itself when it has no MX (implicit MX), RFC 7505 null MX;
 * [host] next hops skip MX. Drops MX hosts that are this machine and
 * everything less preferred (we would be relaying to ourselves or to a
 * backup that must send it back to us), and reports when nothing is left
 * ("loops back to myself"). Orders each host's addresses by
 * smtp_address_preference and stops at smtp_mx_address_limit.
 * Lookups go through struct smtp_resolver so tests can answer them; the
 * daemon plugs in common/dns.c. No connections are made here.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

#include "common/str.h"
#include "common/xalloc.h"

int smtp_route_parse_pref(const char *s, enum smtp_addr_pref *out)
{
	if (str_eq_nocase(s, "any"))
		*out = SMTP_PREF_ANY;
	else if (str_eq_nocase(s, "ipv4"))
		*out = SMTP_PREF_IPV4;
	else if (str_eq_nocase(s, "ipv6"))
		*out = SMTP_PREF_IPV6;
	else
		return -1;
	return 0;
}

void smtp_route_deinit(struct smtp_route *r)
{
	free(r->t);
	r->t = NULL;
	r->n = 0;
}

static enum smtp_route_status fail(struct smtp_route *out,
                                   enum smtp_route_status st, const char *dsn,
                                   const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static enum smtp_route_status fail(struct smtp_route *out,
                                   enum smtp_route_status st, const char *dsn,
                                   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	snprintf(out->dsn, sizeof(out->dsn), "%s", dsn);
	out->status = st;
	smtp_route_deinit(out);
	return st;
}

static uint32_t rnd(const struct smtp_route_config *cfg)
{
	return cfg->rnd ? cfg->rnd(cfg->rnd_ctx) : arc4random();
}

/* Which family goes first for this delivery: a fixed one, or for "any"
 * one chosen at random so both get used. */
static int first_family(const struct smtp_route_config *cfg)
{
	switch (cfg->pref) {
	case SMTP_PREF_IPV4:
		return AF_INET;
	case SMTP_PREF_IPV6:
		return AF_INET6;
	default:
		return (rnd(cfg) & 1) ? AF_INET6 : AF_INET;
	}
}

static bool have_addr(const struct smtp_route *out, const struct dns_addr *a)
{
	for (size_t i = 0; i < out->n; i++)
		if (strcmp(out->t[i].addr.text, a->text) == 0)
			return true;
	return false;
}

/* Adds res's addresses for host, preferred family first. */
static void add_addrs(const struct smtp_route_config *cfg,
                      struct smtp_route *out, const char *host, unsigned port,
                      unsigned pref, const struct dns_result *res, int first)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < res->naddr; i++) {
			const struct dns_addr *a = &res->addr[i];
			bool want = pass == 0 ? a->family == first
			                      : a->family != first;
			if (!want || out->n >= cfg->addr_limit ||
			    have_addr(out, a))
				continue;
			struct smtp_target *t = &out->t[out->n++];
			snprintf(t->host, sizeof(t->host), "%s", host);
			t->addr = *a;
			t->port = port;
			t->pref = pref;
		}
	}
}

static bool is_me_by_name(const struct smtp_route_config *cfg, const char *host)
{
	return cfg->myhostname && str_eq_nocase(host, cfg->myhostname);
}

static bool any_mine(const struct smtp_route_config *cfg,
                     const struct dns_result *res)
{
	if (!cfg->is_mine)
		return false;
	for (size_t i = 0; i < res->naddr; i++)
		if (cfg->is_mine(cfg->mine_ctx, &res->addr[i]))
			return true;
	return false;
}

/* A [host] or an address: no MX lookup, no loop check (the admin named
 * this host explicitly). */
static enum smtp_route_status route_host(const struct smtp_route_config *cfg,
                                         const struct nexthop *nh,
                                         unsigned port, struct smtp_route *out)
{
	struct dns_result res;
	dns_result_init(&res);
	enum dns_status st;
	struct dns_addr a;
	if (nh->is_addr && dns_parse_addr(nh->host, &a)) {
		res.addr = &a; /* an address needs no lookup */
		res.naddr = 1;
		add_addrs(cfg, out, nh->host, port, 0, &res, a.family);
		out->status = SMTP_ROUTE_OK;
		return out->status;
	}
	st = cfg->resolver->addr(cfg->resolver->ctx, nh->host, &res);
	enum smtp_route_status rs = SMTP_ROUTE_OK;
	if (st == DNS_OK) {
		add_addrs(cfg, out, nh->host, port, 0, &res, first_family(cfg));
	} else if (st == DNS_TEMPFAIL) {
		rs = fail(out, SMTP_ROUTE_DEFER, "4.4.3",
		          "Host or domain name not found. Name service error "
		          "for name=%s type=A: %s",
		          nh->host, res.why);
	} else {
		rs = fail(out, SMTP_ROUTE_BOUNCE,
		          st == DNS_NODATA ? "5.4.4" : "5.1.2",
		          "Host or domain name not found. Name service error "
		          "for name=%s type=A: %s",
		          nh->host, res.why);
	}
	dns_result_deinit(&res);
	return rs;
}

/* Looks up the MX set of domain into mx (an implicit MX when there is
 * none); returns OK or the failure already written to out. */
static enum smtp_route_status get_mx(const struct smtp_route_config *cfg,
                                     const char *domain, struct dns_result *mx,
                                     struct smtp_route *out)
{
	enum dns_status st = cfg->resolver->mx(cfg->resolver->ctx, domain, mx);
	switch (st) {
	case DNS_OK:
		return SMTP_ROUTE_OK;
	case DNS_NODATA:
		/* RFC 5321 5.1: no MX records, so the domain itself is
		 * the one host, at preference 0. */
		free(mx->mx);
		mx->mx = xcalloc(1, sizeof(*mx->mx));
		snprintf(mx->mx[0].host, sizeof(mx->mx[0].host), "%s", domain);
		mx->nmx = 1;
		return SMTP_ROUTE_OK;
	case DNS_NULLMX:
		/* RFC 7505 3: bounce at once, 5.1.10. */
		return fail(out, SMTP_ROUTE_BOUNCE, "5.1.10",
		            "Domain %s does not accept mail (nullMX)", domain);
	case DNS_TEMPFAIL:
		return fail(out, SMTP_ROUTE_DEFER, "4.4.3",
		            "Host or domain name not found. Name service "
		            "error for name=%s type=MX: %s",
		            domain, mx->why);
	case DNS_NXDOMAIN:
	case DNS_BADNAME:
	default:
		return fail(out, SMTP_ROUTE_BOUNCE, "5.1.2",
		            "Host or domain name not found. Name service "
		            "error for name=%s type=MX: %s",
		            domain, mx->why);
	}
}

enum smtp_route_status smtp_route_build(const struct smtp_route_config *cfg,
                                        const struct nexthop *nh,
                                        struct smtp_route *out)
{
	memset(out, 0, sizeof(*out));
	size_t limit = cfg->addr_limit ? cfg->addr_limit : 1;
	out->t = xcalloc(limit, sizeof(*out->t));
	unsigned port = nh->port ? nh->port : cfg->default_port;
	if (nh->no_mx)
		return route_host(cfg, nh, port, out);

	struct dns_result mx;
	dns_result_init(&mx);
	if (get_mx(cfg, nh->host, &mx, out) != SMTP_ROUTE_OK) {
		dns_result_deinit(&mx);
		return out->status;
	}
	int first = first_family(cfg);
	bool temp = false, looped = false;
	char why[440] = "";
	/* Our preference by name needs no lookup: cut there even when the
	 * address limit ends the walk before it reaches us, or a peer of
	 * our preference listed before us would stay. */
	unsigned cut = UINT_MAX;
	for (size_t i = 0; i < mx.nmx; i++)
		if (mx.mx[i].pref < cut && is_me_by_name(cfg, mx.mx[i].host))
			cut = mx.mx[i].pref;
	for (size_t i = 0; i < mx.nmx && out->n < limit && !looped; i++) {
		const struct dns_mx *m = &mx.mx[i];
		if (m->pref >= cut) {
			looped = true;
			break;
		}
		struct dns_result a;
		dns_result_init(&a);
		enum dns_status st = DNS_OK;
		if (is_me_by_name(cfg, m->host))
			looped = true;
		else
			st = cfg->resolver->addr(cfg->resolver->ctx, m->host,
			                         &a);
		if (looped || (st == DNS_OK && any_mine(cfg, &a))) {
			/* We are an MX host at this preference: only more
			 * preferred hosts may take the mail, including none
			 * of equal preference added already. */
			looped = true;
			while (out->n > 0 && out->t[out->n - 1].pref >= m->pref)
				out->n--;
		} else if (st == DNS_OK) {
			add_addrs(cfg, out, m->host, port, m->pref, &a, first);
		} else {
			if (st == DNS_TEMPFAIL)
				temp = true;
			snprintf(why, sizeof(why),
			         "Name service error for name=%s type=A: %s",
			         m->host, a.why);
		}
		dns_result_deinit(&a);
	}
	dns_result_deinit(&mx);
	if (out->n > 0) {
		out->status = SMTP_ROUTE_OK;
		return out->status;
	}
	/* A more preferred host that could not be looked up just now may
	 * still take the mail: defer rather than call it a loop. */
	if (temp)
		return fail(out, SMTP_ROUTE_DEFER, "4.4.3",
		            "Host or domain name not found. %s", why);
	if (looped)
		return fail(out, SMTP_ROUTE_BOUNCE, "5.4.6",
		            "mail for %s loops back to myself", nh->host);
	return fail(out, SMTP_ROUTE_BOUNCE, "5.4.4",
	            "Host or domain name not found. %s", why);
}
