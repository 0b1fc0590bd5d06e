/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTP_SMTP_PROTO_H
#define POSTHORN_SMTP_SMTP_PROTO_H

#include <stddef.h>

#include "common/buf.h"

#include "smtp.h"
#include "smtp_session.h"

/*
 * One mail transaction on an open session (RFC 5321 3.3): MAIL FROM with
 * SIZE, BODY, SMTPUTF8, RET and ENVID as the server supports them, RCPT
 * TO (NOTIFY, ORCPT) for every recipient without a final result, DATA
 * (or BDAT for BINARYMIME), pipelined per RFC 2920 when offered.
 * Recipients get their results: 2xx sent, 5xx bounce (final), 4xx and
 * lost connections defer (open for the next host). Messages the server
 * cannot take (SIZE, 8BITMIME without a possible conversion, SMTPUTF8,
 * BINARYMIME) bounce, open for the next host too. Blocks, each step
 * within its smtp_*_timeout.
 */
void smtp_proto_transaction(struct smtp_session *s, struct smtp_request *req);

/* Appends s[0..len) as RFC 3461 4 xtext ("+XX" for '+', '=' and bytes
 * outside 33..126) to out; 0, or -1 past out's maximum. */
int smtp_xtext(const char *s, size_t len, struct buf *out);

#endif
