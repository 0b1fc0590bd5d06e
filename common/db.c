/* SPDX-License-Identifier: MIT */
/*
 * db.c - the LMDB wrapper: environments, transactions, tables, cursors
 *
 * The only file that calls mdb_*. It enforces the rules in db.h: an
 * environment is used only by the process that opened it, stale readers
 * are cleared, a full map is grown and the write function run again.
 *
 * Table handles (MDB_dbi) are the subtle part. LMDB keeps a handle opened
 * inside a transaction private until that transaction commits, closes it
 * on abort, lets a transaction use only handles that were shared before it
 * began, and forbids two live transactions of one process from opening
 * handles at once (they would claim the same slot). So: handles are shared
 * in env->tables only after a commit, each stamped with a sequence number
 * a transaction compares with its start; a handle is opened in a
 * transaction only when it is the process's only live transaction of the
 * environment. Read transactions end with mdb_txn_commit so the handles
 * they opened are kept.
 *
 * Growing the map remaps the file, so it is done only when no transaction
 * of the environment is live in this process (db.h states the rule).
 */
#include "common/db.h"

#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

#define DEFAULT_MAP_SIZE ((size_t)64 << 20)
#if SIZE_MAX > 0xffffffffu
#define MAX_MAP_SIZE ((size_t)1 << 40)
#else
#define MAX_MAP_SIZE ((size_t)1 << 30)
#endif
#define PAGE_ROUND 4096u

static size_t initial_map_size = DEFAULT_MAP_SIZE;

struct db_table {
	char *name;
	MDB_dbi dbi;
	uint64_t seq; /* env->seq when the handle became shared */
};

struct table_list {
	struct db_table *v;
	size_t n, cap;
};

struct db_env {
	MDB_env *mdb;
	char *path;
	pid_t pid;
	unsigned flags;
	unsigned max_tables;
	MDB_dbi main_dbi;
	struct table_list tables; /* shared handles */
	uint64_t seq;
	unsigned active;  /* live transactions in this process */
	unsigned readers; /* of which read-only */
	bool writing;
};

struct db_txn {
	struct db_env *env;
	MDB_txn *mdb;
	bool write;
	bool map_full;
	uint64_t start_seq;
	struct table_list pending; /* opened here, shared after commit */
	struct db_cursor *cursors; /* live cursors, closed at the end */
};

struct db_cursor {
	struct db_txn *txn; /* NULL once the transaction ended */
	MDB_cursor *mdb;    /* NULL: missing table, finds nothing */
	struct db_cursor *next, *prev;
};

static void check_pid(const struct db_env *env)
{
	if (env->pid != getpid())
		log_panic("db %s: used in pid %ld, opened in pid %ld (an "
		          "LMDB environment must not cross fork)",
		          env->path, (long)getpid(), (long)env->pid);
}

static int mdb_fail(struct err *e, const struct db_env *env, const char *what,
                    int rc)
{
	err_set(e, "%s: %s: %s", env->path, what, mdb_strerror(rc));
	return -1;
}

static struct db_table *table_find(struct table_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

static void table_add(struct table_list *l, char *name, MDB_dbi dbi,
                      uint64_t seq)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8, bytes;
		if (size_mul(cap, sizeof(*l->v), &bytes) < 0)
			log_panic("db: table list overflow");
		l->v = xrealloc(l->v, bytes);
		l->cap = cap;
	}
	l->v[l->n++] = (struct db_table){.name = name, .dbi = dbi, .seq = seq};
}

static void table_list_free(struct table_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	*l = (struct table_list){0};
}

void db_set_initial_map_size(size_t bytes)
{
	if (bytes == 0)
		bytes = DEFAULT_MAP_SIZE;
	if (bytes % PAGE_ROUND)
		bytes += PAGE_ROUND - bytes % PAGE_ROUND;
	initial_map_size = bytes;
}

size_t db_map_size(const struct db_env *env)
{
	MDB_envinfo info;
	if (mdb_env_info(env->mdb, &info) != 0)
		return 0;
	return info.me_mapsize;
}

size_t db_key_max(const struct db_env *env)
{
	int n = mdb_env_get_maxkeysize(env->mdb);
	return n > 0 ? (size_t)n : 0;
}

/* ---- transactions ------------------------------------------------- */

/* mdb_txn_begin, adopting a map another process grew and clearing dead
 * readers when the reader table is full. */
