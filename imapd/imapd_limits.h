/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_LIMITS_H
#define POSTHORN_IMAPD_IMAPD_LIMITS_H

#include "common/err.h"

/*
 * Counting sessions across processes (imapd_client_connection_limit per
 * user, imapd_client_address_limit per client address). Each imapd
 * process serves one client, so the count lives in the file system: one
 * file per key in a directory, and a session holds one of its first max
 * bytes locked (Linux open-file-description locks). The kernel drops the
 * lock when the process dies, however it dies, so a crash never leaks a
 * slot. The last session of a key removes the file.
 */

struct imapd_limit;

/*
 * Takes a slot for key (any bytes; kind separates the name spaces, e.g.
 * "addr", "user") in dir. 1 taken (*out set; release it), 0 all max
 * slots are held, -1 error (e set; the caller lets the session go on:
 * a broken counter must not lock everybody out). dir NULL: always 1 with
 * *out NULL.
 */
int imapd_limit_take(const char *dir, const char *kind, const char *key,
                     unsigned max, struct imapd_limit **out, struct err *e);
/* Releases the slot; *lp = NULL; NULL ok. */
void imapd_limit_release(struct imapd_limit **lp);

#endif
