/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_FETCH_H
#define POSTHORN_IMAPD_IMAPD_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mime.h"
#include "common/rfc822.h"
#include "imapd/imapd_args.h"

/*
 * FETCH data items (RFC 3501 6.4.5) as parsed, ready to be served by
 * imapd_fetch.c. Macros (ALL, FAST, FULL) are expanded, RFC822.* forms
 * become their BODY[] equivalents with the RFC822 response names.
 */

enum imapd_fetch_kind {
	IMAPD_FI_FLAGS,
	IMAPD_FI_INTERNALDATE,
	IMAPD_FI_RFC822_SIZE,
	IMAPD_FI_ENVELOPE,
	IMAPD_FI_BODY, /* BODY without a section: the structure */
	IMAPD_FI_BODYSTRUCTURE,
	IMAPD_FI_UID,
	IMAPD_FI_SECTION, /* BODY[...], BODY.PEEK[...], RFC822[.x] */
	IMAPD_FI_MODSEQ,
};

struct imapd_fetch_item {
	enum imapd_fetch_kind kind;
	/* IMAPD_FI_SECTION: */
	struct mime_section sec;
	struct rfc822_str *fields; /* HEADER.FIELDS[.NOT] names */
	size_t nfields;
	bool peek; /* does not set \Seen */
	bool partial;
	uint32_t origin, count; /* <origin.count> */
	const char *rname;      /* response name, e.g. "BODY[1.MIME]" or
	                           "RFC822.HEADER" (origin added later) */
};

#define IMAPD_FETCH_ITEMS_MAX 64

struct imapd_fetch {
	struct imapd_fetch_item *items;
	size_t n;
	bool set_seen;   /* some item sets \Seen (unless peek) */
	bool need_cache; /* ENVELOPE, BODY, BODYSTRUCTURE */
	bool need_file;  /* a section */
	bool has_flags, has_uid, has_modseq;
};

/* Parses the fetch attributes after "FETCH set SP" into out (in the
 * arena). 0, or -1 with a->err. */
int imapd_fetch_parse(struct imapd_args *a, struct imapd_fetch *out);

#endif
