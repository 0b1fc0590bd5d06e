/* SPDX-License-Identifier: MIT */
/*
 * mbox_msg.c - reading and changing messages of a folder: iteration,
 * changes since a modseq, opening files, flags, expunge, copy, move, and
 * the cached per-message blob
 *
 * Every change is one write transaction; file renames, links and unlinks
 * are made inside it (under the index's write lock) so that another
 * Posthorn process never sees a file name and an index entry that
 * disagree. A transaction function may be run twice (db_write grows the
 * map and retries), so every file operation here is idempotent: a rename
 * whose source is gone and target exists is done, an unlink of a missing
 * file is done, and new file names are chosen before the transaction.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mbox_impl.h"
#include "common/str.h"
#include "common/xalloc.h"

/* ---- reading ------------------------------------------------------------ */

/* Walks the messages of f from first_uid; fn gets each record. */
typedef int (*rec_fn)(void *ctx, const struct msg_rec *r);

static int walk(struct db_txn *txn, const struct mbox_folder *f,
		uint32_t first, uint32_t last, rec_fn fn, void *ctx,
		struct err *e)
{
	struct db_cursor *c;
	unsigned char k[8];
	if (db_cursor_open(txn, T_MSGS, &c, e) < 0)
		return -1;
	key_fid_uid(k, f->fid, first);
	const void *key = k, *val;
	size_t klen = 8, vlen;
	int rc = 0;
	int g = db_cursor_get(c, DB_SET_RANGE, &key, &klen, &val, &vlen, e);
	while (g == 1 && klen == 8 && get_u32(key) == f->fid) {
		uint32_t uid = get_u32((const unsigned char *)key + 4);
		if (uid > last)
			break;
		struct msg_rec r;
		if (msg_rec_decode(val, vlen, uid, &r) < 0) {
			err_set(e, "%s: damaged index record of uid %u",
				f->name, uid);
			g = -1;
			break;
		}
		if ((rc = fn(ctx, &r)) != 0)
			break;
		g = db_cursor_get(c, DB_NEXT, &key, &klen, &val, &vlen, e);
	}
	db_cursor_close(&c);
	return g < 0 ? -1 : rc;
}

struct iter_ctx {
	mbox_msg_fn fn;
	void *ctx;
	uint64_t since;
};

static int iter_one(void *vctx, const struct msg_rec *r)
{
	struct iter_ctx *c = vctx;
	if (r->modseq <= c->since)
		return 0;
	struct mbox_msg m;
	msg_rec_view(r, &m);
	return c->fn(c->ctx, &m);
}

int mbox_msg_iter(struct mbox_folder *f, uint32_t first_uid, uint32_t last_uid,
		  mbox_msg_fn fn, void *ctx, struct err *e)
{
	struct db_txn *txn;
	struct folder_rec fr;
	struct iter_ctx c = {.fn = fn, .ctx = ctx};
	if (db_read_begin(f->mb->env, &txn, e) < 0)
		return -1;
	int rc = folder_need(txn, f, &fr, e);
	if (rc == 0)
		rc = walk(txn, f, first_uid, last_uid, iter_one, &c, e);
	db_txn_end(&txn);
	return rc;
}

int mbox_msg_changes(struct mbox_folder *f, uint64_t since, mbox_msg_fn fn,
		     mbox_expunged_fn xfn, void *ctx, struct err *e)
{
	struct db_txn *txn;
	struct folder_rec fr;
	struct iter_ctx c = {.fn = fn, .ctx = ctx, .since = since};
	if (db_read_begin(f->mb->env, &txn, e) < 0)
		return -1;
	int rc = folder_need(txn, f, &fr, e);
	if (rc == 0 && fr.highestmodseq > since)
		rc = walk(txn, f, 0, UINT32_MAX, iter_one, &c, e);
	struct db_cursor *cur = NULL;
	if (rc == 0 && xfn && fr.highestmodseq > since)
		rc = db_cursor_open(txn, T_EXP, &cur, e);
	if (cur) {
		unsigned char k[8];
		key_fid_uid(k, f->fid, 0);
		const void *key = k, *val;
		size_t klen = 8, vlen;
		int g = db_cursor_get(cur, DB_SET_RANGE, &key, &klen, &val,
				      &vlen, e);
		while (rc == 0 && g == 1 && klen == 8 &&
		       get_u32(key) == f->fid) {
			uint64_t ms = vlen == 8 ? get_u64(val) : 0;
			if (ms > since)
				rc = xfn(ctx,
					 get_u32((const unsigned char *)key + 4),
					 ms);
			if (rc == 0)
				g = db_cursor_get(cur, DB_NEXT, &key, &klen,
						  &val, &vlen, e);
		}
		if (g < 0)
			rc = -1;
		db_cursor_close(&cur);
	}
	db_txn_end(&txn);
	return rc;
}

