/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_DNS_H
#define POSTHORN_COMMON_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/event.h"
#include "common/str.h"

/*
 * DNS lookups on c-ares (the only module that includes ares.h): MX, A,
 * AAAA and PTR, with every answer sorted into the outcomes a mail system
 * acts on differently (DNS_OK, DNS_NXDOMAIN, DNS_NODATA, DNS_NULLMX,
 * DNS_TEMPFAIL, DNS_BADNAME).
 *
 * A resolver is used one of two ways, chosen when it is made:
 *  - synchronous (loop NULL): dns_lookup_*() blocks until the answer or
 *    the resolver's deadline, polling the resolver's own sockets. For the
 *    one-client daemons (smtp).
 *  - on an event loop: dns_start_*() returns at once and calls back from
 *    the loop. For multiplexing daemons (smtpd's client name lookups).
 * Names are looked up exactly as given: no search domains, no
 * /etc/hosts, a trailing dot is optional. Servers come from the
 * configuration (dns_servers, "host[:port]" with numeric hosts, IPv6 in
 * brackets) or, when that list is empty, from /etc/resolv.conf.
 * Open a resolver in the process that uses it, never before a fork().
 */

#define DNS_NAME_MAX 255 /* a domain name in text form */
#define DNS_MX_MAX 100   /* MX records kept from one answer */
#define DNS_ADDR_MAX 64  /* addresses kept per lookup */
#define DNS_PTR_MAX 16   /* names kept from one PTR answer */

enum dns_status {
	DNS_OK,       /* records found */
	DNS_NXDOMAIN, /* the name does not exist: permanent */
	DNS_NODATA,   /* the name exists without records of that type */
	DNS_NULLMX,   /* RFC 7505: the domain accepts no mail */
	DNS_TEMPFAIL, /* SERVFAIL, REFUSED, timeout, malformed reply, no
	                 server: try again later */
	DNS_BADNAME,  /* the name is not a valid domain name: permanent */
};

/* "OK", "NXDOMAIN", ... for logs and tests. */
const char *dns_status_name(enum dns_status s);

/* Address families a lookup asks for (bits). */
#define DNS_FAMILY_V4 0x1u
#define DNS_FAMILY_V6 0x2u
#define DNS_FAMILY_ANY (DNS_FAMILY_V4 | DNS_FAMILY_V6)

struct dns_mx {
	char host[DNS_NAME_MAX + 1]; /* lower case, no trailing dot */
	unsigned pref;
};

struct dns_addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} a;
	char text[46]; /* "192.0.2.1", "2001:db8::1" */
};

/*
 * The outcome of one lookup. why is a short text in Postfix's words for
 * log lines and DSNs: "Host not found", "Host not found, try again",
 * "No address associated with hostname", "Malformed or unexpected name
 * server reply", "timeout" ... ("" for DNS_OK). Release the arrays with
 * dns_result_deinit().
 */
struct dns_result {
	enum dns_status status;
	char why[128];
	struct dns_mx *mx; /* MX: sorted by preference, ties shuffled */
	size_t nmx;
	struct dns_addr *addr; /* A/AAAA: in answer order, IPv4 first */
	size_t naddr;
	char **names; /* PTR */
	size_t nnames;
};

void dns_result_init(struct dns_result *res);
/* Frees the arrays and leaves res empty (status DNS_OK); res itself is
 * the caller's. */
void dns_result_deinit(struct dns_result *res);

struct dns_config {
	/* "host[:port]" with a numeric host ("[::1]:53" for IPv6); NULL or
	 * empty: /etc/resolv.conf. */
	const struct strv *servers;
	/* Time limit for one lookup (MX, one address family, PTR), ms. */
	long timeout_ms;
};

struct dns_resolver;

/*
 * Opens a resolver. loop NULL: synchronous use only; else asynchronous
 * use on that loop only. NULL with e set when c-ares cannot start or a
 * server is malformed. Free with dns_resolver_free(), which cancels
 * pending lookups without calling their callbacks.
 */
struct dns_resolver *dns_resolver_new(const struct dns_config *cfg,
                                      struct event_loop *loop, struct err *e);
void dns_resolver_free(struct dns_resolver **rp);

