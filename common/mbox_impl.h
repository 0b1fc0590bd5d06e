/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MBOX_IMPL_H
#define POSTHORN_COMMON_MBOX_IMPL_H

/*
 * Internals shared by the mbox*.c files: handles, index records and the
 * helpers every operation uses. Not for callers of mbox.h.
 *
 * Index tables (all keys and numbers big-endian, so cursors walk in
 * order; fid is a folder's number, never reused within an index):
 *   meta      "version" -> u32; "next_fid" -> u32; "uidvalidity" -> u32
 *             (the highest given out)
 *   folders   canonical name -> folder record
 *   msgs      fid.uid -> message record
 *   names     fid.<file base name> -> uid (finds a file's UID on a scan)
 *   innew     fid.uid -> "" for messages whose file is in new/
 *   expunged  fid.uid -> u64 modseq of the expunge
 *   cache     fid.uid -> u32 version, blob
 *   subs      name -> "" (subscriptions)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/db.h"
#include "common/err.h"
#include "common/maildir.h"
#include "common/mbox.h"

#define T_META "meta"
#define T_FOLDERS "folders"
#define T_MSGS "msgs"
#define T_NAMES "names"
#define T_NEW "innew"
#define T_EXP "expunged"
#define T_CACHE "cache"
#define T_SUBS "subs"
#define MBOX_TABLES 16

#define MBOX_INDEX_FILE "posthorn.lmdb"
#define MBOX_UIDVALIDITY_FILE "posthorn.uidvalidity"
#define MBOX_LOCK_FILE "posthorn.session.lock"
#define MBOX_DIRTY_DIR "posthorn.dirty"
#define MBOX_REBUILD_LOCK "posthorn.rebuild.lock"
#define MBOX_PATH_MAX 4096

struct mbox {
	char *path;       /* the maildir */
	char *index_path; /* path/posthorn.lmdb */
	struct db_env *env;
	dev_t dev;
	ino_t ino;
	ino_t index_ino; /* of index_path when opened (mbox_stale) */
	pid_t pid;
	unsigned refs;
	struct mbox *next; /* the process's open mailboxes */
	bool marked;   /* this process's marker says dirty */
	bool unsynced; /* relaxed index commits not yet on disk */
	int marker_fd; /* this process's marker file, or -1 */
};

struct mbox_folder {
	struct mbox *mb;
	char *name; /* canonical */
	char *path; /* directory holding cur/ new/ tmp/ */
	uint32_t fid;
};

/* Directory index for per-directory state. */
enum { DIR_NEW = 0, DIR_CUR = 1 };

struct folder_rec {
	uint32_t fid;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t first_recent;
	uint64_t highestmodseq;
	uint32_t exists;
	uint32_t unseen;
	uint64_t vsize;
	uint32_t special_use;
	int64_t mtime[2]; /* ns of new/ and cur/ at the last trusted look;
			     0: not trusted, read the directory */
};

/* A message record decoded in place: strings point into the value. */
struct msg_rec {
	uint32_t uid;
	unsigned flags;
	bool in_cur;   /* file in cur/ (else new/) */
	bool has_info; /* file name carries ":2," */
	int tz;
	uint64_t modseq;
	int64_t idate;
	uint64_t size, vsize;
	const char *base; /* NUL-terminated */
	size_t base_len;
	const char *extra; /* NUL-terminated, <= MAILDIR_EXTRA_MAX */
	const char *kw;    /* nkw NUL-terminated keywords */
	size_t nkw;
	size_t kw_len;
};

/* ---- keys and records (mbox_rec.c) ---- */
void key_fid_uid(unsigned char out[8], uint32_t fid, uint32_t uid);
void put_u32(unsigned char *p, uint32_t v);
void put_u64(unsigned char *p, uint64_t v);
uint32_t get_u32(const unsigned char *p);
uint64_t get_u64(const unsigned char *p);
#define FOLDER_REC_LEN 61
void folder_rec_encode(const struct folder_rec *r,
		       unsigned char out[FOLDER_REC_LEN]);
int folder_rec_decode(const void *v, size_t len, struct folder_rec *r);
/* Encodes into b (reset first); -1 when a field is out of bounds. */
int msg_rec_encode(const struct msg_rec *r, struct buf *b);
int msg_rec_decode(const void *v, size_t len, uint32_t uid,
		   struct msg_rec *r);
/* Fills the public view of a record. */
void msg_rec_view(const struct msg_rec *r, struct mbox_msg *m);
/* Checks keywords and packs them, NUL-separated, lower-case duplicates
 * removed (keywords compare case-insensitively), into out (reset).
 * Returns the count, or -1 with e. */
int kw_pack(const char *const *kw, size_t n, struct buf *out, struct err *e);
/* True when the packed list has kw (case-insensitive). */
bool kw_has(const char *packed, size_t len, const char *kw);