/* Finds the file of base in cur/ or new/ by reading the directories
 * (another tool renamed it). 0 with the path in out, -1 not found. */
static int find_file(const struct mbox_folder *f, const char *base,
		     size_t len, char *out, size_t outsz)
{
	static const char *const subs[] = {"cur", "new"};
	for (int i = 0; i < 2; i++) {
		char p[MBOX_PATH_MAX];
		if (path_join(p, sizeof(p), f->path, subs[i], NULL) < 0)
			continue;
		DIR *d = opendir(p);
		if (!d)
			continue;
		struct dirent *de;
		int found = -1;
		while (found < 0 && (de = readdir(d)) != NULL) {
			struct maildir_name mn;
			if (maildir_name_parse(de->d_name, strlen(de->d_name),
					       &mn) == 0 &&
			    mn.base_len == len && memcmp(mn.base, base, len) == 0)
				found = path_join(out, outsz, p, de->d_name,
						  NULL) < 0
						? -1
						: 0;
		}
		closedir(d);
		if (found == 0)
			return 0;
	}
	return -1;
}

int mbox_msg_open(struct mbox_folder *f, uint32_t uid, int *fd_out,
		  struct err *e)
{
	struct db_txn *txn;
	struct folder_rec fr;
	struct msg_rec r;
	char p[MBOX_PATH_MAX], base[MAILDIR_FILE_MAX + 1];
	size_t blen = 0;
	*fd_out = -1;
	if (db_read_begin(f->mb->env, &txn, e) < 0)
		return -1;
	int rc = folder_need(txn, f, &fr, e);
	if (rc == 0)
		rc = msg_load(txn, f->fid, uid, &r, e);
	if (rc == 1) {
		if (msg_path(p, sizeof(p), f, &r) < 0)
			p[0] = '\0';
		blen = r.base_len;
		memcpy(base, r.base, blen);
	}
	db_txn_end(&txn);
	if (rc <= 0)
		return rc;
	int fd = p[0] ? open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	if (fd < 0 && (!p[0] || errno == ENOENT) &&
	    find_file(f, base, blen, p, sizeof(p)) == 0)
		fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		err_set(e, "open %s: %s", p, strerror(errno));
		return -1;
	}
	*fd_out = fd;
	return 1;
}

/* ---- flags ---------------------------------------------------------------- */

struct store_ctx {
	struct mbox_folder *f;
	const uint32_t *uids;
	size_t n;
	const struct mbox_store_req *req;
	struct mbox_store_res *res;
	struct buf req_kw; /* the request's keywords, packed */
	struct buf kw;     /* a message's new keywords */
	struct buf scratch;
};

/* The message's keywords after the request, into c->kw. */
static int new_keywords(struct store_ctx *c, const struct msg_rec *r,
			size_t *nkw, struct err *e)
{
	const char *req = c->req_kw.data ? c->req_kw.data : "";
	size_t rlen = c->req_kw.len;
	*nkw = 0;
	buf_reset(&c->kw);
	if (c->req->op == MBOX_STORE_SET) {
		*nkw = c->req->nkeywords;
		return buf_append(&c->kw, req, rlen) < 0 ? -1 : 0;
	}
	for (size_t i = 0; i < r->kw_len; i += strlen(r->kw + i) + 1) {
		const char *k = r->kw + i;
		if (c->req->op == MBOX_STORE_REMOVE && kw_has(req, rlen, k))
			continue;
		(void)buf_append(&c->kw, k, strlen(k) + 1);
		++*nkw;
	}
	if (c->req->op == MBOX_STORE_ADD) {
		for (size_t i = 0; i < rlen; i += strlen(req + i) + 1) {
			if (kw_has(r->kw, r->kw_len, req + i))
				continue;
			if (++*nkw > MBOX_KEYWORDS_MAX) {
				err_set(e, "more than %d keywords on a message",
					MBOX_KEYWORDS_MAX);
				return -1;
			}
			(void)buf_append(&c->kw, req + i, strlen(req + i) + 1);
		}
	}
	return 0;
}

