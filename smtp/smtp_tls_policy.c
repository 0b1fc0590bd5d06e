/* SPDX-License-Identifier: MIT */
/*
 * smtp_tls_policy.c - TLS policy per destination (smtp_tls_policy_maps)
 *
 * Parses Postfix's policy text ("secure match=.example.com:nexthop"),
 * finds a next hop's policy in the tables (the next hop, then its parent
 * domains), and turns match= into the names a certificate must carry.
 * Not here: applying the policy to a connection (smtp_session.c) and the
 * certificate checks themselves (common/tls.c).
 * Only the levels Posthorn implements are accepted; a policy naming
 * anything else is invalid, so the destination is deferred rather than
 * sent with less protection than the admin asked for.
 */
#include "smtp_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/map.h"
#include "common/str.h"

#define NAME_MAX_LEN 255 /* a match name: a DNS name, maybe a dot first */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A DNS name, an IPv4 address, or ".name"; letters are folded. */
static int check_name(char *name, size_t len, struct err *e)
{
	if (len == 0 || len > NAME_MAX_LEN) {
		err_set(e, "bad match name length %zu", len);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		          c == '.';
		/* An empty label anywhere but a leading dot ("a..b", "a."). */
		if (c == '.' && i > 0 && (name[i - 1] == '.' || i + 1 == len))
			ok = false;
		if (!ok) {
			char q[80];
			err_set(e, "bad match name \"%s\"",
			        log_quote(q, sizeof(q), name, len));
			return -1;
		}
	}
	if (len == 1 && name[0] == '.') {
		err_set(e, "bad match name \".\"");
		return -1;
	}
	str_lower(name);
	return 0;
}

/* Adds the colon-separated names of v[0..len) to out. */
static int add_matches(const char *v, size_t len, struct arena *a,
                       struct smtp_tls_policy *out, struct err *e)
{
	if (len == 0) {
		err_set(e, "empty match list");
		return -1;
	}
	size_t pos = 0;
	while (pos <= len) {
		size_t n = 0;
		while (pos + n < len && v[pos + n] != ':')
			n++;
		if (out->nmatch == SMTP_TLS_MATCH_MAX) {
			err_set(e, "more than %d match names",
			        SMTP_TLS_MATCH_MAX);
			return -1;
		}
		char *name = arena_memdup(a, v + pos, n);
		if (check_name(name, n, e) < 0)
			return -1;
		out->match[out->nmatch++] = name;
		pos += n + 1;
	}
	return 0;
}

int smtp_tls_policy_parse(const char *s, size_t len, struct arena *a,
                          struct smtp_tls_policy *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	if (len > SMTP_TLS_POLICY_MAX) {
		err_set(e, "policy longer than %d bytes", SMTP_TLS_POLICY_MAX);
		return -1;
	}
	size_t pos = 0;
	bool have_level = false;
	while (pos < len) {
		while (pos < len && is_space(s[pos]))
			pos++;
		size_t n = 0;
		while (pos + n < len && !is_space(s[pos + n]))
			n++;
		if (n == 0)
			break;
		const char *w = s + pos;
		pos += n;
		char q[80];
		if (!have_level) {
			char level[16];
			if (n >= sizeof(level)) {
				err_set(e, "unknown TLS level \"%s\"",
				        log_quote(q, sizeof(q), w, n));
				return -1;
			}
			memcpy(level, w, n);
			level[n] = '\0';
			if (tls_level_parse(level, &out->level) < 0) {
				err_set(e, "unknown or unsupported TLS level "
				        "\"%s\"",
				        log_quote(q, sizeof(q), w, n));
				return -1;
			}
			have_level = true;
		} else if (str_prefix_nocase(w, n, "match=")) {
			if (add_matches(w + 6, n - 6, a, out, e) < 0)
				return -1;
		} else {
			err_set(e, "unknown or unsupported attribute \"%s\"",
			        log_quote(q, sizeof(q), w, n));
			return -1;
		}
	}
	if (!have_level) {
		err_set(e, "empty TLS policy");
		return -1;
	}
	return 0;
}

