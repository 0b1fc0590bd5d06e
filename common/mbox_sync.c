/* SPDX-License-Identifier: MIT */
/*
 * mbox_sync.c - reconciling a folder's directories with its index
 *
 * The maildir is the truth for which messages exist: a file without an
 * index entry gets the next UID, an entry without a file is expunged, and
 * flags another tool changed in a file name are taken over. Directories
 * are listed outside the index's write lock (a listing can be long); the
 * changes are then made in one write transaction, where every conclusion
 * the listing suggests is checked again, because files may have moved in
 * between: a UID another process gave the file meanwhile is kept, and an
 * entry is expunged only if its file is missing from a second listing
 * made under the lock (all Posthorn processes rename and unlink under
 * that lock, so only a foreign tool could still race it).
 *
 * A directory is not read when its mtime equals the one recorded at the
 * last trusted look. An mtime is trusted only once it is a few seconds
 * old, because timestamps are coarse: two changes within one tick leave
 * one mtime.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mbox_impl.h"
#include "common/str.h"
#include "common/xalloc.h"

#define TRUST_NS (2 * (int64_t)1000000000) /* mtime must be this old */
#define TMP_MAX_AGE (36 * 3600)            /* maildir spec: 36 hours */

struct entry {
	char *name; /* owned */
	struct maildir_name mn;
	int dir;
	bool sized; /* size/vsize/mtime filled by the pre-pass */
	uint64_t size, vsize;
	int64_t mtime;
};

struct listing {
	struct entry *v;
	size_t n, cap;
};

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Appends the message files of f's directory d to l. */
static int list_dir(const struct mbox_folder *f, int d, struct listing *l,
		    struct err *e)
{
	char p[MBOX_PATH_MAX];
	if (path_join(p, sizeof(p), f->path, d == DIR_CUR ? "cur" : "new",
		      NULL) < 0) {
		err_set(e, "%s: path too long", f->path);
		return -1;
	}
	DIR *dp = opendir(p);
	if (!dp) {
		err_set(e, "opendir %s: %s", p, strerror(errno));
		return -1;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dp)) != NULL) {
		size_t len = strlen(de->d_name);
		struct maildir_name mn;
		if (de->d_type == DT_DIR ||
		    maildir_name_parse(de->d_name, len, &mn) < 0)
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 256, bytes;
			if (size_mul(cap, sizeof(*l->v), &bytes) < 0)
				log_panic("mbox: listing overflow");
			l->v = xrealloc(l->v, bytes);
			l->cap = cap;
		}
		struct entry *en = &l->v[l->n++];
		memset(en, 0, sizeof(*en));
		en->name = xmemdup(de->d_name, len);
		/* Parse again: mn must point into our copy. */
		(void)maildir_name_parse(en->name, len, &en->mn);
		en->dir = d;
	}
	int saved = errno;
	closedir(dp);
	if (saved) {
		err_set(e, "readdir %s: %s", p, strerror(saved));
		return -1;
	}
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->mn.base_len < y->mn.base_len ? x->mn.base_len
						     : y->mn.base_len;
	int c = memcmp(x->mn.base, y->mn.base, n);
	if (c)
		return c;
	if (x->mn.base_len != y->mn.base_len)
		return x->mn.base_len < y->mn.base_len ? -1 : 1;
	return y->dir - x->dir; /* cur/ before new/ */
}

/* Finds base in the sorted listing, in directory d (-1: any). */
static const struct entry *find(const struct listing *l, const char *base,
				size_t len, int d)
{
	size_t lo = 0, hi = l->n;
	struct entry key = {.mn = {.base = base, .base_len = len}, .dir = 2};
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_entry(&l->v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < l->n; lo++) {
		const struct entry *en = &l->v[lo];
		if (en->mn.base_len != len || memcmp(en->mn.base, base, len))
			break;
		if (d < 0 || en->dir == d)
			return en;
	}
	return NULL;
}

/* Size, CRLF size and mtime of a message file, trusting ,S= and ,W= when
 * S= matches the file. 0, or -1 with errno (ENOENT: it moved away). */