static bool same_keywords(const char *a, size_t alen, size_t an,
			  const char *b, size_t blen, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < alen; i += strlen(a + i) + 1)
		if (!kw_has(b, blen, a + i))
			return false;
	return true;
}

static int store_one(struct db_txn *txn, struct store_ctx *c,
		     struct folder_rec *fr, size_t i, struct err *e)
{
	struct mbox_store_res *res = &c->res[i];
	struct msg_rec old, r;
	memset(res, 0, sizeof(*res));
	res->uid = c->uids[i];
	int m = msg_load(txn, c->f->fid, c->uids[i], &old, e);
	if (m < 0)
		return -1;
	if (m == 0) {
		res->status = MBOX_STORE_GONE;
		return 0;
	}
	res->flags = old.flags;
	res->modseq = old.modseq;
	if (c->req->unchanged_since && old.modseq > c->req->unchanged_since) {
		res->status = MBOX_STORE_CONFLICT;
		return 0;
	}
	r = old;
	unsigned fl = c->req->flags & MBOX_F_ALL;
	r.flags = c->req->op == MBOX_STORE_SET	  ? fl
		  : c->req->op == MBOX_STORE_ADD ? old.flags | fl
						  : old.flags & ~fl;
	size_t nkw;
	if (new_keywords(c, &old, &nkw, e) < 0)
		return -1;
	r.kw = c->kw.data ? c->kw.data : "";
	r.kw_len = c->kw.len;
	r.nkw = nkw;
	if (r.flags == old.flags &&
	    same_keywords(r.kw, r.kw_len, r.nkw, old.kw, old.kw_len, old.nkw)) {
		res->status = MBOX_STORE_UNCHANGED;
		return 0;
	}
	if (r.flags != old.flags) {
		/* Flags changed: the file name says so too, in cur/. */
		char from[MBOX_PATH_MAX], to[MBOX_PATH_MAX];
		r.in_cur = true;
		r.has_info = true;
		if (msg_path(from, sizeof(from), c->f, &old) < 0 ||
		    msg_path(to, sizeof(to), c->f, &r) < 0) {
			err_set(e, "%s: file name too long", c->f->name);
			return -1;
		}
		if (strcmp(from, to) != 0 && rename_idem(from, to) < 0) {
			if (errno != ENOENT) {
				err_set(e, "rename %s: %s", from,
					strerror(errno));
				return -1;
			}
			/* Another tool removed or renamed it; keep the
			 * file name as it was, the next sync decides. */
			r.in_cur = old.in_cur;
			r.has_info = old.has_info;
		}
	}
	r.modseq = ++fr->highestmodseq;
	if (msg_store(txn, fr, c->f->fid, &old, &r, &c->scratch, e) < 0)
		return -1;
	res->status = MBOX_STORE_CHANGED;
	res->flags = r.flags;
	res->modseq = r.modseq;
	return 0;
}

static int store_txn(struct db_txn *txn, void *vctx, struct err *e)
{
	struct store_ctx *c = vctx;
	struct folder_rec fr;
	if (folder_need(txn, c->f, &fr, e) < 0)
		return -1;
	bool clean[2] = {dir_clean_before(c->f, &fr, DIR_NEW),
			 dir_clean_before(c->f, &fr, DIR_CUR)};
	for (size_t i = 0; i < c->n; i++)
		if (store_one(txn, c, &fr, i, e) < 0)
			return -1;
	dir_clean_after(c->f, &fr, DIR_NEW, clean[0]);
	dir_clean_after(c->f, &fr, DIR_CUR, clean[1]);
	return folder_store(txn, c->f->name, &fr, e);
}

int mbox_store(struct mbox_folder *f, const uint32_t *uids, size_t n,
	       const struct mbox_store_req *req, struct mbox_store_res *res,
	       struct err *e)
{
	struct store_ctx c = {.f = f, .uids = uids, .n = n, .req = req,
			      .res = res};
	buf_init(&c.req_kw, 0);
	buf_init(&c.kw, 0);
	buf_init(&c.scratch, 0);
	int rc = kw_pack(req->keywords, req->nkeywords, &c.req_kw, e);
	if (rc >= 0) {
		/* kw_pack dropped duplicates: count what is left. */
		struct mbox_store_req copy = *req;
		copy.nkeywords = (size_t)rc;
		c.req = &copy;
		rc = n ? db_write(f->mb->env, store_txn, &c, e) : 0;
	}
	buf_deinit(&c.req_kw);
	buf_deinit(&c.kw);
	buf_deinit(&c.scratch);
	return rc < 0 ? -1 : 0;
}

