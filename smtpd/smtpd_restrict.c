/* SPDX-License-Identifier: MIT */
/*
 * smtpd_restrict.c - the restriction lists evaluated at RCPT time
 *
 * Postfix's model, reduced to what Posthorn can decide: each list is read
 * left to right; a restriction answers PERMIT (the list ends), REJECT or
 * DEFER (the command is refused), or DUNNO (go on). Both lists run for
 * every RCPT (Postfix's smtpd_delay_reject=yes), so sender and client
 * restrictions in them see the whole transaction.
 * Not here: whether the recipient exists (smtpd_rcpt.c).
 */
#include "smtpd_restrict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/map.h"
#include "common/params.h"
#include "common/str.h"
#include "common/xalloc.h"

enum rx_kind {
	RX_PERMIT,
	RX_REJECT,
	RX_DEFER,
	RX_PERMIT_MYNETWORKS,
	RX_PERMIT_SASL,
	RX_PERMIT_AUTH_DEST,
	RX_REJECT_UNAUTH_DEST,
	RX_DEFER_UNAUTH_DEST,
	RX_REJECT_UNLISTED_RCPT,
	RX_REJECT_UNLISTED_SENDER,
	RX_REJECT_NON_FQDN_RCPT,
	RX_REJECT_NON_FQDN_SENDER,
	RX_CHECK_RCPT_ACCESS,
	RX_CHECK_SENDER_ACCESS,
	RX_CHECK_CLIENT_ACCESS,
	RX_BAD, /* unknown or unusable: answers 451 4.3.5 */
};

static const struct {
	const char *name;
	enum rx_kind kind;
} rx_names[] = {
	{"permit", RX_PERMIT},
	{"reject", RX_REJECT},
	{"defer", RX_DEFER},
	{"permit_mynetworks", RX_PERMIT_MYNETWORKS},
	{"permit_sasl_authenticated", RX_PERMIT_SASL},
	{"permit_auth_destination", RX_PERMIT_AUTH_DEST},
	{"reject_unauth_destination", RX_REJECT_UNAUTH_DEST},
	{"defer_unauth_destination", RX_DEFER_UNAUTH_DEST},
	{"reject_unlisted_recipient", RX_REJECT_UNLISTED_RCPT},
	{"reject_unlisted_sender", RX_REJECT_UNLISTED_SENDER},
	{"reject_non_fqdn_recipient", RX_REJECT_NON_FQDN_RCPT},
	{"reject_non_fqdn_sender", RX_REJECT_NON_FQDN_SENDER},
	{"check_recipient_access", RX_CHECK_RCPT_ACCESS},
	{"check_sender_access", RX_CHECK_SENDER_ACCESS},
	{"check_client_access", RX_CHECK_CLIENT_ACCESS},
};

struct rx {
	enum rx_kind kind;
	char *name;
	struct map *table; /* check_*_access */
};

struct rx_list {
	const char *param;
	struct rx *v;
	size_t n;
};

static struct rx_list relay_list = {"smtpd_relay_restrictions", NULL, 0};
static struct rx_list rcpt_list = {"smtpd_recipient_restrictions", NULL, 0};

enum result { DUNNO, PERMIT, REFUSE };

static void list_parse(struct rx_list *l, const struct strv *words)
{
	l->v = xcalloc(words->n + 1, sizeof(*l->v));
	for (size_t i = 0; i < words->n; i++) {
		struct rx *r = &l->v[l->n++];
		r->kind = RX_BAD;
		r->name = xstrdup(words->v[i]);
		for (size_t k = 0; k < sizeof(rx_names) / sizeof(rx_names[0]);
		     k++)
			if (str_eq_nocase(words->v[i], rx_names[k].name))
				r->kind = rx_names[k].kind;
		if (r->kind == RX_BAD) {
			log_warn("%s: unsupported restriction \"%s\"; it "
				 "will defer every recipient it is reached for",
				 l->param, words->v[i]);
			continue;
		}
		if (r->kind < RX_CHECK_RCPT_ACCESS)
			continue;
		struct err e;
		if (i + 1 >= words->n) {
			log_warn("%s: %s needs a table", l->param, r->name);
			r->kind = RX_BAD;
			continue;
		}
		r->table = map_open(words->v[++i], &e);
		if (!r->table) {
			log_warn("%s: %s %s: %s", l->param, r->name,
				 words->v[i], e.msg);
			r->kind = RX_BAD;
		}
	}
}

void smtpd_restrict_init(void)
{
	list_parse(&relay_list, &params->smtpd_relay_restrictions);
	list_parse(&rcpt_list, &params->smtpd_recipient_restrictions);
}