static int file_sizes(const char *path, const struct maildir_name *mn,
		      uint64_t *size, uint64_t *vsize, int64_t *mtime)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	*size = (uint64_t)st.st_size;
	*mtime = st.st_mtim.tv_sec;
	if (mn->has_vsize && mn->has_size && mn->size == *size) {
		*vsize = mn->vsize;
		close(fd);
		return 0;
	}
	char b[65536];
	bool cr = false;
	ssize_t n;
	*vsize = 0;
	while ((n = read(fd, b, sizeof(b))) > 0)
		*vsize += mbox_crlf_size(b, (size_t)n, &cr);
	int saved = errno;
	close(fd);
	errno = saved;
	return n < 0 ? -1 : 0;
}

static int entry_path(char *out, size_t outsz, const struct mbox_folder *f,
		      const struct entry *en)
{
	return path_join(out, outsz, f->path, en->dir == DIR_CUR ? "cur" : "new",
			 en->name);
}

/* Fills the sizes of listed files the index does not know yet, outside
 * the write lock (reading a foreign file can take a while). */
static int presize(struct mbox_folder *f, struct listing *l, struct err *e)
{
	struct db_txn *txn;
	struct buf k;
	unsigned char fk[4];
	if (db_read_begin(f->mb->env, &txn, e) < 0)
		return -1;
	buf_init(&k, 0);
	put_u32(fk, f->fid);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		struct entry *en = &l->v[i];
		const void *v;
		size_t vl;
		buf_reset(&k);
		(void)buf_append(&k, fk, 4);
		(void)buf_append(&k, en->mn.base, en->mn.base_len);
		int g = db_get(txn, T_NAMES, k.data, k.len, &v, &vl, e);
		if (g < 0)
			rc = -1;
		else if (g == 0)
			en->sized = true; /* marked; sized below */
	}
	db_txn_end(&txn);
	buf_deinit(&k);
	char p[MBOX_PATH_MAX];
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		struct entry *en = &l->v[i];
		if (!en->sized)
			continue;
		en->sized = entry_path(p, sizeof(p), f, en) >= 0 &&
			    file_sizes(p, &en->mn, &en->size, &en->vsize,
				       &en->mtime) == 0;
	}
	return rc;
}

struct sync_ctx {
	struct mbox_folder *f;
	unsigned flags;
	struct listing *l;
	bool read[2];
	int64_t seen_mtime[2]; /* before listing */
	int64_t now;
	struct mbox_sync_result res;
	struct buf scratch;
};