/* ---- expunge ---------------------------------------------------------------- */

struct expunge_ctx {
	struct mbox_folder *f;
	const uint32_t *uids;
	size_t n;
	uint32_t *done;
	size_t ndone;
	bool dirs[2]; /* directories touched */
};

/* Unlinks a message's file wherever it is now. */
static int unlink_msg(struct mbox_folder *f, const struct msg_rec *r,
		      struct err *e)
{
	char p[MBOX_PATH_MAX];
	if (msg_path(p, sizeof(p), f, r) < 0) {
		err_set(e, "%s: file name too long", f->name);
		return -1;
	}
	if (unlink(p) == 0)
		return 0;
	if (errno == ENOENT) {
		if (find_file(f, r->base, r->base_len, p, sizeof(p)) < 0 ||
		    unlink(p) == 0 || errno == ENOENT)
			return 0;
	}
	err_set(e, "unlink %s: %s", p, strerror(errno));
	return -1;
}

static int expunge_txn(struct db_txn *txn, void *vctx, struct err *e)
{
	struct expunge_ctx *c = vctx;
	struct folder_rec fr;
	c->ndone = 0;
	if (folder_need(txn, c->f, &fr, e) < 0)
		return -1;
	bool clean[2] = {dir_clean_before(c->f, &fr, DIR_NEW),
			 dir_clean_before(c->f, &fr, DIR_CUR)};
	for (size_t i = 0; i < c->n; i++) {
		struct msg_rec r;
		int m = msg_load(txn, c->f->fid, c->uids[i], &r, e);
		if (m < 0)
			return -1;
		if (m == 0)
			continue;
		c->dirs[r.in_cur ? DIR_CUR : DIR_NEW] = true;
		if (unlink_msg(c->f, &r, e) < 0 ||
		    msg_remove(txn, &fr, c->f->fid, &r, e) < 0)
			return -1;
		if (c->done)
			c->done[c->ndone] = c->uids[i];
		c->ndone++;
	}
	dir_clean_after(c->f, &fr, DIR_NEW, clean[0]);
	dir_clean_after(c->f, &fr, DIR_CUR, clean[1]);
	return folder_store(txn, c->f->name, &fr, e);
}

/* Makes the directory changes of an operation durable. */
static void sync_dirs(const struct mbox_folder *f, const bool dirs[2])
{
	static const char *const subs[] = {"new", "cur"};
	for (int d = 0; d < 2; d++) {
		char p[MBOX_PATH_MAX];
		struct err e;
		if (dirs[d] && path_join(p, sizeof(p), f->path, subs[d], NULL) >= 0 &&
		    dir_sync(p, &e) < 0)
			log_warn("%s", e.msg);
	}
}

int mbox_expunge(struct mbox_folder *f, const uint32_t *uids, size_t n,
		 uint32_t *done, size_t *ndone, struct err *e)
{
	struct expunge_ctx c = {.f = f, .uids = uids, .n = n, .done = done};
	if (ndone)
		*ndone = 0;
	if (n == 0)
		return 0;
	if (db_write(f->mb->env, expunge_txn, &c, e) < 0)
		return -1;
	sync_dirs(f, c.dirs);
	if (ndone)
		*ndone = c.ndone;
	return 0;
}

/* ---- copy and move ---------------------------------------------------------- */

struct copy_ctx {
	struct mbox_folder *src, *dst;
	const uint32_t *uids;
	size_t n;
	uint32_t *dst_uids;
	bool move;
	char **names; /* copy: the new base names, chosen beforehand */
	struct buf scratch;
};

/* Copies a file's bytes (when it cannot be linked): tmp/, fsync, link. */
static int copy_bytes(const char *from, const struct mbox_folder *dst,
		      const char *base, const char *to, struct err *e)
{
	char tmp[MBOX_PATH_MAX], b[65536];
	if (path_join(tmp, sizeof(tmp), dst->path, "tmp", base) < 0) {
		err_set(e, "%s: path too long", dst->path);
		return -1;
	}
	int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		       0600);
	ssize_t n = 0;
	int rc = in < 0 || out < 0 ? -1 : 0;
	while (rc == 0 && (n = read(in, b, sizeof(b))) > 0)
		if (write(out, b, (size_t)n) != n)
			rc = -1;
	if (rc == 0 && (n < 0 || fsync(out) < 0))
		rc = -1;
	if (rc < 0)
		err_set(e, "copy %s: %s", from, strerror(errno));
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc == 0 && link(tmp, to) < 0 && errno != EEXIST) {
		err_set(e, "link %s: %s", to, strerror(errno));
		rc = -1;
	}
	(void)unlink(tmp);
	return rc;
}

