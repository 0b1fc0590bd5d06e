/* SPDX-License-Identifier: MIT */
/*
 * imapd_fetch.c - FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2)
 *
 * For each message of the set, writes one FETCH response with the items
 * in the order asked (UID first for UID FETCH). What each item costs:
 * FLAGS, UID, INTERNALDATE, RFC822.SIZE come from the view; ENVELOPE,
 * BODY and BODYSTRUCTURE from the blob cached in the mailbox index; only
 * sections read the file (mapped) and, past BODY[] / HEADER / TEXT of the
 * whole message, parse its MIME tree. Literal lengths count CRLF line
 * ends (the files have LF; common/mime_codec.h converts on the way out).
 *
 * \Seen is set for all messages that need it in one index transaction
 * before any output, and their responses then carry FLAGS (RFC 3501
 * 6.4.5). A message whose file has gone (another session expunged it and
 * we may not say so yet) is left out; FETCH by number then ends with NO
 * [EXPUNGEISSUED] (RFC 5530), UID FETCH with OK and the EXPUNGE.
 */
#include "imapd/imapd_fetch.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/str.h"
#include "common/mime_codec.h"
#include "imapd/imapd_date.h"
#include "imapd/imapd_msgdata.h"
#include "imapd/imapd_seqset.h"
#include "imapd/imapd_session.h"
#include "imapd/imapd_view.h"

/*
 * The whole of p[0..len) normalised to CRLF (size bytes, as measured by
 * mime_crlf_size), NUL sent as 0x80: what mime_crlf_append() does, in one
 * reservation and one memcpy per line, because FETCH BODY[] of a whole
 * mailbox spends its time here.
 */
static int crlf_copy(struct buf *out, const char *p, size_t len, size_t size)
{
	if (buf_reserve(out, size) < 0)
		return -1;
	char *start = out->data + out->len, *d = start;
	const char *s = p, *end = p + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		memcpy(d, s, n);
		d += n;
		if (!nl)
			break;
		if (nl == p || nl[-1] != '\r')
			*d++ = '\r';
		*d++ = '\n';
		s = nl + 1;
	}
	for (char *z = start; (z = memchr(z, 0, (size_t)(d - z))) != NULL;)
		*z++ = (char)0x80;
	out->len += (size_t)(d - start);
	out->data[out->len] = '\0';
	return 0;
}

/* The part of size octets that <origin.count> selects (all of it when
 * the item is not partial): the literal's header, and the window. */
static int window(struct buf *out, const struct imapd_fetch_item *it,
                  size_t size, size_t *skip, size_t *take)
{
	*skip = 0;
	*take = size;
	if (it->partial) {
		*skip = it->origin < size ? it->origin : size;
		*take = size - *skip;
		if (*take > it->count)
			*take = it->count;
	}
	return buf_printf(out, "{%zu}\r\n", *take);
}

/* Appends the bytes of raw range data[0..len) normalised to CRLF, as a
 * literal, with <origin.count> applied when the item is partial. */
static int put_range(struct buf *out, const struct imapd_fetch_item *it,
                     const char *data, size_t len)
{
	size_t size = mime_crlf_size(data, len), skip, take;
	if (window(out, it, size, &skip, &take) < 0)
		return -1;
	if (skip == 0 && take == size)
		return crlf_copy(out, data, len, size);
	return mime_crlf_append(out, data, len, skip, take, MIME_CRLF_NUL);
}

/* The same for bytes that are already CRLF (a filtered header). */
static int put_bytes(struct buf *out, const struct imapd_fetch_item *it,
                     const char *data, size_t len)
{
	size_t skip, take;
	if (window(out, it, len, &skip, &take) < 0)
		return -1;
	return buf_append(out, data + skip, take);
}

/* One section item. 1 written, 0 the message is gone, -1 error. */
static int put_section(struct imapd_session *s, struct buf *out,
                       const struct imapd_fetch_item *it,
                       struct imapd_msgdata *md, struct err *e)
{
	int rc = imapd_msgdata_file(md, s->view->f, e);
	if (rc <= 0)
		return rc;
	buf_append_str(out, it->rname);
	if (it->partial && strncmp(it->rname, "BODY[", 5) == 0)
		buf_printf(out, "<%u>", it->origin);
	buf_append_char(out, ' ');
	/* The whole message, its header and its text need no tree. */
	if (it->sec.npath == 0 && it->sec.text == MIME_SEC_NONE)
		return put_range(out, it, md->data, md->len) < 0 ? -1 : 1;
	size_t off, len;
	if (it->sec.npath == 0 && (it->sec.text == MIME_SEC_HEADER ||
	                           it->sec.text == MIME_SEC_TEXT)) {
		size_t h = rfc822_header_len(md->data, md->len, NULL);
		off = it->sec.text == MIME_SEC_HEADER ? 0 : h;
		len = it->sec.text == MIME_SEC_HEADER ? h : md->len - h;
	} else {
		const struct mime_msg *m = imapd_msgdata_mime(md);
		if (mime_section_find(m, &it->sec, &off, &len, NULL) != 1)
			return buf_append_str(out, "NIL") < 0 ? -1 : 1;
	}
	if (it->sec.text == MIME_SEC_FIELDS ||
	    it->sec.text == MIME_SEC_FIELDS_NOT) {
		struct buf h;
		buf_init(&h, 0);
		int frc = rfc822_header_filter(
		        md->data + off, len, it->fields, it->nfields,
		        it->sec.text == MIME_SEC_FIELDS_NOT, &h);
		if (frc == 0)
			frc = put_bytes(out, it, h.data ? h.data : "", h.len);
		buf_deinit(&h);
		return frc < 0 ? -1 : 1;
	}
	return put_range(out, it, md->data + off, len) < 0 ? -1 : 1;
}

