/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mime.c - the MIME parser and everything built on it, on any bytes
 *
 * Parses the input as a stored message and checks what imapd relies on:
 * every part lies inside the message and its header and body add up;
 * ENVELOPE, BODYSTRUCTURE and BODY obey the RFC 3501 grammar; the cache
 * blob reads back to the same strings; every section found is a valid
 * range. The same bytes also go through the address, parameter and
 * encoded-word parsers, and base64 / quoted-printable must round-trip.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap_struct.h"
#include "common/mime.h"
#include "common/mime_codec.h"
#include "common/mime_params.h"
#include "common/mime_words.h"
#include "common/rfc822_addr.h"

#include "../unit/imap_grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_part(const struct mime_msg *m, const struct mime_part *p)
{
	if (p->off > m->len || p->hdr_len > m->len - p->off ||
	    p->body_off != p->off + p->hdr_len ||
	    p->body_len > m->len - p->body_off || p->depth >= MIME_MAX_DEPTH)
		abort();
	if (p->hdr_size < p->hdr_len || p->body_size < p->body_len)
		abort();
	size_t n = 0;
	for (const struct mime_part *c = p->children; c; c = c->next, n++) {
		if (c->parent != p || c->off < p->body_off ||
		    c->body_off + c->body_len > p->body_off + p->body_len)
			abort();
		check_part(m, c);
	}
	if (n != p->nchildren || (p->kind == MIME_MULTIPART && n == 0) ||
	    (p->kind == MIME_MESSAGE && n != 1) ||
	    (p->kind == MIME_LEAF && n != 0))
		abort();
}

static void check_structure(const struct mime_msg *m)
{
	struct buf b, blob;
	struct imap_struct_cache c;
	buf_init(&b, 0);
	buf_init(&blob, 0);
	check_part(m, m->root);
	if (m->nparts > MIME_MAX_PARTS ||
	    m->root->hdr_len + m->root->body_len != m->len ||
	    mime_msg_size(m) != mime_crlf_size(m->data, m->len))
		abort();
	if (imap_struct_envelope(&b, m->data, m->root->hdr_len) < 0 ||
	    !imap_grammar_envelope(b.data, b.len))
		abort();
	buf_reset(&b);
	if (imap_struct_body(&b, m, IMAP_STRUCT_EXTENDED) < 0 ||
	    !imap_grammar_body(b.data, b.len, true, false))
		abort();
	if (imap_struct_cache_build(&blob, m) < 0 ||
	    imap_struct_cache_parse(blob.data, blob.len, &c) < 0 ||
	    c.bodystructure_len != b.len ||
	    memcmp(c.bodystructure, b.data, b.len) != 0)
		abort();
	buf_reset(&b);
	if (imap_struct_body(&b, m, IMAP_STRUCT_GLOBAL) < 0 ||
	    !imap_grammar_body(b.data, b.len, false, true))
		abort();
	buf_deinit(&b);
	buf_deinit(&blob);
}

static void check_sections(const struct mime_msg *m, const char *s, size_t n)
{
	static const char *const specs[] = {
	        "1",      "2",      "1.1",      "2.1",    "1.2.3", "TEXT",
	        "HEADER", "1.MIME", "2.HEADER", "1.TEXT", "3.2.1"};
	struct mime_section sec;
	size_t used, off, len;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		if (mime_section_parse(specs[i], strlen(specs[i]), &sec,
		                       &used) < 0)
			abort();
		if (mime_section_find(m, &sec, &off, &len, NULL) == 1 &&
		    (off > m->len || len > m->len - off))
			abort();
	}
	(void)mime_section_parse(s, n < 64 ? n : 64, &sec, &used);
}

static void check_codecs(const char *s, size_t n)
{
	struct buf enc, dec;
	buf_init(&enc, 0);
	buf_init(&dec, 0);
	if (mime_b64_encode(s, n, true, &enc) < 0 ||
	    mime_b64_decode(buf_cstr(&enc), enc.len, &dec, NULL) < 0 ||
	    dec.len != n || (n && memcmp(dec.data, s, n) != 0))
		abort();
	buf_reset(&enc);
	buf_reset(&dec);
	if (mime_qp_encode(s, n, MIME_QP_BINARY, &enc) < 0 ||
	    mime_qp_decode(buf_cstr(&enc), enc.len, 0, &dec, NULL) < 0 ||
	    dec.len != n || (n && memcmp(dec.data, s, n) != 0))
		abort();
	/* Encoded lines: at most 76 characters of printable ASCII, space
	 * or tab, never ending in white space (RFC 2045 6.7). */
	size_t col = 0;
	for (size_t i = 0; i < enc.len; i++) {
		unsigned char c = (unsigned char)enc.data[i];
		bool eol =
		        c == '\r' && i + 1 < enc.len && enc.data[i + 1] == '\n';
		if ((eol || i + 1 == enc.len) && i > 0 &&
		    (enc.data[i - eol] == ' ' || enc.data[i - eol] == '\t'))
			abort();
		if (eol) {
			col = 0;
			i++;
		} else if ((c < 32 && c != '\t') || c > 126 || ++col > 76) {
			abort();
		}
	}
	buf_reset(&dec);
	(void)mime_b64_decode(s, n, &dec, NULL);
	(void)mime_qp_decode(s, n, MIME_QP_Q, &dec, NULL);
	buf_reset(&dec);
	(void)mime_words_decode(s, n, &dec);
	(void)mime_words_decode_2231(s, n, &dec);
	buf_deinit(&enc);
	buf_deinit(&dec);
}

static void check_fields(const char *s, size_t n)
{
	struct arena *a = arena_new();
	struct mime_field f;
	struct buf b;
	buf_init(&b, 1 << 20);
	size_t count = 0;
	for (struct rfc822_addr *ad = rfc822_addr_parse(a, s, n, 1000); ad;
	     ad = ad->next)
		if (++count > 1001 || (ad->host.p && !ad->mailbox.p))
			abort();
	mime_field_parse(a, s, n, &f);
	if (f.nparams > MIME_MAX_PARAMS)
		abort();
	(void)mime_param_value_utf8(&f, "filename", &b);
	buf_deinit(&b);
	arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mime_msg *m = mime_parse(s, size);
	check_structure(m);
	check_sections(m, s, size);
	mime_free(&m);
	check_codecs(s, size);
	check_fields(s, size < 4096 ? size : 4096);
	return 0;
}
