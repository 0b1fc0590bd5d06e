/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MBOX_H
#define POSTHORN_COMMON_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/*
 * The mailbox store: a Maildir++ directory (the truth for which messages
 * exist) plus one LMDB index per mailbox owner (UIDs, flags, modseqs,
 * sizes, dates, cached FETCH data). Data only: who may deliver where,
 * which folders a new account gets, what a protocol shows, is the
 * caller's business. DESIGN.md "The spool" is the specification.
 *
 * On disk, for a mailbox at M/:
 *   M/cur/ M/new/ M/tmp/          INBOX
 *   M/.Name/ M/.Name.Sub/          folder "Name", folder "Name/Sub", each
 *                                  with cur/ new/ tmp/ and an empty file
 *                                  "maildirfolder" (Maildir++)
 *   M/posthorn.lmdb (+ -lock)      the index (one LMDB file)
 *   M/posthorn.uidvalidity         the highest UIDVALIDITY given out, so
 *                                  a rebuilt index never repeats one
 *   M/posthorn.session.lock        the exclusive session lock
 *   M/posthorn.dirty/              markers of delivery batches whose
 *                                  index commits are not on disk yet
 * Message files are stored with LF line ends and are named
 *   <secs>.M<usecs>P<pid>Q<n>.<host>,S=<bytes>,W=<crlf-bytes>[:2,<flags>]
 * (the S= and W= attributes are Dovecot's; any maildir tool can read the
 * files). System flags live in the name's ":2," suffix as well as in the
 * index, so other maildir tools see and change them; keywords live in the
 * index only.
 *
 * Folder names in this API use '/' between levels ("Archive/2024");
 * "INBOX" (any case) is the root. A level is 1..MBOX_LEVEL_MAX bytes
 * other than '/', '.' (the Maildir++ separator on disk) and control
 * characters; at most MBOX_DEPTH_MAX levels. Names are case-sensitive
 * except INBOX. Callers speaking IMAP4rev1 pass modified UTF-7, which is
 * what other Maildir++ servers keep on disk.
 *
 * UIDs: each folder has UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ. A UID is
 * given once and never reused in a folder with the same UIDVALIDITY. A
 * file that appears without an index entry (another tool delivered it, or
 * a crash came between a rename into new/ and the index commit) gets the
 * next UID at the next mbox_folder_sync(); an entry whose file is gone is
 * expunged there. If the index is lost or unreadable it is rebuilt and
 * every folder gets a new, larger UIDVALIDITY. Every change (new message,
 * flag change, expunge) takes HIGHESTMODSEQ + 1 as its modseq (RFC 7162).
 *
 * Processes and threads: a struct mbox belongs to the process that opened
 * it (never use it after fork(); open it again in the child). Opening the
 * same maildir twice in one process gives the same handle, counted. Each
 * writing call is one short LMDB write transaction; local, pop3d and imapd
 * may all write one mailbox at once. Nothing here holds a read transaction
 * between calls. Calls block on local disk I/O only.
 *
 * Durability: a call that adds a message returns success only after the
 * file and its index entry are on disk. A delivery batch makes its index
 * commits durable with the syncfs it needs for the files anyway (not one
 * fdatasync per mailbox); if a system crash may have undone such a
 * commit, the next mbox_open finds the batch's marker from the earlier
 * boot and rebuilds the index from the maildir with new UIDVALIDITYs
 * (keywords, subscriptions and special-use attributes are then lost; the
 * old file is kept as posthorn.lmdb.crashed). Every other change commits
 * durably; the renames/unlinks of flag changes and expunges are followed
 * by one directory sync per call.
 */

struct mbox;        /* an open mailbox (maildir + index) */
struct mbox_folder; /* an open folder of a mailbox */
struct mbox_batch;  /* deliveries made durable together */

#define MBOX_INBOX "INBOX"
#define MBOX_NAME_MAX 240     /* bytes in a folder name */
#define MBOX_LEVEL_MAX 200    /* bytes in one level of a name */
#define MBOX_DEPTH_MAX 16     /* levels in a name */
#define MBOX_KEYWORD_MAX 64   /* bytes in a keyword */
#define MBOX_KEYWORDS_MAX 64  /* keywords on one message */
#define MBOX_CACHE_MAX (4u << 20) /* bytes in a cached blob */
#define MBOX_FOLDERS_MAX 10000    /* folders in a mailbox */