/* A listed file: adopt its location and flags, or give it a UID. */
static int sync_entry(struct db_txn *txn, struct sync_ctx *c,
		      struct folder_rec *fr, struct entry *en, struct err *e)
{
	struct mbox_folder *f = c->f;
	unsigned char fk[4];
	const void *v;
	size_t vl;
	put_u32(fk, f->fid);
	buf_reset(&c->scratch);
	(void)buf_append(&c->scratch, fk, 4);
	(void)buf_append(&c->scratch, en->mn.base, en->mn.base_len);
	int g = db_get(txn, T_NAMES, c->scratch.data, c->scratch.len, &v, &vl,
		       e);
	if (g < 0)
		return -1;
	struct msg_rec old, r;
	if (g == 1 && vl == 4) {
		int m = msg_load(txn, f->fid, get_u32(v), &old, e);
		if (m < 0)
			return -1;
		if (m == 1) {
			r = old;
			r.in_cur = en->dir == DIR_CUR;
			r.has_info = en->mn.has_info;
			if (en->mn.has_info)
				r.flags = en->mn.flags;
			r.extra = en->mn.extra;
			bool flags_changed = r.flags != old.flags ||
					     strcmp(r.extra, old.extra) != 0;
			if (!flags_changed && r.in_cur == old.in_cur &&
			    r.has_info == old.has_info)
				return 0;
			if (flags_changed) {
				r.modseq = ++fr->highestmodseq;
				c->res.changed++;
			}
			return msg_store(txn, fr, f->fid, &old, &r,
					 &c->scratch, e);
		}
	}
	/* A file the index does not know. */
	if (!en->sized) {
		char p[MBOX_PATH_MAX];
		if (entry_path(p, sizeof(p), f, en) < 0 ||
		    file_sizes(p, &en->mn, &en->size, &en->vsize,
			       &en->mtime) < 0)
			return 0; /* gone again; a later sync sees */
		en->sized = true;
	}
	if (fr->uidnext == UINT32_MAX) {
		err_set(e, "folder %s: no UIDs left", f->name);
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.uid = fr->uidnext++;
	r.flags = en->mn.has_info ? en->mn.flags : 0;
	r.in_cur = en->dir == DIR_CUR;
	r.has_info = en->mn.has_info;
	r.modseq = ++fr->highestmodseq;
	r.idate = en->mtime;
	r.size = en->size;
	r.vsize = en->vsize;
	r.base = en->mn.base;
	r.base_len = en->mn.base_len;
	r.extra = en->mn.extra;
	c->res.added++;
	return msg_store(txn, fr, f->fid, NULL, &r, &c->scratch, e);
}

/* UIDs of index entries located in d (from innew for new/, from msgs for
 * cur/) whose base is not in the listing. */
static int unlisted(struct db_txn *txn, struct sync_ctx *c, int d,
		    struct listing *l, uint32_t **out, size_t *n,
		    struct err *e)
{
	struct db_cursor *cur;
	unsigned char k[8];
	key_fid_uid(k, c->f->fid, 0);
	size_t cap = 0;
	*n = 0;
	if (db_cursor_open(txn, d == DIR_NEW ? T_NEW : T_MSGS, &cur, e) < 0)
		return -1;
	const void *key = k, *val;
	size_t klen = 8, vlen;
	int g = db_cursor_get(cur, DB_SET_RANGE, &key, &klen, &val, &vlen, e);
	int rc = 0;
	while (g == 1 && klen == 8 && get_u32(key) == c->f->fid) {
		uint32_t uid = get_u32((const unsigned char *)key + 4);
		struct msg_rec r;
		bool check = true;
		if (d == DIR_CUR) {
			check = msg_rec_decode(val, vlen, uid, &r) == 0 &&
				r.in_cur;
		} else if (msg_load(txn, c->f->fid, uid, &r, e) != 1) {
			check = false;
		}
		if (check && !find(l, r.base, r.base_len, d)) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 64;
				*out = xrealloc(*out, cap * sizeof(**out));
			}
			(*out)[(*n)++] = uid;
		}
		g = db_cursor_get(cur, DB_NEXT, &key, &klen, &val, &vlen, e);
	}
	if (g < 0)
		rc = -1;
	db_cursor_close(&cur);
	return rc;
}

/* Entries of directory d whose file is gone: expunge them, after a second
 * listing made under the lock confirms it. */
static int sync_gone(struct db_txn *txn, struct sync_ctx *c,
		     struct folder_rec *fr, int d, struct err *e)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	if (unlisted(txn, c, d, c->l, &uids, &n, e) < 0) {
		free(uids);
		return -1;
	}
	if (n == 0) {
		free(uids);
		return 0;
	}
	struct listing fresh = {0};
	int rc = list_dir(c->f, DIR_NEW, &fresh, e);
	if (rc == 0)
		rc = list_dir(c->f, DIR_CUR, &fresh, e);
	if (rc == 0 && fresh.n)
		qsort(fresh.v, fresh.n, sizeof(*fresh.v), cmp_entry);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct msg_rec r;
		int m = msg_load(txn, c->f->fid, uids[i], &r, e);
		if (m < 0)
			rc = -1;
		else if (m == 1 && !find(&fresh, r.base, r.base_len, -1)) {
			rc = msg_remove(txn, fr, c->f->fid, &r, e);
			c->res.expunged++;
		}
	}
	listing_free(&fresh);
	free(uids);
	return rc;
}

/* Moves every file of new/ to cur/ (the index keeps its UID). */
static int new_to_cur(struct db_txn *txn, struct sync_ctx *c,
		      struct folder_rec *fr, struct err *e)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	struct listing none = {0};
	if (unlisted(txn, c, DIR_NEW, &none, &uids, &n, e) < 0) {
		free(uids);
		return -1;
	}
	bool clean[2] = {dir_clean_before(c->f, fr, DIR_NEW),
			 dir_clean_before(c->f, fr, DIR_CUR)};
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct msg_rec old, r;
		char from[MBOX_PATH_MAX], to[MBOX_PATH_MAX];
		int m = msg_load(txn, c->f->fid, uids[i], &old, e);
		if (m <= 0) {
			rc = m;
			continue;
		}
		r = old;
		r.in_cur = true;
		r.has_info = true;
		if (msg_path(from, sizeof(from), c->f, &old) < 0 ||
		    msg_path(to, sizeof(to), c->f, &r) < 0)
			continue;
		if (rename_idem(from, to) < 0) {
			if (errno == ENOENT)
				continue; /* the next sync sees */
			err_set(e, "rename %s: %s", from, strerror(errno));
			rc = -1;
			continue;
		}
		rc = msg_store(txn, fr, c->f->fid, &old, &r, &c->scratch, e);
	}
	free(uids);
	dir_clean_after(c->f, fr, DIR_NEW, clean[0]);
	dir_clean_after(c->f, fr, DIR_CUR, clean[1]);
	return rc;
}

