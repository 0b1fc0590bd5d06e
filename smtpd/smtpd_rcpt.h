/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_RCPT_H
#define POSTHORN_SMTPD_SMTPD_RCPT_H

#include <stdbool.h>
#include <stddef.h>

#include "smtpd_addr.h"

/*
 * Who may send to whom: address classes, relay control, recipient
 * validation at RCPT time, sender checks at MAIL time.
 *
 * Address classes (checked in this order, as Postfix does):
 *   LOCAL    mydestination, or an address literal naming one of our
 *            addresses: system users (local_recipient_maps)
 *   VALIAS   virtual_alias_domains: only virtual_alias_maps entries exist
 *   VIRTUAL  virtual_mailbox_domains: accounts (posthorn user) and
 *            virtual_mailbox_maps
 *   RELAY    relay_domains (an entry also matches its subdomains;
 *            ".example.com" matches only subdomains)
 *   REMOTE   everything else
 *
 * RCPT: smtpd_relay_restrictions, then smtpd_recipient_restrictions, are
 * evaluated as in Postfix (first PERMIT ends a list, REJECT/DEFER ends
 * the command). Supported restrictions:
 *   permit, reject, defer, permit_mynetworks, permit_sasl_authenticated,
 *   permit_auth_destination, reject_unauth_destination,
 *   defer_unauth_destination, reject_unlisted_recipient,
 *   reject_unlisted_sender, reject_non_fqdn_recipient,
 *   reject_non_fqdn_sender, check_recipient_access TABLE,
 *   check_sender_access TABLE, check_client_access TABLE
 *   (table values: OK, PERMIT, REJECT [text], DEFER [text], DUNNO, or
 *   "4NN/5NN text").
 * Anything else (reject_unknown_*, which need DNS, included) is logged
 * once and answered 451 4.3.5 every time it is reached: an unknown
 * restriction must never quietly open the relay. Whatever the lists say,
 * a destination that is not ours is refused unless some restriction
 * explicitly permitted it (an implicit reject_unauth_destination at the
 * end), so no configuration is an open relay by omission.
 *
 * "Ours" excludes sender-specified routing: a local part holding '@' or
 * '%' ("user@remote"@ours, user%remote@ours) is never our destination, nor
 * is one holding '!' at a relay domain; source routes are dropped by the
 * parser before this module sees the address.
 *
 * Then the recipient must exist (Postfix's smtpd_reject_unlisted_recipient,
 * always on): postmaster at any of our domains always does (RFC 5321
 * 4.5.1); otherwise the address (and the address without its
 * recipient_delimiter extension) is resolved through virtual_alias_maps
 * (an alias is valid when one of its targets is, depth and fan-out
 * bounded), then the class's table. A table that cannot be read defers
 * (451 4.3.0), never bounces.
 */

enum smtpd_dom_class {
	SMTPD_DOM_REMOTE,
	SMTPD_DOM_LOCAL,
	SMTPD_DOM_VALIAS,
	SMTPD_DOM_VIRTUAL,
	SMTPD_DOM_RELAY,
};

/* What the checks know about the client and the transaction. */
struct smtpd_who {
	const char *client_addr;   /* "192.0.2.1" */
	const char *local_addr;    /* our end, for [address literals] */
	bool mynetworks;
	const char *sasl_user;     /* NULL when not authenticated */
	const struct smtpd_addr *sender; /* NULL before MAIL */
	const char *sender_text;   /* external form, "" for <> */
};

/* A decision: code 0 means accepted; otherwise an SMTP reply. */
struct smtpd_verdict {
	int code;
	char dsn[8];
	char text[320]; /* "<a@b>: Relay access denied" */
};

struct account_db;

/* Opens the tables and parses the restriction lists; accounts is the
 * account map (shared with AUTH: LMDB allows one handle per file and
 * process), NULL when it could not be opened. Problems are logged; what
 * they affect then defers. After params_load and the privilege drop. */
void smtpd_rcpt_init(struct account_db *accounts);
void smtpd_rcpt_deinit(void);

/* The class of a's domain (a literal is LOCAL when it names local_addr
 * or an inet_interfaces address). */
enum smtpd_dom_class smtpd_rcpt_class(const struct smtpd_addr *a,
				      const char *local_addr);

/* RCPT TO: restrictions, then validity. text is a's external form.
 * Returns v->code (0 accept). */
int smtpd_rcpt_check(const struct smtpd_who *w, const struct smtpd_addr *a,
		     const char *text, struct smtpd_verdict *v);

/*
 * Pieces of the above, for smtpd_restrict.c:
 * smtpd_rcpt_ours: a's destination is ours (LOCAL, VALIAS, VIRTUAL or
 * RELAY, and no sender-specified routing).
 * smtpd_rcpt_known: validity; 1 known, 0 unknown (v set to 550 5.1.1),
 * -1 lookup failure (v set to 451 4.3.0). Addresses of other classes
 * are known.
 */
bool smtpd_rcpt_ours(const struct smtpd_who *w, const struct smtpd_addr *a);
int smtpd_rcpt_known(const struct smtpd_who *w, const struct smtpd_addr *a,
		     const char *text, bool sender, struct smtpd_verdict *v);

/* Fills v; fmt is the text after "<text>: " when text is not NULL. */
int smtpd_verdict_set(struct smtpd_verdict *v, int code, const char *dsn,
		      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* VRFY: validity only (250/252 decided by the caller on 0). */
int smtpd_rcpt_verify(const struct smtpd_who *w, const struct smtpd_addr *a,
		      const char *text, struct smtpd_verdict *v);

/* MAIL FROM: smtpd_sender_login_maps / smtpd_reject_sender_login_mismatch
 * and smtpd_reject_unlisted_sender. Returns v->code (0 accept). */
int smtpd_sender_check(const struct smtpd_who *w, const struct smtpd_addr *a,
		       const char *text, struct smtpd_verdict *v);

#endif