static int begin(struct db_env *env, bool write, MDB_txn **out, struct err *e)
{
	int rc = 0;
	for (int tries = 0; tries < 3; tries++) {
		rc = mdb_txn_begin(env->mdb, NULL, write ? 0 : MDB_RDONLY, out);
		if (rc == 0)
			return 0;
		if (rc == MDB_MAP_RESIZED && env->active == 0) {
			rc = mdb_env_set_mapsize(env->mdb, 0);
			if (rc != 0)
				break;
			continue;
		}
		if (rc == MDB_READERS_FULL && tries == 0) {
			(void)db_reader_check(env);
			continue;
		}
		break;
	}
	return mdb_fail(e, env, write ? "begin write" : "begin read", rc);
}

static struct db_txn *txn_new(struct db_env *env, MDB_txn *t, bool write)
{
	struct db_txn *txn = xcalloc(1, sizeof(*txn));
	txn->env = env;
	txn->mdb = t;
	txn->write = write;
	txn->start_seq = env->seq;
	env->active++;
	if (!write)
		env->readers++;
	return txn;
}

/* Ends txn (commit or abort) and frees it; returns LMDB's result. Handles
 * the transaction opened become shared only after a successful commit. */
static int txn_finish(struct db_txn *txn, bool commit)
{
	struct db_env *env = txn->env;
	for (struct db_cursor *c = txn->cursors; c; c = c->next) {
		if (c->mdb)
			mdb_cursor_close(c->mdb);
		c->mdb = NULL;
		c->txn = NULL;
	}
	int rc = 0;
	if (commit)
		rc = mdb_txn_commit(txn->mdb);
	else
		mdb_txn_abort(txn->mdb);
	env->active--;
	if (!txn->write)
		env->readers--;
	if (commit && rc == 0) {
		for (size_t i = 0; i < txn->pending.n; i++) {
			struct db_table *t = &txn->pending.v[i];
			table_add(&env->tables, t->name, t->dbi, ++env->seq);
			t->name = NULL;
		}
	}
	table_list_free(&txn->pending);
	free(txn);
	return rc;
}

int db_read_begin(struct db_env *env, struct db_txn **out, struct err *e)
{
	check_pid(env);
	*out = NULL;
	MDB_txn *t;
	if (begin(env, false, &t, e) < 0)
		return -1;
	*out = txn_new(env, t, false);
	return 0;
}

void db_txn_end(struct db_txn **txnp)
{
	struct db_txn *txn = *txnp;
	if (!txn)
		return;
	check_pid(txn->env);
	ASSERT(!txn->write);
	/* Committing a read transaction keeps the handles it opened. */
	int rc = txn_finish(txn, true);
	if (rc != 0)
		log_warn("db: ending read transaction: %s", mdb_strerror(rc));
	*txnp = NULL;
}

/* Doubles the map after MDB_MAP_FULL. */
static int grow(struct db_env *env, struct err *e)
{
	if (env->active > 0) {
		err_set(e,
		        "%s: database map full while %u transaction(s) are "
		        "open in this process; cannot grow it",
		        env->path, env->active);
		return -1;
	}
	(void)db_reader_check(env);
	size_t cur = db_map_size(env);
	if (cur >= MAX_MAP_SIZE) {
		err_set(e, "%s: database map full at its limit of %zu bytes",
		        env->path, cur);
		return -1;
	}
	size_t next = cur > MAX_MAP_SIZE / 2 ? MAX_MAP_SIZE : cur * 2;
	int rc = mdb_env_set_mapsize(env->mdb, next);
	if (rc != 0)
		return mdb_fail(e, env, "grow map", rc);
	log_info("%s: database map grown to %zu KiB", env->path,
	         db_map_size(env) / 1024);
	return 0;
}

int db_write(struct db_env *env, db_write_fn fn, void *ctx, struct err *e)
{
	check_pid(env);
	if (env->flags & DB_RDONLY) {
		err_set(e, "%s: opened read-only", env->path);
		return -1;
	}
	if (env->writing)
		log_panic("db %s: db_write called inside db_write", env->path);
	for (;;) {
		MDB_txn *t;
		if (begin(env, true, &t, e) < 0)
			return -1;
		struct db_txn *txn = txn_new(env, t, true);
		env->writing = true;
		int r = fn(txn, ctx, e);
		bool full = txn->map_full;
		int rc = 0;
		if (r == 0 && !full) {
			rc = txn_finish(txn, true);
			if (rc == MDB_MAP_FULL)
				full = true;
		} else {
			(void)txn_finish(txn, false);
		}
		env->writing = false;
		if (full) {
			if (grow(env, e) < 0)
				return -1;
			continue;
		}
		if (r < 0)
			return -1;
		if (rc != 0)
			return mdb_fail(e, env, "commit", rc);
		return 0;
	}
}

