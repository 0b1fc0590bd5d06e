/* SPDX-License-Identifier: MIT */
/*
 * smtpd_rcpt.c - address classes, recipient validation, sender checks
 *
 * Owns the lookup tables smtpd consults (virtual_alias_maps,
 * virtual_mailbox_maps, local_recipient_maps, smtpd_sender_login_maps)
 * and the account map, all opened once per process after the privilege
 * drop. A table that fails to open is remembered: every decision that
 * needs it defers (451 4.3.0) rather than guessing. The restriction lists
 * live in smtpd_restrict.c; smtpd_rcpt_check() runs them, then checks
 * that the recipient exists.
 */
#include "smtpd_rcpt.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/account.h"
#include "common/log.h"
#include "common/map.h"
#include "common/params.h"
#include "common/str.h"
#include "common/xalloc.h"
#include "smtpd_restrict.h"

/* Bounds on alias resolution: nesting depth and lookups per address. */
#define ALIAS_DEPTH_MAX 8
#define ALIAS_LOOKUPS_MAX 64

struct table {
	const char *param;
	struct maplist *ml; /* NULL: none configured, or failed */
	bool failed;
};

static struct table valias = {"virtual_alias_maps", NULL, false};
static struct table vmbox = {"virtual_mailbox_maps", NULL, false};
static struct table lrcpt = {"local_recipient_maps", NULL, false};
static struct table logins = {"smtpd_sender_login_maps", NULL, false};
static struct account_db *accounts; /* not ours: smtpd.c closes it */

int smtpd_verdict_set(struct smtpd_verdict *v, int code, const char *dsn,
		      const char *fmt, ...)
{
	va_list ap;
	v->code = code;
	(void)snprintf(v->dsn, sizeof(v->dsn), "%s", dsn);
	va_start(ap, fmt);
	(void)vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
	return code;
}

static void table_open(struct table *t, const struct strv *specs)
{
	struct err e;
	if (specs->n == 0)
		return;
	t->ml = maplist_open(specs, &e);
	if (!t->ml) {
		t->failed = true;
		log_warn("%s: %s; lookups in it will defer", t->param, e.msg);
	}
}

void smtpd_rcpt_init(struct account_db *db)
{
	struct err e;
	table_open(&valias, &params->virtual_alias_maps);
	table_open(&vmbox, &params->virtual_mailbox_maps);
	table_open(&logins, &params->smtpd_sender_login_maps);
	/* local_recipient_maps is a LIST whose elements are table specs;
	 * split its text again so inline:{ a, b } stays one table. */
	const char *lr = params_text("local_recipient_maps");
	struct strv specs;
	strv_init(&specs);
	if (lr && map_spec_split(lr, &specs, &e) < 0) {
		lrcpt.failed = true;
		log_warn("local_recipient_maps: %s", e.msg);
	} else
		table_open(&lrcpt, &specs);
	strv_deinit(&specs);
	accounts = db;
	smtpd_restrict_init();
}

void smtpd_rcpt_deinit(void)
{
	smtpd_restrict_deinit();
	maplist_close(&valias.ml);
	maplist_close(&vmbox.ml);
	maplist_close(&lrcpt.ml);
	maplist_close(&logins.ml);
	accounts = NULL;
}

/* ---- classes ---------------------------------------------------------- */

static bool list_has(const struct strv *l, const char *domain)
{
	for (size_t i = 0; i < l->n; i++)
		if (str_eq_nocase(l->v[i], domain))
			return true;
	return false;
}

/* relay_domains: "d" matches d and its subdomains, ".d" subdomains. */
static bool relay_match(const struct strv *l, const char *domain)
{
	size_t dl = strlen(domain);
	for (size_t i = 0; i < l->n; i++) {
		const char *e = l->v[i];
		bool sub_only = e[0] == '.';
		if (sub_only)
			e++;
		size_t el = strlen(e);
		if (el == 0 || el > dl)
			continue;
		if (!str_eq_nocase(domain + dl - el, e))
			continue;
		if (el == dl ? !sub_only : domain[dl - el - 1] == '.')
			return true;
	}
	return false;
}

/* An IP in text as 16 bytes (IPv4 mapped into IPv6). */
static bool ip_bytes(const char *s, unsigned char out[16])
{
	unsigned char v4[4];
	if (inet_pton(AF_INET6, s, out) == 1)
		return true;
	if (inet_pton(AF_INET, s, v4) != 1)
		return false;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
	return true;
}

