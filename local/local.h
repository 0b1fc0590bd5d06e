/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_LOCAL_LOCAL_H
#define POSTHORN_LOCAL_LOCAL_H

/*
 * The local delivery agent's own types, shared by its files:
 *   local.c          service glue, the connection loop
 *   local_request.c  a delivery request decoded and checked, the reply
 *   local_msg.c      the queued message: loading, Delivered-To headers
 *   local_resolve.c  one recipient expanded into targets (aliases,
 *                    virtual aliases, .forward, :include:, accounts)
 *   local_deliver.c  the targets of a request delivered (maildir batch,
 *                    files) and folded back into one result per recipient
 *   local_command.c  delivery to |command
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/account.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/ipc.h"
#include "common/map.h"
#include "common/str.h"

#define LOCAL_ADDR_MAX 254      /* RFC 5321 path limit */
#define LOCAL_DEPTH_MAX 20      /* nested aliases/forwards/includes */
#define LOCAL_INCLUDE_MAX 65536 /* bytes read from a .forward/:include: */
#define LOCAL_TEXT_MAX 1000     /* bytes of a reason */
/* Bytes of queued messages one group holds in memory: a group is cut
 * after the request that reaches this (proto_deliver.h, Groups). */
#define LOCAL_GROUP_BYTES (64u << 20)
/* Recipients per request: DELIVER_RCPT_MAX (proto_deliver.h). */

/* ---- the request ---------------------------------------------------- */

struct local_rcpt {
	const char *id;     /* qmgr's handle, echoed */
	const char *addr;   /* as qmgr sent it */
	const char *orcpt;
	const char *notify;
	/* result */
	const char *result; /* DELIVER_RESULT_* */
	char dsn[12];
	struct buf reason;
	struct strv forward; /* forward_to addresses */
	char *dlvto; /* result=forward: the delivered-to chain of the
			forward_to addresses (local_rcpt_chain), or NULL */
};

struct local_request {
	const char *queue_id;
	const char *queue_file;
	const char *sender;
	int64_t arrival;
	uint64_t size;
	const char *nexthop;
	/* The recipients' delivered-to chain (proto_deliver.h): they were
	 * produced by expanding these addresses; NULL when not. */
	const char *dlvto;
	bool more; /* another request of the group follows */
	struct local_rcpt *rcpts;
	size_t nrcpt;
};

/* Fills r from a decoded request (pointers into m, which must outlive
 * r). 0; -1 with e set when the request is malformed (nothing may be
 * done; the caller logs it and closes the connection); -2 with e set
 * when it is well-formed but cannot be served (too many recipients:
 * the caller answers status=error). */
int local_request_decode(const struct ipc_msg *m, struct local_request *r,
			 struct err *e);
void local_request_deinit(struct local_request *r);
/* Builds the status=ok reply with one result per recipient. */
void local_reply_build(const struct local_request *r, struct ipc_msg *out);
/*
 * Sets rc->dlvto for a forward result: top (the recipient as expanded)
 * in front of the request's chain dlvto (NULL for none), at most
 * QUEUE_DLVTO_MAX addresses, the oldest dropped. top NULL: nothing.
 */
void local_rcpt_chain(struct local_rcpt *rc, const char *top,
		      const char *dlvto);
