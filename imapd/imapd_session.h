/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_SESSION_H
#define POSTHORN_IMAPD_IMAPD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/account.h"
#include "common/anvil.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/mbox.h"
#include "common/service.h"
#include "common/stream.h"
#include "imapd/imapd_args.h"
#include "imapd/imapd_reader.h"
#include "imapd/imapd_seqset.h"

/*
 * One IMAP session (one client connection, one process at a time): the
 * state every command handler shares, the command table's handler shape,
 * and the output helpers. The session owns its stream, SASL state,
 * mailbox handle, selected view and per-command arena.
 */

/* What the process set up once (imapd.c) and every session uses. */
struct imapd_server {
	struct tls_ctx *tls; /* NULL: no certificate, no TLS */
	struct account_db *accounts;
	/* Shared by all imapd processes (NULL: limits off): sessions per
	 * address and per user, recent login failures per address. */
	struct anvil *clients;
	size_t line_max, literal_max;
	unsigned max_depth;
};

/* Largest literal accepted before login. */
#define IMAPD_PREAUTH_LITERAL_MAX 8192

enum imapd_state {
	IMAPD_STATE_NOTAUTH = 0x1,
	IMAPD_STATE_AUTH = 0x2,
	IMAPD_STATE_SELECTED = 0x4,
	IMAPD_STATE_LOGOUT = 0x8,
};
#define IMAPD_STATES_ANY                                                       \
	(IMAPD_STATE_NOTAUTH | IMAPD_STATE_AUTH | IMAPD_STATE_SELECTED)
#define IMAPD_STATES_AUTHED (IMAPD_STATE_AUTH | IMAPD_STATE_SELECTED)

enum imapd_status { IMAPD_OK, IMAPD_NO, IMAPD_BAD };

/* ENABLEd extensions (RFC 5161). */
#define IMAPD_EXT_CONDSTORE 0x1u
#define IMAPD_EXT_QRESYNC 0x2u /* implies CONDSTORE */

struct imapd_view;

struct imapd_session {
	struct imapd_server *srv;
	struct service_client *client;
	struct stream *s;
	char peer[128]; /* host[addr] for the log */
	enum imapd_state state;
	bool tls; /* the stream is encrypted */
	struct sasl_server_session *sasl;
	unsigned auth_failures;
	char user[ACCOUNT_ADDR_MAX + 1];
	char method[32];         /* how the user logged in */
	struct mbox *mb;         /* the user's mailbox once logged in */
	struct imapd_view *view; /* the selected folder */
	struct imapd_reader rd;
	struct buf in;       /* received, not yet fed to rd */
	struct arena *arena; /* freed after each command */
	uint64_t bytes_out;
	unsigned enabled; /* IMAPD_EXT_* */
	struct anvil_key client_key; /* the peer's address in srv->clients */
	int addr_slot, user_slot;    /* our slots there, or -1 */
	uint64_t expunged; /* for the logout line */
	bool bye;          /* a BYE was sent: end the session */
};

/* The command being run. A handler parses its arguments from args, does
 * its work, and sets the outcome with imapd_cmd_*(); left unset, it is
 * "OK <NAME> completed". */
struct imapd_cmd {
	const char *tag;
	const char *name; /* upper case, without "UID " */
	bool uid;         /* UID FETCH, UID STORE, ... */
	struct imapd_args args;
	enum imapd_status st;
	const char *text; /* after the status, response code included */
	bool text_set;
	bool no_expunge; /* EXPUNGE responses must wait (RFC 3501 7.4.1) */
	bool replied;    /* the handler wrote the tagged reply (STARTTLS) */
};

typedef void (*imapd_cmd_fn)(struct imapd_session *s, struct imapd_cmd *c);

/* Sets the outcome (text is formatted into the command's arena). The
 * BAD form uses args.err when fmt is NULL. Return values: for "return
 * imapd_cmd_no(...)" in void handlers they return nothing. */
