/* SPDX-License-Identifier: MIT */
/*
 * smtp_tls_cache.c - TLS sessions kept for resumption, per smtp process
 *
 * A small table of exported client sessions (common/tls.h), keyed by the
 * caller's text (server, address, port, level, SNI and certificate
 * names: a resumed session is not verified again, so a session may only
 * go back to the exact setting it was made under). Bounded by count and
 * by time: each entry expires after the smaller of the session's own
 * lifetime and smtp_tls_session_cache_timeout.
 * Not shared between processes (Postfix's tlsmgr is): a process that
 * delivers to a server many times resumes; one that starts cold does a
 * full handshake. Linear search: the table holds a few hundred at most.
 * Session bytes are key material; they are wiped when dropped.
 */
#include "smtp_tls.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

struct entry {
	char *key;
	unsigned char *der;
	size_t len;
	uint64_t expires_ms;
	uint64_t stored_ms;
};

struct smtp_tls_cache {
	struct entry *e;
	size_t n, limit;
	long timeout;
};

struct smtp_tls_cache *smtp_tls_cache_new(size_t limit, long timeout)
{
	struct smtp_tls_cache *c = xcalloc(1, sizeof(*c));
	c->limit = limit ? limit : 1;
	c->timeout = timeout > 0 ? timeout : 0;
	c->e = xcalloc(c->limit, sizeof(*c->e));
	return c;
}

/* Drops entry i, moving the last one into its place. */
static void drop(struct smtp_tls_cache *c, size_t i)
{
	struct entry *x = &c->e[i];
	explicit_bzero(x->der, x->len);
	free(x->der);
	free(x->key);
	c->e[i] = c->e[--c->n];
	memset(&c->e[c->n], 0, sizeof(c->e[c->n]));
}

void smtp_tls_cache_free(struct smtp_tls_cache **cp)
{
	struct smtp_tls_cache *c = *cp;
	if (!c)
		return;
	while (c->n)
		drop(c, c->n - 1);
	free(c->e);
	free(c);
	*cp = NULL;
}

static struct entry *find(struct smtp_tls_cache *c, const char *key,
                          size_t *i_out)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->e[i].key, key) == 0) {
			*i_out = i;
			return &c->e[i];
		}
	}
	return NULL;
}

int smtp_tls_cache_take(struct smtp_tls_cache *c, const char *key,
                        uint64_t now_ms, struct buf *out)
{
	size_t i;
	struct entry *x = find(c, key, &i);
	if (!x)
		return 0;
	int rc = 0;
	if (now_ms < x->expires_ms && buf_append(out, x->der, x->len) == 0)
		rc = 1;
	drop(c, i);
	return rc;
}

/* Makes room for one more entry: expired ones go, else the oldest. */
static void make_room(struct smtp_tls_cache *c, uint64_t now_ms)
{
	for (size_t i = c->n; i-- > 0;)
		if (c->e[i].expires_ms <= now_ms)
			drop(c, i);
	if (c->n < c->limit)
		return;
	size_t oldest = 0;
	for (size_t i = 1; i < c->n; i++)
		if (c->e[i].stored_ms < c->e[oldest].stored_ms)
			oldest = i;
	drop(c, oldest);
}

void smtp_tls_cache_put(struct smtp_tls_cache *c, const char *key,
                        const void *der, size_t len, long lifetime,
                        uint64_t now_ms)
{
	size_t i;
	if (find(c, key, &i))
		drop(c, i);
	if (lifetime > c->timeout)
		lifetime = c->timeout;
	if (lifetime <= 0 || len == 0 || len > SMTP_TLS_SESSION_MAX)
		return;
	if (c->n == c->limit)
		make_room(c, now_ms);
	struct entry *x = &c->e[c->n++];
	x->key = xstrdup(key);
	x->der = xmalloc(len);
	memcpy(x->der, der, len);
	x->len = len;
	x->stored_ms = now_ms;
	x->expires_ms = now_ms + (uint64_t)lifetime * 1000u;
}

size_t smtp_tls_cache_count(const struct smtp_tls_cache *c)
{
	return c->n;
}
