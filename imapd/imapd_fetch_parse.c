/* SPDX-License-Identifier: MIT */
/*
 * imapd_fetch_parse.c - the fetch-att grammar (RFC 3501 9)
 *
 * Reads one item or a parenthesised list of them. A section is read as
 * the text between "[" and "]": mime_section_parse() takes the part path
 * and text specifier, and for HEADER.FIELDS[.NOT] the header-list that
 * follows is read here as astrings. The response name keeps the client's
 * spelling of the section, upper-cased, as RFC 3501 7.4.2 echoes it.
 */
#include "imapd/imapd_fetch.h"

#include <string.h>

#include "common/str.h"

/* Header names in one HEADER.FIELDS list. */
#define FIELDS_MAX 256

static struct imapd_fetch_item *add(struct imapd_args *a, struct imapd_fetch *f,
                                    enum imapd_fetch_kind kind)
{
	if (f->n >= IMAPD_FETCH_ITEMS_MAX) {
		imapd_args_fail(a, "Too many fetch items");
		return NULL;
	}
	struct imapd_fetch_item *it = &f->items[f->n++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	switch (kind) {
	case IMAPD_FI_ENVELOPE:
	case IMAPD_FI_BODY:
	case IMAPD_FI_BODYSTRUCTURE:
		f->need_cache = true;
		break;
	case IMAPD_FI_SECTION:
		f->need_file = true;
		break;
	case IMAPD_FI_FLAGS:
		f->has_flags = true;
		break;
	case IMAPD_FI_UID:
		f->has_uid = true;
		break;
	case IMAPD_FI_MODSEQ:
		f->has_modseq = true;
		break;
	default:
		break;
	}
	return it;
}

/* "RFC822", "RFC822.HEADER", "RFC822.TEXT" as sections. */
static int rfc822_item(struct imapd_args *a, struct imapd_fetch *f,
                       const char *w)
{
	struct imapd_fetch_item *it = add(a, f, IMAPD_FI_SECTION);
	if (!it)
		return -1;
	if (strcmp(w, "RFC822") == 0) {
		it->sec.text = MIME_SEC_NONE;
		it->rname = "RFC822";
		f->set_seen = true;
	} else if (strcmp(w, "RFC822.HEADER") == 0) {
		it->sec.text = MIME_SEC_HEADER;
		it->peek = true;
		it->rname = "RFC822.HEADER";
	} else {
		it->sec.text = MIME_SEC_TEXT;
		it->rname = "RFC822.TEXT";
		f->set_seen = true;
	}
	return 0;
}

/* The "[...]<o.c>" after BODY / BODY.PEEK; a->pos is at "[" + 1 within
 * the atom that was read: we re-read from the bracket. */
static int section(struct imapd_args *a, struct imapd_fetch *f, bool peek)
{
	struct imapd_fetch_item *it = add(a, f, IMAPD_FI_SECTION);
	if (!it)
		return -1;
	it->peek = peek;
	if (!peek)
		f->set_seen = true;
	size_t start = a->pos;
	while (a->pos < a->len && a->p[a->pos] != ']' && a->p[a->pos] != ' ')
		a->pos++;
	size_t used;
	if (mime_section_parse(a->p + start, a->pos - start, &it->sec, &used) <
	            0 ||
	    used != a->pos - start)
		return imapd_args_fail(a, "Invalid section");
	char *spec = arena_memdup(a->a, a->p + start, a->pos - start);
	imapd_upper(spec);
	struct buf name;
	buf_init(&name, 0);
	buf_printf(&name, "BODY[%s", spec);
	if (it->sec.text == MIME_SEC_FIELDS ||
	    it->sec.text == MIME_SEC_FIELDS_NOT) {
		if (imapd_args_sp(a) < 0 || imapd_args_open(a) < 0)
			goto fail;
		it->fields =
		        arena_calloc(a->a, FIELDS_MAX, sizeof(*it->fields));
		buf_append_str(&name, " (");
		do {
			struct imapd_str h;
			if (it->nfields >= FIELDS_MAX) {
				imapd_args_fail(a, "Too many header fields");
				goto fail;
			}
			if (imapd_args_astring(a, &h) < 0 || h.len == 0)
				goto fail;
			it->fields[it->nfields].p = h.p;
			it->fields[it->nfields].len = h.len;
			buf_printf(&name, "%s%s", it->nfields ? " " : "", h.p);
			it->nfields++;
		} while (imapd_args_take(a, ' '));
		if (imapd_args_close(a) < 0)
			goto fail;
		buf_append_char(&name, ')');
	}
	if (!imapd_args_take(a, ']')) {
		imapd_args_fail(a, "Invalid section");
		goto fail;
	}
	buf_append_char(&name, ']');
	if (imapd_args_take(a, '<')) {
		if (imapd_args_number(a, &it->origin) < 0 ||
		    !imapd_args_take(a, '.') ||
		    imapd_args_nz_number(a, &it->count) < 0 ||
		    !imapd_args_take(a, '>')) {
			imapd_args_fail(a, "Invalid partial");
			goto fail;
		}
		it->partial = true;
	}
	it->rname = arena_memdup(a->a, name.data, name.len);
	buf_deinit(&name);
	return 0;
fail:
	buf_deinit(&name);
	return -1;
}

static int one_item(struct imapd_args *a, struct imapd_fetch *f)
{
	/* Atom characters include "[", so read the name up to it. */
	size_t start = a->pos;
	while (a->pos < a->len &&
	       imapd_is_atom_char((unsigned char)a->p[a->pos]) &&
	       a->p[a->pos] != '[')
		a->pos++;
	if (a->pos == start)
		return imapd_args_fail(a, "Invalid fetch item");
	char *w = arena_memdup(a->a, a->p + start, a->pos - start);
	imapd_upper(w);
	if (imapd_args_take(a, '[')) {
		if (strcmp(w, "BODY") == 0)
			return section(a, f, false);
		if (strcmp(w, "BODY.PEEK") == 0)
			return section(a, f, true);
		return imapd_args_fail(a, "Invalid fetch item");
	}
	static const struct {
		const char *name;
		enum imapd_fetch_kind kind;
	} simple[] = {
	        {"FLAGS", IMAPD_FI_FLAGS},
	        {"INTERNALDATE", IMAPD_FI_INTERNALDATE},
	        {"RFC822.SIZE", IMAPD_FI_RFC822_SIZE},
	        {"ENVELOPE", IMAPD_FI_ENVELOPE},
	        {"BODY", IMAPD_FI_BODY},
	        {"BODYSTRUCTURE", IMAPD_FI_BODYSTRUCTURE},
	        {"UID", IMAPD_FI_UID},
	        {"MODSEQ", IMAPD_FI_MODSEQ},
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strcmp(w, simple[i].name) == 0)
			return add(a, f, simple[i].kind) ? 0 : -1;
	if (strcmp(w, "RFC822") == 0 || strcmp(w, "RFC822.HEADER") == 0 ||
	    strcmp(w, "RFC822.TEXT") == 0)
		return rfc822_item(a, f, w);
	return imapd_args_fail(a, "Invalid fetch item");
}

static int macro(struct imapd_args *a, struct imapd_fetch *f, const char *w)
{
	/* RFC 3501 6.4.5 */
	static const enum imapd_fetch_kind fast[] = {
	        IMAPD_FI_FLAGS, IMAPD_FI_INTERNALDATE, IMAPD_FI_RFC822_SIZE};
	for (size_t i = 0; i < 3; i++)
		if (!add(a, f, fast[i]))
			return -1;
	if (strcmp(w, "FAST") == 0)
		return 0;
	if (!add(a, f, IMAPD_FI_ENVELOPE))
		return -1;
	if (strcmp(w, "FULL") == 0 && !add(a, f, IMAPD_FI_BODY))
		return -1;
	return 0;
}

int imapd_fetch_parse(struct imapd_args *a, struct imapd_fetch *out)
{
	memset(out, 0, sizeof(*out));
	out->items =
	        arena_calloc(a->a, IMAPD_FETCH_ITEMS_MAX, sizeof(*out->items));
	if (imapd_args_take(a, '(')) {
		if (++a->depth > a->max_depth)
			return imapd_args_fail(a, "Too deeply nested");
		do {
			if (one_item(a, out) < 0)
				return -1;
		} while (imapd_args_take(a, ' '));
		return imapd_args_close(a);
	}
	size_t save = a->pos;
	struct imapd_str w;
	if (imapd_args_atom(a, &w) == 0) {
		imapd_upper((char *)w.p);
		if (strcmp(w.p, "ALL") == 0 || strcmp(w.p, "FAST") == 0 ||
		    strcmp(w.p, "FULL") == 0)
			return macro(a, out, w.p);
	}
	a->err = NULL;
	a->pos = save;
	return one_item(a, out);
}