static int sync_txn(struct db_txn *txn, void *vctx, struct err *e)
{
	struct sync_ctx *c = vctx;
	struct folder_rec fr;
	memset(&c->res, 0, sizeof(c->res));
	if (folder_need(txn, c->f, &fr, e) < 0)
		return -1;
	for (size_t i = 0; i < c->l->n; i++) {
		struct entry *en = &c->l->v[i];
		/* The same base in cur/ and new/ (a tool copied instead of
		 * moving): the cur/ one, sorted first, wins. */
		if (i > 0 && c->l->v[i - 1].mn.base_len == en->mn.base_len &&
		    memcmp(c->l->v[i - 1].mn.base, en->mn.base,
			   en->mn.base_len) == 0)
			continue;
		if (sync_entry(txn, c, &fr, en, e) < 0)
			return -1;
	}
	for (int d = 0; d < 2; d++) {
		if (!c->read[d])
			continue;
		if (sync_gone(txn, c, &fr, d, e) < 0)
			return -1;
		fr.mtime[d] = c->now - c->seen_mtime[d] > TRUST_NS
				      ? c->seen_mtime[d]
				      : 0;
	}
	if ((c->flags & MBOX_SYNC_NEW_TO_CUR) && new_to_cur(txn, c, &fr, e) < 0)
		return -1;
	return folder_store(txn, c->f->name, &fr, e);
}

/* Removes files in tmp/ that no writer can still be working on. */
static void clean_tmp(const struct mbox_folder *f)
{
	char p[MBOX_PATH_MAX], fp[MBOX_PATH_MAX];
	if (path_join(p, sizeof(p), f->path, "tmp", NULL) < 0)
		return;
	DIR *dp = opendir(p);
	if (!dp)
		return;
	time_t limit = time(NULL) - TMP_MAX_AGE;
	struct dirent *de;
	while ((de = readdir(dp)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' ||
		    path_join(fp, sizeof(fp), p, de->d_name, NULL) < 0 ||
		    lstat(fp, &st) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_mtime > limit)
			continue;
		(void)unlink(fp);
	}
	closedir(dp);
}

int mbox_folder_sync(struct mbox_folder *f, unsigned flags,
		     struct mbox_sync_result *out, struct err *e)
{
	struct sync_ctx c = {.f = f, .flags = flags};
	struct listing l = {0};
	struct folder_rec fr;
	struct db_txn *txn;
	if (out)
		memset(out, 0, sizeof(*out));
	if (db_read_begin(f->mb->env, &txn, e) < 0)
		return -1;
	int rc = folder_need(txn, f, &fr, e);
	db_txn_end(&txn);
	if (rc < 0)
		return -1;
	c.now = now_ns();
	for (int d = 0; d < 2; d++) {
		c.seen_mtime[d] = dir_mtime(f, d);
		c.read[d] = (flags & MBOX_SYNC_FULL) || fr.mtime[d] == 0 ||
			    c.seen_mtime[d] != fr.mtime[d];
	}
	if (!c.read[0] && !c.read[1] && !(flags & MBOX_SYNC_NEW_TO_CUR))
		return 0;
	for (int d = 0; d < 2 && rc == 0; d++)
		if (c.read[d])
			rc = list_dir(f, d, &l, e);
	if (rc == 0) {
		if (l.n)
			qsort(l.v, l.n, sizeof(*l.v), cmp_entry);
		rc = presize(f, &l, e);
	}
	c.l = &l;
	buf_init(&c.scratch, 0);
	if (rc == 0)
		rc = db_write(f->mb->env, sync_txn, &c, e);
	buf_deinit(&c.scratch);
	listing_free(&l);
	if (rc < 0)
		return -1;
	if (flags & MBOX_SYNC_FULL)
		clean_tmp(f);
	if (out)
		*out = c.res;
	return 0;
}