static int copy_one(struct db_txn *txn, struct copy_ctx *c,
		    struct folder_rec *sr, struct folder_rec *dr, size_t i,
		    struct err *e)
{
	struct msg_rec old, r;
	char from[MBOX_PATH_MAX], to[MBOX_PATH_MAX];
	c->dst_uids[i] = 0;
	int m = msg_load(txn, c->src->fid, c->uids[i], &old, e);
	if (m <= 0)
		return m;
	if (dr->uidnext == UINT32_MAX) {
		err_set(e, "folder %s: no UIDs left", c->dst->name);
		return -1;
	}
	r = old;
	r.in_cur = true;
	r.has_info = true;
	if (!c->move) {
		r.base = c->names[i];
		r.base_len = strlen(c->names[i]);
	}
	if (msg_path(from, sizeof(from), c->src, &old) < 0 ||
	    msg_path(to, sizeof(to), c->dst, &r) < 0) {
		err_set(e, "%s: file name too long", c->dst->name);
		return -1;
	}
	int fr = c->move ? rename_idem(from, to) : link(from, to);
	if (fr < 0 && !c->move && errno == EEXIST)
		fr = 0; /* this transaction's first run made it */
	if (fr < 0 && errno == ENOENT)
		return 0; /* gone meanwhile: not copied */
	if (fr < 0 && !c->move)
		fr = copy_bytes(from, c->dst, r.base, to, e);
	else if (fr < 0)
		err_set(e, "rename %s: %s", from, strerror(errno));
	if (fr < 0)
		return -1;
	r.uid = dr->uidnext++;
	r.modseq = ++dr->highestmodseq;
	if (msg_store(txn, dr, c->dst->fid, NULL, &r, &c->scratch, e) < 0)
		return -1;
	/* The cached structure is the same bytes' structure. */
	unsigned char sk[8], dk[8];
	const void *v;
	size_t vl;
	key_fid_uid(sk, c->src->fid, old.uid);
	key_fid_uid(dk, c->dst->fid, r.uid);
	int g = db_get(txn, T_CACHE, sk, 8, &v, &vl, e);
	if (g == 1) {
		void *copy = xmemdup(v, vl);
		g = db_put(txn, T_CACHE, dk, 8, copy, vl, e);
		free(copy);
	}
	if (g < 0)
		return -1;
	if (c->move && msg_remove(txn, sr, c->src->fid, &old, e) < 0)
		return -1;
	c->dst_uids[i] = r.uid;
	return 0;
}

static int copy_txn(struct db_txn *txn, void *vctx, struct err *e)
{
	struct copy_ctx *c = vctx;
	struct folder_rec sr, dr;
	if (folder_need(txn, c->src, &sr, e) < 0 ||
	    folder_need(txn, c->dst, &dr, e) < 0)
		return -1;
	bool same = c->src->fid == c->dst->fid;
	for (size_t i = 0; i < c->n; i++) {
		if (copy_one(txn, c, &sr, same ? &sr : &dr, i, e) < 0)
			return -1;
	}
	if (!same && folder_store(txn, c->dst->name, &dr, e) < 0)
		return -1;
	/* The dst record is written first: for a copy into the same
	 * folder sr holds every change. */
	return folder_store(txn, c->src->name, &sr, e);
}

/* Chooses the new file names of a copy, before the transaction. */
static int copy_names(struct copy_ctx *c, struct err *e)
{
	struct db_txn *txn;
	if (db_read_begin(c->src->mb->env, &txn, e) < 0)
		return -1;
	c->names = xcalloc(c->n, sizeof(*c->names));
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < c->n; i++) {
		struct msg_rec r;
		char name[MAILDIR_FILE_MAX + 1];
		int m = msg_load(txn, c->src->fid, c->uids[i], &r, e);
		if (m < 0)
			rc = -1;
		else if (maildir_unique(name, sizeof(name),
					m ? r.size : 0, m ? r.vsize : 0) < 0) {
			err_set(e, "cannot make a file name");
			rc = -1;
		} else {
			c->names[i] = xstrdup(name);
		}
	}
	db_txn_end(&txn);
	return rc;
}

