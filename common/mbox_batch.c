/* SPDX-License-Identifier: MIT */
/*
 * mbox_batch.c - adding messages: batched, durable deliveries and APPEND
 *
 * The order of a commit, and the crash it survives at each step:
 *  1. every message is written to its folder's tmp/ (mbox_batch_add);
 *  2. one syncfs() per filesystem makes all those bytes durable
 *     (a crash before: only tmp/ files, removed after 36 hours; nothing
 *     was acknowledged, the sender retries);
 *  3. per mailbox, one index write transaction renames each file into
 *     new/ (or cur/ with its flags) and gives it a UID: file and entry
 *     appear together to every other Posthorn process, and a file that
 *     a crash leaves in new/ without its entry gets a UID at the next
 *     sync;
 *  4. a second syncfs() per filesystem makes the renames durable (a crash
 *     before: the entry's file may still be in tmp/; the next sync
 *     expunges the entry, its UID is never reused, and nothing was
 *     acknowledged);
 *  5. only then is any item reported delivered.
 * DESIGN.md "The performance budget": two syncs per batch however many
 * messages, plus one index commit per mailbox, instead of two fsyncs per
 * message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mbox_impl.h"
#include "common/xalloc.h"

#define DEVS_MAX 16

enum item_state {
	ITEM_WRITTEN,   /* in tmp/ */
	ITEM_SYNCED,    /* bytes durable */
	ITEM_PUBLISHED, /* renamed and indexed */
	ITEM_DONE,      /* renames durable: delivered */
	ITEM_FAILED,
};

struct item {
	struct mbox_folder *f;
	char base[MAILDIR_FILE_MAX + 1];
	enum item_state state;
	unsigned flags;
	char *kw; /* packed, NUL-separated */
	size_t kw_len, nkw;
	int64_t idate;
	int tz;
	uint64_t size, vsize;
	dev_t dev;
	void *blob; /* cache blob or NULL */
	size_t blob_len;
	unsigned blob_version;
	uint32_t uid;
	bool renamed; /* by the current transaction run */
	int err_no;
	char *reason;
};

struct dev_fd {
	dev_t dev;
	int fd; /* a directory on that filesystem, for syncfs */
};

struct mbox_batch {
	struct item *v;
	size_t n, cap;
	struct dev_fd devs[DEVS_MAX];
	size_t ndevs;
};

struct mbox_batch *mbox_batch_new(void)
{
	return xcalloc(1, sizeof(struct mbox_batch));
}

size_t mbox_batch_count(const struct mbox_batch *b)
{
	return b->n;
}

static int item_path(char *out, size_t outsz, const struct item *it,
		     bool tmp)
{
	if (tmp)
		return path_join(out, outsz, it->f->path, "tmp", it->base);
	struct msg_rec r = {.base = it->base,
			    .base_len = strlen(it->base),
			    .flags = it->flags,
			    .extra = "",
			    .in_cur = it->flags || it->nkw,
			    .has_info = it->flags || it->nkw};
	return msg_path(out, outsz, it->f, &r);
}

static void item_fail(struct item *it, int err_no, const char *reason)
{
	it->state = ITEM_FAILED;
	it->err_no = err_no;
	if (!it->reason)
		it->reason = xstrdup(reason);
}

void mbox_batch_free(struct mbox_batch **bp)
{
	struct mbox_batch *b = *bp;
	if (!b)
		return;
	*bp = NULL;
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->v[i];
		char p[MBOX_PATH_MAX];
		bool in_tmp = it->state == ITEM_WRITTEN ||
			      it->state == ITEM_SYNCED ||
			      (it->state == ITEM_FAILED && !it->renamed);
		if (in_tmp && item_path(p, sizeof(p), it, true) >= 0)
			(void)unlink(p);
		free(it->kw);
		free(it->blob);
		free(it->reason);
	}
	for (size_t i = 0; i < b->ndevs; i++)
		close(b->devs[i].fd);
	free(b->v);
	free(b);
}

/* Remembers the filesystem of directory dir for syncfs; false when
 * there are too many filesystems (the caller syncs by itself). */
static bool note_dev(struct mbox_batch *b, const char *dir, dev_t dev)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (b->devs[i].dev == dev)
			return true;
	if (b->ndevs == DEVS_MAX)
		return false;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	b->devs[b->ndevs++] = (struct dev_fd){.dev = dev, .fd = fd};
	return true;
}

/*
 * Leaves the mailbox's dirty marker before its first relaxed index commit
 * (mbox_dirty.c), on a filesystem the batch's first syncfs covers.
 */
