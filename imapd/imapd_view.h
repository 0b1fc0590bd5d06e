/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_VIEW_H
#define POSTHORN_IMAPD_IMAPD_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/mbox.h"
#include "common/str.h"
#include "imapd/imapd_seqset.h"

/*
 * The selected folder as this session's client knows it: the messages in
 * sequence-number order with their UIDs, flags, keywords, dates and
 * sizes, as last reported. Other sessions and deliveries change the
 * folder underneath; imapd_view_sync() learns of it from the mailbox
 * index (mbox_msg_changes since the last modseq seen), and
 * imapd_view_update() tells the client: EXISTS and RECENT for new mail,
 * FETCH FLAGS for changed flags, EXPUNGE for removed messages when the
 * command allows it (RFC 3501 7.4.1; otherwise the message stays, marked
 * expunged, keeping sequence numbers stable until it may be announced).
 *
 * Keyword sets are interned: each distinct set is stored once, and a
 * message points at its set (NULL for none), so comparing keywords is a
 * pointer comparison and 100,000 messages cost little memory.
 */

struct imapd_session;

struct imapd_kwset {
	struct imapd_kwset *next; /* hash chain */
	uint32_t hash;
	size_t n;    /* keywords */
	size_t len;  /* bytes of data */
	char data[]; /* n NUL-terminated keywords */
};

#define IMAPD_MSG_RECENT 0x1u   /* \Recent for this session */
#define IMAPD_MSG_EXPUNGED 0x2u /* gone; EXPUNGE not sent yet */
#define IMAPD_MSG_CHANGED 0x4u  /* flags changed; FETCH not sent yet */

struct imapd_msg {
	uint32_t uid;
	uint8_t flags; /* MBOX_F_* */
	uint8_t state; /* IMAPD_MSG_* */
	int16_t tz;    /* minutes east of the internal date */
	const struct imapd_kwset *kw;
	uint64_t modseq;
	int64_t idate;
	uint64_t vsize; /* RFC822.SIZE */
};

struct imapd_view {
	struct mbox_folder *f;
	bool readonly;
	struct imapd_msg *m;
	size_t n, cap;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t modseq;                   /* changes up to this one are in m */
	uint32_t recent_first, recent_end; /* our last \Recent claim */
	uint32_t first_recent; /* read-only views: recent from here */
	size_t nrecent;
	size_t nexpunged; /* marked IMAPD_MSG_EXPUNGED */
	size_t sent_exists, sent_recent;
	uint32_t *changed; /* UIDs marked IMAPD_MSG_CHANGED */
	size_t nchanged, changed_cap;
	struct imapd_kwset **kwtab;
	size_t kwtab_size, kwtab_count;
	struct strv keywords; /* every keyword seen, first spelling */
	size_t sent_keywords;
	uint64_t *own; /* modseqs of this session's own flag changes
	                  since the last sync */
	size_t nown, own_cap;
};

/*
 * Opens folder name of mb (store name) and loads it: read-write claims
 * \Recent and moves new/ to cur/; read-only (EXAMINE) changes nothing.
 * 1 with *out, 0 no such folder, -1 error (e set).
 */
int imapd_view_open(struct mbox *mb, const char *name, bool readonly,
                    struct imapd_view **out, struct err *e);
/* Closes the folder and frees the view; *vp = NULL; NULL ok. */
void imapd_view_close(struct imapd_view **vp);

/* Records that this session's own change (already in the view) took
 * modseq: a sync that finds nothing but such changes need not read the
 * index's messages (a walk over all of them). */
void imapd_view_note_own(struct imapd_view *v, uint64_t modseq);

/* Learns of changes made since the last sync. 0, or -1 with e. */
int imapd_view_sync(struct imapd_view *v, struct err *e);
/* Syncs and sends what the client is owed (see above). */
void imapd_view_update(struct imapd_session *s, bool allow_expunge);
/* Sends EXPUNGE for every message marked expunged and removes them. */
void imapd_view_send_expunges(struct imapd_session *s);

/* The folder's HIGHESTMODSEQ as the client may be told it (what the
 * view has seen, and this session's own changes). */
uint64_t imapd_view_highestmodseq(const struct imapd_view *v);

/* Index of uid in m, or SIZE_MAX. */
size_t imapd_view_find(const struct imapd_view *v, uint32_t uid);

/*
 * Resolves a sequence set (message numbers, or UIDs when uid) to indexes
 * into m, ascending, in arena a. Sequence numbers beyond the mailbox are
 * an error (-1); UIDs that are not there are left out. 0 or -1.
 */
int imapd_view_resolve(const struct imapd_view *v,
                       const struct imapd_seqset *set, bool uid,
                       struct arena *a, size_t **idx_out, size_t *n_out);

/* The interned set for packed keywords (n NUL-terminated strings, len
 * bytes in all), NULL when n is 0. */
const struct imapd_kwset *imapd_view_kw_intern(struct imapd_view *v,
                                               const char *packed, size_t n,
                                               size_t len);
/* Sets a message's flags and keywords (as a STORE reported them). */
void imapd_view_set(struct imapd_view *v, size_t i, unsigned flags,
                    const char *keywords, size_t nkeywords);

/* Reads flags, keywords and modseq of the messages uids[0..n)
 * (ascending) back from the index, after this session changed them. 0,
 * or -1 with e. */
int imapd_view_reload(struct imapd_view *v, const uint32_t *uids, size_t n,
                      struct err *e);

/* Appends "(\Seen kw ...)" for message i (\Recent included). */
int imapd_view_flags(struct buf *out, const struct imapd_view *v, size_t i);
/* Appends the FLAGS list of the folder: "(\Answered ... kw)". */
int imapd_view_flag_list(struct buf *out, const struct imapd_view *v);
/* Sends FLAGS and PERMANENTFLAGS (SELECT, and when keywords appear). */
void imapd_view_send_flags(struct imapd_session *s);

/* Does message i carry keyword kw (case-insensitive)? $Forwarded is the
 * maildir P flag. */
bool imapd_view_has_keyword(const struct imapd_view *v, size_t i,
                            const char *kw);

#endif