/* System flags (RFC 3501 2.3.2) and their maildir letters. */
#define MBOX_F_DRAFT 0x01u    /* D  \Draft */
#define MBOX_F_FLAGGED 0x02u  /* F  \Flagged */
#define MBOX_F_PASSED 0x04u   /* P  forwarded; IMAP shows it as $Forwarded */
#define MBOX_F_ANSWERED 0x08u /* R  \Answered */
#define MBOX_F_SEEN 0x10u     /* S  \Seen */
#define MBOX_F_DELETED 0x20u  /* T  \Deleted */
#define MBOX_F_ALL 0x3fu

/* Special-use attributes of a folder (RFC 6154). */
#define MBOX_SU_ALL 0x01u
#define MBOX_SU_ARCHIVE 0x02u
#define MBOX_SU_DRAFTS 0x04u
#define MBOX_SU_FLAGGED 0x08u
#define MBOX_SU_JUNK 0x10u
#define MBOX_SU_SENT 0x20u
#define MBOX_SU_TRASH 0x40u
#define MBOX_SU_MASK 0x7fu

/* ---- mailboxes ------------------------------------------------------ */

#define MBOX_CREATE 0x1u /* create the maildir (and missing parents, 0700) */

/*
 * Opens the mailbox whose maildir is at path (absolute or relative), and
 * its index (created when missing). 1 opened, 0 no maildir there (without
 * MBOX_CREATE), -1 error with e set. Files and directories are created
 * with the caller's effective ids, modes 0600/0700. Free with mbox_close.
 */
int mbox_open(struct mbox **out, const char *path, unsigned flags,
	      struct err *e);
/* Drops one reference; the last closes the index. *mbp = NULL; NULL ok.
 * Folders of the mailbox must be closed first. */
void mbox_close(struct mbox **mbp);
/* True when the handle no longer names what is on disk: the maildir at
 * its path or the index file was replaced or removed since mbox_open (a
 * process that keeps a mailbox open between uses checks this first and
 * opens it again). Two stat calls; never blocks on more. */
bool mbox_stale(const struct mbox *mb);
/* The maildir path given to mbox_open. */
const char *mbox_path(const struct mbox *mb);

/*
 * Takes the exclusive session lock of the mailbox (for POP3, RFC 1939
 * section 8: one maildrop session at a time). 1 taken, with *fd_out the
 * descriptor that holds it (close it to release; the kernel releases it
 * when the process dies), 0 another process holds it, -1 error.
 */
int mbox_lock_session(struct mbox *mb, int *fd_out, struct err *e);

/* ---- folders -------------------------------------------------------- */

/* Checks a folder name against the rules above. 0, or -1 with e saying
 * what is wrong. */
int mbox_name_check(const char *name, struct err *e);

/*
 * Opens a folder. The folder's directory must exist (INBOX always does);
 * a directory made by another tool gets its index state here. 1 opened,
 * 0 no such folder, -1 error. Free with mbox_folder_close.
 */
int mbox_folder_open(struct mbox *mb, const char *name,
		     struct mbox_folder **out, struct err *e);
void mbox_folder_close(struct mbox_folder **fp);
/* The folder's name (canonical: "INBOX" for the root) and directory. */
const char *mbox_folder_name(const struct mbox_folder *f);
const char *mbox_folder_path(const struct mbox_folder *f);
struct mbox *mbox_folder_mbox(const struct mbox_folder *f);

/* Creates a folder (Maildir++ directory, maildirfolder marker, index
 * state with a fresh UIDVALIDITY) with the given special-use attributes.
 * Parents are not created (Maildir++ needs none). 1 created, 0 exists
 * already, -1 error (bad name: e says why). */
int mbox_folder_create(struct mbox *mb, const char *name, unsigned special_use,
		       struct err *e);
/* Deletes a folder: its directory with every message, and its index
 * state. Sub-folders are separate folders and stay. INBOX cannot be
 * deleted. 1 deleted, 0 no such folder, -1 error. */
int mbox_folder_delete(struct mbox *mb, const char *name, struct err *e);
/* Renames a folder and every sub-folder below it (UIDVALIDITY and UIDs
 * are kept). Renaming INBOX moves its messages into a new folder `to` and
 * leaves INBOX empty (RFC 3501 6.3.5). 1 renamed, 0 `from` does not
 * exist, -1 error (`to` exists, bad name, ...). Open handles of the
 * renamed folders must not be used afterwards. */
int mbox_folder_rename(struct mbox *mb, const char *from, const char *to,
		       struct err *e);
/* Replaces the special-use attributes of a folder. 1 / 0 no such / -1. */
int mbox_folder_set_special_use(struct mbox *mb, const char *name,
				unsigned special_use, struct err *e);