static int mark_dirty(struct mbox_batch *b, struct mbox *mb, struct err *e)
{
	if (mb->marked)
		return 0;
	char dir[MBOX_PATH_MAX];
	struct stat st;
	if (mbox_dirty_mark(mb, e) < 0)
		return -1;
	if (mbox_dirty_dir(dir, sizeof(dir), mb->path) < 0 ||
	    stat(dir, &st) < 0) {
		err_set(e, "%s: %s", mb->path, strerror(errno));
		return -1;
	}
	if (!note_dev(b, dir, st.st_dev) && dir_sync(dir, e) < 0)
		return -1;
	return 0;
}

/* Writes the parts to fd; 0 or -1 with errno. */
static int write_parts(int fd, const struct mbox_part *parts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = parts[i].data;
		size_t left = parts[i].len;
		while (left > 0) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				if (w == 0)
					errno = EIO;
				return -1;
			}
			p += w;
			left -= (size_t)w;
		}
	}
	return 0;
}

/* Runs the cache builder over the message bytes. */
static void build_cache(struct item *it, const struct mbox_new *m)
{
	if (!mbox_cache_builder)
		return;
	struct buf msg, out;
	const void *data = m->nparts ? m->parts[0].data : "";
	size_t len = m->nparts ? m->parts[0].len : 0;
	buf_init(&msg, 0);
	if (m->nparts > 1) {
		for (size_t i = 0; i < m->nparts; i++)
			(void)buf_append(&msg, m->parts[i].data, m->parts[i].len);
		data = msg.data;
		len = msg.len;
	}
	buf_init(&out, MBOX_CACHE_MAX);
	if (mbox_cache_builder(data, len, &out) == 0 && out.len > 0) {
		it->blob_len = out.len;
		it->blob = buf_take(&out);
		it->blob_version = mbox_cache_version;
	}
	buf_deinit(&out);
	buf_deinit(&msg);
}

int mbox_batch_add(struct mbox_batch *b, struct mbox_folder *f,
		   const struct mbox_new *m, int *errno_out, struct err *e)
{
	int dummy;
	if (!errno_out)
		errno_out = &dummy;
	*errno_out = 0;
	if (b->n >= MBOX_BATCH_MAX) {
		err_set(e, "batch full");
		return -1;
	}
	struct buf kw;
	buf_init(&kw, 0);
	int nkw = kw_pack(m->keywords, m->nkeywords, &kw, e);
	if (nkw < 0) {
		buf_deinit(&kw);
		return -1;
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
	}
	struct item *it = &b->v[b->n];
	memset(it, 0, sizeof(*it));
	it->f = f;
	it->flags = m->flags & MBOX_F_ALL;
	it->kw_len = kw.len;
	it->nkw = (size_t)nkw;
	it->kw = buf_take(&kw);
	it->idate = m->internal_date ? m->internal_date : (int64_t)time(NULL);
	it->tz = m->tz_minutes;
	bool cr = false;
	for (size_t i = 0; i < m->nparts; i++) {
		it->size += m->parts[i].len;
		it->vsize += mbox_crlf_size(m->parts[i].data, m->parts[i].len,
					    &cr);
	}
	char p[MBOX_PATH_MAX];
	int fd = -1;
	if (maildir_unique(it->base, sizeof(it->base), it->size, it->vsize) < 0 ||
	    item_path(p, sizeof(p), it, true) < 0) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat st;
	if (fd < 0 || write_parts(fd, m->parts, m->nparts) < 0 ||
	    fstat(fd, &st) < 0)
		goto fail;
	if (m->internal_date) {
		/* Other maildir tools take the received date from mtime. */
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT},
					 {.tv_sec = (time_t)it->idate}};
		(void)futimens(fd, ts);
	}
	it->dev = st.st_dev;
	char tmpdir[MBOX_PATH_MAX];
	if (path_join(tmpdir, sizeof(tmpdir), f->path, "tmp", NULL) < 0 ||
	    (!note_dev(b, tmpdir, st.st_dev) && fdatasync(fd) < 0))
		goto fail;
	if (mark_dirty(b, f->mb, e) < 0) {
		*errno_out = EIO;
		close(fd);
		(void)unlink(p);
		free(it->kw);
		return -1;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	build_cache(it, m);
	b->n++;
	return (int)(b->n - 1);
fail:
	*errno_out = errno;
	err_set(e, "write %s: %s", p, strerror(errno));
	if (fd >= 0) {
		close(fd);
		(void)unlink(p);
	}
	free(it->kw);
	return -1;
}

/* One syncfs per filesystem the batch wrote to. On failure every item
 * in state `from` fails. */
