/* SPDX-License-Identifier: MIT */
/*
 * mbox_folder.c - folders of a mailbox: open, create, delete, rename,
 * list, subscriptions, special-use attributes
 *
 * A folder exists when its Maildir++ directory has a cur/ (the maildir is
 * the truth); its index record (UIDVALIDITY, UIDNEXT, counters) is made
 * the first time the folder is opened, so directories made by other tools
 * are adopted. A record whose directory is gone is stale: it is replaced
 * when the folder is made again, with a new UIDVALIDITY, so UIDs are
 * never reused under one UIDVALIDITY.
 *
 * Directory changes that must look atomic to other processes (delete,
 * rename) are single rename(2) calls; a deleted folder is first renamed to
 * a name no reader takes for a folder ("..trash...") and then removed.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mbox_impl.h"
#include "common/str.h"
#include "common/xalloc.h"

int mbox_name_check(const char *name, struct err *e)
{
	char dir[MBOX_NAME_MAX + 2];
	return maildir_folder_dir(name, dir, sizeof(dir), e) < 0 ? -1 : 0;
}

const char *mbox_folder_name(const struct mbox_folder *f)
{
	return f->name;
}

const char *mbox_folder_path(const struct mbox_folder *f)
{
	return f->path;
}

struct mbox *mbox_folder_mbox(const struct mbox_folder *f)
{
	return f->mb;
}

/* The canonical name and directory of a folder name. -1 with e. */
static int folder_paths(const struct mbox *mb, const char *name,
			char **canon_out, char **path_out, struct err *e)
{
	char dir[MBOX_NAME_MAX + 2];
	if (maildir_folder_dir(name, dir, sizeof(dir), e) < 0)
		return -1;
	if (dir[0] == '\0') {
		*canon_out = xstrdup(MBOX_INBOX);
		*path_out = xstrdup(mb->path);
	} else {
		*canon_out = xstrdup(name);
		*path_out = xasprintf("%s/%s", mb->path, dir);
	}
	return 0;
}

/* 1 when dir/cur is a directory, 0 when not, -1 with e. */
static int has_cur(const char *dir, struct err *e)
{
	char p[MBOX_PATH_MAX];
	struct stat st;
	if (path_join(p, sizeof(p), dir, "cur", NULL) < 0) {
		err_set(e, "%s: path too long", dir);
		return -1;
	}
	if (stat(p, &st) == 0)
		return S_ISDIR(st.st_mode) ? 1 : 0;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	err_set(e, "%s: %s", p, strerror(errno));
	return -1;
}

struct ensure_ctx {
	struct mbox *mb;
	const char *name;
	unsigned special_use;
	bool replace; /* a record that exists is stale: replace it */
	uint32_t fid;
};

/* Gives name a folder record if it has none (or replaces a stale one). */
static int ensure_rec(struct db_txn *txn, void *vctx, struct err *e)
{
	struct ensure_ctx *c = vctx;
	const void *v;
	size_t vl;
	struct folder_rec r;
	int rc = db_get(txn, T_FOLDERS, c->name, strlen(c->name), &v, &vl, e);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (folder_rec_decode(v, vl, &r) < 0) {
			err_set(e, "damaged index record of folder %s",
				c->name);
			return -1;
		}
		if (!c->replace) {
			c->fid = r.fid;
			return 0;
		}
		if (fid_purge(txn, r.fid, e) < 0)
			return -1;
	}
	const void *nv;
	size_t nl;
	rc = db_get(txn, T_META, "next_fid", 8, &nv, &nl, e);
	if (rc < 0)
		return -1;
	uint32_t fid = rc == 1 && nl == 4 ? get_u32(nv) : 1;
	if (fid == 0 || fid == UINT32_MAX) {
		err_set(e, "no folder numbers left in the index");
		return -1;
	}
	unsigned char nb[4];
	put_u32(nb, fid + 1);
	memset(&r, 0, sizeof(r));
	r.fid = fid;
	r.uidnext = 1;
	r.first_recent = 1;
	r.highestmodseq = 1;
	r.special_use = c->special_use & MBOX_SU_MASK;
	if (db_put(txn, T_META, "next_fid", 8, nb, 4, e) < 0 ||
	    uidvalidity_next(txn, c->mb, &r.uidvalidity, e) < 0 ||
	    folder_store(txn, c->name, &r, e) < 0)
		return -1;
	c->fid = fid;
	return 0;
}