const char *smtp_tls_policy_format(const struct smtp_tls_policy *p, char *out,
                                   size_t outsz)
{
	struct buf b;
	buf_init(&b, outsz > 0 ? outsz - 1 : 0);
	(void)buf_append_str(&b, tls_level_name(p->level));
	for (size_t i = 0; i < p->nmatch; i++)
		(void)buf_printf(&b, "%s%s", i ? ":" : " match=", p->match[i]);
	(void)snprintf(out, outsz, "%s", buf_cstr(&b));
	buf_deinit(&b);
	return out;
}

/* ---- lookup ------------------------------------------------------------- */

static int lookup_one(struct maplist *maps, const char *key, struct arena *a,
                      struct smtp_tls_policy *out, const char **key_out,
                      struct err *e)
{
	char *value = NULL;
	int rc = maplist_lookup(maps, key, &value, e);
	if (rc <= 0)
		return rc;
	struct err pe;
	if (smtp_tls_policy_parse(value, strlen(value), a, out, &pe) < 0) {
		err_set(e, "invalid TLS policy for %s: %s", key, pe.msg);
		free(value);
		return -2;
	}
	free(value);
	out->from_map = true;
	if (key_out)
		*key_out = arena_strdup(a, key);
	return 1;
}

int smtp_tls_policy_find(struct maplist *maps, const char *nexthop_text,
                         const struct nexthop *nh, struct arena *a,
                         struct smtp_tls_policy *out, const char **key_out,
                         struct err *e)
{
	if (!maps)
		return 0;
	struct smtp_tls_policy p;
	int rc = lookup_one(maps, nexthop_text, a, &p, key_out, e);
	char canon[NEXTHOP_HOST_MAX + 16];
	nexthop_format(nh, canon, sizeof(canon));
	if (rc == 0 && !str_eq_nocase(canon, nexthop_text))
		rc = lookup_one(maps, canon, a, &p, key_out, e);
	/* Parent domains only for a domain as such: "[host]" and ":port"
	 * name one server, not a tree (Postfix's rule). */
	if (rc == 0 && !nh->no_mx && nh->port == 0) {
		for (const char *d = strchr(nh->host, '.'); d && d[1];
		     d = strchr(d + 1, '.')) {
			rc = lookup_one(maps, d, a, &p, key_out, e);
			if (rc != 0)
				break;
		}
	}
	if (rc == 1)
		*out = p;
	return rc;
}

/* ---- names -------------------------------------------------------------- */

static size_t add_name(const char **out, size_t n, size_t max, const char *name)
{
	if (!name || !*name || n >= max)
		return n;
	for (size_t i = 0; i < n; i++)
		if (str_eq_nocase(out[i], name))
			return n;
	out[n] = name;
	return n + 1;
}

size_t smtp_tls_policy_names(const struct smtp_tls_policy *p, const char *host,
                             const char *nexthop, struct arena *a,
                             const char **out, size_t max)
{
	static const char *const verify_default[] = {"hostname"};
	static const char *const secure_default[] = {"nexthop", "dot-nexthop"};
	const char *const *match = p->match;
	size_t nmatch = p->nmatch;
	if (p->level < TLS_LEVEL_VERIFY)
		return 0;
	if (nmatch == 0 && p->level == TLS_LEVEL_VERIFY) {
		match = verify_default;
		nmatch = 1;
	} else if (nmatch == 0) {
		match = secure_default;
		nmatch = 2;
	}
	size_t n = 0;
	for (size_t i = 0; i < nmatch; i++) {
		const char *m = match[i];
		if (str_eq_nocase(m, "hostname"))
			n = add_name(out, n, max, host);
		else if (str_eq_nocase(m, "nexthop"))
			n = add_name(out, n, max, nexthop);
		else if (str_eq_nocase(m, "dot-nexthop"))
			n = add_name(out, n, max,
			             nexthop && *nexthop
			                     ? arena_printf(a, ".%s", nexthop)
			                     : NULL);
		else
			n = add_name(out, n, max, m);
	}
	return n;
}
