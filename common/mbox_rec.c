/* SPDX-License-Identifier: MIT */
/*
 * mbox_rec.c - the mailbox index's record formats and keyword lists
 *
 * Encodes and decodes folder and message records (layouts below) and
 * checks keyword lists. Records come from a file another process (or a
 * damaged disk) wrote, so decoding checks every length and terminator and
 * refuses rather than guesses. Each record starts with a version byte; a
 * new layout gets a new version and the decoder keeps reading the old.
 */
#include <ctype.h>
#include <string.h>

#include "common/buf.h"
#include "common/mbox_impl.h"
#include "common/str.h"

#define FOLDER_REC_V1 1
#define MSG_REC_V1 1

void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

void put_u64(unsigned char *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

uint64_t get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

void key_fid_uid(unsigned char out[8], uint32_t fid, uint32_t uid)
{
	put_u32(out, fid);
	put_u32(out + 4, uid);
}

/*
 * Folder record v1 (61 bytes): u8 1 | u32 fid | u32 uidvalidity |
 * u32 uidnext | u32 first_recent | u64 highestmodseq | u32 exists |
 * u32 unseen | u64 vsize | u32 special_use | i64 new/ mtime |
 * i64 cur/ mtime.
 */
void folder_rec_encode(const struct folder_rec *r,
		       unsigned char out[FOLDER_REC_LEN])
{
	unsigned char *p = out;
	*p++ = FOLDER_REC_V1;
	put_u32(p, r->fid), p += 4;
	put_u32(p, r->uidvalidity), p += 4;
	put_u32(p, r->uidnext), p += 4;
	put_u32(p, r->first_recent), p += 4;
	put_u64(p, r->highestmodseq), p += 8;
	put_u32(p, r->exists), p += 4;
	put_u32(p, r->unseen), p += 4;
	put_u64(p, r->vsize), p += 8;
	put_u32(p, r->special_use), p += 4;
	put_u64(p, (uint64_t)r->mtime[0]), p += 8;
	put_u64(p, (uint64_t)r->mtime[1]);
}

int folder_rec_decode(const void *v, size_t len, struct folder_rec *r)
{
	const unsigned char *p = v;
	if (len != FOLDER_REC_LEN || p[0] != FOLDER_REC_V1)
		return -1;
	p++;
	r->fid = get_u32(p), p += 4;
	r->uidvalidity = get_u32(p), p += 4;
	r->uidnext = get_u32(p), p += 4;
	r->first_recent = get_u32(p), p += 4;
	r->highestmodseq = get_u64(p), p += 8;
	r->exists = get_u32(p), p += 4;
	r->unseen = get_u32(p), p += 4;
	r->vsize = get_u64(p), p += 8;
	r->special_use = get_u32(p) & MBOX_SU_MASK, p += 4;
	r->mtime[0] = (int64_t)get_u64(p), p += 8;
	r->mtime[1] = (int64_t)get_u64(p);
	if (r->fid == 0 || r->uidnext == 0)
		return -1;
	return 0;
}

/*
 * Message record v1: u8 1 | u8 flags | u8 bits (1 in cur/, 2 has info) |
 * u16 tz (two's complement minutes) | u64 modseq | i64 internal date |
 * u64 size | u64 vsize | u8 n, n bytes base, NUL | u8 n, n bytes extra
 * letters, NUL | u8 nkw | u16 n, n bytes of NUL-terminated keywords.
 */
#define MSG_FIXED (1 + 1 + 1 + 2 + 8 + 8 + 8 + 8)

int msg_rec_encode(const struct msg_rec *r, struct buf *b)
{
	unsigned char fixed[MSG_FIXED], *p = fixed;
	size_t extra_len = strlen(r->extra ? r->extra : "");
	if (r->base_len == 0 || r->base_len > MAILDIR_FILE_MAX ||
	    extra_len > MAILDIR_EXTRA_MAX || r->nkw > MBOX_KEYWORDS_MAX ||
	    r->kw_len > 0xffff)
		return -1;
	buf_reset(b);
	*p++ = MSG_REC_V1;
	*p++ = (unsigned char)(r->flags & MBOX_F_ALL);
	*p++ = (unsigned char)((r->in_cur ? 1 : 0) | (r->has_info ? 2 : 0));
	uint16_t tz = (uint16_t)(int16_t)r->tz;
	*p++ = (unsigned char)(tz >> 8);
	*p++ = (unsigned char)tz;
	put_u64(p, r->modseq), p += 8;
	put_u64(p, (uint64_t)r->idate), p += 8;
	put_u64(p, r->size), p += 8;
	put_u64(p, r->vsize);
	unsigned char n[3];
	n[0] = (unsigned char)r->base_len;
	int rc = buf_append(b, fixed, sizeof(fixed));
	rc |= buf_append(b, n, 1);
	rc |= buf_append(b, r->base, r->base_len);
	rc |= buf_append_char(b, '\0');
	n[0] = (unsigned char)extra_len;
	rc |= buf_append(b, n, 1);
	rc |= buf_append(b, r->extra ? r->extra : "", extra_len);
	rc |= buf_append_char(b, '\0');
	n[0] = (unsigned char)r->nkw;
	n[1] = (unsigned char)(r->kw_len >> 8);
	n[2] = (unsigned char)r->kw_len;
	rc |= buf_append(b, n, 3);
	rc |= buf_append(b, r->kw, r->kw_len);
	return rc ? -1 : 0;
}

/* Reads "u8 n, n bytes, NUL" at *pp; returns the string or NULL. */
static const char *take_str(const unsigned char **pp,
			    const unsigned char *end, size_t *len_out)
{
	const unsigned char *p = *pp;
	if (end - p < 1)
		return NULL;
	size_t n = *p++;
	if ((size_t)(end - p) < n + 1 || p[n] != '\0' || memchr(p, 0, n))
		return NULL;
	*pp = p + n + 1;
	*len_out = n;
	return (const char *)p;
}

int msg_rec_decode(const void *v, size_t len, uint32_t uid,
		   struct msg_rec *r)
{
	const unsigned char *p = v, *end = p + len;
	memset(r, 0, sizeof(*r));
	if (len < MSG_FIXED || p[0] != MSG_REC_V1 || (p[1] & ~MBOX_F_ALL) ||
	    (p[2] & ~3u))
		return -1;
	r->uid = uid;
	r->flags = p[1] & MBOX_F_ALL;
	r->in_cur = p[2] & 1;
	r->has_info = p[2] & 2;
	r->tz = (int16_t)(uint16_t)(p[3] << 8 | p[4]);
	p += 5;
	r->modseq = get_u64(p), p += 8;
	r->idate = (int64_t)get_u64(p), p += 8;
	r->size = get_u64(p), p += 8;
	r->vsize = get_u64(p), p += 8;
	size_t extra_len;
	r->base = take_str(&p, end, &r->base_len);
	r->extra = r->base ? take_str(&p, end, &extra_len) : NULL;
	if (!r->base || !r->extra || r->base_len == 0 ||
	    extra_len > MAILDIR_EXTRA_MAX || end - p < 3)
		return -1;
	r->nkw = p[0];
	r->kw_len = (size_t)p[1] << 8 | p[2];
	p += 3;
	if ((size_t)(end - p) != r->kw_len || r->nkw > MBOX_KEYWORDS_MAX)
		return -1;
	r->kw = (const char *)p;
	/* Exactly nkw non-empty NUL-terminated strings. */
	size_t count = 0;
	for (size_t i = 0, start = 0; i < r->kw_len; i++) {
		if (p[i] != '\0')
			continue;
		if (i == start)
			return -1;
		count++;
		start = i + 1;
	}
	if (count != r->nkw || (r->kw_len && p[r->kw_len - 1] != '\0'))
		return -1;
	return 0;
}

void msg_rec_view(const struct msg_rec *r, struct mbox_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->uid = r->uid;
	m->flags = r->flags;
	m->modseq = r->modseq;
	m->internal_date = r->idate;
	m->tz_minutes = r->tz;
	m->size = r->size;
	m->vsize = r->vsize;
	m->keywords = r->kw_len ? r->kw : "";
	m->nkeywords = r->nkw;
	m->file = r->base;
}

/* RFC 3501 flag-keyword = atom: no CTL, SP, ( ) { % * " \ ]; 8-bit is
 * refused too (atoms are 7-bit). */
static bool kw_ok(const char *s, size_t len)
{
	if (len == 0 || len > MBOX_KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || strchr("(){%*\"\\]", c))
			return false;
	}
	return true;
}

bool kw_has(const char *packed, size_t len, const char *kw)
{
	for (size_t i = 0; i < len;) {
		size_t n = strlen(packed + i);
		if (str_eq_nocase(packed + i, kw))
			return true;
		i += n + 1;
	}
	return false;
}

int kw_pack(const char *const *kw, size_t n, struct buf *out, struct err *e)
{
	size_t count = 0;
	buf_reset(out);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(kw[i]);
		if (!kw_ok(kw[i], len)) {
			err_set(e, "bad keyword");
			return -1;
		}
		if (kw_has(out->data ? out->data : "", out->len, kw[i]))
			continue;
		if (++count > MBOX_KEYWORDS_MAX) {
			err_set(e, "more than %d keywords on a message",
				MBOX_KEYWORDS_MAX);
			return -1;
		}
		if (buf_append(out, kw[i], len + 1) < 0) {
			err_set(e, "keywords too long");
			return -1;
		}
	}
	return (int)count;
}
