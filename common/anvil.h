/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_ANVIL_H
#define POSTHORN_COMMON_ANVIL_H

#include <stddef.h>
#include <time.h>

#include "common/err.h"

/*
 * Per-client state shared by all processes of a service family, for the
 * limits that one-client processes cannot count alone (Postfix's anvil
 * idea, kept in a shared file instead of a daemon):
 *   - live sessions per key (a client address, a login name):
 *     anvil_enter / anvil_leave, with an optional limit;
 *   - recent authentication failures per key, forgotten one per
 *     fail_decay seconds without a new failure, so a delay can grow
 *     across reconnects.
 *
 * A table is one file mapped shared by every process that opens it. A
 * session holds its slot by an open-file-description lock, which the
 * kernel drops when the process ends however it ends: counts are right
 * after any crash without cleanup. Failure counts are advisory: a full
 * failure table forgets its oldest entry.
 *
 * A handle belongs to the process that opened it (the locks belong to
 * its open file description): open after fork(), never use an inherited
 * handle. Open it before dropping privileges if the file's directory is
 * root's: the descriptor stays usable afterwards. Every call takes a
 * short lock on the file; none waits for anything else.
 */

/* Longest key (a canonical account address is at most 254 bytes). */
#define ANVIL_KEY_MAX 255

enum anvil_kind {
	ANVIL_KEY_ADDR = 1, /* an IP address (IPv4 stored IPv4-mapped) */
	ANVIL_KEY_NAME = 2, /* other bytes, e.g. a login name */
};

struct anvil_key {
	unsigned char kind; /* enum anvil_kind */
	unsigned char len;
	unsigned char data[ANVIL_KEY_MAX];
};

/* Fills k for an IPv4 or IPv6 address in text form ("192.0.2.1" and
 * "::ffff:192.0.2.1" give the same key). 0, or -1 when addr is not an IP
 * address: k is then the empty key, which every call below takes as
 * "nothing to count" (like a NULL table). */
int anvil_key_addr(struct anvil_key *k, const char *addr);
/* Fills k for the bytes name[0..len). 0, or -1 (k empty, as above) when
 * len > ANVIL_KEY_MAX. */
int anvil_key_name(struct anvil_key *k, const char *name, size_t len);

/* Geometry and policy of an open table; zero fields take the defaults.
 * Every process opening one file must use the same slots and fails. */
struct anvil_opts {
	unsigned slots;        /* concurrent sessions held (16384) */
	unsigned fails;        /* keys with recent failures (1024) */
	long fail_decay;       /* seconds per forgotten failure (600) */
	time_t (*clock)(void); /* NULL: time(NULL); tests inject theirs */
};

struct anvil;

/*
 * Opens the table in the file at path, creating it (mode 0600) or
 * resetting it when it holds another layout. o may be NULL (defaults).
 * 0 with *out set (free with anvil_close), or -1 with e set.
 */
int anvil_open(const char *path, const struct anvil_opts *o, struct anvil **out,
               struct err *e);
/*
 * How a server opens its family's table: queue_directory/pid/NAME.clients
 * (pid/ holds run-time state only), failures forgotten one per
 * auth_failure_decay_time. Call it as root, before the privilege drop
 * (pid/ is root's). NULL, with a warning logged, when the file cannot be
 * used: the limits that need it are then off.
 */
struct anvil *anvil_open_family(const char *name);
/* Releases every slot this handle holds, unmaps and closes; *tp = NULL;
 * NULL ok. */
void anvil_close(struct anvil **tp);

/*
 * A session for key starts: counts the live sessions holding key, this
 * one included (the sessions of processes that died without leaving may
 * count too, except when the count is over limit: it is then checked). If limit is 0 or the count is at most limit, takes a
 * slot for it (*slot_out >= 0, give it back with anvil_leave); otherwise
 * takes none (*slot_out = -1) and the caller refuses the session.
 * Returns the count (>= 1); 0 when t is NULL, k is empty or the file
 * cannot be locked (nothing counted); -1 when every slot is taken.
 */
int anvil_enter(struct anvil *t, const struct anvil_key *k, unsigned limit,
                int *slot_out);
/* The session of *slot ended: frees the slot, *slot = -1. A negative
 * *slot or a NULL t does nothing. */
void anvil_leave(struct anvil *t, int *slot);
/* Live sessions holding key; 0 when t is NULL. */
int anvil_sessions(struct anvil *t, const struct anvil_key *k);

/*
 * Records an authentication failure for key. Returns key's recent
 * failures, this one included (>= 1), or 0 when t is NULL, k is empty
 * or the file cannot be locked. Recent: the count drops by one for each full
 * fail_decay seconds since the last failure of key.
 */
unsigned anvil_fail(struct anvil *t, const struct anvil_key *k);
/* key's recent failures, without recording one; 0 when t is NULL. */
unsigned anvil_failures(struct anvil *t, const struct anvil_key *k);
/* Forgets key's failures (after a successful login). */
void anvil_fail_clear(struct anvil *t, const struct anvil_key *k);

/* The delay policy the servers share: step seconds per recent failure
 * (n), at most max seconds. */
long anvil_fail_delay(unsigned n, long step, long max);

#endif
