/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTP_SMTP_TLS_H
#define POSTHORN_SMTP_SMTP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/nexthop.h"
#include "common/tls.h"

/*
 * The smtp agent's TLS decisions: the level and certificate names for a
 * destination, from smtp_tls_security_level or, per next hop, from
 * smtp_tls_policy_maps (smtp_tls_policy.c); and the per-process cache of
 * TLS sessions offered for resumption on the next connection to the
 * same server (smtp_tls_cache.c).
 */

/* ---- policy ------------------------------------------------------------ */

struct maplist;

#define SMTP_TLS_MATCH_MAX 16    /* names in one match= list */
#define SMTP_TLS_POLICY_MAX 1024 /* bytes in one policy text */

struct smtp_tls_policy {
	enum tls_level level;
	/* match= as written: "hostname" (the MX host), "nexthop" (the
	 * next-hop domain), "dot-nexthop" (any subdomain of it), or a DNS
	 * name (".example.com": any subdomain). Only used at verify and
	 * secure; nmatch 0 means the level's default ("hostname" for
	 * verify, "nexthop:dot-nexthop" for secure). */
	const char *match[SMTP_TLS_MATCH_MAX];
	size_t nmatch;
	bool from_map; /* smtp_tls_policy_maps gave it */
};

/*
 * Parses a policy in Postfix's syntax, s[0..len): a level (none, may,
 * encrypt, verify, secure; ASCII case ignored) and then attributes
 * separated by white space. The only attribute is match=name:name...
 * (may be repeated; its names add up), ignored below verify. Strings are
 * copied into a. 0, or -1 with e set: empty text, an unknown or
 * unsupported level (dane, fingerprint ...), an unknown attribute, an
 * empty or over-long match list, a malformed name.
 */
int smtp_tls_policy_parse(const char *s, size_t len, struct arena *a,
                          struct smtp_tls_policy *out, struct err *e);

/* Writes p as policy text ("verify match=hostname:nexthop") into out
 * (truncated to outsz) and returns out. */
const char *smtp_tls_policy_format(const struct smtp_tls_policy *p, char *out,
                                   size_t outsz);

/*
 * Finds the policy of a next hop in maps: the next hop as qmgr wrote it
 * (nexthop_text), then its canonical form (nexthop_format), then, for a
 * plain domain (no brackets, no port), its parent domains with a leading
 * dot (".example.com", ".com"), as Postfix does. On a hit the policy is
 * parsed into *out (strings in a) and *key_out (may be NULL) points to the
 * key that matched (in a). 1 found, 0 not found (*out untouched), -1
 * with e set when a table fails, -2 with e set ("invalid TLS policy for
 * KEY: why") when the policy found does not parse. maps may be NULL
 * (nothing found).
 */
int smtp_tls_policy_find(struct maplist *maps, const char *nexthop_text,
                         const struct nexthop *nh, struct arena *a,
                         struct smtp_tls_policy *out, const char **key_out,
                         struct err *e);

/*
 * The names a certificate must carry under p when talking to MX host
 * host for next hop nexthop: match= (or the level's default) with
 * hostname, nexthop and dot-nexthop replaced, duplicates dropped. Into
 * out[0..max) (strings in a); returns how many. 0 below verify.
 */
size_t smtp_tls_policy_names(const struct smtp_tls_policy *p, const char *host,
                             const char *nexthop, struct arena *a,
                             const char **out, size_t max);

/* ---- session cache ----------------------------------------------------- */

#define SMTP_TLS_SESSION_MAX 16384 /* bytes of one exported session */

struct smtp_tls_cache;

/* A cache of at most limit (>= 1) sessions, each kept at most timeout
 * seconds (0: nothing is ever kept). Free with smtp_tls_cache_free. */
struct smtp_tls_cache *smtp_tls_cache_new(size_t limit, long timeout);
void smtp_tls_cache_free(struct smtp_tls_cache **cp);

/*
 * Takes the session stored under key out of the cache and appends it to
 * out: 1, or 0 when there is none or it has expired by now_ms (a
 * monotonic time in milliseconds). Taken, not copied: a TLS 1.3 ticket
 * should be offered once; the connection that uses it stores its own.
 */
int smtp_tls_cache_take(struct smtp_tls_cache *c, const char *key,
                        uint64_t now_ms, struct buf *out);

/*
 * Stores a copy of der[0..len) under key for lifetime seconds, capped by
 * the cache's timeout, replacing what key held. When the cache is full,
 * expired entries go first, then the one stored longest ago. Nothing is
 * stored when lifetime or the timeout is 0, len is 0 or above
 * SMTP_TLS_SESSION_MAX.
 */
void smtp_tls_cache_put(struct smtp_tls_cache *c, const char *key,
                        const void *der, size_t len, long lifetime,
                        uint64_t now_ms);

/* Entries held, expired ones included (for tests). */
size_t smtp_tls_cache_count(const struct smtp_tls_cache *c);

#endif
