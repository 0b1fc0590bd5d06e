/* SPDX-License-Identifier: MIT */
/*
 * mbox.c - mailbox handles, the index helpers every operation shares
 *
 * Opens a maildir's index (one LMDB file per mailbox, mbox_impl.h lists
 * its tables), keeps one handle per maildir per process (LMDB must not
 * open one file twice in a process: closing one copy would drop the
 * other's locks), and holds the record-level helpers: load/store a folder,
 * add/remove a message while keeping the folder's counters and modseq
 * right, hand out UIDVALIDITY values. Also the session lock, status,
 * \Recent and the change watch.
 *
 * Invariants: uidnext and highestmodseq only grow; a UID is written to
 * msgs/names in the same transaction that moves uidnext past it; every
 * change to a message sets its modseq to the folder's new highestmodseq.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mbox_impl.h"
#include "common/str.h"
#include "common/xalloc.h"

static struct mbox *open_list;

mbox_cache_fn mbox_cache_builder;
unsigned mbox_cache_version;

void mbox_set_cache_builder(mbox_cache_fn fn, unsigned version)
{
	mbox_cache_builder = fn;
	mbox_cache_version = version;
}

/* ---- files ---------------------------------------------------------- */

int path_join(char *out, size_t outsz, const char *dir, const char *sub,
	      const char *name)
{
	int n;
	if (sub && name)
		n = snprintf(out, outsz, "%s/%s/%s", dir, sub, name);
	else if (sub || name)
		n = snprintf(out, outsz, "%s/%s", dir, sub ? sub : name);
	else
		n = snprintf(out, outsz, "%s", dir);
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return n;
}

