/* SPDX-License-Identifier: MIT */
/*
 * qmgr_route.c - which transport and next hop a recipient goes to
 *
 * Postfix's rules (trivial-rewrite's resolve and transport(5)), on the
 * recipient domain:
 *   1. the address class: mydestination -> local_transport;
 *      virtual_alias_domains and virtual_mailbox_domains ->
 *      virtual_transport (local does the alias rewriting and the
 *      mailbox lookup); relay_domains -> relay_transport; anything else
 *      -> default_transport. A class parameter may carry a nexthop
 *      ("smtp:[relay.example]:587"); otherwise the nexthop is the domain,
 *      or relayhost for the relay and default classes when it is set.
 *   2. transport_maps, searched for the whole address, the domain, each
 *      parent domain as ".parent", then "*"; the first hit changes the
 *      class result as transport(5) says (common/nexthop.c,
 *      nexthop_route(), shared with smtp's tests).
 * The transport is a master.cf service name (qmgr connects to
 * private/<name>), or one of Postfix's trivial agents, which qmgr
 * answers itself: "error" (bounce with the nexthop as the reason),
 * "retry" (defer with it) and "discard".
 *
 * Not responsible for the nexthop's syntax (smtp parses it) or for
 * concurrency (qmgr_sched.c).
 */
#include "qmgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/map.h"
#include "common/nexthop.h"
#include "common/params.h"
#include "common/str.h"

static struct maplist *transport_maps;

int qmgr_route_init(struct err *e)
{
	transport_maps = maplist_open(&params->transport_maps, e);
	return transport_maps ? 0 : -1;
}

void qmgr_route_deinit(void)
{
	maplist_close(&transport_maps);
}

void qmgr_route_domain(const char *addr, char *out, size_t outsz)
{
	const char *at = strrchr(addr, '@');
	out[0] = 0;
	if (!at || outsz == 0)
		return;
	size_t n = strlen(at + 1);
	if (n > 0 && at[n] == '.')
		n--;
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, at + 1, n);
	out[n] = 0;
	str_lower(out);
}

/* Looks up the transport_maps keys for addr/domain in Postfix's order. 1
 * found (*out, caller frees), 0 none, -1 error. */
static int map_find(const char *addr, const char *domain, char **out,
                    struct err *e)
{
	int rc;
	if (params->transport_maps.n == 0)
		return 0;
	if (strchr(addr, '@') &&
	    (rc = maplist_lookup(transport_maps, addr, out, e)) != 0)
		return rc;
	if (domain[0]) {
		if ((rc = maplist_lookup(transport_maps, domain, out, e)) != 0)
			return rc;
		for (const char *p = strchr(domain, '.'); p;
		     p = strchr(p + 1, '.'))
			if ((rc = maplist_lookup(transport_maps, p, out, e)) !=
			    0)
				return rc;
	}
	return maplist_lookup(transport_maps, "*", out, e);
}

int qmgr_route_rcpt(const char *addr, struct qmgr_route *out, struct err *e)
{
	char domain[256];
	const char *class_value;
	qmgr_route_domain(addr, domain, sizeof(domain));
	/* An address without a domain is a local user (sendmail qualifies
	 * addresses; this is the safe reading of one that slipped by). */
	if (!domain[0] || strv_contains_nocase(&params->mydestination, domain)) {
		out->cls = QMGR_CLASS_LOCAL;
		class_value = params->local_transport;
	} else if (strv_contains_nocase(&params->virtual_alias_domains,
	                                domain) ||
	           strv_contains_nocase(&params->virtual_mailbox_domains,
	                                domain)) {
		out->cls = QMGR_CLASS_VIRTUAL;
		class_value = params->virtual_transport;
	} else if (strv_contains_nocase(&params->relay_domains, domain)) {
		out->cls = QMGR_CLASS_RELAY;
		class_value = params->relay_transport;
	} else {
		out->cls = QMGR_CLASS_DEFAULT;
		class_value = params->default_transport;
	}
	const char *home = domain[0] ? domain : params->myhostname;
	/* relayhost is the nexthop of remote mail only. */
	const char *relayhost = out->cls == QMGR_CLASS_RELAY ||
	                                        out->cls == QMGR_CLASS_DEFAULT
	                                ? params->relayhost
	                                : "";
	char *mv = NULL;
	int rc = map_find(addr, domain, &mv, e);
	if (rc < 0)
		return -1;
	struct buf t, n;
	buf_init(&t, sizeof(out->transport) - 1);
	buf_init(&n, sizeof(out->nexthop) - 1);
	rc = nexthop_route(class_value, relayhost, mv, home, &t, &n, e);
	free(mv);
	if (rc == 0) {
		memcpy(out->transport, buf_cstr(&t), t.len + 1);
		memcpy(out->nexthop, buf_cstr(&n), n.len + 1);
		/* Destinations differ only by case: one queue for them.
		 * The text of an error or retry transport is a reason and
		 * keeps its case. */
		if (strcmp(out->transport, "error") != 0 &&
		    strcmp(out->transport, "retry") != 0)
			str_lower(out->nexthop);
	}
	buf_deinit(&t);
	buf_deinit(&n);
	return rc;
}
