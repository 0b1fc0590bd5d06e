/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTP_SMTP_BODY_H
#define POSTHORN_SMTP_SMTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/*
 * The message as it goes on the wire: queue files end lines in a bare LF
 * (common/queue_file.h), SMTP wants CRLF and dot-stuffing (RFC 5321
 * 4.5.2), and a server without 8BITMIME gets 8-bit MIME parts converted to
 * quoted-printable (RFC 6152 3, RFC 2045 6.7).
 */

/* Where content goes: 0, or -1 to stop (the writer's own error). */
typedef int (*smtp_write_fn)(void *ctx, const void *p, size_t n);

/*
 * Writes data[0..len) as DATA content through w: every line ends in CRLF
 * (an LF, or a CR LF pair, ends a line; other CRs are data), a line
 * starting with "." gets another, an unterminated last line is ended, and
 * the terminating ".\r\n" follows. Returns 0, or -1 when w failed.
 */
int smtp_body_write(const char *data, size_t len, smtp_write_fn w, void *ctx);

/*
 * The Delivered-To: lines a forwarded copy carries on top (proto_deliver.h
 * delivered_to): one per address of the chain s[0..len) (which passed
 * queue_dlvto_safe), in its order, appended to out ready for the wire:
 * CRLF line ends, and no line starts with "." (so the bytes go out as
 * they are, by DATA or BDAT, and count as they are for SIZE=). An
 * address with 8-bit bytes is left out unless allow_8bit (the
 * transaction uses SMTPUTF8, RFC 6532 3.2): a copy without one line of
 * its chain still travels, one with a raw 8-bit header to a server that
 * did not ask for it must not. 0, or -1 past out's maximum.
 */
int smtp_body_delivered_to(const char *s, size_t len, bool allow_8bit,
                           struct buf *out);

/* True when p[0..len) holds a byte >= 0x80. */
bool smtp_body_has_8bit(const char *p, size_t len);

/* The message size as SMTP counts it (lines ended by CRLF, no
 * dot-stuffing), for MAIL FROM SIZE= (RFC 1870). */
uint64_t smtp_body_wire_size(const char *data, size_t len);

/*
 * Converts a message with 8-bit content into one a 7-bit server may take
 * (RFC 6152 3: "convert the message to 7 bits"). Walks the MIME tree:
 * every leaf part whose body holds 8-bit bytes is re-encoded as
 * quoted-printable and its Content-Transfer-Encoding replaced; multipart
 * and message/rfc822 parts declared 8bit become 7bit. A message without
 * MIME headers gets MIME-Version and "text/plain; charset=unknown-8bit"
 * (RFC 1428). Appends the result (line ends may be LF or CRLF; write it
 * with smtp_body_write()) to out. Returns 0, or -1 with e set when it
 * cannot be done: 8-bit bytes in a header (that needs SMTPUTF8), in a
 * part already base64 or quoted-printable, in a binary part or a message
 * part other than message/rfc822, or between parts; or when out's maximum
 * is reached.
 */
int smtp_body_downgrade(const char *data, size_t len, struct buf *out,
                        struct err *e);

#endif