void imapd_cmd_ok(struct imapd_cmd *c, struct imapd_session *s, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));
void imapd_cmd_no(struct imapd_cmd *c, struct imapd_session *s, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));
void imapd_cmd_bad(struct imapd_cmd *c, struct imapd_session *s,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Resolves set (numbers, or UIDs for the UID form) in the selected
 * folder to view indexes (imapd_view_resolve). 0, or -1 with BAD set
 * (a message number beyond the folder). */
int imapd_cmd_messages(struct imapd_session *s, struct imapd_cmd *c,
                       const struct imapd_seqset *set, size_t **idx_out,
                       size_t *n_out);

/* The parse failed: BAD with the parser's reason. */
void imapd_cmd_syntax(struct imapd_cmd *c, struct imapd_session *s);

/* Output, counted for the logout line. Errors are sticky in the stream
 * and noticed at the next read. */
void imapd_write(struct imapd_session *s, const void *p, size_t n);
void imapd_printf(struct imapd_session *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* "* " fmt CRLF */
void imapd_untagged(struct imapd_session *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
int imapd_flush(struct imapd_session *s);

/* Reads the next command (or continuation line) into the reader,
 * handling literal continuations and bounds. 1 a command is in
 * s->rd.cmd, 0 the session must end (EOF, timeout, error: logged, BYE
 * sent where it makes sense). timeout_ms < 0 uses imapd_timeout. */
int imapd_read_command(struct imapd_session *s, int timeout_ms);

/* Monotonic milliseconds. */
int64_t imapd_now_ms(void);

/* Waiting for the client is done in slices this long, so a session
 * notices within one that master asked the process to stop (the stream
 * layer retries a poll() that a signal interrupts). */
#define IMAPD_WAIT_SLICE_MS 1000

/* Capability list for the current state, without "* CAPABILITY ". */
const char *imapd_capabilities(const struct imapd_session *s);

/* Marks the session CONDSTORE-enabled (RFC 7162 3.1: by ENABLE, SELECT
 * (CONDSTORE), FETCH MODSEQ/CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH
 * MODSEQ, STATUS HIGHESTMODSEQ); with a folder selected, tells the client
 * its HIGHESTMODSEQ the first time. From then on FETCH responses about
 * flag changes carry MODSEQ. */
void imapd_condstore_enable(struct imapd_session *s);

/* Leaves the selected state (closing the view). */
void imapd_unselect(struct imapd_session *s);

/* Serves one connection (the service's accept handler). */
void imapd_session_run(struct imapd_server *srv, struct service_client *c);

/* ---- command handlers, by module ---- */
/* imapd_auth.c */
void imapd_cmd_starttls(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_login(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_authenticate(struct imapd_session *s, struct imapd_cmd *c);
/* Ends a session after login: closes the mailbox, logs "logout". */
void imapd_auth_logout(struct imapd_session *s);
/* imapd_folders.c */
void imapd_cmd_create(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_delete(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_rename(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_subscribe(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_unsubscribe(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_status(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_namespace(struct imapd_session *s, struct imapd_cmd *c);
/* Creates the special-use folders of a new mailbox. */
void imapd_folders_provision(struct imapd_session *s);
/* The store's name for a client's mailbox name (modified UTF-7 checked,
 * INBOX canonical); NULL with a NO set on c. In the command arena. */
const char *imapd_folder_name(struct imapd_session *s, struct imapd_cmd *c,
                              const struct imapd_str *raw);
/* MBOX_SU_* bit of "\\Sent" etc. (0: unknown), and the attribute names
 * of bits appended (space-separated; a leading space when lead_sp). */
unsigned imapd_special_use_bit(const char *name);
int imapd_special_use_format(struct buf *out, unsigned bits, bool lead_sp);
/* Opens the folder a message goes to (APPEND, COPY, MOVE): 1 with *out,
 * or 0 with NO set ([TRYCREATE] when it does not exist). */
int imapd_folder_target(struct imapd_session *s, struct imapd_cmd *c,
                        const char *name, const char *raw,
                        struct mbox_folder **out);
/* imapd_list.c */
/* LIST wildcard match (RFC 3501 6.3.8): "*" matches anything, "%" anything
 * but "/". The first inbox_len bytes of name compare case-insensitively
 * (INBOX). */
bool imapd_list_match(const char *pat, size_t plen, const char *name,
                      size_t nlen, size_t inbox_len);
void imapd_cmd_list(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_lsub(struct imapd_session *s, struct imapd_cmd *c);
/* imapd_select.c */
void imapd_cmd_select(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_examine(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_close(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_unselect(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_expunge(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_check(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_noop(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_idle(struct imapd_session *s, struct imapd_cmd *c);
/* imapd_fetch.c */
void imapd_cmd_fetch(struct imapd_session *s, struct imapd_cmd *c);
/* imapd_search.c */
void imapd_cmd_search(struct imapd_session *s, struct imapd_cmd *c);
/* imapd_store.c */
void imapd_cmd_store(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_copy(struct imapd_session *s, struct imapd_cmd *c);
void imapd_cmd_move(struct imapd_session *s, struct imapd_cmd *c);
/* Flags of STORE and APPEND: system flags (MBOX_F_*, $Forwarded being
 * MBOX_F_PASSED) and keywords (in the arena). \Recent is ignored. */
struct imapd_flags {
	unsigned flags;
	const char **kw;
	size_t nkw;
};
/* A flag-list "(...)", or with bare_ok also flags without parentheses
 * (STORE). 0, or -1 with a->err. */
int imapd_parse_flags(struct imapd_args *a, bool bare_ok,
                      struct imapd_flags *out);
/* imapd_qresync.c */
struct imapd_qresync {
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imapd_seqset known; /* known-uids, when has_known */
	bool has_known;
};
/* Parses the SELECT parameter's value "(uidvalidity modseq [known-uids
 * [seq-match-data]])". 0 or -1 (a->err). */
int imapd_qresync_parse(struct imapd_args *a, struct imapd_qresync *q);
/* After SELECT's own responses: VANISHED (EARLIER) and FETCH of what
 * changed since the client's state, when its UIDVALIDITY still holds. */
void imapd_qresync_select(struct imapd_session *s,
                          const struct imapd_qresync *q);
/* Sends VANISHED (EARLIER) for the UIDs expunged after modseq since
 * (limited to limit, a normal-form UID set, unless NULL). 0 or -1. */
int imapd_qresync_vanished(struct imapd_session *s, uint64_t since,
                           const struct imapd_seqset *limit);
/* imapd_append.c */
void imapd_cmd_append(struct imapd_session *s, struct imapd_cmd *c);

#endif
