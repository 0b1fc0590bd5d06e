/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_RESTRICT_H
#define POSTHORN_SMTPD_SMTPD_RESTRICT_H

#include "smtpd_rcpt.h"

/*
 * smtpd_relay_restrictions and smtpd_recipient_restrictions: parsed once
 * (smtpd_restrict_init, called by smtpd_rcpt_init) and evaluated for each
 * RCPT. The supported restrictions and the fail-safe rules are listed in
 * smtpd_rcpt.h.
 */
void smtpd_restrict_init(void);
void smtpd_restrict_deinit(void);

/* Evaluates both lists, then the implicit reject_unauth_destination.
 * 0 when the recipient may go on to the validity check, else the reply
 * code with v filled. */
int smtpd_restrict_rcpt(const struct smtpd_who *w, const struct smtpd_addr *a,
			const char *text, struct smtpd_verdict *v);

#endif