/* Sets a recipient's result (the first one set wins). */
void local_rcpt_result(struct local_rcpt *rc, const char *result,
		       const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- the message ---------------------------------------------------- */

struct local_msg {
	char *data; /* the queue file, LF line ends */
	size_t len;
	size_t header_len;   /* bytes of the header section (with the
				terminating empty line if present) */
	struct strv delivered_to; /* Delivered-To values, lower case */
};

/* Reads queue_directory/<queue_file> (which must be "queue/<id>"-like:
 * relative, no "..") into m, at most max bytes. 0, or -1 with e. */
int local_msg_load(struct local_msg *m, const char *queue_dir,
		   const char *queue_file, uint64_t max, struct err *e);
/* Parses an in-memory message (tests): takes a copy of data. */
void local_msg_set(struct local_msg *m, const char *data, size_t len);
void local_msg_deinit(struct local_msg *m);
/* True when the message has Delivered-To: addr (case-insensitive). */
bool local_msg_delivered_to(const struct local_msg *m, const char *addr);
/* The lines local prepends to a delivered copy: Return-Path, then
 * Delivered-To: addr, then a Delivered-To: for each address of the
 * request's delivered-to chain dlvto (NULL for none), so a forwarded
 * recipient's copy keeps the whole chain. Appends to out. */
void local_msg_prepend(struct buf *out, const char *sender, const char *addr,
		       const char *dlvto);
/* True when addr is one of the chain dlvto's addresses (any case). */
bool local_chain_has(const char *dlvto, const char *addr);

/* ---- identities ------------------------------------------------------- */

struct local_user {
	char name[64];
	uid_t uid;
	gid_t gid;
	char home[1024];
	char shell[256];
};

/* Looks up a system user: 1 found, 0 not, -1 error. Replaceable for
 * tests (local_set_getpw). */
typedef int (*local_getpw_fn)(const char *name, struct local_user *out);
int local_getpw_system(const char *name, struct local_user *out);
/* Commands and files never run as root (Postfix: default_privs): when
 * *uid is 0, replaces *uid and *gid by nobody's. */
void local_never_root(uid_t *uid, gid_t *gid);

/* ---- expansion -------------------------------------------------------- */

enum local_target_kind {
	LOCAL_T_MAILDIR, /* a maildir, path = its directory */
	LOCAL_T_FILE,    /* an mbox file to append to */
	LOCAL_T_COMMAND, /* path = the command line */
	LOCAL_T_FORWARD, /* an address local does not deliver itself */
};

enum local_status {
	LOCAL_PENDING,
	LOCAL_OK,
	LOCAL_DEFER,
	LOCAL_BOUNCE,
};

struct local_target {
	enum local_target_kind kind;
	char *addr;  /* the address that led here (Delivered-To, forward) */
	char *path;  /* maildir directory, file, or command */
	uid_t uid;   /* whom to act as */
	gid_t gid;
	char *user;  /* for a command's environment */
	char *home;
	char *shell;
	char *extension; /* for a command's environment */
	bool member;     /* reached through an alias/forward/virtual alias */
	bool forwardable; /* addr may be handed back to qmgr as a new
			     recipient if this target fails (a plain
			     member address; not a command, file, or a
			     "\\user" delivery) */
	/* outcome */
	enum local_status status;
	char dsn[12];
	char *reason;
	int item; /* mbox batch item, -1 */
};

/* What one recipient expands to, or why it cannot be delivered. */
struct local_expansion {
	struct local_target *v;
	size_t n, cap;
	enum local_status status; /* LOCAL_PENDING while fine, else the
				     recipient's own failure */
	char dsn[12];
	struct buf reason;
	struct strv seen; /* addresses expanded so far (loop cut) */
	char *top; /* the recipient, normalised, once it was accepted for
		      expansion; NULL before (a syntax error) */
};

struct local_resolver {
	struct maplist *aliases;
	struct maplist *virtual_aliases;
	struct maplist *virtual_mailboxes;
	struct account_db *accounts;
	local_getpw_fn getpw;
	uid_t virtual_uid;
	gid_t virtual_gid;
	uid_t alias_uid; /* who alias commands/files run as */
	gid_t alias_gid;
	bool as_root;
	const struct local_msg *msg; /* for Delivered-To checks */
	const char *dlvto; /* the request's delivered-to chain: its copies
			      carry these too, so they count as
			      Delivered-To headers in the checks */
};

/* Opens the tables named by the parameters. 0, or -1 with e set. */
int local_resolver_init(struct local_resolver *r, struct err *e);
void local_resolver_deinit(struct local_resolver *r);
/* Expands one recipient address into x (which the caller inits with
 * local_expansion_init and frees with local_expansion_deinit). A table
 * that cannot be read makes the recipient defer. */
void local_resolve(struct local_resolver *r, const char *addr,
		   struct local_expansion *x);
void local_expansion_init(struct local_expansion *x);
void local_expansion_deinit(struct local_expansion *x);
/* Sets the recipient's own failure (the first one wins). */
void local_expansion_fail(struct local_expansion *x, enum local_status st,
			  const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- delivery --------------------------------------------------------- */

/* Delivers the message of req to every recipient, setting each one's
 * result. Blocks; takes each target's owner's ids while touching its
 * files. A group of one. */
void local_deliver(struct local_resolver *res, struct local_request *req,
		   const struct local_msg *msg);

/* One request of a group and its loaded message. */
struct local_delivery {
	struct local_request *req;
	const struct local_msg *msg;
};
/* Delivers the requests v[0..n) together: every maildir copy of all of
 * them goes into one mbox batch (made durable with one sync round, in
 * chunks of local_batch_size copies), so nothing of the group is
 * reported before all of it is on disk; then each request's files and
 * commands, in order. Sets every recipient's result. Blocks. Mailboxes
 * stay open for the next group (local_boxes_close ends that). */
void local_deliver_group(struct local_resolver *res,
			 const struct local_delivery *v, size_t n);
/* Closes the mailboxes kept open between groups (at exit; tests). */
void local_boxes_close(void);

/* Folds the outcomes of one recipient's targets into its result. */
void local_fold(struct local_rcpt *rc, const struct local_expansion *x);

/* Runs target's command with the message (plus prepend) on its standard
 * input, as target's owner (as_root: switching to it; root itself is
 * replaced by nobody), within command_time_limit. Sets the target's
 * status, dsn and reason. Blocks until the command ends. */
void local_command_run(struct local_target *t, const struct local_msg *msg,
		       const char *prepend, size_t prepend_len,
		       const char *sender, const char *recipient,
		       bool as_root);

#endif