/* Reads the fid of name: 1 found, 0 no record, -1. */
static int rec_fid(struct mbox *mb, const char *name, uint32_t *fid,
		   struct err *e)
{
	struct db_txn *txn;
	const void *v;
	size_t vl;
	struct folder_rec r;
	if (db_read_begin(mb->env, &txn, e) < 0)
		return -1;
	int rc = db_get(txn, T_FOLDERS, name, strlen(name), &v, &vl, e);
	if (rc == 1 && folder_rec_decode(v, vl, &r) < 0) {
		err_set(e, "damaged index record of folder %s", name);
		rc = -1;
	}
	db_txn_end(&txn);
	if (rc == 1)
		*fid = r.fid;
	return rc;
}

int mbox_folder_open(struct mbox *mb, const char *name,
		     struct mbox_folder **out, struct err *e)
{
	char *canon, *path;
	*out = NULL;
	if (folder_paths(mb, name, &canon, &path, e) < 0)
		return -1;
	uint32_t fid = 0;
	int rc = has_cur(path, e);
	if (rc == 1)
		rc = rec_fid(mb, canon, &fid, e);
	if (rc == 0 && has_cur(path, e) == 1) {
		struct ensure_ctx c = {.mb = mb, .name = canon};
		rc = db_write(mb->env, ensure_rec, &c, e) < 0 ? -1 : 1;
		fid = c.fid;
	} else if (rc == 0) {
		free(canon);
		free(path);
		return 0;
	}
	if (rc < 0) {
		free(canon);
		free(path);
		return -1;
	}
	struct mbox_folder *f = xcalloc(1, sizeof(*f));
	f->mb = mb;
	mb->refs++;
	f->name = canon;
	f->path = path;
	f->fid = fid;
	*out = f;
	return 1;
}

void mbox_folder_close(struct mbox_folder **fp)
{
	struct mbox_folder *f = *fp;
	if (!f)
		return;
	*fp = NULL;
	mbox_close(&f->mb);
	free(f->name);
	free(f->path);
	free(f);
}

struct drop_ctx {
	const char *name;
	bool only_stale; /* keep the record when the directory exists */
	const char *path;
};

static int drop_rec(struct db_txn *txn, void *vctx, struct err *e)
{
	struct drop_ctx *c = vctx;
	const void *v;
	size_t vl;
	struct folder_rec r;
	int rc = db_get(txn, T_FOLDERS, c->name, strlen(c->name), &v, &vl, e);
	if (rc <= 0)
		return rc;
	if (c->only_stale && has_cur(c->path, e) != 0)
		return 0;
	if (folder_rec_decode(v, vl, &r) == 0 && fid_purge(txn, r.fid, e) < 0)
		return -1;
	return db_del(txn, T_FOLDERS, c->name, strlen(c->name), e);
}

int mbox_folder_create(struct mbox *mb, const char *name, unsigned special_use,
		       struct err *e)
{
	char *canon, *path;
	if (folder_paths(mb, name, &canon, &path, e) < 0)
		return -1;
	int rc = -1;
	if (strcmp(canon, MBOX_INBOX) == 0) {
		rc = 0;
		goto out;
	}
	/* A record left by a folder whose directory vanished is stale. */
	struct drop_ctx d = {.name = canon, .only_stale = true, .path = path};
	if (db_write(mb->env, drop_rec, &d, e) < 0)
		goto out;
	if (mkdir(path, 0700) < 0) {
		if (errno == EEXIST)
			rc = 0;
		else
			err_set(e, "mkdir %s: %s", path, strerror(errno));
		goto out;
	}
	if (maildir_make(path, true, false, e) < 0)
		goto out;
	struct ensure_ctx c = {.mb = mb, .name = canon,
			       .special_use = special_use};
	if (db_write(mb->env, ensure_rec, &c, e) < 0)
		goto out;
	rc = 1;
out:
	free(canon);
	free(path);
	return rc;
}

static int rm_one(const char *p, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (type == FTW_DP)
		return rmdir(p) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(p) < 0 && errno != ENOENT ? -1 : 0;
}