/* One message's response into out. 1, 0 gone, -1 error. */
static int fetch_one(struct imapd_session *s, struct imapd_cmd *c,
                     const struct imapd_fetch *f, size_t i, bool add_flags,
                     bool add_modseq, struct buf *out, struct err *e)
{
	struct imapd_view *v = s->view;
	const struct imapd_msg *m = &v->m[i];
	struct imapd_msgdata md;
	imapd_msgdata_init(&md, m->uid);
	int rc = 1;
	buf_printf(out, "* %zu FETCH (", i + 1);
	bool sp = false;
	/* RFC 7162 3.1.4.1: with CONDSTORE on, a response about changed
	 * flags carries UID and MODSEQ. */
	bool cs = (s->enabled & IMAPD_EXT_CONDSTORE) && add_flags;
	if ((c->uid || cs) && !f->has_uid) {
		buf_printf(out, "UID %u", m->uid);
		sp = true;
	}
	if (add_flags && !f->has_flags) {
		buf_printf(out, "%sFLAGS ", sp ? " " : "");
		imapd_view_flags(out, v, i);
		sp = true;
	}
	if ((cs || add_modseq) && !f->has_modseq) {
		buf_printf(out, "%sMODSEQ (%llu)", sp ? " " : "",
		           (unsigned long long)m->modseq);
		sp = true;
	}
	for (size_t k = 0; k < f->n && rc > 0; k++) {
		const struct imapd_fetch_item *it = &f->items[k];
		if (sp)
			buf_append_char(out, ' ');
		sp = true;
		switch (it->kind) {
		case IMAPD_FI_FLAGS:
			buf_append_str(out, "FLAGS ");
			imapd_view_flags(out, v, i);
			break;
		case IMAPD_FI_UID:
			buf_printf(out, "UID %u", m->uid);
			break;
		case IMAPD_FI_MODSEQ:
			buf_printf(out, "MODSEQ (%llu)",
			           (unsigned long long)m->modseq);
			break;
		case IMAPD_FI_INTERNALDATE: {
			char d[IMAPD_DATETIME_LEN + 1];
			imapd_datetime_format(m->idate, m->tz, d);
			buf_printf(out, "INTERNALDATE \"%s\"", d);
			break;
		}
		case IMAPD_FI_RFC822_SIZE:
			buf_printf(out, "RFC822.SIZE %llu",
			           (unsigned long long)m->vsize);
			break;
		case IMAPD_FI_ENVELOPE:
		case IMAPD_FI_BODY:
		case IMAPD_FI_BODYSTRUCTURE:
			rc = imapd_msgdata_cache(&md, v->f, e);
			if (rc <= 0)
				break;
			if (it->kind == IMAPD_FI_ENVELOPE) {
				buf_append_str(out, "ENVELOPE ");
				buf_append(out, md.cache.envelope,
				           md.cache.envelope_len);
			} else if (it->kind == IMAPD_FI_BODY) {
				buf_append_str(out, "BODY ");
				buf_append(out, md.cache.body,
				           md.cache.body_len);
			} else {
				buf_append_str(out, "BODYSTRUCTURE ");
				buf_append(out, md.cache.bodystructure,
				           md.cache.bodystructure_len);
			}
			break;
		case IMAPD_FI_SECTION:
			rc = put_section(s, out, it, &md, e);
			break;
		}
	}
	buf_append_str(out, ")\r\n");
	imapd_msgdata_release(&md);
	return rc;
}

/* Sets \Seen on the messages of idx[0..n) that the fetch opens and that
 * lack it; marks them in *changed (n entries). */
