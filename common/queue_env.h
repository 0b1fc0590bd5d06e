/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_QUEUE_ENV_H
#define POSTHORN_COMMON_QUEUE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/queue_id.h"

struct arena;
struct ipc_msg;

/*
 * A queued message's envelope and recipients: what smtpd and pickup hand
 * to qmgr (proto_qmgr.h) and what the queue index stores (queue_index.h).
 * One definition, one attribute encoding for both, so the wire and the
 * disk cannot drift apart.
 *
 * Strings are not owned by the struct: a producer points them at its own
 * memory; decoders allocate them (and the rcpts array) from the arena they
 * are given. NULL and "" both mean "not given".
 */

/* Bounds every decoder enforces (RFC 5321 4.5.3.1 allows 256 for a path;
 * these are looser so that what an MTA relays is never cut, but bounded). */
#define QUEUE_ADDR_MAX 1024   /* sender, recipient, ORCPT */
#define QUEUE_TEXT_MAX 1024   /* client name, helo, sasl user, reason */
#define QUEUE_ENVID_MAX 512   /* RFC 3461 4.4: 100 chars; xtext grows */
#define QUEUE_RCPT_MAX 100000 /* recipients of one message */
/* Addresses in a delivered-to chain (see struct queue_rcpt): one per
 * forwarding step on this host, so a handful in practice. */
#define QUEUE_DLVTO_MAX 20

enum queue_body {
	QUEUE_BODY_7BIT,
	QUEUE_BODY_8BITMIME,
	QUEUE_BODY_BINARYMIME,
};

enum queue_ret {
	QUEUE_RET_DEFAULT, /* no RET= given */
	QUEUE_RET_FULL,
	QUEUE_RET_HDRS,
};

/* RFC 3461 NOTIFY; 0 means not given (the DSN default: FAILURE, DELAY). */
#define QUEUE_NOTIFY_NEVER 0x1u
#define QUEUE_NOTIFY_SUCCESS 0x2u
#define QUEUE_NOTIFY_FAILURE 0x4u
#define QUEUE_NOTIFY_DELAY 0x8u
#define QUEUE_NOTIFY_ALL 0xfu

enum queue_rcpt_status {
	QUEUE_RCPT_PENDING,  /* not tried yet */
	QUEUE_RCPT_DEFERRED, /* tried, failed temporarily, will retry */
	QUEUE_RCPT_SENT,     /* delivered; kept until the message is done */
	QUEUE_RCPT_BOUNCED,  /* failed permanently; DSN owed or sent */
};

struct queue_rcpt {
	const char *address;
	const char *orcpt; /* ORCPT as received ("rfc822;a@b"), or NULL */
	unsigned notify;   /* QUEUE_NOTIFY_* */
	enum queue_rcpt_status status;
	uint32_t attempts;
	int64_t last_attempt; /* seconds since 1970, 0 = never */
	const char *dsn;      /* last enhanced status code, "4.4.1", or NULL */
	const char *reason;   /* last reason text, or NULL */
	/*
	 * A recipient added by forwarding (an alias or .forward expanded
	 * by local into an address it does not deliver itself): the
	 * addresses whose expansion produced it, newest first, separated
	 * by LF (queue_dlvto_safe). Each copy delivered to it carries a
	 * "Delivered-To:" for each of them, which is what stops a
	 * forwarding loop between hosts at its first return (local
	 * bounces a message that already has one for an address it
	 * expands). NULL for a recipient as submitted. Index records and
	 * the delivery protocol only; never accepted from a producer.
	 */
	const char *delivered_to;
};