int db_write_relaxed(struct db_env *env, db_write_fn fn, void *ctx,
		     struct err *e)
{
	check_pid(env);
	int rc = mdb_env_set_flags(env->mdb, MDB_NOSYNC, 1);
	if (rc != 0)
		return mdb_fail(e, env, "set relaxed sync", rc);
	int r = db_write(env, fn, ctx, e);
	rc = mdb_env_set_flags(env->mdb, MDB_NOSYNC, 0);
	if (rc != 0)
		log_panic("db %s: cannot restore synchronous commits: %s",
			  env->path, mdb_strerror(rc));
	return r;
}

/* ---- tables ------------------------------------------------------- */

/* Records what an LMDB error means for db_write's retry. */
static int op_fail(struct db_txn *txn, struct err *e, const char *what, int rc)
{
	if (rc == MDB_MAP_FULL)
		txn->map_full = true;
	return mdb_fail(e, txn->env, what, rc);
}

/*
 * Finds the handle of table in txn: 1 with *dbi, 0 when the table does not
 * exist (and create is false), -1 with e.
 */
static int resolve(struct db_txn *txn, const char *table, bool create,
                   MDB_dbi *dbi, struct err *e)
{
	struct db_env *env = txn->env;
	if (!table) {
		*dbi = env->main_dbi;
		return 1;
	}
	struct db_table *t = table_find(&txn->pending, table);
	if (t) {
		*dbi = t->dbi;
		return 1;
	}
	t = table_find(&env->tables, table);
	if (t && t->seq <= txn->start_seq) {
		*dbi = t->dbi;
		return 1;
	}
	if (t || env->active > 1) {
		err_set(e,
		        "%s: table %s first used while another transaction "
		        "of this process is open",
		        env->path, table);
		return -1;
	}
	int rc = mdb_dbi_open(txn->mdb, table, create ? MDB_CREATE : 0, dbi);
	if (rc == MDB_DBS_FULL && !create) {
		/* LMDB checks for a free handle before it looks the name
		 * up; a table that does not exist is still just missing. */
		MDB_val k = {.mv_size = strlen(table),
		             .mv_data = (void *)table};
		MDB_val v;
		int grc = mdb_get(txn->mdb, env->main_dbi, &k, &v);
		if (grc == MDB_NOTFOUND)
			return 0;
	}
	if (rc == MDB_NOTFOUND && !create)
		return 0;
	if (rc != 0)
		return op_fail(txn, e, table, rc);
	table_add(&txn->pending, xstrdup(table), *dbi, 0);
	return 1;
}

static bool key_ok(const struct db_env *env, size_t klen)
{
	return klen > 0 && klen <= db_key_max(env);
}

int db_get(struct db_txn *txn, const char *table, const void *key, size_t klen,
           const void **val, size_t *vlen, struct err *e)
{
	check_pid(txn->env);
	if (!key_ok(txn->env, klen))
		return 0; /* a key that cannot be stored is never found */
	MDB_dbi dbi;
	int r = resolve(txn, table, false, &dbi, e);
	if (r <= 0)
		return r;
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
	int rc = mdb_get(txn->mdb, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return op_fail(txn, e, "get", rc);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 1;
}

static int need_write(struct db_txn *txn, struct err *e)
{
	if (txn->write)
		return 0;
	err_set(e, "%s: change in a read-only transaction", txn->env->path);
	return -1;
}

int db_put(struct db_txn *txn, const char *table, const void *key, size_t klen,
           const void *val, size_t vlen, struct err *e)
{
	check_pid(txn->env);
	if (need_write(txn, e) < 0)
		return -1;
	if (!key_ok(txn->env, klen)) {
		err_set(e, "%s: key of %zu bytes (1 to %zu allowed)",
		        txn->env->path, klen, db_key_max(txn->env));
		return -1;
	}
	MDB_dbi dbi;
	if (resolve(txn, table, true, &dbi, e) < 0)
		return -1;
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
	MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};
	int rc = mdb_put(txn->mdb, dbi, &k, &v, 0);
	if (rc != 0)
		return op_fail(txn, e, "put", rc);
	return 0;
}