static int sync_all(struct mbox_batch *b, enum item_state from,
		    enum item_state to, struct err *e)
{
	int rc = 0;
	for (size_t d = 0; d < b->ndevs; d++) {
		int err_no = 0;
		if (syncfs(b->devs[d].fd) < 0)
			err_no = errno;
		for (size_t i = 0; i < b->n; i++) {
			struct item *it = &b->v[i];
			if (it->state != from || it->dev != b->devs[d].dev)
				continue;
			if (err_no)
				item_fail(it, err_no, strerror(err_no));
			else
				it->state = to;
		}
		if (err_no) {
			err_set(e, "syncfs: %s", strerror(err_no));
			rc = -1;
		}
	}
	/* Items on a filesystem beyond DEVS_MAX were synced one by one. */
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].state == from)
			b->v[i].state = to;
	return rc;
}

struct publish_ctx {
	struct mbox_batch *b;
	struct mbox *mb;
	struct buf scratch;
	/* the folders touched, with their records */
	struct mbox_folder *folders[64];
	struct folder_rec recs[64];
	bool clean[64][2];
	size_t nfolders;
};

static struct folder_rec *ctx_folder(struct db_txn *txn,
				     struct publish_ctx *c,
				     struct mbox_folder *f, size_t *slot,
				     struct err *e)
{
	for (size_t i = 0; i < c->nfolders; i++)
		if (c->folders[i]->fid == f->fid) {
			*slot = i;
			return &c->recs[i];
		}
	if (c->nfolders == 64) {
		err_set(e, "too many folders in one batch");
		return NULL;
	}
	size_t i = c->nfolders;
	if (folder_need(txn, f, &c->recs[i], e) < 0)
		return NULL;
	c->folders[i] = f;
	c->clean[i][DIR_NEW] = dir_clean_before(f, &c->recs[i], DIR_NEW);
	c->clean[i][DIR_CUR] = dir_clean_before(f, &c->recs[i], DIR_CUR);
	c->nfolders++;
	*slot = i;
	return &c->recs[i];
}

/* Renames one item into place and gives it its UID (or takes the UID a
 * concurrent sync gave the file). -1 fails the transaction; an item that
 * cannot be renamed fails alone. */
static int publish_one(struct db_txn *txn, struct publish_ctx *c,
		       struct item *it, struct err *e)
{
	size_t slot;
	struct folder_rec *fr = ctx_folder(txn, c, it->f, &slot, e);
	if (!fr)
		return -1;
	char from[MBOX_PATH_MAX], to[MBOX_PATH_MAX];
	if (item_path(from, sizeof(from), it, true) < 0 ||
	    item_path(to, sizeof(to), it, false) < 0) {
		item_fail(it, ENAMETOOLONG, "file name too long");
		return 0;
	}
	if (rename_idem(from, to) < 0) {
		item_fail(it, errno, strerror(errno));
		return 0;
	}
	it->renamed = true;
	struct msg_rec r = {.flags = it->flags,
			    .in_cur = it->flags || it->nkw,
			    .has_info = it->flags || it->nkw,
			    .tz = it->tz,
			    .idate = it->idate,
			    .size = it->size,
			    .vsize = it->vsize,
			    .base = it->base,
			    .base_len = strlen(it->base),
			    .extra = "",
			    .kw = it->kw ? it->kw : "",
			    .kw_len = it->kw_len,
			    .nkw = it->nkw};
	if (fr->uidnext == UINT32_MAX) {
		err_set(e, "folder %s: no UIDs left", it->f->name);
		return -1;
	}
	r.uid = fr->uidnext++;
	r.modseq = ++fr->highestmodseq;
	if (msg_store(txn, fr, it->f->fid, NULL, &r, &c->scratch, e) < 0)
		return -1;
	if (it->blob) {
		unsigned char k[8], vb[4];
		key_fid_uid(k, it->f->fid, r.uid);
		put_u32(vb, it->blob_version);
		buf_reset(&c->scratch);
		(void)buf_append(&c->scratch, vb, 4);
		if (buf_append(&c->scratch, it->blob, it->blob_len) < 0 ||
		    db_put(txn, T_CACHE, k, 8, c->scratch.data, c->scratch.len,
			   e) < 0)
			return -1;
	}
	it->uid = r.uid;
	it->state = ITEM_PUBLISHED;
	return 0;
}

static int publish_txn(struct db_txn *txn, void *vctx, struct err *e)
{
	struct publish_ctx *c = vctx;
	c->nfolders = 0;
	for (size_t i = 0; i < c->b->n; i++) {
		struct item *it = &c->b->v[i];
		if (it->f->mb != c->mb)
			continue;
		if (it->state == ITEM_PUBLISHED) /* a retried run */
			it->state = ITEM_SYNCED;
		if (it->state != ITEM_SYNCED)
			continue;
		if (publish_one(txn, c, it, e) < 0)
			return -1;
	}
	for (size_t i = 0; i < c->nfolders; i++) {
		struct mbox_folder *f = c->folders[i];
		dir_clean_after(f, &c->recs[i], DIR_NEW, c->clean[i][DIR_NEW]);
		dir_clean_after(f, &c->recs[i], DIR_CUR, c->clean[i][DIR_CUR]);
		if (folder_store(txn, f->name, &c->recs[i], e) < 0)
			return -1;
	}
	return 0;
}