int mbox_folder_delete(struct mbox *mb, const char *name, struct err *e)
{
	static unsigned counter;
	char *canon, *path;
	if (folder_paths(mb, name, &canon, &path, e) < 0)
		return -1;
	int rc = -1;
	char *trash = NULL;
	if (strcmp(canon, MBOX_INBOX) == 0) {
		err_set(e, "INBOX cannot be deleted");
		goto out;
	}
	trash = xasprintf("%s/..trash.%ld.%u", mb->path, (long)getpid(),
			  ++counter);
	bool gone = false;
	if (rename(path, trash) < 0) {
		if (errno != ENOENT) {
			err_set(e, "rename %s: %s", path, strerror(errno));
			goto out;
		}
		gone = true;
	}
	struct drop_ctx d = {.name = canon};
	if (db_write(mb->env, drop_rec, &d, e) < 0)
		goto out;
	if (!gone && nftw(trash, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		log_warn("%s: cannot remove all of %s: %s", mb->path, trash,
			 strerror(errno));
	rc = gone ? 0 : 1;
out:
	free(trash);
	free(canon);
	free(path);
	return rc;
}

/* The directory names (".X") of the maildir's folders, sorted. */
static int list_dirs(const struct mbox *mb, struct strv *out, struct err *e)
{
	DIR *d = opendir(mb->path);
	if (!d) {
		err_set(e, "opendir %s: %s", mb->path, strerror(errno));
		return -1;
	}
	char name[MBOX_NAME_MAX + 2];
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] != '.' || out->n >= MBOX_FOLDERS_MAX ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) ||
		    maildir_folder_from_dir(de->d_name, len, name,
					    sizeof(name)) < 0)
			continue;
		char *p = xasprintf("%s/%s", mb->path, de->d_name);
		int ok = has_cur(p, NULL);
		free(p);
		if (ok == 1)
			strv_push(out, de->d_name);
	}
	closedir(d);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct rename_ctx {
	struct mbox *mb;
	const char *from, *to;
	struct strv *from_dirs, *to_dirs;
};

/* Moves the directories, then re-keys the folder records under the new
 * names. Inside the write lock so nobody sees one without the other. */
static int rename_recs(struct db_txn *txn, void *vctx, struct err *e)
{
	struct rename_ctx *c = vctx;
	size_t flen = strlen(c->from);
	for (size_t i = 0; i < c->from_dirs->n; i++) {
		char *a = xasprintf("%s/%s", c->mb->path, c->from_dirs->v[i]);
		char *b = xasprintf("%s/%s", c->mb->path, c->to_dirs->v[i]);
		int r = rename_idem(a, b);
		if (r < 0)
			err_set(e, "rename %s: %s", a, strerror(errno));
		free(a);
		free(b);
		if (r < 0)
			return -1;
	}
	struct strv names;
	strv_init(&names);
	struct db_cursor *cur;
	if (db_cursor_open(txn, T_FOLDERS, &cur, e) < 0)
		return -1;
	const void *k = c->from, *v;
	size_t kl = flen, vl;
	int rc = db_cursor_get(cur, DB_SET_RANGE, &k, &kl, &v, &vl, e);
	while (rc == 1 && kl >= flen && memcmp(k, c->from, flen) == 0) {
		if (kl == flen || ((const char *)k)[flen] == '/')
			strv_pushn(&names, k, kl);
		rc = db_cursor_get(cur, DB_NEXT, &k, &kl, &v, &vl, e);
	}
	db_cursor_close(&cur);
	for (size_t i = 0; rc >= 0 && i < names.n; i++) {
		const char *old = names.v[i];
		char *nn = xasprintf("%s%s", c->to, old + flen);
		struct drop_ctx d = {.name = nn};
		int g = db_get(txn, T_FOLDERS, old, strlen(old), &v, &vl, e);
		unsigned char copy[FOLDER_REC_LEN];
		if (g == 1 && vl == sizeof(copy)) {
			memcpy(copy, v, vl);
			if (drop_rec(txn, &d, e) < 0 ||
			    db_put(txn, T_FOLDERS, nn, strlen(nn), copy,
				   sizeof(copy), e) < 0 ||
			    db_del(txn, T_FOLDERS, old, strlen(old), e) < 0)
				g = -1;
		}
		free(nn);
		if (g < 0)
			rc = -1;
	}
	strv_deinit(&names);
	return rc < 0 ? -1 : 0;
}

