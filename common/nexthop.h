/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_NEXTHOP_H
#define POSTHORN_COMMON_NEXTHOP_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/*
 * Next-hop destinations and transport table values, in Postfix's
 * notation (relayhost, transport_maps, default_transport), shared by qmgr
 * (which routes) and smtp (which connects):
 *
 *   example.com            MX lookup for example.com, default port
 *   example.com:2525       MX lookup, then port 2525 on every MX host
 *   [mail.example.com]     no MX lookup: the host's own addresses
 *   [mail.example.com]:587 the same on port 587
 *   [192.0.2.1], [ipv6:2001:db8::1]:25, [2001:db8::1]   addresses
 *
 * Ports are decimal or one of the names smtp (25), submission (587),
 * submissions/smtps (465), lmtp (24). A bare numeric IPv4 address needs no
 * brackets (no MX lookup is done for it); an IPv6 address needs them.
 */

#define NEXTHOP_HOST_MAX 255

struct nexthop {
	char host[NEXTHOP_HOST_MAX + 1]; /* lower case, no brackets, no
	                                    trailing dot, no "ipv6:" */
	unsigned port;                   /* 0 when not given */
	bool no_mx;                      /* bracketed, or an address */
	bool is_addr;                    /* host is a numeric address */
};

/* Parses s[0..len). 0 and *out filled, or -1 with e set ("bad port in
 * ...", "malformed host name in ..."). */
int nexthop_parse(const char *s, size_t len, struct nexthop *out,
                  struct err *e);

/* The canonical text of nh: "example.com", "example.com:2525",
 * "[mail.example.com]:587", "[2001:db8::1]". Writes into out (truncated
 * to outsz) and returns out. Equal destinations give equal text. */
const char *nexthop_format(const struct nexthop *nh, char *out, size_t outsz);

/*
 * A transport table value "transport:nexthop" split at its first colon
 * (the nexthop may hold more colons: "smtp:[relay]:587"). A value without
 * a colon is all transport. Slices point into the input.
 */
struct nexthop_transport {
	const char *transport;
	size_t transport_len;
	const char *nexthop;
	size_t nexthop_len;
};
void nexthop_transport_split(const char *s, size_t len,
                             struct nexthop_transport *out);

/*
 * Where a recipient of a remote domain goes, by Postfix's rules:
 *  1. default_transport ("smtp" or "smtp:nexthop") gives the transport;
 *     its nexthop, else relayhost, else rcpt_domain gives the nexthop.
 *  2. A transport_maps value (map_value, NULL when the domain has no
 *     entry) then applies, as transport(5) says: ":" (both empty) changes
 *     nothing; "transport:" sets the transport and resets the nexthop to
 *     rcpt_domain; ":nexthop" changes the nexthop only; "transport:nexthop"
 *     sets both.
 * Appends the results to transport_out and nexthop_out (emptied first).
 * 0, or -1 with e set when default_transport has an empty transport or a
 * result does not fit its buffer. The nexthop is not parsed here (an
 * "error:" transport carries text in it); call nexthop_parse() for smtp.
 */
int nexthop_route(const char *default_transport, const char *relayhost,
                  const char *map_value, const char *rcpt_domain,
                  struct buf *transport_out, struct buf *nexthop_out,
                  struct err *e);

#endif