struct mbox_folder_info {
	const char *name;     /* canonical name */
	unsigned special_use; /* MBOX_SU_* */
	bool subscribed;
};
/* fn returns 0 to go on, anything else to stop (and that is returned). */
typedef int (*mbox_folder_fn)(void *ctx, const struct mbox_folder_info *fi);
/* Calls fn for every folder that exists, INBOX first, then by name in
 * byte order. 0 all visited, fn's value when it stopped, -1 error. */
int mbox_folder_list(struct mbox *mb, mbox_folder_fn fn, void *ctx,
		     struct err *e);

/* Subscriptions (RFC 3501 6.3.6): names, which need not exist. */
int mbox_subscribe(struct mbox *mb, const char *name, bool subscribed,
		   struct err *e);
typedef int (*mbox_name_fn)(void *ctx, const char *name);
int mbox_subscriptions(struct mbox *mb, mbox_name_fn fn, void *ctx,
		       struct err *e);

struct mbox_status {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t exists;     /* messages in the index */
	uint32_t unseen;     /* of which without \Seen */
	uint32_t recent;     /* of which with uid >= first_recent */
	uint32_t first_recent; /* see mbox_folder_take_recent */
	uint64_t vsize;      /* sum of the messages' CRLF sizes */
	unsigned special_use;
};
/* The folder's counters as the index has them now (call
 * mbox_folder_sync first to include foreign changes). 0 or -1. Cheap:
 * one read transaction, no directory access. */
int mbox_folder_status(struct mbox_folder *f, struct mbox_status *out,
		       struct err *e);

/* ---- reconciling files and index ------------------------------------ */

#define MBOX_SYNC_NEW_TO_CUR 0x1u /* move files in new/ to cur/ */
#define MBOX_SYNC_FULL 0x2u /* read both directories even if unchanged */

struct mbox_sync_result {
	uint32_t added;    /* files that got a UID */
	uint32_t expunged; /* entries whose file was gone */
	uint32_t changed;  /* flags changed by another tool */
};
/*
 * Reconciles the folder's directories with its index: new files get UIDs
 * (in the order of their names, which start with the delivery time),
 * vanished files are expunged, flags changed in file names are taken
 * over. A directory whose modification time has not changed since the
 * last sync is not read (unless MBOX_SYNC_FULL): Posthorn's own writers
 * keep the index right as they go, so this finds only what other tools
 * did; one of them changing a directory within the same clock tick as a
 * Posthorn writer can go unseen until the directory changes again, so a
 * session may ask for MBOX_SYNC_FULL when it selects a folder. With
 * MBOX_SYNC_FULL, also removes files in tmp/ older than 36 hours. out may
 * be NULL. 0, or -1 with e set.
 */
int mbox_folder_sync(struct mbox_folder *f, unsigned flags,
		     struct mbox_sync_result *out, struct err *e);

/*
 * Claims \Recent (RFC 3501 2.3.2): the messages with UIDs in
 * [*first_out, *end_out) are recent for the caller's session, and no
 * later caller sees them as recent. A session that only looks (EXAMINE,
 * STATUS) reads mbox_status.first_recent instead. 0 or -1.
 */
int mbox_folder_take_recent(struct mbox_folder *f, uint32_t *first_out,
			    uint32_t *end_out, struct err *e);

/*
 * A descriptor that becomes readable when the folder's directories or the
 * mailbox index change (inotify; non-blocking, close-on-exec): for IDLE
 * and for sessions that wait. After it wakes, call mbox_watch_drain() and
 * then mbox_folder_sync()/mbox_folder_status(). The caller closes it.
 * >= 0, or -1 with e set.
 */
int mbox_watch_open(struct mbox_folder *f, struct err *e);
void mbox_watch_drain(int fd);

/* ---- messages ------------------------------------------------------- */

struct mbox_msg {
	uint32_t uid;
	unsigned flags;        /* MBOX_F_* */
	uint64_t modseq;
	int64_t internal_date; /* seconds since the epoch (UTC) */
	int tz_minutes;        /* zone of the internal date as given, +-HHMM
				  in minutes (0 for deliveries) */
	uint64_t size;         /* bytes in the file (LF line ends) */
	uint64_t vsize;        /* bytes as sent with CRLF line ends
				  (RFC822.SIZE, POP3 LIST): see
				  mbox_crlf_size */
	const char *keywords;  /* nkeywords NUL-terminated strings, one
				  after another */
	size_t nkeywords;
	const char *file;      /* file name without the ":2," suffix */
};
/* Iteration callback: 0 to go on, anything else to stop (returned).
 * Runs inside a read transaction: pointers in *m are valid only during
 * the call, and it must not call other mbox functions of this mailbox. */