static void list_free(struct rx_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		map_close(&l->v[i].table);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void smtpd_restrict_deinit(void)
{
	list_free(&relay_list);
	list_free(&rcpt_list);
}

static int config_error(struct smtpd_verdict *v)
{
	return smtpd_verdict_set(v, 451, "4.3.5", "Server configuration error");
}

/*
 * Applies an access table's value: OK/PERMIT, REJECT/DEFER [text], DUNNO,
 * or "4NN [x.y.z] text" / "5NN [x.y.z] text". who is "<addr>: Recipient
 * address rejected" and the like.
 */
static enum result access_action(const char *val, const char *who,
				 struct smtpd_verdict *v)
{
	const char *sp = strchr(val, ' ');
	size_t wl = sp ? (size_t)(sp - val) : strlen(val);
	const char *rest = sp ? sp + 1 : "";
	while (*rest == ' ')
		rest++;
	if (strn_eq_nocase(val, wl, "OK") || strn_eq_nocase(val, wl, "PERMIT"))
		return PERMIT;
	if (strn_eq_nocase(val, wl, "DUNNO"))
		return DUNNO;
	if (strn_eq_nocase(val, wl, "REJECT")) {
		smtpd_verdict_set(v, 554, "5.7.1", "%s: %s", who,
				  *rest ? rest : "Access denied");
		return REFUSE;
	}
	if (strn_eq_nocase(val, wl, "DEFER")) {
		smtpd_verdict_set(v, 450, "4.7.1", "%s: %s", who,
				  *rest ? rest : "Access denied");
		return REFUSE;
	}
	uint64_t code;
	if (wl == 3 && parse_uintn(val, 3, 400, 599, &code) == 0) {
		char dsn[8];
		/* An enhanced code in the text, of the same class, wins. */
		size_t dl = strspn(rest, "0123456789.");
		if (dl >= 5 && dl < sizeof(dsn) && rest[0] == val[0] &&
		    rest[1] == '.') {
			memcpy(dsn, rest, dl);
			dsn[dl] = 0;
			rest += dl;
			while (*rest == ' ')
				rest++;
		} else
			(void)snprintf(dsn, sizeof(dsn), "%c.7.1", val[0]);
		smtpd_verdict_set(v, (int)code, dsn, "%s: %s", who,
				  *rest ? rest : "Access denied");
		return REFUSE;
	}
	log_warn("access table: unknown action \"%s\"", val);
	config_error(v);
	return REFUSE;
}

/* Looks keys up in order; the first hit decides. */
static enum result access_check(struct map *t, const char *const *keys,
				size_t nkeys, const char *who,
				struct smtpd_verdict *v)
{
	for (size_t i = 0; i < nkeys; i++) {
		char *val = NULL;
		struct err e;
		if (!keys[i])
			continue;
		int rc = map_lookup(t, keys[i], &val, &e);
		if (rc < 0) {
			log_warn("%s lookup of %s: %s", map_spec(t), keys[i],
				 e.msg);
			smtpd_verdict_set(v, 451, "4.3.0",
					  "%s: Temporary lookup failure", who);
			return REFUSE;
		}
		if (rc == 1) {
			enum result r = access_action(str_trim(val), who, v);
			free(val);
			return r;
		}
	}
	return DUNNO;
}

/* Address keys: user@domain, domain, user@ (Postfix's access(5) order). */
static enum result address_access(struct map *t, const struct smtpd_addr *a,
				  const char *text, const char *who,
				  struct smtpd_verdict *v)
{
	char *user = xasprintf("%s@", a->local);
	const char *keys[3] = {a->null ? "<>" : text,
			       a->null ? NULL : a->domain,
			       a->null ? NULL : user};
	enum result r = access_check(t, keys, 3, who, v);
	free(user);
	return r;
}

/* Client keys: the address, then its IPv4 network prefixes. */
static enum result client_access(struct map *t, const char *addr,
				 const char *who, struct smtpd_verdict *v)
{
	char pre[3][64];
	const char *keys[4] = {addr, NULL, NULL, NULL};
	if (!strchr(addr, ':')) {
		for (int k = 0; k < 3; k++) {
			(void)snprintf(pre[k], sizeof(pre[k]), "%s", addr);
			for (int dots = 0; dots < 3 - k; dots++) {
				char *d = strrchr(pre[k], '.');
				if (d)
					*d = 0;
			}
			keys[k + 1] = pre[k];
		}
	}
	return access_check(t, keys, 4, who, v);
}

static bool fqdn(const struct smtpd_addr *a)
{
	return a->null || a->postmaster || a->literal[0] ||
	       strchr(a->domain, '.') != NULL;
}

static enum result apply(const struct rx *r, const struct smtpd_who *w,
			 const struct smtpd_addr *a, const char *text,
			 struct smtpd_verdict *v)
{
	char who[SMTPD_ADDR_TEXT_MAX + 80];
	const struct smtpd_addr *s = w->sender;
	const char *st = w->sender_text ? w->sender_text : "";
	switch (r->kind) {
	case RX_PERMIT:
		return PERMIT;
	case RX_REJECT:
		smtpd_verdict_set(v, 554, "5.7.1",
				  "<%s>: Recipient address rejected: Access "
				  "denied",
				  text);
		return REFUSE;
	case RX_DEFER:
		smtpd_verdict_set(v, 450, "4.7.1",
				  "<%s>: Recipient address rejected: Access "
				  "denied",
				  text);
		return REFUSE;
	case RX_PERMIT_MYNETWORKS:
		return w->mynetworks ? PERMIT : DUNNO;
	case RX_PERMIT_SASL:
		return w->sasl_user ? PERMIT : DUNNO;
	case RX_PERMIT_AUTH_DEST:
		return smtpd_rcpt_ours(w, a) ? PERMIT : DUNNO;
	case RX_REJECT_UNAUTH_DEST:
	case RX_DEFER_UNAUTH_DEST:
		if (smtpd_rcpt_ours(w, a))
			return DUNNO;
		if (r->kind == RX_REJECT_UNAUTH_DEST)
			smtpd_verdict_set(v, 554, "5.7.1",
					  "<%s>: Relay access denied", text);
		else
			smtpd_verdict_set(v, 450, "4.7.1",
					  "<%s>: Relay access denied", text);
		return REFUSE;
	case RX_REJECT_UNLISTED_RCPT:
		return smtpd_rcpt_known(w, a, text, false, v) == 1 ? DUNNO
								    : REFUSE;
	case RX_REJECT_UNLISTED_SENDER:
		if (!s || s->null)
			return DUNNO;
		return smtpd_rcpt_known(w, s, st, true, v) == 1 ? DUNNO
								 : REFUSE;
	case RX_REJECT_NON_FQDN_RCPT:
		if (fqdn(a))
			return DUNNO;
		smtpd_verdict_set(v, 504, "5.5.2",
				  "<%s>: Recipient address rejected: need "
				  "fully-qualified address",
				  text);
		return REFUSE;
	case RX_REJECT_NON_FQDN_SENDER:
		if (!s || fqdn(s))
			return DUNNO;
		smtpd_verdict_set(v, 504, "5.5.2",
				  "<%s>: Sender address rejected: need "
				  "fully-qualified address",
				  st);
		return REFUSE;
	case RX_CHECK_RCPT_ACCESS:
		(void)snprintf(who, sizeof(who),
			       "<%s>: Recipient address rejected", text);
		return address_access(r->table, a, text, who, v);
	case RX_CHECK_SENDER_ACCESS:
		if (!s)
			return DUNNO;
		(void)snprintf(who, sizeof(who),
			       "<%s>: Sender address rejected", st);
		return address_access(r->table, s, st, who, v);
	case RX_CHECK_CLIENT_ACCESS:
		(void)snprintf(who, sizeof(who), "<%s>: Client host rejected",
			       w->client_addr);
		return client_access(r->table, w->client_addr, who, v);
	case RX_BAD:
		break;
	}
	config_error(v);
	return REFUSE;
}

static enum result list_eval(const struct rx_list *l,
			     const struct smtpd_who *w,
			     const struct smtpd_addr *a, const char *text,
			     struct smtpd_verdict *v)
{
	for (size_t i = 0; i < l->n; i++) {
		enum result r = apply(&l->v[i], w, a, text, v);
		if (r != DUNNO)
			return r;
	}
	return DUNNO;
}

int smtpd_restrict_rcpt(const struct smtpd_who *w, const struct smtpd_addr *a,
			const char *text, struct smtpd_verdict *v)
{
	v->code = 0;
	enum result r1 = list_eval(&relay_list, w, a, text, v);
	if (r1 == REFUSE)
		return v->code;
	enum result r2 = list_eval(&rcpt_list, w, a, text, v);
	if (r2 == REFUSE)
		return v->code;
	/* The implicit reject_unauth_destination: relaying needs an
	 * explicit permit from one of the lists. */
	if (r1 != PERMIT && r2 != PERMIT && !smtpd_rcpt_ours(w, a))
		return smtpd_verdict_set(v, 554, "5.7.1",
					 "<%s>: Relay access denied", text);
	return 0;
}