int db_del(struct db_txn *txn, const char *table, const void *key, size_t klen,
           struct err *e)
{
	check_pid(txn->env);
	if (need_write(txn, e) < 0)
		return -1;
	if (!key_ok(txn->env, klen))
		return 0;
	MDB_dbi dbi;
	int r = resolve(txn, table, false, &dbi, e);
	if (r <= 0)
		return r;
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
	int rc = mdb_del(txn->mdb, dbi, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return op_fail(txn, e, "del", rc);
	return 0;
}

int db_clear(struct db_txn *txn, const char *table, struct err *e)
{
	check_pid(txn->env);
	if (need_write(txn, e) < 0)
		return -1;
	if (!table && txn->env->max_tables > 0) {
		/* The main table holds the names of the others. */
		err_set(e,
		        "%s: cannot clear the main table of an environment "
		        "with named tables",
		        txn->env->path);
		return -1;
	}
	MDB_dbi dbi;
	int r = resolve(txn, table, false, &dbi, e);
	if (r <= 0)
		return r;
	int rc = mdb_drop(txn->mdb, dbi, 0);
	if (rc != 0)
		return op_fail(txn, e, "clear", rc);
	return 0;
}

/* ---- cursors ------------------------------------------------------ */

int db_cursor_open(struct db_txn *txn, const char *table,
                   struct db_cursor **out, struct err *e)
{
	check_pid(txn->env);
	*out = NULL;
	MDB_dbi dbi;
	int r = resolve(txn, table, false, &dbi, e);
	if (r < 0)
		return -1;
	MDB_cursor *mc = NULL;
	if (r == 1) {
		int rc = mdb_cursor_open(txn->mdb, dbi, &mc);
		if (rc != 0)
			return op_fail(txn, e, "cursor", rc);
	}
	struct db_cursor *c = xcalloc(1, sizeof(*c));
	c->txn = txn;
	c->mdb = mc;
	c->next = txn->cursors;
	if (c->next)
		c->next->prev = c;
	txn->cursors = c;
	*out = c;
	return 0;
}

int db_cursor_get(struct db_cursor *c, enum db_seek op, const void **key,
                  size_t *klen, const void **val, size_t *vlen, struct err *e)
{
	if (!c->txn) {
		err_set(e, "db: cursor used after its transaction ended");
		return -1;
	}
	check_pid(c->txn->env);
	if (!c->mdb)
		return 0;
	MDB_val k = {0}, v = {0};
	MDB_cursor_op mop;
	switch (op) {
	case DB_FIRST:
		mop = MDB_FIRST;
		break;
	case DB_LAST:
		mop = MDB_LAST;
		break;
	case DB_NEXT:
		mop = MDB_NEXT;
		break;
	case DB_PREV:
		mop = MDB_PREV;
		break;
	case DB_SET_RANGE:
		if (*klen == 0) {
			mop = MDB_FIRST; /* the empty key sorts first */
			break;
		}
		mop = MDB_SET_RANGE;
		k.mv_size = *klen;
		k.mv_data = (void *)*key;
		break;
	default:
		log_panic("db: bad cursor op %d", (int)op);
	}
	int rc = mdb_cursor_get(c->mdb, &k, &v, mop);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return op_fail(c->txn, e, "cursor get", rc);
	*key = k.mv_data;
	*klen = k.mv_size;
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 1;
}

int db_cursor_del(struct db_cursor *c, struct err *e)
{
	if (!c->txn) {
		err_set(e, "db: cursor used after its transaction ended");
		return -1;
	}
	check_pid(c->txn->env);
	if (need_write(c->txn, e) < 0)
		return -1;
	if (!c->mdb) {
		err_set(e, "%s: cursor is not on a record", c->txn->env->path);
		return -1;
	}
	int rc = mdb_cursor_del(c->mdb, 0);
	if (rc != 0)
		return op_fail(c->txn, e, "cursor del", rc);
	return 0;
}

void db_cursor_close(struct db_cursor **cp)
{
	struct db_cursor *c = *cp;
	if (!c)
		return;
	if (c->txn) {
		if (c->prev)
			c->prev->next = c->next;
		else
			c->txn->cursors = c->next;
		if (c->next)
			c->next->prev = c->prev;
		if (c->mdb)
			mdb_cursor_close(c->mdb);
	}
	free(c);
	*cp = NULL;
}

/* ---- environments ------------------------------------------------- */

/* Shares the handles of every table that exists, so later transactions
 * rarely have to open one (see the file header). Also finds the main
 * table's handle and proves the file readable. */
static int open_tables(struct db_env *env, struct err *e)
{
	MDB_txn *t;
	if (begin(env, false, &t, e) < 0)
		return -1;
	struct db_txn *txn = txn_new(env, t, false);
	int rc = mdb_dbi_open(t, NULL, 0, &env->main_dbi);
	MDB_cursor *mc = NULL;
	if (rc == 0 && env->max_tables > 0)
		rc = mdb_cursor_open(t, env->main_dbi, &mc);
	MDB_val k, v;
	for (int op = MDB_FIRST; mc && rc == 0; op = MDB_NEXT) {
		rc = mdb_cursor_get(mc, &k, &v, (MDB_cursor_op)op);
		if (rc != 0)
			break;
		if (txn->pending.n >= env->max_tables)
			break;
		if (k.mv_size == 0 || memchr(k.mv_data, 0, k.mv_size))
			continue;
		char *name = xstrndup(k.mv_data, k.mv_size);
		MDB_dbi dbi;
		int orc = mdb_dbi_open(t, name, 0, &dbi);
		if (orc == 0)
			table_add(&txn->pending, name, dbi, 0);
		else
			free(name); /* a data record, not a table */
	}
	if (mc)
		mdb_cursor_close(mc);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	int crc = txn_finish(txn, true);
	if (rc == 0)
		rc = crc;
	if (rc != 0)
		return mdb_fail(e, env, "open tables", rc);
	return 0;
}

/* Keeps the map size recorded in the file when it is larger than ours. */
static int set_map_size(struct db_env *env, struct err *e)
{
	int rc = mdb_env_set_mapsize(env->mdb, 0);
	if (rc == 0 && db_map_size(env) < initial_map_size)
		rc = mdb_env_set_mapsize(env->mdb, initial_map_size);
	if (rc != 0)
		return mdb_fail(e, env, "set map size", rc);
	return 0;
}

/* Without DB_CREATE a missing environment is an error, but mdb_env_open
 * would create it: look first. */
static int must_exist(const char *path, unsigned flags, struct err *e)
{
	struct stat st;
	char *file = flags & DB_NOSUBDIR ? xstrdup(path)
	                                 : xasprintf("%s/data.mdb", path);
	int r = stat(file, &st);
	int saved = errno;
	if (r < 0)
		err_set(e, "%s: %s", file, strerror(saved));
	free(file);
	return r;
}

int db_open(struct db_env **out, const char *path, unsigned flags,
            unsigned max_tables, struct err *e)
{
	*out = NULL;
	if (flags & DB_CREATE) {
		if (!(flags & DB_NOSUBDIR) && mkdir(path, 0700) < 0 &&
		    errno != EEXIST) {
			err_set(e, "mkdir %s: %s", path, strerror(errno));
			return -1;
		}
	} else if (must_exist(path, flags, e) < 0) {
		return -1;
	}
	struct db_env *env = xcalloc(1, sizeof(*env));
	env->path = xstrdup(path);
	env->pid = getpid();
	env->flags = flags;
	env->max_tables = max_tables;
	int rc = mdb_env_create(&env->mdb);
	if (rc != 0) {
		env->mdb = NULL;
		(void)mdb_fail(e, env, "create", rc);
		db_close(&env);
		return -1;
	}
	unsigned mflags = MDB_NOTLS;
	if (flags & DB_RDONLY)
		mflags |= MDB_RDONLY;
	if (flags & DB_NOSUBDIR)
		mflags |= MDB_NOSUBDIR;
	if (flags & DB_NOLOCK)
		mflags |= MDB_NOLOCK;
	rc = mdb_env_set_maxdbs(env->mdb, max_tables);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env->mdb, initial_map_size);
	if (rc == 0)
		rc = mdb_env_open(env->mdb, path, mflags, 0600);
	if (rc != 0) {
		(void)mdb_fail(e, env, "open", rc);
		db_close(&env);
		return -1;
	}
	if (set_map_size(env, e) < 0 || open_tables(env, e) < 0) {
		db_close(&env);
		return -1;
	}
	int dead = db_reader_check(env);
	if (dead > 0)
		log_info("%s: cleared %d stale reader slot(s)", path, dead);
	*out = env;
	return 0;
}

int db_reader_check(struct db_env *env)
{
	check_pid(env);
	if (env->flags & DB_NOLOCK)
		return 0;
	int dead = 0;
	int rc = mdb_reader_check(env->mdb, &dead);
	if (rc != 0) {
		log_warn("%s: reader check: %s", env->path, mdb_strerror(rc));
		return -1;
	}
	return dead;
}

int db_sync(struct db_env *env, struct err *e)
{
	check_pid(env);
	int rc = mdb_env_sync(env->mdb, 1);
	if (rc != 0)
		return mdb_fail(e, env, "sync", rc);
	return 0;
}

void db_close(struct db_env **envp)
{
	struct db_env *env = *envp;
	if (!env)
		return;
	if (env->pid == getpid()) {
		ASSERT(env->active == 0);
		if (env->mdb)
			mdb_env_close(env->mdb);
	}
	table_list_free(&env->tables);
	free(env->path);
	free(env);
	*envp = NULL;
}