typedef int (*mbox_msg_fn)(void *ctx, const struct mbox_msg *m);

/* Calls fn for each message with first_uid <= uid <= last_uid (use
 * UINT32_MAX for "to the end") in UID order. 0 all visited, fn's value,
 * or -1. */
int mbox_msg_iter(struct mbox_folder *f, uint32_t first_uid, uint32_t last_uid,
		  mbox_msg_fn fn, void *ctx, struct err *e);

/* Calls fn for each message whose modseq is greater than since (new
 * messages and flag changes; CONDSTORE CHANGEDSINCE), in UID order, then
 * xfn (may be NULL) for each UID expunged with a modseq greater than
 * since (QRESYNC VANISHED). 0, a callback's non-zero value, or -1. */
typedef int (*mbox_expunged_fn)(void *ctx, uint32_t uid, uint64_t modseq);
int mbox_msg_changes(struct mbox_folder *f, uint64_t since, mbox_msg_fn fn,
		     mbox_expunged_fn xfn, void *ctx, struct err *e);

/* Opens the message's file for reading (O_RDONLY|O_CLOEXEC), finding it
 * again if another tool renamed it. 1 with *fd_out, 0 the message is gone
 * (expunged, or its file vanished), -1 error. */
int mbox_msg_open(struct mbox_folder *f, uint32_t uid, int *fd_out,
		  struct err *e);

/*
 * The CRLF size of bytes: every LF not preceded by CR counts as two bytes
 * (the CRLF a server sends), everything else as itself. *prev_cr carries
 * "the previous byte was CR" across calls (start with false), so a file
 * can be counted in pieces.
 */
uint64_t mbox_crlf_size(const void *data, size_t len, bool *prev_cr);

/* ---- flags, expunge, copy, move --------------------------------------- */

enum mbox_store_op {
	MBOX_STORE_SET,    /* FLAGS */
	MBOX_STORE_ADD,    /* +FLAGS */
	MBOX_STORE_REMOVE, /* -FLAGS */
};

struct mbox_store_req {
	enum mbox_store_op op;
	unsigned flags;                /* MBOX_F_* */
	const char *const *keywords;   /* case-insensitive atoms */
	size_t nkeywords;
	uint64_t unchanged_since;      /* CONDSTORE UNCHANGEDSINCE; 0: none */
};

enum mbox_store_status {
	MBOX_STORE_CHANGED,   /* flags changed; modseq is the new one */
	MBOX_STORE_UNCHANGED, /* already so; nothing written */
	MBOX_STORE_CONFLICT,  /* modseq > unchanged_since; not changed */
	MBOX_STORE_GONE,      /* no such UID (expunged) */
};

struct mbox_store_res {
	uint32_t uid;
	enum mbox_store_status status;
	unsigned flags;  /* flags after the call */
	uint64_t modseq; /* message modseq after the call */
};

/*
 * Changes flags and keywords of the messages uids[0..n) in one
 * transaction: each changed message gets a new modseq, and its file is
 * renamed (into cur/) when its system flags changed. res[i] (n entries,
 * caller's array) reports what happened to uids[i]. 0, or -1 with e set
 * (nothing changed: a bad keyword, too many keywords, I/O).
 */
int mbox_store(struct mbox_folder *f, const uint32_t *uids, size_t n,
	       const struct mbox_store_req *req, struct mbox_store_res *res,
	       struct err *e);

/*
 * Expunges uids[0..n): files unlinked, entries removed, each UID recorded
 * as expunged with a new modseq. UIDs that are not there are skipped.
 * With done non-NULL, *ndone UIDs actually expunged are written there (at
 * most n). 0 or -1 (nothing expunged).
 */
int mbox_expunge(struct mbox_folder *f, const uint32_t *uids, size_t n,
		 uint32_t *done, size_t *ndone, struct err *e);

/*
 * Copies uids[0..n) of src into dst (both folders of one mailbox; files
 * are hard-linked, falling back to a copy), keeping flags, keywords,
 * internal date and cached data. dst_uids[i] (caller's array of n) gets
 * the new UID, or 0 when uids[i] was not there (RFC 4315 COPYUID pairs
 * are the non-zero ones). mbox_move also expunges the originals in the
 * same transaction (RFC 6851). 0, or -1 with e set (nothing done).
 */
int mbox_copy(struct mbox_folder *src, const uint32_t *uids, size_t n,
	      struct mbox_folder *dst, uint32_t *dst_uids, struct err *e);
int mbox_move(struct mbox_folder *src, const uint32_t *uids, size_t n,
	      struct mbox_folder *dst, uint32_t *dst_uids, struct err *e);