static bool literal_ours(const char *lit, const char *local_addr)
{
	unsigned char a[16], b[16];
	if (!ip_bytes(lit, a))
		return false;
	if (local_addr && ip_bytes(local_addr, b) && memcmp(a, b, 16) == 0)
		return true;
	const struct strv *ifs = &params->inet_interfaces;
	for (size_t i = 0; i < ifs->n; i++)
		if (ip_bytes(ifs->v[i], b) && memcmp(a, b, 16) == 0)
			return true;
	return false;
}

static enum smtpd_dom_class domain_class(const char *domain)
{
	if (list_has(&params->mydestination, domain))
		return SMTPD_DOM_LOCAL;
	if (list_has(&params->virtual_alias_domains, domain))
		return SMTPD_DOM_VALIAS;
	if (list_has(&params->virtual_mailbox_domains, domain))
		return SMTPD_DOM_VIRTUAL;
	if (relay_match(&params->relay_domains, domain))
		return SMTPD_DOM_RELAY;
	return SMTPD_DOM_REMOTE;
}

enum smtpd_dom_class smtpd_rcpt_class(const struct smtpd_addr *a,
				      const char *local_addr)
{
	if (a->postmaster)
		return SMTPD_DOM_LOCAL;
	if (a->literal[0])
		return literal_ours(a->literal, local_addr) ? SMTPD_DOM_LOCAL
							    : SMTPD_DOM_REMOTE;
	return domain_class(a->domain);
}

bool smtpd_rcpt_ours(const struct smtpd_who *w, const struct smtpd_addr *a)
{
	enum smtpd_dom_class c = smtpd_rcpt_class(a, w->local_addr);
	if (c == SMTPD_DOM_REMOTE)
		return false;
	/* Sender-specified routing (Postfix's allow_untrusted_routing=no). */
	if (memchr(a->local, '@', a->local_len) ||
	    memchr(a->local, '%', a->local_len))
		return false;
	if (c == SMTPD_DOM_RELAY && memchr(a->local, '!', a->local_len))
		return false;
	return true;
}

/* ---- validity ----------------------------------------------------------- */

struct resolve {
	int lookups;
	bool tempfail;
};

static bool is_postmaster(const char *local)
{
	return str_eq_nocase(local, "postmaster");
}

/* Looks key up in t: 1 found (*val set, caller frees; val may be NULL),
 * 0 not, -1 table failure (r->tempfail set). */
static int lookup(struct table *t, const char *key, char **val,
		  struct resolve *r)
{
	char *v = NULL;
	struct err e;
	if (val)
		*val = NULL;
	if (t->failed) {
		r->tempfail = true;
		return -1;
	}
	if (!t->ml)
		return 0;
	r->lookups++;
	int rc = maplist_lookup(t->ml, key, &v, &e);
	if (rc < 0) {
		log_warn("%s lookup of %s: %s", t->param, key, e.msg);
		r->tempfail = true;
		return -1;
	}
	if (rc == 1 && val)
		*val = v;
	else
		free(v);
	return rc;
}

/* The local part without its address extension (user+ext -> user), or
 * NULL when it has none. Caller frees. */
static char *strip_extension(const char *local)
{
	const char *delims = params->recipient_delimiter;
	if (!delims || !*delims || !local[0])
		return NULL;
	size_t n = strcspn(local + 1, delims) + 1;
	return local[n] ? xstrndup(local, n) : NULL;
}

static int known(const char *local, const char *domain, bool aliases,
		 int depth, struct resolve *r);

