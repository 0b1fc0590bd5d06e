/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_SEARCH_H
#define POSTHORN_IMAPD_IMAPD_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/mime.h"
#include "imapd/imapd_args.h"
#include "imapd/imapd_seqset.h"

/*
 * SEARCH programs (RFC 3501 6.4.4): parsed into a tree of keys, prepared
 * for one folder (resolving "*"), then matched against messages. Text
 * keys (HEADER and its short forms, BODY, TEXT) match case-insensitively
 * on decoded text: encoded words and RFC 2231 values, quoted-printable
 * and base64 bodies, declared character sets converted to UTF-8, and a
 * simple case folding of the Latin, Greek and Cyrillic alphabets.
 *
 * The matcher sees a message through struct imapd_search_msg, so it can
 * be tested without a mailbox.
 */

enum imapd_skey {
	IMAPD_S_ALL,
	IMAPD_S_AND, /* children */
	IMAPD_S_OR,  /* two children */
	IMAPD_S_NOT, /* one child */
	IMAPD_S_SEQ,
	IMAPD_S_UID,
	IMAPD_S_FLAG,   /* flag set */
	IMAPD_S_NOFLAG, /* flag not set */
	IMAPD_S_KEYWORD,
	IMAPD_S_UNKEYWORD,
	IMAPD_S_RECENT,
	IMAPD_S_NEW,
	IMAPD_S_OLD,
	IMAPD_S_BEFORE, /* internal date, by day */
	IMAPD_S_ON,
	IMAPD_S_SINCE,
	IMAPD_S_SENTBEFORE, /* Date: header, by day */
	IMAPD_S_SENTON,
	IMAPD_S_SENTSINCE,
	IMAPD_S_LARGER,
	IMAPD_S_SMALLER,
	IMAPD_S_HEADER, /* field, text */
	IMAPD_S_BODY,
	IMAPD_S_TEXT,
	IMAPD_S_MODSEQ,
};

struct imapd_snode {
	enum imapd_skey key;
	struct imapd_snode *child, *next;
	unsigned flag;     /* MBOX_F_* */
	int64_t num;       /* day number, size, modseq */
	const char *field; /* HEADER field name */
	const char *text;  /* keyword, or folded UTF-8 needle */
	size_t text_len;
	struct imapd_seqset set, norm;
	unsigned cost; /* 0 view data, 1 header, 2 body */
};

/* One message as the matcher sees it. */
struct imapd_search_msg {
	uint32_t seq, uid;
	unsigned flags; /* MBOX_F_* */
	bool recent;
	int64_t idate;
	int tz;
	uint64_t size; /* RFC822.SIZE */
	uint64_t modseq;
	bool (*has_keyword)(void *ctx, const char *kw);
	/* The message bytes on demand: 1, 0 gone, -1 error. */
	int (*content)(void *ctx, const char **data, size_t *len);
	void *ctx;
	/* Filled by the matcher; free with imapd_search_msg_release. */
	const char *data;
	size_t len;
	int loaded; /* 0 not yet, 1 loaded, -1 unavailable */
	struct mime_msg *mime;
	int sent_state; /* 0 not parsed, 1 have sent_day, -1 none */
	int64_t sent_day;
};

/*
 * Parses "[CHARSET x SP] key *(SP key)" at the cursor into *root (in the
 * arena). 1 parsed, 0 an unsupported charset (answer NO [BADCHARSET]),
 * -1 syntax error with a->err.
 */
int imapd_search_parse(struct imapd_args *a, struct imapd_snode **root);

/* Does the program use key anywhere? */
bool imapd_search_uses(const struct imapd_snode *n, enum imapd_skey key);

/* Resolves the sets for a folder of n messages whose largest UID is
 * max_uid, and orders AND children cheapest first. */
void imapd_search_prepare(struct imapd_snode *root, uint32_t n,
                          uint32_t max_uid, struct arena *a);

/* 1 matches, 0 not, -1 the content was needed and is unavailable. */
int imapd_search_match(const struct imapd_snode *root,
                       struct imapd_search_msg *m);

void imapd_search_msg_release(struct imapd_search_msg *m);

/* Appends the case-folded form of UTF-8 in[0..len) (invalid bytes are
 * kept). 0, or -1 when out is full. */
int imapd_fold(const char *in, size_t len, struct buf *out);

#endif