/* ---- adding messages -------------------------------------------------- */

/* A message is given as pieces, concatenated (e.g. added headers, then
 * the queue file), with LF line ends. */
struct mbox_part {
	const void *data;
	size_t len;
};

struct mbox_new {
	const struct mbox_part *parts;
	size_t nparts;
	unsigned flags;              /* MBOX_F_*; 0 for a delivery */
	const char *const *keywords; /* may be NULL when nkeywords is 0 */
	size_t nkeywords;
	int64_t internal_date;       /* 0: now */
	int tz_minutes;
};

/*
 * A batch of new messages, for many folders of many mailboxes, made
 * durable together (DESIGN.md "The performance budget"):
 *   mbox_batch_add     writes each message into its folder's tmp/ (call
 *                      it with the mailbox owner's ids);
 *   mbox_batch_commit  makes all those files durable with one sync per
 *                      filesystem, renames them into new/ (cur/ when
 *                      flags or keywords were given), makes the renames
 *                      durable with a second sync, and gives the messages
 *                      UIDs with one index transaction per mailbox;
 *   mbox_batch_result  then says, per item, delivered (UID) or failed.
 * Nothing is reported delivered before its file and index entry are on
 * disk. An item that fails after its rename has its file removed again
 * (the sender's retry must not make a duplicate). Files of items never
 * committed are removed by mbox_batch_free. Blocks on disk I/O.
 */
struct mbox_batch *mbox_batch_new(void);
void mbox_batch_free(struct mbox_batch **bp);
/* Adds a message for folder f: item number >= 0, or -1 with e set (and
 * *errno_out, may be NULL, the system error: ENOSPC and EDQUOT mean the
 * mailbox is full) when it could not be written. f must stay open until
 * the batch is committed. At most MBOX_BATCH_MAX items. */
#define MBOX_BATCH_MAX 100000
int mbox_batch_add(struct mbox_batch *b, struct mbox_folder *f,
		   const struct mbox_new *m, int *errno_out, struct err *e);
/*
 * A caller that must act as each mailbox's owner (local, running as
 * root) passes owner: it is called with enter true before the batch
 * touches mailbox mb's files or index, and with enter false after; it
 * returns 0, or -1 with e set (the items of mb then fail). NULL: the
 * caller's ids are right for every mailbox.
 */
typedef int (*mbox_owner_fn)(void *ctx, struct mbox *mb, bool enter,
			     struct err *e);
/* 0 when every item was delivered, -1 when some failed (e holds the
 * first reason; see mbox_batch_result for each). */
int mbox_batch_commit(struct mbox_batch *b, mbox_owner_fn owner, void *ctx,
		      struct err *e);
/* Item i: 1 delivered with *uid_out, 0 not committed yet, -1 failed with
 * e set and *errno_out (may be NULL) the system error or 0. */
int mbox_batch_result(const struct mbox_batch *b, size_t i, uint32_t *uid_out,
		      int *errno_out, struct err *e);
/* The number of items added. */
size_t mbox_batch_count(const struct mbox_batch *b);

/* One message into one folder (IMAP APPEND): a batch of one. 0 with
 * *uid_out, or -1 with e set. */
int mbox_append(struct mbox_folder *f, const struct mbox_new *m,
		uint32_t *uid_out, struct err *e);

/* ---- cached per-message data (FETCH ENVELOPE/BODYSTRUCTURE) ----------- */

/*
 * The index keeps one opaque blob per message, with a version number its
 * maker chooses (an unknown version is a miss: recompute and put again).
 * A builder set with mbox_set_cache_builder() is called for each message
 * added by mbox_batch_* or mbox_append, with the message bytes as stored
 * (LF line ends), while they are in memory; it appends the blob to out
 * and returns 0, or -1 to store nothing. The builder is process-wide and
 * must not call mbox functions.
 */
typedef int (*mbox_cache_fn)(const void *msg, size_t len, struct buf *out);
void mbox_set_cache_builder(mbox_cache_fn fn, unsigned version);

/* 1 found with *data_out (caller frees) and *len_out, *version_out; 0 no
 * blob (or no message); -1 error. */
int mbox_cache_get(struct mbox_folder *f, uint32_t uid, unsigned *version_out,
		   void **data_out, size_t *len_out, struct err *e);
/* Stores a blob for an existing message. 1 stored, 0 no such message,
 * -1 error (also for a blob over MBOX_CACHE_MAX). */
int mbox_cache_put(struct mbox_folder *f, uint32_t uid, unsigned version,
		   const void *data, size_t len, struct err *e);

#endif