static int rename_inbox(struct mbox *mb, const char *to, struct err *e);

int mbox_folder_rename(struct mbox *mb, const char *from, const char *to,
		       struct err *e)
{
	char fdir[MBOX_NAME_MAX + 2], tdir[MBOX_NAME_MAX + 2];
	if (maildir_folder_dir(from, fdir, sizeof(fdir), e) < 0 ||
	    maildir_folder_dir(to, tdir, sizeof(tdir), e) < 0)
		return -1;
	if (tdir[0] == '\0') {
		err_set(e, "cannot rename a folder to INBOX");
		return -1;
	}
	if (fdir[0] == '\0')
		return rename_inbox(mb, to, e);
	size_t fl = strlen(fdir), tl = strlen(tdir);
	if (strcmp(fdir, tdir) == 0 ||
	    (tl > fl && memcmp(tdir, fdir, fl) == 0 && tdir[fl] == '.')) {
		err_set(e, "cannot rename a folder into itself");
		return -1;
	}
	struct strv all, fromv, tov;
	strv_init(&all);
	strv_init(&fromv);
	strv_init(&tov);
	int rc = list_dirs(mb, &all, e);
	bool found = false;
	for (size_t i = 0; rc == 0 && i < all.n; i++) {
		const char *d = all.v[i];
		if (strncmp(d, fdir, fl) != 0 || (d[fl] && d[fl] != '.'))
			continue;
		found |= d[fl] == '\0';
		char *nd = xasprintf("%s%s", tdir, d + fl);
		if (strlen(nd) > MBOX_NAME_MAX + 1) {
			err_set(e, "new folder name too long");
			rc = -1;
		} else {
			char *p = xasprintf("%s/%s", mb->path, nd);
			struct stat st;
			if (lstat(p, &st) == 0) {
				err_set(e, "folder %s exists already", to);
				rc = -1;
			}
			free(p);
		}
		strv_push(&fromv, d);
		strv_push(&tov, nd);
		free(nd);
	}
	if (rc == 0 && found) {
		struct rename_ctx c = {.mb = mb, .from = from, .to = to,
				       .from_dirs = &fromv, .to_dirs = &tov};
		rc = db_write(mb->env, rename_recs, &c, e) < 0 ? -1 : 1;
	}
	strv_deinit(&all);
	strv_deinit(&fromv);
	strv_deinit(&tov);
	return rc;
}

#define SLICE 1024

struct slice {
	uint32_t uids[SLICE];
	size_t n;
};

static int collect(void *ctx, const struct mbox_msg *m)
{
	struct slice *s = ctx;
	s->uids[s->n++] = m->uid;
	return s->n == SLICE ? 1 : 0;
}

/* RFC 3501 6.3.5: renaming INBOX moves its messages to a new folder. */
static int rename_inbox(struct mbox *mb, const char *to, struct err *e)
{
	struct mbox_folder *src = NULL, *dst = NULL;
	int rc = mbox_folder_create(mb, to, 0, e);
	if (rc == 0)
		err_set(e, "folder %s exists already", to);
	if (rc <= 0)
		return -1;
	rc = -1;
	if (mbox_folder_open(mb, MBOX_INBOX, &src, e) != 1 ||
	    mbox_folder_open(mb, to, &dst, e) != 1 ||
	    mbox_folder_sync(src, 0, NULL, e) < 0)
		goto out;
	struct slice *s = xmalloc(sizeof(*s));
	uint32_t *dst_uids = xcalloc(SLICE, sizeof(*dst_uids));
	/* In slices, so no transaction grows without bound. */
	int r;
	do {
		s->n = 0;
		r = mbox_msg_iter(src, 1, UINT32_MAX, collect, s, e);
		if (r >= 0)
			r = mbox_move(src, s->uids, s->n, dst, dst_uids, e);
	} while (r >= 0 && s->n == SLICE);
	if (r >= 0)
		rc = 1;
	free(s);
	free(dst_uids);
out:
	mbox_folder_close(&src);
	mbox_folder_close(&dst);
	return rc;
}

struct su_ctx {
	struct mbox_folder *f;
	unsigned su;
};