/* Is one of the alias targets in rhs valid? 1, 0, or -1. */
static int alias_targets(const char *self, const char *rhs, int depth,
			 struct resolve *r)
{
	struct strv t;
	struct err e;
	strv_init(&t);
	if (alias_split(rhs, strlen(rhs), &t, &e) < 0) {
		log_warn("virtual_alias_maps: bad value for %s: %s", self,
			 e.msg);
		strv_deinit(&t);
		return 0;
	}
	int result = 0;
	for (size_t i = 0; i < t.n && result != 1; i++) {
		char *addr = strchr(t.v[i], '@')
				     ? xstrdup(t.v[i])
				     : xasprintf("%s@%s", t.v[i],
						 params->myorigin);
		bool same = str_eq_nocase(addr, self);
		char *at = strrchr(addr, '@');
		*at = 0;
		str_lower(at + 1);
		int rc;
		if (depth >= ALIAS_DEPTH_MAX) {
			/* A loop, or nesting no real setup has: the mail
			 * could not be delivered, so refuse it now. */
			log_warn("virtual_alias_maps: %s nests deeper than %d "
				 "levels",
				 self, ALIAS_DEPTH_MAX);
			rc = 0;
		} else if (r->lookups >= ALIAS_LOOKUPS_MAX)
			rc = 1; /* a big list: accept rather than guess */
		else
			rc = known(addr, at + 1, !same, depth + 1, r);
		if (rc == 1 || (rc < 0 && result == 0))
			result = rc;
		free(addr);
	}
	strv_deinit(&t);
	return result;
}

/* Looks up local@domain (then without extension, then @domain) in
 * virtual_alias_maps; resolves a hit. 1, 0 (no entry: *hit false, or an
 * entry with no valid target), -1. */
static int virtual_alias(const char *local, const char *base,
			 const char *domain, int depth, struct resolve *r,
			 bool *hit)
{
	char *keys[3];
	keys[0] = xasprintf("%s@%s", local, domain);
	keys[1] = base ? xasprintf("%s@%s", base, domain) : NULL;
	keys[2] = xasprintf("@%s", domain);
	int rc = 0;
	*hit = false;
	for (int i = 0; i < 3 && !*hit && rc >= 0; i++) {
		char *v;
		if (!keys[i])
			continue;
		rc = lookup(&valias, keys[i], &v, r);
		if (rc == 1) {
			*hit = true;
			rc = alias_targets(keys[0], v, depth, r);
			free(v);
		}
	}
	for (int i = 0; i < 3; i++)
		free(keys[i]);
	return rc;
}

static int local_user(const char *local, const char *base, const char *domain,
		      struct resolve *r)
{
	if (!lrcpt.ml && !lrcpt.failed)
		return 1; /* empty local_recipient_maps: accept all */
	char *full = xasprintf("%s@%s", base ? base : local, domain);
	int rc = lookup(&lrcpt, local, NULL, r);
	if (rc == 0 && base)
		rc = lookup(&lrcpt, base, NULL, r);
	if (rc == 0)
		rc = lookup(&lrcpt, full, NULL, r);
	free(full);
	return rc;
}

static int virtual_user(const char *local, const char *base,
			const char *domain, struct resolve *r)
{
	struct err e;
	if (!accounts) {
		r->tempfail = true;
		return -1;
	}
	const char *forms[2] = {local, base};
	for (int i = 0; i < 2; i++) {
		if (!forms[i])
			continue;
		char *addr = xasprintf("%s@%s", forms[i], domain);
		int rc = account_exists(accounts, addr, &e);
		if (rc < 0)
			log_warn("account map lookup of %s: %s", addr, e.msg);
		if (rc == 0)
			rc = lookup(&vmbox, addr, NULL, r);
		free(addr);
		if (rc != 0) {
			if (rc < 0)
				r->tempfail = true;
			return rc;
		}
	}
	char *any = xasprintf("@%s", domain);
	int rc = lookup(&vmbox, any, NULL, r);
	free(any);
	return rc;
}

/* 1 local@domain exists, 0 not, -1 a table failed. aliases false skips
 * virtual_alias_maps (an alias that names itself). */
static int known(const char *local, const char *domain, bool aliases,
		 int depth, struct resolve *r)
{
	enum smtpd_dom_class c = domain_class(domain);
	if (c == SMTPD_DOM_REMOTE || c == SMTPD_DOM_RELAY)
		return 1;
	if (is_postmaster(local))
		return 1;
	char *base = strip_extension(local);
	int rc = 0;
	bool hit = false;
	if (aliases)
		rc = virtual_alias(local, base, domain, depth, r, &hit);
	if (!hit && rc == 0) {
		if (c == SMTPD_DOM_LOCAL)
			rc = local_user(local, base, domain, r);
		else if (c == SMTPD_DOM_VIRTUAL)
			rc = virtual_user(local, base, domain, r);
	}
	free(base);
	return rc;
}