int msg_path(char *out, size_t outsz, const struct mbox_folder *f,
	     const struct msg_rec *r)
{
	char name[MAILDIR_FILE_MAX + 1];
	if (maildir_name_build(name, sizeof(name), r->base, r->base_len,
			       r->has_info, r->flags, r->extra) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return path_join(out, outsz, f->path, r->in_cur ? "cur" : "new", name);
}

int64_t dir_mtime(const struct mbox_folder *f, int dir)
{
	char p[MBOX_PATH_MAX];
	struct stat st;
	if (path_join(p, sizeof(p), f->path, dir == DIR_CUR ? "cur" : "new",
		      NULL) < 0 ||
	    stat(p, &st) < 0)
		return 0;
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

bool dir_clean_before(const struct mbox_folder *f,
		      const struct folder_rec *r, int d)
{
	return r->mtime[d] != 0 && dir_mtime(f, d) == r->mtime[d];
}

void dir_clean_after(const struct mbox_folder *f, struct folder_rec *r, int d,
		     bool clean)
{
	/* Our change happened under the index's write lock, and nobody
	 * else changed the directory since it was last read: what is in it
	 * is what the index says, at the new mtime. */
	if (clean)
		r->mtime[d] = dir_mtime(f, d);
}

int rename_idem(const char *from, const char *to)
{
	if (rename(from, to) == 0)
		return 0;
	int saved = errno;
	struct stat st;
	if (saved == ENOENT && stat(from, &st) < 0 && stat(to, &st) == 0)
		return 0;
	errno = saved;
	return -1;
}

int dir_sync(const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		err_set(e, "sync %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* ---- index helpers ---------------------------------------------------- */

int folder_load(struct db_txn *txn, const struct mbox_folder *f,
		struct folder_rec *r, struct err *e)
{
	const void *v;
	size_t vl;
	int rc = db_get(txn, T_FOLDERS, f->name, strlen(f->name), &v, &vl, e);
	if (rc <= 0)
		return rc;
	if (folder_rec_decode(v, vl, r) < 0) {
		err_set(e, "%s: damaged index record of folder %s",
			f->mb->index_path, f->name);
		return -1;
	}
	return r->fid == f->fid ? 1 : 0;
}

int folder_need(struct db_txn *txn, const struct mbox_folder *f,
		struct folder_rec *r, struct err *e)
{
	int rc = folder_load(txn, f, r, e);
	if (rc == 0)
		err_set(e, "folder %s was deleted or renamed", f->name);
	return rc == 1 ? 0 : -1;
}

int folder_store(struct db_txn *txn, const char *name,
		 const struct folder_rec *r, struct err *e)
{
	unsigned char v[FOLDER_REC_LEN];
	folder_rec_encode(r, v);
	return db_put(txn, T_FOLDERS, name, strlen(name), v, sizeof(v), e);
}

int msg_load(struct db_txn *txn, uint32_t fid, uint32_t uid,
	     struct msg_rec *r, struct err *e)
{
	unsigned char k[8];
	const void *v;
	size_t vl;
	key_fid_uid(k, fid, uid);
	int rc = db_get(txn, T_MSGS, k, sizeof(k), &v, &vl, e);
	if (rc <= 0)
		return rc;
	if (msg_rec_decode(v, vl, uid, r) < 0) {
		err_set(e, "damaged index record of uid %u", uid);
		return -1;
	}
	return 1;
}

static int name_key(struct buf *b, uint32_t fid, const char *base,
		    size_t len)
{
	unsigned char k[4];
	put_u32(k, fid);
	buf_reset(b);
	return buf_append(b, k, 4) | buf_append(b, base, len);
}

int msg_store(struct db_txn *txn, struct folder_rec *fr, uint32_t fid,
	      const struct msg_rec *old, const struct msg_rec *r,
	      struct buf *scratch, struct err *e)
{
	unsigned char k[8], u[4];
	key_fid_uid(k, fid, r->uid);
	if (msg_rec_encode(r, scratch) < 0) {
		err_set(e, "message record out of bounds");
		return -1;
	}
	if (db_put(txn, T_MSGS, k, 8, scratch->data, scratch->len, e) < 0)
		return -1;
	if (!old || old->base_len != r->base_len ||
	    memcmp(old->base, r->base, r->base_len) != 0) {
		if (old) {
			if (name_key(scratch, fid, old->base, old->base_len) ||
			    db_del(txn, T_NAMES, scratch->data, scratch->len,
				   e) < 0)
				return -1;
		}
		put_u32(u, r->uid);
		if (name_key(scratch, fid, r->base, r->base_len) ||
		    db_put(txn, T_NAMES, scratch->data, scratch->len, u, 4,
			   e) < 0)
			return -1;
	}
	if (!old || old->in_cur != r->in_cur) {
		int rc = r->in_cur ? db_del(txn, T_NEW, k, 8, e)
				   : db_put(txn, T_NEW, k, 8, "", 0, e);
		if (rc < 0)
			return -1;
	}
	if (!old) {
		fr->exists++;
		fr->vsize += r->vsize;
		if (!(r->flags & MBOX_F_SEEN))
			fr->unseen++;
	} else if ((old->flags ^ r->flags) & MBOX_F_SEEN) {
		if (r->flags & MBOX_F_SEEN)
			fr->unseen -= fr->unseen ? 1 : 0;
		else
			fr->unseen++;
	}
	return 0;
}

int msg_remove(struct db_txn *txn, struct folder_rec *fr, uint32_t fid,
	       const struct msg_rec *r, struct err *e)
{
	unsigned char k[8], ms[8];
	struct buf nk;
	key_fid_uid(k, fid, r->uid);
	buf_init(&nk, 0);
	int rc = name_key(&nk, fid, r->base, r->base_len);
	/* A name may have been taken over by a newer UID (a file that
	 * vanished and came back): only drop our own. */
	const void *v;
	size_t vl;
	if (rc == 0) {
		int g = db_get(txn, T_NAMES, nk.data, nk.len, &v, &vl, e);
		if (g < 0)
			rc = -1;
		else if (g == 1 && vl == 4 && get_u32(v) == r->uid)
			rc = db_del(txn, T_NAMES, nk.data, nk.len, e);
	}
	buf_deinit(&nk);
	if (rc < 0 || db_del(txn, T_MSGS, k, 8, e) < 0 ||
	    db_del(txn, T_NEW, k, 8, e) < 0 ||
	    db_del(txn, T_CACHE, k, 8, e) < 0)
		return -1;
	put_u64(ms, ++fr->highestmodseq);
	if (db_put(txn, T_EXP, k, 8, ms, 8, e) < 0)
		return -1;
	fr->exists -= fr->exists ? 1 : 0;
	fr->vsize -= fr->vsize >= r->vsize ? r->vsize : fr->vsize;
	if (!(r->flags & MBOX_F_SEEN))
		fr->unseen -= fr->unseen ? 1 : 0;
	return 0;
}

static int meta_get_u32(struct db_txn *txn, const char *key, uint32_t *out,
			struct err *e)
{
	const void *v;
	size_t vl;
	int rc = db_get(txn, T_META, key, strlen(key), &v, &vl, e);
	*out = 0;
	if (rc == 1 && vl == 4)
		*out = get_u32(v);
	return rc < 0 ? -1 : 0;
}

static int meta_put_u32(struct db_txn *txn, const char *key, uint32_t val,
			struct err *e)
{
	unsigned char v[4];
	put_u32(v, val);
	return db_put(txn, T_META, key, strlen(key), v, 4, e);
}

/* The UIDVALIDITY kept beside the index, for an index rebuilt from
 * nothing: 0 when there is none. */
static uint32_t uidvalidity_file_read(const struct mbox *mb)
{
	char p[MBOX_PATH_MAX], text[16];
	uint64_t v;
	if (path_join(p, sizeof(p), mb->path, MBOX_UIDVALIDITY_FILE, NULL) < 0)
		return 0;
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (text[n - 1] == '\n')
		text[--n] = '\0';
	return parse_uint(text, 1, UINT32_MAX, &v) == 0 ? (uint32_t)v : 0;
}

static int uidvalidity_file_write(const struct mbox *mb, uint32_t val,
				  struct err *e)
{
	char p[MBOX_PATH_MAX], tmp[MBOX_PATH_MAX], text[16];
	if (path_join(p, sizeof(p), mb->path, MBOX_UIDVALIDITY_FILE, NULL) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.%ld", p, (long)getpid()) >=
		    (int)sizeof(tmp)) {
		err_set(e, "%s: path too long", mb->path);
		return -1;
	}
	int n = snprintf(text, sizeof(text), "%u\n", val);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      0600);
	if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) < 0) {
		err_set(e, "write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		(void)unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, p) < 0) {
		err_set(e, "rename %s: %s", tmp, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

int uidvalidity_next(struct db_txn *txn, struct mbox *mb, uint32_t *out,
		     struct err *e)
{
	uint32_t last;
	if (meta_get_u32(txn, "uidvalidity", &last, e) < 0)
		return -1;
	uint32_t file = uidvalidity_file_read(mb);
	if (file > last)
		last = file;
	/* Time-based like other servers, but always above any value given
	 * before, even with the clock set back. */
	uint32_t v = (uint32_t)time(NULL);
	if (v <= last)
		v = last + 1;
	if (v == 0)
		v = 1;
	if (meta_put_u32(txn, "uidvalidity", v, e) < 0 ||
	    uidvalidity_file_write(mb, v, e) < 0)
		return -1;
	*out = v;
	return 0;
}

/* Deletes every key of table that starts with fid. */
static int purge_prefix(struct db_txn *txn, const char *table, uint32_t fid,
			struct err *e)
{
	struct db_cursor *c;
	unsigned char k[4];
	put_u32(k, fid);
	if (db_cursor_open(txn, table, &c, e) < 0)
		return -1;
	int rc;
	for (;;) {
		const void *key = k, *val;
		size_t klen = 4, vlen;
		rc = db_cursor_get(c, DB_SET_RANGE, &key, &klen, &val, &vlen,
				   e);
		if (rc <= 0 || klen < 4 || memcmp(key, k, 4) != 0)
			break;
		if ((rc = db_cursor_del(c, e)) < 0)
			break;
	}
	db_cursor_close(&c);
	return rc < 0 ? -1 : 0;
}

int fid_purge(struct db_txn *txn, uint32_t fid, struct err *e)
{
	static const char *const tables[] = {T_MSGS, T_NAMES, T_NEW, T_EXP,
					     T_CACHE};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (purge_prefix(txn, tables[i], fid, e) < 0)
			return -1;
	return 0;
}

/* ---- mailboxes -------------------------------------------------------- */

static int init_index(struct db_txn *txn, void *ctx, struct err *e)
{
	(void)ctx;
	uint32_t version, next;
	if (meta_get_u32(txn, "version", &version, e) < 0 ||
	    meta_get_u32(txn, "next_fid", &next, e) < 0)
		return -1;
	if (version > 1) {
		err_set(e, "index version %u is newer than this program",
			version);
		return -1;
	}
	if (version == 0 && meta_put_u32(txn, "version", 1, e) < 0)
		return -1;
	if (next == 0 && meta_put_u32(txn, "next_fid", 1, e) < 0)
		return -1;
	return 0;
}

static int index_ready(struct db_env *env, struct err *e)
{
	struct db_txn *txn;
	uint32_t version = 0, next = 0;
	if (db_read_begin(env, &txn, e) < 0)
		return -1;
	int rc = meta_get_u32(txn, "version", &version, e);
	if (rc == 0)
		rc = meta_get_u32(txn, "next_fid", &next, e);
	db_txn_end(&txn);
	if (rc < 0)
		return -1;
	return version == 1 && next != 0;
}

/* A damaged index is no reason to stop delivering mail: the maildir
 * holds every message, so the index is built again (new UIDVALIDITYs). */
static bool damaged(const struct err *e)
{
	return strstr(e->msg, "MDB_INVALID") ||
	       strstr(e->msg, "MDB_CORRUPTED") ||
	       strstr(e->msg, "MDB_PAGE_NOTFOUND");
}

static int open_index(struct mbox *mb, struct err *e)
{
	if (db_open(&mb->env, mb->index_path, DB_NOSUBDIR | DB_CREATE,
		    MBOX_TABLES, e) == 0)
		return 0;
	if (!damaged(e))
		return -1;
	char why[sizeof(e->msg) + 32];
	(void)snprintf(why, sizeof(why), "index unreadable (%s)", e->msg);
	if (mbox_index_aside(mb->path, why, e) < 0)
		return -1;
	return db_open(&mb->env, mb->index_path, DB_NOSUBDIR | DB_CREATE,
		       MBOX_TABLES, e);
}

int mbox_open(struct mbox **out, const char *path, unsigned flags,
	      struct err *e)
{
	struct stat st;
	char p[MBOX_PATH_MAX];
	*out = NULL;
	if (flags & MBOX_CREATE) {
		if (maildir_make(path, false, true, e) < 0)
			return -1;
	}
	if (path_join(p, sizeof(p), path, "cur", NULL) < 0) {
		err_set(e, "%s: path too long", path);
		return -1;
	}
	if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (errno == ENOENT || errno == ENOTDIR || !S_ISDIR(st.st_mode))
			return 0;
		err_set(e, "%s: %s", p, strerror(errno));
		return -1;
	}
	if (stat(path, &st) < 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (struct mbox *m = open_list; m; m = m->next)
		if (m->pid == getpid() && m->dev == st.st_dev &&
		    m->ino == st.st_ino) {
			m->refs++;
			*out = m;
			return 1;
		}
	struct mbox *mb = xcalloc(1, sizeof(*mb));
	mb->path = xstrdup(path);
	mb->index_path = xasprintf("%s/%s", path, MBOX_INDEX_FILE);
	mb->dev = st.st_dev;
	mb->ino = st.st_ino;
	mb->pid = getpid();
	mb->refs = 1;
	mb->marker_fd = -1;
	int ready = -1;
	if (mbox_dirty_check(path, e) == 0 && open_index(mb, e) == 0)
		ready = index_ready(mb->env, e);
	if (ready == 0)
		ready = db_write(mb->env, init_index, NULL, e) == 0 ? 1 : -1;
	if (ready > 0 && stat(mb->index_path, &st) == 0)
		mb->index_ino = st.st_ino;
	if (ready < 0) {
		db_close(&mb->env);
		free(mb->path);
		free(mb->index_path);
		free(mb);
		return -1;
	}
	mb->next = open_list;
	open_list = mb;
	*out = mb;
	return 1;
}

void mbox_close(struct mbox **mbp)
{
	struct mbox *mb = *mbp;
	if (!mb)
		return;
	*mbp = NULL;
	if (--mb->refs > 0)
		return;
	for (struct mbox **pp = &open_list; *pp; pp = &(*pp)->next)
		if (*pp == mb) {
			*pp = mb->next;
			break;
		}
	if (mb->unsynced) {
		/* A batch that did not finish: its relaxed commits must be
		 * on disk before the marker goes. */
		int fd = open(mb->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && syncfs(fd) == 0)
			mb->unsynced = false;
		if (fd >= 0)
			close(fd);
	}
	mbox_dirty_close(mb);
	db_close(&mb->env);
	free(mb->path);
	free(mb->index_path);
	free(mb);
}

bool mbox_stale(const struct mbox *mb)
{
	struct stat st;
	if (stat(mb->path, &st) < 0 || st.st_dev != mb->dev ||
	    st.st_ino != mb->ino)
		return true;
	return stat(mb->index_path, &st) < 0 || st.st_ino != mb->index_ino;
}

const char *mbox_path(const struct mbox *mb)
{
	return mb->path;
}

int mbox_lock_session(struct mbox *mb, int *fd_out, struct err *e)
{
	char p[MBOX_PATH_MAX];
	*fd_out = -1;
	if (path_join(p, sizeof(p), mb->path, MBOX_LOCK_FILE, NULL) < 0) {
		err_set(e, "%s: path too long", mb->path);
		return -1;
	}
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err_set(e, "open %s: %s", p, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int saved = errno;
		close(fd);
		if (saved == EWOULDBLOCK)
			return 0;
		err_set(e, "lock %s: %s", p, strerror(saved));
		return -1;
	}
	*fd_out = fd;
	return 1;
}

/* ---- status, \Recent, watching ---------------------------------------- */

int mbox_folder_status(struct mbox_folder *f, struct mbox_status *out,
		       struct err *e)
{
	struct db_txn *txn;
	struct folder_rec r;
	memset(out, 0, sizeof(*out));
	if (db_read_begin(f->mb->env, &txn, e) < 0)
		return -1;
	int rc = folder_need(txn, f, &r, e);
	struct db_cursor *c = NULL;
	if (rc == 0)
		rc = db_cursor_open(txn, T_MSGS, &c, e);
	uint32_t recent = 0;
	if (rc == 0) {
		unsigned char k[8];
		key_fid_uid(k, f->fid, r.first_recent);
		const void *key = k, *val;
		size_t klen = 8, vlen;
		int g = db_cursor_get(c, DB_SET_RANGE, &key, &klen, &val,
				      &vlen, e);
		while (g == 1 && klen == 8 && get_u32(key) == f->fid) {
			recent++;
			g = db_cursor_get(c, DB_NEXT, &key, &klen, &val, &vlen,
					  e);
		}
		if (g < 0)
			rc = -1;
	}
	db_cursor_close(&c);
	db_txn_end(&txn);
	if (rc < 0)
		return -1;
	out->uidvalidity = r.uidvalidity;
	out->uidnext = r.uidnext;
	out->highestmodseq = r.highestmodseq;
	out->exists = r.exists;
	out->unseen = r.unseen;
	out->recent = recent;
	out->first_recent = r.first_recent;
	out->vsize = r.vsize;
	out->special_use = r.special_use;
	return 0;
}

struct recent_ctx {
	struct mbox_folder *f;
	uint32_t first, end;
};

static int take_recent(struct db_txn *txn, void *ctx, struct err *e)
{
	struct recent_ctx *rc = ctx;
	struct folder_rec r;
	if (folder_need(txn, rc->f, &r, e) < 0)
		return -1;
	rc->first = r.first_recent;
	rc->end = r.uidnext;
	if (r.first_recent == r.uidnext)
		return 0;
	r.first_recent = r.uidnext;
	return folder_store(txn, rc->f->name, &r, e);
}

int mbox_folder_take_recent(struct mbox_folder *f, uint32_t *first_out,
			    uint32_t *end_out, struct err *e)
{
	struct recent_ctx rc = {.f = f};
	if (db_write(f->mb->env, take_recent, &rc, e) < 0)
		return -1;
	*first_out = rc.first;
	*end_out = rc.end;
	return 0;
}

int mbox_watch_open(struct mbox_folder *f, struct err *e)
{
	char p[MBOX_PATH_MAX];
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		err_set(e, "inotify: %s", strerror(errno));
		return -1;
	}
	const uint32_t dir_events = IN_CREATE | IN_DELETE | IN_MOVED_FROM |
				    IN_MOVED_TO | IN_ONLYDIR;
	const char *subs[] = {"new", "cur"};
	for (int i = 0; i < 2; i++) {
		if (path_join(p, sizeof(p), f->path, subs[i], NULL) < 0 ||
		    inotify_add_watch(fd, p, dir_events) < 0)
			goto fail;
	}
	/* Index commits write the file (LMDB writes with pwrite). */
	if (inotify_add_watch(fd, f->mb->index_path, IN_MODIFY) < 0)
		goto fail;
	return fd;
fail:
	err_set(e, "inotify watch %s: %s", p, strerror(errno));
	close(fd);
	return -1;
}

void mbox_watch_drain(int fd)
{
	char b[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(fd, b, sizeof(b)) > 0)
		;
}

uint64_t mbox_crlf_size(const void *data, size_t len, bool *prev_cr)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t n = len;
	for (const unsigned char *lf = p;
	     (lf = memchr(lf, '\n', (size_t)(end - lf))) != NULL; lf++) {
		bool cr = lf > p ? lf[-1] == '\r' : *prev_cr;
		if (!cr)
			n++;
	}
	if (len > 0)
		*prev_cr = end[-1] == '\r';
	return n;
}