static int set_su(struct db_txn *txn, void *vctx, struct err *e)
{
	struct su_ctx *c = vctx;
	struct folder_rec r;
	if (folder_need(txn, c->f, &r, e) < 0)
		return -1;
	r.special_use = c->su & MBOX_SU_MASK;
	return folder_store(txn, c->f->name, &r, e);
}

int mbox_folder_set_special_use(struct mbox *mb, const char *name,
				unsigned special_use, struct err *e)
{
	struct mbox_folder *f;
	int rc = mbox_folder_open(mb, name, &f, e);
	if (rc <= 0)
		return rc;
	struct su_ctx c = {.f = f, .su = special_use};
	rc = db_write(mb->env, set_su, &c, e) < 0 ? -1 : 1;
	mbox_folder_close(&f);
	return rc;
}

int mbox_folder_list(struct mbox *mb, mbox_folder_fn fn, void *ctx,
		     struct err *e)
{
	struct strv dirs;
	strv_init(&dirs);
	if (list_dirs(mb, &dirs, e) < 0) {
		strv_deinit(&dirs);
		return -1;
	}
	size_t n = dirs.n + 1;
	char **names = xcalloc(n, sizeof(*names));
	names[0] = xstrdup(MBOX_INBOX);
	for (size_t i = 0; i < dirs.n; i++) {
		names[i + 1] = xstrdup(dirs.v[i] + 1);
		for (char *p = names[i + 1]; *p; p++)
			if (*p == '.')
				*p = '/';
	}
	strv_deinit(&dirs);
	qsort(names + 1, n - 1, sizeof(*names), cmp_str);
	unsigned *su = xcalloc(n, sizeof(*su));
	bool *sub = xcalloc(n, sizeof(*sub));
	struct db_txn *txn;
	int rc = db_read_begin(mb->env, &txn, e);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const void *v;
		size_t vl;
		struct folder_rec r;
		size_t len = strlen(names[i]);
		int g = db_get(txn, T_FOLDERS, names[i], len, &v, &vl, e);
		if (g == 1 && folder_rec_decode(v, vl, &r) == 0)
			su[i] = r.special_use;
		int s = db_get(txn, T_SUBS, names[i], len, &v, &vl, e);
		sub[i] = s == 1;
		if (g < 0 || s < 0)
			rc = -1;
	}
	db_txn_end(&txn);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct mbox_folder_info fi = {.name = names[i],
					      .special_use = su[i],
					      .subscribed = sub[i]};
		rc = fn(ctx, &fi);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(su);
	free(sub);
	return rc;
}

struct sub_ctx {
	const char *name;
	bool on;
};

static int set_sub(struct db_txn *txn, void *vctx, struct err *e)
{
	struct sub_ctx *c = vctx;
	size_t len = strlen(c->name);
	if (c->on)
		return db_put(txn, T_SUBS, c->name, len, "", 0, e);
	return db_del(txn, T_SUBS, c->name, len, e);
}

int mbox_subscribe(struct mbox *mb, const char *name, bool subscribed,
		   struct err *e)
{
	if (mbox_name_check(name, e) < 0)
		return -1;
	struct sub_ctx c = {.name = maildir_is_inbox(name) ? MBOX_INBOX : name,
			    .on = subscribed};
	return db_write(mb->env, set_sub, &c, e);
}

int mbox_subscriptions(struct mbox *mb, mbox_name_fn fn, void *ctx,
		       struct err *e)
{
	struct strv names;
	struct db_txn *txn;
	struct db_cursor *c = NULL;
	strv_init(&names);
	int rc = db_read_begin(mb->env, &txn, e);
	if (rc == 0)
		rc = db_cursor_open(txn, T_SUBS, &c, e);
	const void *k, *v;
	size_t kl, vl;
	for (int op = DB_FIRST; rc == 0; op = DB_NEXT) {
		int g = db_cursor_get(c, (enum db_seek)op, &k, &kl, &v, &vl, e);
		if (g <= 0) {
			rc = g;
			break;
		}
		strv_pushn(&names, k, kl);
	}
	db_cursor_close(&c);
	db_txn_end(&txn);
	for (size_t i = 0; rc == 0 && i < names.n; i++)
		rc = fn(ctx, names.v[i]);
	strv_deinit(&names);
	return rc;
}
