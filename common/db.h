/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_DB_H
#define POSTHORN_COMMON_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/*
 * The only door to LMDB (only db.c calls mdb_*). It keeps LMDB's rules in
 * one place (DESIGN.md "The spool"):
 *  - an environment is opened in the process that uses it, never across
 *    fork(): db_open records the pid and db_* panics on use in a child;
 *  - stale reader slots of dead processes are cleared at open and by
 *    db_reader_check();
 *  - MDB_MAP_FULL never loses a write: db_write() aborts, grows the map
 *    (doubling) and runs the whole transaction function again;
 *  - read transactions are meant to be short: open, look, close.
 *
 * Named sub-databases ("tables") are addressed by name; the wrapper caches
 * the handles. Keys and values are opaque bytes; a key is 1 to
 * db_key_max() bytes (511 with Debian's LMDB).
 *
 * Table handles: every table that exists is opened at db_open; a table
 * created later is opened by the transaction that first uses it, and the
 * handle is kept only when that transaction commits (a read transaction
 * always "commits" at db_txn_end). LMDB forbids two live transactions of
 * one process from opening handles at once, so a table seen for the first
 * time while another transaction of the same environment is open in this
 * process gives an error instead of corrupting the handle table. Keep
 * named tables and data apart: with max_tables > 0 the main table holds
 * only table names.
 *
 * A process must not have a read transaction open on an environment while
 * db_write() may need to grow its map (growing remaps the file and would
 * leave the reader's pointers dangling): db_write then fails instead.
 */
struct db_env;
struct db_txn;
struct db_cursor;

#define DB_RDONLY 0x1u   /* open read-only */
#define DB_NOSUBDIR 0x2u /* path is the data file itself (lock: path-lock) */
#define DB_NOLOCK 0x4u   /* read-only file nobody writes in place (maps) */
#define DB_CREATE 0x8u   /* create the file/directory if missing */

/*
 * Opens (and with DB_CREATE creates, mode 0600 / 0700 for a directory) the
 * environment at path, with room for max_tables named tables. 0, or -1
 * with e set. The map starts at 64 MiB (or the larger size recorded in
 * the file by an earlier growth) and grows.
 */
int db_open(struct db_env **out, const char *path, unsigned flags,
            unsigned max_tables, struct err *e);
/* Closes the environment; *envp = NULL; accepts NULL. No transaction of
 * this environment may be open. In a forked child it frees only the
 * wrapper and leaves LMDB alone (closing there would clear the parent's
 * reader slots). */
void db_close(struct db_env **envp);
/* Clears reader slots of dead processes; returns how many, or -1. */
int db_reader_check(struct db_env *env);
/* Makes committed data durable when the environment was opened with
 * relaxed syncing (not used by default; every commit syncs). */
int db_sync(struct db_env *env, struct err *e);

/* The largest key db_put accepts, in bytes. */
size_t db_key_max(const struct db_env *env);

/* A read-only transaction. 0, or -1 with e set. */
int db_read_begin(struct db_env *env, struct db_txn **out, struct err *e);
/* Ends a read transaction; *txnp = NULL; accepts NULL. Write transactions
 * belong to db_write() and must not be passed here. */
void db_txn_end(struct db_txn **txnp);

/*
 * Runs fn inside one write transaction and commits it durably. If fn
 * returns -1, the transaction is aborted and db_write returns -1 (fn should
 * have set e). If LMDB reports the map full at any point, the transaction
 * is aborted, the map grown, and fn called again from the start, so fn must
 * not have side effects outside the transaction. 0 on commit.
 */
typedef int (*db_write_fn)(struct db_txn *txn, void *ctx, struct err *e);
int db_write(struct db_env *env, db_write_fn fn, void *ctx, struct err *e);

/*
 * db_write() whose commit does not wait for the disk (LMDB's MDB_NOSYNC
 * for this one transaction): the transaction is visible to every reader
 * at once but durable only after db_sync() or a syncfs() of the file's
 * filesystem. A system crash (not a process crash) before that may undo
 * it or leave the file damaged, so the caller must be able to tell that
 * a crash came in between (and then rebuild what the file held).
 */
int db_write_relaxed(struct db_env *env, db_write_fn fn, void *ctx,
		     struct err *e);

/* For tests: the map size db_open starts with (0 restores 64 MiB), so a
 * test can make db_write grow the map with little data. Rounded up to
 * the page size by LMDB. */
void db_set_initial_map_size(size_t bytes);
/* The current map size of env, in bytes (for tests and logging). */
size_t db_map_size(const struct db_env *env);

/* Lookups and changes inside a transaction. table NULL is the main table.
 * A table is created on first write; reading a missing table finds
 * nothing.
 *   db_get:  1 found (*val points into the map, valid until the txn ends
 *            or, in a write transaction, until the next change), 0 not
 *            found, -1 error.
 *   db_put, db_del: 0 ok (db_del of a missing key is ok), -1 error. */
int db_get(struct db_txn *txn, const char *table, const void *key, size_t klen,
           const void **val, size_t *vlen, struct err *e);
int db_put(struct db_txn *txn, const char *table, const void *key, size_t klen,
           const void *val, size_t vlen, struct err *e);
int db_del(struct db_txn *txn, const char *table, const void *key, size_t klen,
           struct err *e);
/* Removes every key of a table. */
int db_clear(struct db_txn *txn, const char *table, struct err *e);

enum db_seek {
	DB_FIRST,
	DB_LAST,
	DB_NEXT,
	DB_PREV,
	DB_SET_RANGE, /* first key >= the key given */
};

/* Cursors iterate a table in key order (bytewise). open: 0 or -1 (a
 * missing table gives a cursor that finds nothing). Close every cursor
 * with db_cursor_close; one whose transaction ended first stops working
 * (db_cursor_get returns -1) but must still be closed. */
int db_cursor_open(struct db_txn *txn, const char *table,
                   struct db_cursor **out, struct err *e);
/* Moves the cursor: 1 positioned (key/val point into the map), 0 no such
 * record, -1 error. For DB_SET_RANGE, *key and *klen are the input. */
int db_cursor_get(struct db_cursor *c, enum db_seek op, const void **key,
                  size_t *klen, const void **val, size_t *vlen, struct err *e);
/* Deletes the record under the cursor (write transactions only). */
int db_cursor_del(struct db_cursor *c, struct err *e);
void db_cursor_close(struct db_cursor **cp);

#endif