static void set_seen(struct imapd_session *s, const size_t *idx, size_t n,
                     bool *changed)
{
	struct imapd_view *v = s->view;
	uint32_t *uids = arena_calloc(s->arena, n, sizeof(*uids));
	size_t *where = arena_calloc(s->arena, n, sizeof(*where));
	size_t k = 0;
	for (size_t j = 0; j < n; j++) {
		const struct imapd_msg *m = &v->m[idx[j]];
		if (!(m->flags & MBOX_F_SEEN) &&
		    !(m->state & IMAPD_MSG_EXPUNGED)) {
			where[k] = j;
			uids[k++] = m->uid;
		}
	}
	if (k == 0)
		return;
	struct mbox_store_res *res = arena_calloc(s->arena, k, sizeof(*res));
	struct mbox_store_req req = {.op = MBOX_STORE_ADD,
	                             .flags = MBOX_F_SEEN};
	struct err e;
	if (mbox_store(v->f, uids, k, &req, res, &e) < 0) {
		log_error("user=<%s>: set \\Seen: %s", s->user, e.msg);
		return;
	}
	for (size_t q = 0; q < k; q++) {
		if (res[q].status != MBOX_STORE_CHANGED)
			continue;
		struct imapd_msg *m = &v->m[idx[where[q]]];
		m->flags = (uint8_t)res[q].flags;
		m->modseq = res[q].modseq;
		imapd_view_note_own(v, res[q].modseq);
		changed[where[q]] = true;
	}
}

void imapd_cmd_fetch(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_seqset set;
	struct imapd_fetch f;
	uint64_t since = 0;
	bool changedsince = false;
	if (imapd_args_sp(a) < 0 || imapd_args_seqset(a, &set) < 0 ||
	    imapd_args_sp(a) < 0 || imapd_fetch_parse(a, &f) < 0)
		return imapd_cmd_syntax(c, s);
	bool vanished = false;
	if (imapd_args_take(a, ' ')) {
		/* RFC 7162 3.1.4.1: (CHANGEDSINCE modseq); 3.2.6: with
		 * QRESYNC on, UID FETCH may add VANISHED. */
		struct imapd_str w;
		if (imapd_args_open(a) < 0 || imapd_args_atom(a, &w) < 0 ||
		    !str_eq_nocase(w.p, "CHANGEDSINCE") ||
		    imapd_args_sp(a) < 0 || imapd_args_number64(a, &since) < 0)
			return imapd_cmd_syntax(c, s);
		if (imapd_args_take(a, ' ')) {
			if (imapd_args_atom(a, &w) < 0 ||
			    !str_eq_nocase(w.p, "VANISHED") || !c->uid ||
			    !(s->enabled & IMAPD_EXT_QRESYNC))
				return imapd_cmd_bad(
				        c, s,
				        "Error in IMAP command "
				        "FETCH: VANISHED needs UID "
				        "FETCH and ENABLE QRESYNC");
			vanished = true;
		}
		if (imapd_args_close(a) < 0)
			return imapd_cmd_syntax(c, s);
		changedsince = true;
	}
	if (imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	if (changedsince || f.has_modseq)
		imapd_condstore_enable(s);
	struct imapd_view *v = s->view;
	size_t *idx, n;
	if (imapd_cmd_messages(s, c, &set, &idx, &n) < 0)
		return;
	if (vanished) {
		struct imapd_seqset norm;
		imapd_seqset_resolve(&set, v->n ? v->m[v->n - 1].uid : 0,
		                     s->arena, &norm);
		(void)imapd_qresync_vanished(s, since, &norm);
	}
	bool *changed = arena_calloc(s->arena, n ? n : 1, sizeof(*changed));
	if (f.set_seen && !v->readonly) {
		bool any = false;
		for (size_t k = 0; k < f.n; k++)
			if (f.items[k].kind == IMAPD_FI_SECTION &&
			    !f.items[k].peek)
				any = true;
		if (any)
			set_seen(s, idx, n, changed);
	}
	struct buf out;
	buf_init(&out, 0);
	size_t gone = 0;
	for (size_t j = 0; j < n; j++) {
		struct err e;
		if (changedsince && v->m[idx[j]].modseq <= since)
			continue;
		buf_reset(&out);
		int rc = fetch_one(s, c, &f, idx[j], changed[j], changedsince,
		                   &out, &e);
		if (rc < 0) {
			log_error("user=<%s>: fetch uid %u: %s", s->user,
			          v->m[idx[j]].uid, e.msg);
			gone++;
			continue;
		}
		if (rc == 0) {
			gone++;
			continue;
		}
		imapd_write(s, out.data, out.len);
	}
	buf_deinit(&out);
	/* UID FETCH leaves expunged messages out, as if asked for UIDs
	 * that are not there (the EXPUNGE follows at once); FETCH by number
	 * must say why a message is missing (RFC 5530). */
	if (gone && !c->uid)
		imapd_cmd_no(c, s,
		             "[EXPUNGEISSUED] Some messages could not be "
		             "fetched.");
}