static int copy_or_move(struct mbox_folder *src, const uint32_t *uids,
			size_t n, struct mbox_folder *dst, uint32_t *dst_uids,
			bool move, struct err *e)
{
	if (src->mb != dst->mb) {
		err_set(e, "copy between different mailboxes");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		dst_uids[i] = 0;
	if (n == 0)
		return 0;
	struct copy_ctx c = {.src = src, .dst = dst, .uids = uids, .n = n,
			     .dst_uids = dst_uids, .move = move};
	buf_init(&c.scratch, 0);
	int rc = move ? 0 : copy_names(&c, e);
	if (rc == 0)
		rc = db_write(src->mb->env, copy_txn, &c, e);
	if (rc < 0 && c.names) {
		/* Links a failed transaction made must not become
		 * messages at the next sync. */
		for (size_t i = 0; i < n; i++) {
			char p[MBOX_PATH_MAX];
			if (c.names[i] &&
			    find_file(dst, c.names[i], strlen(c.names[i]), p,
				      sizeof(p)) == 0)
				(void)unlink(p);
		}
	}
	if (rc == 0) {
		bool dirs[2] = {false, true};
		sync_dirs(dst, dirs);
		if (move)
			sync_dirs(src, (bool[2]){true, true});
	}
	for (size_t i = 0; c.names && i < n; i++)
		free(c.names[i]);
	free(c.names);
	buf_deinit(&c.scratch);
	return rc < 0 ? -1 : 0;
}

int mbox_copy(struct mbox_folder *src, const uint32_t *uids, size_t n,
	      struct mbox_folder *dst, uint32_t *dst_uids, struct err *e)
{
	return copy_or_move(src, uids, n, dst, dst_uids, false, e);
}

int mbox_move(struct mbox_folder *src, const uint32_t *uids, size_t n,
	      struct mbox_folder *dst, uint32_t *dst_uids, struct err *e)
{
	if (src->fid == dst->fid) {
		err_set(e, "cannot move a message into its own folder");
		return -1;
	}
	return copy_or_move(src, uids, n, dst, dst_uids, true, e);
}

/* ---- cache ---------------------------------------------------------------- */

int mbox_cache_get(struct mbox_folder *f, uint32_t uid, unsigned *version_out,
		   void **data_out, size_t *len_out, struct err *e)
{
	struct db_txn *txn;
	struct folder_rec fr;
	unsigned char k[8];
	const void *v;
	size_t vl;
	*data_out = NULL;
	*len_out = 0;
	if (db_read_begin(f->mb->env, &txn, e) < 0)
		return -1;
	key_fid_uid(k, f->fid, uid);
	int rc = folder_need(txn, f, &fr, e);
	if (rc == 0)
		rc = db_get(txn, T_CACHE, k, 8, &v, &vl, e);
	if (rc == 1 && vl < 4)
		rc = 0;
	if (rc == 1) {
		*version_out = get_u32(v);
		*data_out = xmemdup((const char *)v + 4, vl - 4);
		*len_out = vl - 4;
	}
	db_txn_end(&txn);
	return rc;
}

struct cache_put_ctx {
	struct mbox_folder *f;
	uint32_t uid;
	const struct buf *val;
	int found;
};

static int cache_put_txn(struct db_txn *txn, void *vctx, struct err *e)
{
	struct cache_put_ctx *c = vctx;
	struct folder_rec fr;
	struct msg_rec r;
	unsigned char k[8];
	if (folder_need(txn, c->f, &fr, e) < 0)
		return -1;
	c->found = msg_load(txn, c->f->fid, c->uid, &r, e);
	if (c->found <= 0)
		return c->found;
	key_fid_uid(k, c->f->fid, c->uid);
	return db_put(txn, T_CACHE, k, 8, c->val->data, c->val->len, e);
}

int mbox_cache_put(struct mbox_folder *f, uint32_t uid, unsigned version,
		   const void *data, size_t len, struct err *e)
{
	if (len > MBOX_CACHE_MAX) {
		err_set(e, "cached data of %zu bytes is over the limit", len);
		return -1;
	}
	struct buf val;
	unsigned char vb[4];
	buf_init(&val, 0);
	put_u32(vb, version);
	(void)buf_append(&val, vb, 4);
	(void)buf_append(&val, data, len);
	struct cache_put_ctx c = {.f = f, .uid = uid, .val = &val};
	int rc = db_write(f->mb->env, cache_put_txn, &c, e);
	buf_deinit(&val);
	return rc < 0 ? -1 : c.found;
}