/*
 * Synchronous lookups: fill *res (dns_result_init()ed or deinit()ed by
 * the caller) and return res->status. Block up to the resolver's
 * timeout (one per family for dns_lookup_addr).
 *
 * dns_lookup_mx: DNS_NULLMX when the only MX record is "." (a null
 * exchange among others is dropped and the rest used). Hosts that are not
 * valid host names are dropped; when none is left the answer counts as
 * DNS_TEMPFAIL ("malformed"). Records are ordered by dns_mx_sort().
 *
 * dns_lookup_addr: asks for each family in families (A first, then
 * AAAA); DNS_OK when any address was found (a failure of the other family
 * is then ignored), else DNS_TEMPFAIL if any family failed temporarily,
 * else DNS_NXDOMAIN when the name does not exist, else DNS_NODATA. A
 * numeric address ("192.0.2.1", "::1") answers itself without a query.
 *
 * dns_lookup_ptr: the names of addr ("192.0.2.1" or an IPv6 address);
 * DNS_BADNAME for text that is not an address.
 */
enum dns_status dns_lookup_mx(struct dns_resolver *r, const char *domain,
                              struct dns_result *res);
enum dns_status dns_lookup_addr(struct dns_resolver *r, const char *host,
                                unsigned families, struct dns_result *res);
enum dns_status dns_lookup_ptr(struct dns_resolver *r, const char *addr,
                               struct dns_result *res);

/*
 * Asynchronous forms (resolver made with a loop). done is called once,
 * from the loop (never from inside the start call), with the result; the
 * result and its arrays live until done returns (copy what you keep).
 * Return 0, or -1 when the lookup could not start (the callback is then
 * never called).
 */
typedef void (*dns_done_fn)(const struct dns_result *res, void *ctx);
int dns_start_mx(struct dns_resolver *r, const char *domain, dns_done_fn done,
                 void *ctx);
int dns_start_addr(struct dns_resolver *r, const char *host, unsigned families,
                   dns_done_fn done, void *ctx);
int dns_start_ptr(struct dns_resolver *r, const char *addr, dns_done_fn done,
                  void *ctx);

/*
 * Orders MX records by preference, lowest first, and shuffles records of
 * equal preference (RFC 5321 5.1) with rnd(ctx) as the random source
 * (NULL: arc4random). Exposed for tests.
 */
void dns_mx_sort(struct dns_mx *mx, size_t n, uint32_t (*rnd)(void *),
                 void *rnd_ctx);

/*
 * One DNS reply (the raw bytes a server sent, abuf[0..alen)) sorted into
 * res as the lookups above do it, with no resolver and no socket: for
 * the fuzz target and tests. res must be dns_result_init()ed; the caller
 * frees it with dns_result_deinit(). Never block.
 *
 * dns_answer_mx: records as dns_lookup_mx() describes (null MX, bad host
 * names dropped, order by dns_mx_sort()); name is only for the log line
 * about dropped hosts.
 * dns_answer_addr: appends the A (family AF_INET) or AAAA (AF_INET6)
 * addresses of the reply to res->addr (allocated here when NULL, at most
 * DNS_ADDR_MAX in all); res->status is DNS_OK when this reply added one,
 * else what the reply means (NODATA, NXDOMAIN, TEMPFAIL). c-ares parses
 * these with the parser ares_getaddrinfo() uses for its answers.
 * dns_answer_ptr: the names of a PTR reply for a, as dns_lookup_ptr().
 */
void dns_answer_mx(const unsigned char *abuf, size_t alen, const char *name,
                   struct dns_result *res);
void dns_answer_addr(const unsigned char *abuf, size_t alen, int family,
                     struct dns_result *res);
void dns_answer_ptr(const unsigned char *abuf, size_t alen,
                    const struct dns_addr *a, struct dns_result *res);

/* True when s[0..len) is a valid host name for mail routing: labels of
 * letters, digits, '-' and '_' (not at a label's ends for '-'), 1..63
 * bytes each, total <= 253, optional trailing dot. */
bool dns_valid_hostname(const char *s, size_t len);

/* Parses a numeric IPv4 or IPv6 address (without brackets); true and
 * *out filled (out may be NULL) when s is one. */
bool dns_parse_addr(const char *s, struct dns_addr *out);

#endif
