/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_MSGDATA_H
#define POSTHORN_IMAPD_IMAPD_MSGDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/imap_struct.h"
#include "common/mbox.h"
#include "common/mime.h"

/*
 * One message's bytes and what is derived from them, loaded on demand
 * for FETCH and SEARCH: the file mapped read-only, its MIME tree parsed
 * once, and the cached ENVELOPE/BODYSTRUCTURE blob from the mailbox index
 * (computed and stored there when missing). Release after each message.
 */
struct imapd_msgdata {
	uint32_t uid;
	const char *data; /* the file (LF line ends), NULL until loaded */
	size_t len;
	void *map;
	size_t map_len;
	bool owns_readbuf; /* data is the process's shared read buffer */
	struct mime_msg *mime;
	void *blob; /* cache blob (malloc'd), NULL until loaded */
	size_t blob_len;
	struct imap_struct_cache cache;
};

/* Starts empty for message uid. */
void imapd_msgdata_init(struct imapd_msgdata *md, uint32_t uid);
/* Maps the file. 1 loaded, 0 the message is gone, -1 error (e). */
int imapd_msgdata_file(struct imapd_msgdata *md, struct mbox_folder *f,
                       struct err *e);
/* The MIME tree (after imapd_msgdata_file succeeded). */
const struct mime_msg *imapd_msgdata_mime(struct imapd_msgdata *md);
/* Fills md->cache from the index, or computes it from the file and
 * stores it. 1, 0 gone, -1 error. */
int imapd_msgdata_cache(struct imapd_msgdata *md, struct mbox_folder *f,
                        struct err *e);
/* Unmaps and frees everything; md can be init'ed again. */
void imapd_msgdata_release(struct imapd_msgdata *md);

#endif
