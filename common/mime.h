/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MIME_H
#define POSTHORN_COMMON_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/mime_params.h"
#include "common/rfc822.h"

/*
 * The MIME part tree of one stored message (RFC 2045, 2046, 2183).
 *
 * Input is the raw message file as stored (pointer, length), with CRLF or
 * bare LF line ends. Every part records two measures:
 *  - raw byte ranges into that input (off, hdr_len, body_off, body_len),
 *    to find bytes in the file;
 *  - CRLF-normalised sizes and line counts (hdr_size, body_size,
 *    body_lines; see mime_codec.h), which are what IMAP reports and sends:
 *    RFC822.SIZE, BODYSTRUCTURE sizes, and the length of any FETCH
 *    literal, which imapd must send with mime_crlf_append().
 *
 * Parsing never fails on content: a message that is not valid MIME still
 * gets a tree that describes every byte (RFC 2045 5.2 defaults, a
 * multipart whose boundary never occurs is served as text/plain, a part
 * cut short ends at its parent's end). Work and memory are bounded by
 * MIME_MAX_DEPTH, MIME_MAX_PARTS and MIME_MAX_FIELD whatever the input.
 *
 * Typical use (imapd, FETCH n BODY[2.1]<0.100>; data = the mapped file):
 *
 *	struct mime_msg *m = mime_parse(data, len);
 *	struct mime_section sec;
 *	size_t used, off, n;
 *	if (mime_section_parse("2.1", 3, &sec, &used) == 0 &&
 *	    mime_section_find(m, &sec, &off, &n, NULL) == 1) {
 *		size_t size = mime_crlf_size(data + off, n);  // literal length
 *		mime_crlf_append(out, data + off, n, 0, 100, MIME_CRLF_NUL);
 *	}
 *	mime_free(&m);
 */

#define MIME_MAX_DEPTH 32     /* nesting of multiparts and messages */
#define MIME_MAX_PARTS 10000  /* parts in one message */
#define MIME_MAX_FIELD 65536  /* bytes of one Content-* field parsed */
#define MIME_MAX_BOUNDARY 200 /* RFC 2046 says 70; be lenient, but bound */

enum mime_kind {
	MIME_LEAF,      /* a body: text, image, application, ... */
	MIME_MULTIPART, /* children are its body parts */
	MIME_MESSAGE,   /* message/rfc822 or message/global: one child, the
	                   encapsulated message (its header and body) */
};

/* Part flags: what was wrong and how it was repaired. */
#define MIME_PF_DEFAULT_TYPE 0x01u /* no usable Content-Type: defaulted */
#define MIME_PF_NO_BLANK 0x02u     /* header not ended by an empty line */
#define MIME_PF_NO_CLOSE 0x04u     /* multipart without close delimiter */
#define MIME_PF_DOWNGRADED                                                     \
	0x08u               /* declared multipart/message, but                 \
	                       served as a leaf (see type) */
#define MIME_PF_LIMIT 0x10u /* children dropped: MIME_MAX_PARTS */

struct mime_part {
	/* raw ranges into the message */
	size_t off;      /* start of the part = start of its header */
	size_t hdr_len;  /* header including its empty line */
	size_t body_off; /* = off + hdr_len */
	size_t body_len;
	/* CRLF-normalised measures */
	size_t hdr_size, body_size, body_lines;

	enum mime_kind kind;
	unsigned flags;
	unsigned depth; /* 0 for the message itself */
	/* Content-Type, defaults applied: never empty. */
	struct rfc822_str type, subtype;
	struct mime_param *params;
	size_t nparams;
	/* Other content fields, unfolded and trimmed; p NULL when absent. */
	struct rfc822_str id, description, md5, location;
	struct rfc822_str encoding;    /* a valid token or absent (= 7bit) */
	struct rfc822_str disposition; /* p NULL when absent */
	struct mime_param *disp_params;
	size_t ndisp_params;
	struct rfc822_str *languages; /* Content-Language tags */
	size_t nlanguages;

	struct mime_part *parent;
	struct mime_part *children; /* first child; then ->next */
	struct mime_part *next;
	size_t nchildren;
};

struct mime_msg {
	const char *data; /* the caller's bytes, not owned */
	size_t len;
	struct mime_part *root; /* the message: its header, its body */
	size_t nparts;
	unsigned flags; /* every part's flags OR-ed */
	struct arena *arena;
};

/*
 * Parses data[0..len) into a tree. Never fails (allocation failure exits,
 * as x* allocators do). data must stay valid and unchanged while the
 * result is used; free the result with mime_free().
 */
struct mime_msg *mime_parse(const char *data, size_t len);
/* Frees *mp and sets it to NULL; accepts NULL. */
void mime_free(struct mime_msg **mp);

/* True when the part's type/subtype is t/s (ASCII case-insensitive). */
bool mime_part_is(const struct mime_part *p, const char *t, const char *s);

/* RFC822.SIZE: the whole message, CRLF-normalised. */
size_t mime_msg_size(const struct mime_msg *m);

/* ---- IMAP section addressing (RFC 3501 6.4.5) ---------------------- */

#define MIME_SECTION_MAX_PATH 64

enum mime_section_text {
	MIME_SEC_NONE,       /* BODY[] or BODY[1.2]: the part's body */
	MIME_SEC_HEADER,     /* [HEADER], [1.2.HEADER] */
	MIME_SEC_FIELDS,     /* [HEADER.FIELDS (...)] */
	MIME_SEC_FIELDS_NOT, /* [HEADER.FIELDS.NOT (...)] */
	MIME_SEC_TEXT,       /* [TEXT], [1.2.TEXT] */
	MIME_SEC_MIME,       /* [1.2.MIME] */
};

struct mime_section {
	uint32_t path[MIME_SECTION_MAX_PATH]; /* part numbers, from 1 */
	size_t npath;
	enum mime_section_text text;
};

/*
 * Parses a section-spec (the text between "[" and "]" up to, not
 * including, a HEADER.FIELDS list), e.g. "", "1.2", "1.2.MIME",
 * "HEADER.FIELDS". *used_out gets the bytes consumed (the caller then
 * expects " (" and the field list for the FIELDS forms). 0, or -1 when it
 * is not a valid section-spec (RFC 3501 9: no part number 0, MIME only
 * after a part number, nothing after TEXT or MIME).
 */
int mime_section_parse(const char *s, size_t len, struct mime_section *out,
                       size_t *used_out);

/*
 * The raw byte range of a section: 1 and *off_out, *len_out set, or 0 when
 * the message has no such part, or the text specifier does not apply to
 * it (HEADER/TEXT on a part that is not a message/rfc822). For the FIELDS
 * forms the range is the whole header; filter it with
 * rfc822_header_filter(). Send any range with mime_crlf_append().
 * part_out (may be NULL) gets the part addressed.
 */
int mime_section_find(const struct mime_msg *m, const struct mime_section *sec,
                      size_t *off_out, size_t *len_out,
                      const struct mime_part **part_out);

/* The part at path[0..n) (RFC 3501 part numbering), or NULL. */
const struct mime_part *mime_part_find(const struct mime_msg *m,
                                       const uint32_t *path, size_t n);

#endif