/* Publishes the synced items of mb, as its owner. */
static void publish(struct mbox_batch *b, struct mbox *mb,
		    mbox_owner_fn owner, void *octx)
{
	struct err e = {{0}};
	if (owner && owner(octx, mb, true, &e) < 0) {
		for (size_t i = 0; i < b->n; i++)
			if (b->v[i].f->mb == mb && b->v[i].state == ITEM_SYNCED)
				item_fail(&b->v[i], 0, e.msg);
		return;
	}
	struct publish_ctx c = {.b = b, .mb = mb};
	buf_init(&c.scratch, 0);
	/* Durable with the batch's second syncfs (mbox_dirty.c). */
	mb->unsynced = true;
	if (db_write_relaxed(mb->env, publish_txn, &c, &e) < 0) {
		/* Nothing was indexed: take back what was renamed, so a
		 * retry does not deliver twice. */
		for (size_t i = 0; i < b->n; i++) {
			struct item *it = &b->v[i];
			char p[MBOX_PATH_MAX];
			if (it->f->mb != mb || it->state == ITEM_FAILED)
				continue;
			if (it->state == ITEM_WRITTEN)
				continue;
			if (it->renamed && item_path(p, sizeof(p), it, false) >= 0)
				(void)unlink(p);
			if (item_path(p, sizeof(p), it, true) >= 0)
				(void)unlink(p);
			item_fail(it, 0, e.msg);
		}
	}
	buf_deinit(&c.scratch);
	if (owner && owner(octx, mb, false, &e) < 0)
		log_panic("mbox: cannot leave the mailbox owner's ids: %s",
			  e.msg);
}

/* The relaxed commits are on disk: the mailboxes' markers can go. */
static void clear_marks(struct mbox_batch *b, mbox_owner_fn owner, void *ctx)
{
	for (size_t i = 0; i < b->n; i++) {
		struct mbox *mb = b->v[i].f->mb;
		if (!mb->marked)
			continue;
		struct err e = {{0}};
		if (owner && owner(ctx, mb, true, &e) < 0)
			continue;
		mb->unsynced = false;
		mbox_dirty_clear(mb);
		if (owner && owner(ctx, mb, false, &e) < 0)
			log_panic("mbox: cannot leave the mailbox owner's ids: "
				  "%s",
				  e.msg);
	}
}

int mbox_batch_commit(struct mbox_batch *b, mbox_owner_fn owner, void *ctx,
		      struct err *e)
{
	(void)sync_all(b, ITEM_WRITTEN, ITEM_SYNCED, e);
	for (size_t i = 0; i < b->n; i++) {
		struct mbox *mb = b->v[i].f->mb;
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			first = b->v[j].f->mb != mb;
		if (first)
			publish(b, mb, owner, ctx);
	}
	if (sync_all(b, ITEM_PUBLISHED, ITEM_DONE, e) == 0)
		clear_marks(b, owner, ctx);
	int rc = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (b->v[i].state == ITEM_DONE)
			continue;
		if (rc == 0)
			err_set(e, "%s", b->v[i].reason ? b->v[i].reason
							: "not delivered");
		rc = -1;
	}
	return rc;
}

int mbox_batch_result(const struct mbox_batch *b, size_t i, uint32_t *uid_out,
		      int *errno_out, struct err *e)
{
	if (errno_out)
		*errno_out = 0;
	if (i >= b->n) {
		err_set(e, "no such item");
		return -1;
	}
	const struct item *it = &b->v[i];
	if (it->state == ITEM_DONE) {
		*uid_out = it->uid;
		return 1;
	}
	if (it->state != ITEM_FAILED)
		return 0;
	if (errno_out)
		*errno_out = it->err_no;
	err_set(e, "%s", it->reason ? it->reason : "not delivered");
	return -1;
}

int mbox_append(struct mbox_folder *f, const struct mbox_new *m,
		uint32_t *uid_out, struct err *e)
{
	struct mbox_batch *b = mbox_batch_new();
	int rc = mbox_batch_add(b, f, m, NULL, e) < 0 ? -1 : 0;
	if (rc == 0)
		rc = mbox_batch_commit(b, NULL, NULL, e);
	if (rc == 0)
		rc = mbox_batch_result(b, 0, uid_out, NULL, e) == 1 ? 0 : -1;
	mbox_batch_free(&b);
	return rc;
}
