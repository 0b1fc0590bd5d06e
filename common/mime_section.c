/* SPDX-License-Identifier: MIT */
/*
 * mime_section.c - IMAP section specs (RFC 3501 6.4.5) on a part tree
 *
 * Parses "1.2.HEADER"-style specs and maps them to raw byte ranges of the
 * stored message. The numbering rules: the parts of a multipart are
 * numbered from 1; a message (the top level, or a message/rfc822 part's
 * content) whose body is not multipart has exactly one part, 1, its body;
 * numbers after a message/rfc822 part address its encapsulated message.
 * HEADER and TEXT apply to messages only, MIME to numbered parts only.
 * Filtering HEADER.FIELDS and CRLF conversion are the caller's (see
 * rfc822_header_filter() and mime_crlf_append()).
 */
#include "common/mime.h"

#include <string.h>

#include "common/str.h"

static const struct {
	const char *word;
	enum mime_section_text text;
} keywords[] = {
        /* Longest first: HEADER is a prefix of the FIELDS forms. */
        {"HEADER.FIELDS.NOT", MIME_SEC_FIELDS_NOT},
        {"HEADER.FIELDS", MIME_SEC_FIELDS},
        {"HEADER", MIME_SEC_HEADER},
        {"TEXT", MIME_SEC_TEXT},
        {"MIME", MIME_SEC_MIME},
};

/* Reads an nz-number at s[*i]; 0 or -1. */
static int read_number(const char *s, size_t len, size_t *i, uint32_t *out)
{
	size_t j = *i;
	while (j < len && s[j] >= '0' && s[j] <= '9')
		j++;
	uint64_t v;
	if (j == *i || s[*i] == '0' ||
	    parse_uintn(s + *i, j - *i, 1, UINT32_MAX, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	*i = j;
	return 0;
}

int mime_section_parse(const char *s, size_t len, struct mime_section *out,
                       size_t *used_out)
{
	size_t i = 0;
	out->npath = 0;
	out->text = MIME_SEC_NONE;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		if (out->npath == MIME_SECTION_MAX_PATH ||
		    read_number(s, len, &i, &out->path[out->npath]) < 0)
			return -1;
		out->npath++;
		if (i >= len || s[i] != '.')
			break;
		i++; /* a number or a text specifier follows */
		if (i >= len)
			return -1;
	}
	if (i < len && (out->npath == 0 || s[i - 1] == '.')) {
		size_t k;
		for (k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
			if (str_prefix_nocase(s + i, len - i, keywords[k].word))
				break;
		if (k == sizeof(keywords) / sizeof(keywords[0]))
			return -1;
		if (keywords[k].text == MIME_SEC_MIME && out->npath == 0)
			return -1;
		out->text = keywords[k].text;
		i += strlen(keywords[k].word);
	}
	*used_out = i;
	return 0;
}

static const struct mime_part *nth_child(const struct mime_part *p, uint32_t n)
{
	const struct mime_part *c = p->children;
	for (uint32_t k = 1; c && k < n; k++)
		c = c->next;
	return c;
}

const struct mime_part *mime_part_find(const struct mime_msg *m,
                                       const uint32_t *path, size_t n)
{
	const struct mime_part *p = m->root, *q = NULL;
	bool is_msg = true; /* p is a message: its body may be "part 1" */
	for (size_t i = 0; i < n; i++) {
		if (p->kind == MIME_MULTIPART)
			q = nth_child(p, path[i]);
		else if (is_msg && path[i] == 1)
			q = p;
		else
			q = NULL;
		if (!q)
			return NULL;
		if (q->kind == MIME_MESSAGE) {
			p = q->children;
			is_msg = true;
		} else {
			p = q;
			is_msg = false;
		}
	}
	return q;
}

int mime_section_find(const struct mime_msg *m, const struct mime_section *sec,
                      size_t *off_out, size_t *len_out,
                      const struct mime_part **part_out)
{
	const struct mime_part *part = m->root, *msg = m->root;
	if (sec->npath > 0) {
		part = mime_part_find(m, sec->path, sec->npath);
		if (!part)
			return 0;
		msg = part->kind == MIME_MESSAGE ? part->children : NULL;
	}
	const struct mime_part *r = part;
	bool header = false;
	switch (sec->text) {
	case MIME_SEC_NONE:
		if (sec->npath == 0) {
			*off_out = 0;
			*len_out = m->len;
			goto found;
		}
		break;
	case MIME_SEC_MIME:
		if (sec->npath == 0)
			return 0;
		header = true;
		break;
	case MIME_SEC_HEADER:
	case MIME_SEC_FIELDS:
	case MIME_SEC_FIELDS_NOT:
	case MIME_SEC_TEXT:
		if (!msg)
			return 0;
		r = msg;
		header = sec->text != MIME_SEC_TEXT;
		break;
	}
	*off_out = header ? r->off : r->body_off;
	*len_out = header ? r->hdr_len : r->body_len;
found:
	if (part_out)
		*part_out = part;
	return 1;
}