/* ---- index helpers (mbox.c) ---- */
/* Reads f's record: 1 ok, 0 the folder is gone or was replaced (fid
 * differs), -1 error. */
int folder_load(struct db_txn *txn, const struct mbox_folder *f,
		struct folder_rec *r, struct err *e);
int folder_store(struct db_txn *txn, const char *name,
		 const struct folder_rec *r, struct err *e);
/* folder_load, turning "gone" into an error. */
int folder_need(struct db_txn *txn, const struct mbox_folder *f,
		struct folder_rec *r, struct err *e);
/* 1 found, 0 not, -1. */
int msg_load(struct db_txn *txn, uint32_t fid, uint32_t uid,
	     struct msg_rec *r, struct err *e);
/* Writes a message record and its name/innew entries; updates the
 * folder's counters from old (NULL for a new message) to r. */
int msg_store(struct db_txn *txn, struct folder_rec *fr, uint32_t fid,
	      const struct msg_rec *old, const struct msg_rec *r,
	      struct buf *scratch, struct err *e);
/* Removes a message's entries (record, name, innew, cache), updates the
 * counters and records the expunge with a new modseq. */
int msg_remove(struct db_txn *txn, struct folder_rec *fr, uint32_t fid,
	       const struct msg_rec *r, struct err *e);
/* A new UIDVALIDITY for this mailbox, above any given before. */
int uidvalidity_next(struct db_txn *txn, struct mbox *mb, uint32_t *out,
		     struct err *e);
/* Deletes every entry of folder fid (msgs, names, innew, expunged,
 * cache). */
int fid_purge(struct db_txn *txn, uint32_t fid, struct err *e);

/* ---- files ---- */
/* dir/sub/name into out; -1 if too long. */
int path_join(char *out, size_t outsz, const char *dir, const char *sub,
	      const char *name);
/* The current path of a message file. */
int msg_path(char *out, size_t outsz, const struct mbox_folder *f,
	     const struct msg_rec *r);
/* The modification time of f's new/ or cur/ in ns, or 0. */
int64_t dir_mtime(const struct mbox_folder *f, int dir);
/* Before changing directory d inside a write transaction: true when it
 * is unchanged since the last trusted look. */
bool dir_clean_before(const struct mbox_folder *f,
		      const struct folder_rec *r, int d);
/* After the change: keeps the directory trusted when it was clean. */
void dir_clean_after(const struct mbox_folder *f, struct folder_rec *r, int d,
		     bool clean);
/* rename() that treats "from gone, to there" as done (a db_write
 * function may run twice). 0 or -1 with errno. */
int rename_idem(const char *from, const char *to);
/* fsync of a directory; 0 or -1 with e. */
int dir_sync(const char *path, struct err *e);

/* ---- relaxed index commits (mbox_dirty.c) ---- */
/*
 * Batched deliveries commit the index without waiting for the disk and
 * make it durable with the batch's second syncfs. Before such a commit
 * the process's marker M/posthorn.dirty/<boot id>.<pid> says "dirty"
 * (made durable by the batch's first syncfs), and once the commit is on
 * disk it says "clean" again. The file is written in place and stays
 * while the process has the mailbox open, so a busy deliverer does not
 * create and delete a file per batch. A dirty marker from an earlier
 * boot therefore means a system crash may have undone or damaged index
 * commits: the next mbox_open rebuilds the index from the maildir, so
 * every folder gets a new UIDVALIDITY and no UID a client saw is ever
 * reused. A dirty marker of a dead process of this boot only needs its
 * writes flushed (the page cache survived). Clean markers of gone
 * processes are simply removed.
 */
/* Marks mb dirty (creating the marker file on first use). 0, or -1
 * with e. */
int mbox_dirty_mark(struct mbox *mb, struct err *e);
/* Marks mb clean (the caller made the relaxed commits durable). */
void mbox_dirty_clear(struct mbox *mb);
/* At mbox_close: marks clean if it may, removes the marker file when
 * clean (a dirty one is left for the next opener) and closes it. */
void mbox_dirty_close(struct mbox *mb);
/* At open, before the index is opened: flushes stale markers of this
 * boot, rebuilds the index after a crash. 0, or -1 with e. */
int mbox_dirty_check(const char *path, struct err *e);
/* Moves the index of the maildir at path aside (posthorn.lmdb.crashed)
 * so the next open builds a new one; logs why. 0, or -1 with e. */
int mbox_index_aside(const char *path, const char *why, struct err *e);
/* The directory holding the markers of the maildir at path, into out. */
int mbox_dirty_dir(char *out, size_t outsz, const char *path);

/* The builder set by mbox_set_cache_builder. */
extern mbox_cache_fn mbox_cache_builder;
extern unsigned mbox_cache_version;

#endif