struct queue_envelope {
	char queue_id[QUEUE_ID_SIZE];
	const char *sender; /* "" is the null sender <> */
	int64_t arrival_us; /* when the message arrived (microseconds) */
	uint64_t size;      /* bytes of the queue file */
	const char *client_name;
	const char *client_addr;
	const char *helo;
	const char *protocol; /* "ESMTP", "SMTP", "ESMTPSA", "local" ... */
	const char *sasl_user;
	const char *envid; /* RFC 3461 ENVID, xtext as received */
	enum queue_ret ret;
	enum queue_body body;
	bool smtputf8;
	bool hold;   /* on hold: not scheduled until released */
	bool bounce; /* this message is itself a bounce (null sender) */
	int64_t next_attempt; /* seconds since 1970 */
	struct queue_rcpt *rcpts;
	size_t nrcpt;
};

/* Text names, as they appear in attributes, listings and logs. The
 * *_parse functions return 0 and set *out, or -1 for an unknown name. */
const char *queue_body_name(enum queue_body b);
int queue_body_parse(const char *s, enum queue_body *out);
const char *queue_ret_name(enum queue_ret r);
int queue_ret_parse(const char *s, enum queue_ret *out);
const char *queue_rcpt_status_name(enum queue_rcpt_status s);
int queue_rcpt_status_parse(const char *s, enum queue_rcpt_status *out);

/*
 * True when s[0..len) may be used as an envelope address: at most
 * QUEUE_ADDR_MAX bytes, no control characters (CR, LF, NUL ...), no
 * space outside a quoted local part, no angle brackets. "" is allowed (the
 * null sender); callers that need a recipient check len > 0 themselves.
 * This is a safety check for data crossing a trust boundary, not RFC 5321
 * syntax (smtpd checks that).
 */
bool queue_addr_safe(const char *s, size_t len);

/*
 * True when s[0..len) is a delivered-to chain: 1 to QUEUE_DLVTO_MAX
 * non-empty addresses, each queue_addr_safe, separated by single LFs
 * (no LF before the first or after the last). "" is not a chain.
 */
bool queue_dlvto_safe(const char *s, size_t len);
/*
 * Steps through a chain that passed queue_dlvto_safe: sets *addr and
 * *alen to the address at *pos and moves *pos past it. 1 while there
 * is one, 0 at the end. Start with *pos = 0.
 */
int queue_dlvto_next(const char *s, size_t len, size_t *pos,
                     const char **addr, size_t *alen);

/*
 * Adds the envelope's attributes (not the recipients, not the queue id)
 * to m, names from proto_qmgr.h; empty strings and default values are
 * left out. 0, or -1 if m would pass an IPC limit.
 */
int queue_env_encode(struct ipc_msg *m, const struct queue_envelope *env);
/*
 * Reads the envelope attributes of m into *env (recipients untouched;
 * queue_id untouched). Strings are copied into a. Rejects a missing
 * sender/size/arrival, bad numbers, unknown enum names, unsafe addresses
 * and over-long texts. 0, or -1 with e set.
 */
int queue_env_decode(const struct ipc_msg *m, struct arena *a,
                     struct queue_envelope *env, struct err *e);

/*
 * Recipients as repeated attributes: rcpt, orcpt, notify (and with
 * `full`: status, attempts, last_attempt, dsn, reason, and
 * delivered_to), the i-th value of each belonging to the i-th
 * recipient; absent values travel as "". delivered_to is written only
 * when one of the recipients has a chain, so records of recipients
 * without one are what readers before it wrote and read (they ignore
 * the attribute). encode adds rcpts[0 .. n); 0 or -1 (limit).
 */
int queue_rcpts_encode(struct ipc_msg *m, const struct queue_rcpt *rcpts,
                       size_t n, bool full);
/*
 * Appends the recipients of m to *list (growing it in a; *n is its length
 * and *cap its allocated size). Every per-recipient attribute present must
 * occur exactly as often as rcpt; the total may not pass max. 0, or -1
 * with e set.
 */
int queue_rcpts_decode(const struct ipc_msg *m, struct arena *a,
                       struct queue_rcpt **list, size_t *n, size_t *cap,
                       size_t max, bool full, struct err *e);

#endif