static const char *table_name(enum smtpd_dom_class c)
{
	switch (c) {
	case SMTPD_DOM_LOCAL:
		return "local recipient table";
	case SMTPD_DOM_VIRTUAL:
		return "virtual mailbox table";
	default:
		return "virtual alias table";
	}
}

int smtpd_rcpt_known(const struct smtpd_who *w, const struct smtpd_addr *a,
		     const char *text, bool sender, struct smtpd_verdict *v)
{
	enum smtpd_dom_class c = smtpd_rcpt_class(a, w->local_addr);
	const char *what = sender ? "Sender" : "Recipient";
	if (c == SMTPD_DOM_REMOTE || c == SMTPD_DOM_RELAY || a->postmaster ||
	    is_postmaster(a->local))
		return 1;
	struct resolve r = {0};
	int rc;
	if (a->literal[0]) {
		/* user@[our address] is a system user. */
		char *base = strip_extension(a->local);
		rc = local_user(a->local, base, params->myhostname, &r);
		free(base);
	} else
		rc = known(a->local, a->domain, true, 0, &r);
	if (rc == 1)
		return 1;
	if (rc < 0 || r.tempfail) {
		smtpd_verdict_set(v, 451, "4.3.0",
				  "<%s>: %s address rejected: Temporary lookup "
				  "failure",
				  text, what);
		return -1;
	}
	smtpd_verdict_set(v, 550, sender ? "5.1.0" : "5.1.1",
			  "<%s>: %s address rejected: User unknown in %s",
			  text, what, table_name(c));
	return 0;
}

int smtpd_rcpt_check(const struct smtpd_who *w, const struct smtpd_addr *a,
		     const char *text, struct smtpd_verdict *v)
{
	v->code = 0;
	if (smtpd_restrict_rcpt(w, a, text, v) != 0)
		return v->code;
	if (smtpd_rcpt_known(w, a, text, false, v) != 1)
		return v->code;
	v->code = 0;
	return 0;
}

int smtpd_rcpt_verify(const struct smtpd_who *w, const struct smtpd_addr *a,
		      const char *text, struct smtpd_verdict *v)
{
	v->code = 0;
	if (smtpd_rcpt_known(w, a, text, false, v) != 1)
		return v->code;
	v->code = 0;
	return 0;
}

/* ---- sender ------------------------------------------------------------- */

/* Is user among the login names in owners (comma/space separated)? */
static bool owner_listed(const char *owners, const char *user)
{
	struct strv l;
	strv_init(&l);
	strv_split(&l, owners, ", \t");
	bool found = strv_contains_nocase(&l, user);
	strv_deinit(&l);
	return found;
}

static int login_check(const struct smtpd_who *w, const struct smtpd_addr *a,
		       const char *text, struct smtpd_verdict *v)
{
	struct resolve r = {0};
	char *owners = NULL;
	char *any = xasprintf("@%s", a->domain);
	int rc = lookup(&logins, text, &owners, &r);
	if (rc == 0)
		rc = lookup(&logins, any, &owners, &r);
	free(any);
	if (rc < 0)
		return smtpd_verdict_set(v, 451, "4.3.0",
					 "<%s>: Sender address rejected: "
					 "Temporary lookup failure",
					 text);
	bool ok;
	if (w->sasl_user)
		ok = rc == 1 ? owner_listed(owners, w->sasl_user)
			     : str_eq_nocase(text, w->sasl_user);
	else
		ok = rc == 0;
	free(owners);
	if (ok)
		return 0;
	if (w->sasl_user)
		return smtpd_verdict_set(v, 553, "5.7.1",
					 "<%s>: Sender address rejected: not "
					 "owned by user %s",
					 text, w->sasl_user);
	return smtpd_verdict_set(v, 553, "5.7.1",
				 "<%s>: Sender address rejected: not logged "
				 "in",
				 text);
}

int smtpd_sender_check(const struct smtpd_who *w, const struct smtpd_addr *a,
		       const char *text, struct smtpd_verdict *v)
{
	v->code = 0;
	if (a->null)
		return 0;
	if ((logins.ml || logins.failed) &&
	    params->smtpd_reject_sender_login_mismatch &&
	    login_check(w, a, text, v) != 0)
		return v->code;
	if (params->smtpd_reject_unlisted_sender &&
	    smtpd_rcpt_known(w, a, text, true, v) != 1)
		return v->code;
	v->code = 0;
	return 0;
}
