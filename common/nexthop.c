/* SPDX-License-Identifier: MIT */
/*
 * nexthop.c - next-hop destinations and transport table values
 *
 * Parses the forms Postfix admins write in relayhost, transport_maps and
 * default_transport, and applies transport(5)'s rules for combining them.
 * Pure text work: no lookups (the tables are qmgr's, DNS is smtp's).
 * Parsers take (pointer, length) and bound every piece.
 */
#include "common/nexthop.h"

#include <stdio.h>
#include <string.h>

#include "common/dns.h"
#include "common/str.h"

static const struct {
	const char *name;
	unsigned port;
} port_names[] = {
        {"smtp", 25},   {"submission", 587}, {"submissions", 465},
        {"smtps", 465}, {"lmtp", 24},
};

static int parse_port(const char *s, size_t len, unsigned *out)
{
	uint64_t n;
	if (len > 0 && parse_uintn(s, len, 1, 65535, &n) == 0) {
		*out = (unsigned)n;
		return 0;
	}
	for (size_t i = 0; i < sizeof(port_names) / sizeof(port_names[0]);
	     i++) {
		if (strn_eq_nocase(s, len, port_names[i].name)) {
			*out = port_names[i].port;
			return 0;
		}
	}
	return -1;
}

/* Copies and checks the host part h[0..hlen). */
static int set_host(struct nexthop *out, const char *h, size_t hlen,
                    bool bracketed, const char *s, size_t len, struct err *e)
{
	if (bracketed && hlen > 5 && strn_eq_nocase(h, 5, "ipv6:")) {
		h += 5;
		hlen -= 5;
	}
	if (hlen > 0 && h[hlen - 1] == '.' && hlen > 1)
		hlen--;
	if (hlen == 0 || hlen > NEXTHOP_HOST_MAX) {
		err_set(e, "malformed host name in next hop \"%.*s\"",
		        (int)(len > 200 ? 200 : len), s);
		return -1;
	}
	memcpy(out->host, h, hlen);
	out->host[hlen] = '\0';
	str_lower(out->host);
	struct dns_addr a;
	if (dns_parse_addr(out->host, &a)) {
		if (a.family == AF_INET6 && !bracketed) {
			err_set(e,
			        "IPv6 address without brackets in next hop "
			        "\"%.*s\"",
			        (int)(len > 200 ? 200 : len), s);
			return -1;
		}
		/* The canonical spelling, so equal addresses compare equal. */
		snprintf(out->host, sizeof(out->host), "%s", a.text);
		out->is_addr = true;
		out->no_mx = true;
		return 0;
	}
	if (!dns_valid_hostname(out->host, strlen(out->host))) {
		err_set(e, "malformed host name in next hop \"%.*s\"",
		        (int)(len > 200 ? 200 : len), s);
		return -1;
	}
	return 0;
}

int nexthop_parse(const char *s, size_t len, struct nexthop *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	const char *h = s, *rest;
	size_t hlen;
	bool bracketed = len > 0 && s[0] == '[';
	if (bracketed) {
		const char *close = memchr(s, ']', len);
		if (!close) {
			err_set(e, "missing \"]\" in next hop \"%.*s\"",
			        (int)(len > 200 ? 200 : len), s);
			return -1;
		}
		h = s + 1;
		hlen = (size_t)(close - h);
		rest = close + 1;
		out->no_mx = true;
	} else {
		/* host:port; more than one colon is a bare IPv6 address,
		 * which set_host() refuses with a clear message. */
		const char *colon = memchr(s, ':', len);
		if (colon &&
		    memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
			colon = NULL;
		hlen = colon ? (size_t)(colon - s) : len;
		rest = s + hlen;
	}
	if (set_host(out, h, hlen, bracketed, s, len, e) < 0)
		return -1;
	size_t rlen = len - (size_t)(rest - s);
	if (rlen == 0)
		return 0;
	if (rest[0] != ':' || parse_port(rest + 1, rlen - 1, &out->port) < 0) {
		err_set(e, "bad port in next hop \"%.*s\"",
		        (int)(len > 200 ? 200 : len), s);
		return -1;
	}
	return 0;
}

const char *nexthop_format(const struct nexthop *nh, char *out, size_t outsz)
{
	/* An IPv4 address needs no brackets, but writing them keeps
	 * "[192.0.2.1]" and "192.0.2.1" one destination. */
	bool brackets = nh->no_mx;
	if (nh->port)
		snprintf(out, outsz, "%s%s%s:%u", brackets ? "[" : "", nh->host,
		         brackets ? "]" : "", nh->port);
	else
		snprintf(out, outsz, "%s%s%s", brackets ? "[" : "", nh->host,
		         brackets ? "]" : "");
	return out;
}

void nexthop_transport_split(const char *s, size_t len,
                             struct nexthop_transport *out)
{
	const char *colon = memchr(s, ':', len);
	out->transport = s;
	out->transport_len = colon ? (size_t)(colon - s) : len;
	out->nexthop = colon ? colon + 1 : s + len;
	out->nexthop_len = colon ? len - out->transport_len - 1 : 0;
}

/* Trims ASCII white space off both ends of a slice. */
static void trim(const char **p, size_t *len)
{
	while (*len && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*len)--;
	}
	while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'))
		(*len)--;
}

int nexthop_route(const char *default_transport, const char *relayhost,
                  const char *map_value, const char *rcpt_domain,
                  struct buf *transport_out, struct buf *nexthop_out,
                  struct err *e)
{
	struct nexthop_transport d;
	const char *dt = default_transport ? default_transport : "";
	nexthop_transport_split(dt, strlen(dt), &d);
	trim(&d.transport, &d.transport_len);
	trim(&d.nexthop, &d.nexthop_len);
	if (d.transport_len == 0) {
		err_set(e, "default_transport \"%s\" names no transport", dt);
		return -1;
	}
	const char *tp = d.transport, *np = d.nexthop;
	size_t tlen = d.transport_len, nlen = d.nexthop_len;
	if (nlen == 0) {
		np = relayhost && relayhost[0] ? relayhost : rcpt_domain;
		nlen = strlen(np);
		trim(&np, &nlen);
	}
	if (map_value) {
		struct nexthop_transport m;
		nexthop_transport_split(map_value, strlen(map_value), &m);
		trim(&m.transport, &m.transport_len);
		trim(&m.nexthop, &m.nexthop_len);
		if (m.transport_len) {
			tp = m.transport;
			tlen = m.transport_len;
			np = m.nexthop_len ? m.nexthop : rcpt_domain;
			nlen = m.nexthop_len ? m.nexthop_len
			                     : strlen(rcpt_domain);
		} else if (m.nexthop_len) {
			np = m.nexthop;
			nlen = m.nexthop_len;
		}
	}
	buf_reset(transport_out);
	buf_reset(nexthop_out);
	if (buf_append(transport_out, tp, tlen) < 0 ||
	    buf_append(nexthop_out, np, nlen) < 0) {
		err_set(e, "transport or next hop too long");
		return -1;
	}
	return 0;
}
