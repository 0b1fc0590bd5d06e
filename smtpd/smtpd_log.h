/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_LOG_H
#define POSTHORN_SMTPD_SMTPD_LOG_H

#include "common/stream.h"
#include "smtpd_session.h"

/*
 * smtpd's log lines in Postfix's shape (a published interface, see
 * CONVENTIONS.md 7), so pflogsumm and friends read them:
 *   connect from host[addr]                        (smtpd_session.c)
 *   ID: client=host[addr][, sasl_method=M, sasl_username=U]
 *   NOQUEUE: reject: RCPT from host[addr]: 550 5.1.1 <x>: ...; from=<s>
 *       to=<x> proto=ESMTP helo=<h>
 *   timeout after DATA (1234 bytes) from host[addr]
 *   lost connection after RCPT from host[addr]
 *   disconnect from host[addr] ehlo=1 mail=1 rcpt=1/2 data=1 quit=1
 *       commands=5/6
 * Client-supplied text (HELO names, addresses) is passed through
 * log_quote().
 */

/* The reject line for a refusal v (from: the sender, NULL for the
 * transaction's; to: the recipient, or NULL). */
void smtpd_log_reject(const struct smtpd_session *s,
		      const struct smtpd_verdict *v, const char *from,
		      const char *to);
/* "ID: client=..." when a queue file is created. */
void smtpd_log_client(const struct smtpd_session *s);
/* "<what> after CMD from host[addr]" for a failed stream. */
void smtpd_log_stream_error(const struct smtpd_session *s,
			    enum stream_error err);
/* The final statistics line. */
void smtpd_log_disconnect(const struct smtpd_session *s);

#endif
