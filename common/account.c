/* SPDX-License-Identifier: MIT */
/*
 * account.c - the virtual account map: addresses, password hashes, maildirs
 *
 * One LMDB file (DB_NOSUBDIR), table "accounts": key = canonical address,
 * value = a text record of "name=value" lines, first "v=1":
 *     v=1
 *     hash=$scrypt$ln=14,r=8,p=1$...$...
 *     scram=SCRAM-SHA-256$4096:...$...:...     (optional)
 *     created=1700000000
 *     changed=1700000000
 *     maildir=example.test/alice/               (optional; default)
 *     disabled=yes                              (optional)
 * Text so `mdb_dump` shows what is stored and a later version can add
 * fields: unknown names are ignored, but a different "v" is refused rather
 * than half understood. Every record read is bounded and checked.
 *
 * Slow work (hashing) happens outside transactions; a write is one short
 * transaction that re-reads what it changes, so `posthorn user` run twice
 * at once cannot lose an update. This module knows nothing of SASL or of
 * which domains are virtual (the caller checks virtual_mailbox_domains).
 */
#include "common/account.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/db.h"
#include "common/log.h"
#include "common/passwd_hash.h"
#include "common/str.h"
#include "common/xalloc.h"

#define TABLE "accounts"
#define RECORD_MAX 4096
#define LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1 */
#define DOMAIN_MAX 253 /* RFC 1035 limits, without the final dot */
#define LABEL_MAX 63

struct account_db {
	char *path;
	unsigned flags;
	struct db_env *env; /* NULL: read-only and the file is not there */
};

struct record {
	char hash[PASSWD_HASH_MAX];
	char scram[PASSWD_SCRAM_MAX];
	char maildir[ACCOUNT_MAILDIR_MAX + 1];
	int64_t created;
	int64_t changed;
	bool disabled;
};

static int env_open(struct account_db *db, struct err *e)
{
	unsigned f = DB_NOSUBDIR;
	if (db->flags & ACCOUNT_RDONLY)
		f |= DB_RDONLY;
	else if (db->flags & ACCOUNT_CREATE)
		f |= DB_CREATE;
	return db_open(&db->env, db->path, f, 4, e);
}

/* Read-only handles open lazily: the file may be created after a daemon
 * started. 0 with db->env possibly still NULL (no file), or -1. */
static int ensure_open(struct account_db *db, struct err *e)
{
	if (db->env)
		return 0;
	struct stat st;
	if (stat(db->path, &st) < 0) {
		if (errno == ENOENT && (db->flags & ACCOUNT_RDONLY))
			return 0;
		err_set(e, "%s: %s", db->path, strerror(errno));
		return -1;
	}
	return env_open(db, e);
}

int account_open(struct account_db **out, const char *path, unsigned flags,
		 struct err *e)
{
	struct account_db *db = xcalloc(1, sizeof(*db));
	db->path = xstrdup(path);
	db->flags = flags;
	int rc = (flags & ACCOUNT_RDONLY) ? ensure_open(db, e)
					  : env_open(db, e);
	if (rc < 0) {
		account_close(&db);
		return -1;
	}
	*out = db;
	return 0;
}

int account_share_group(const char *path, unsigned gid, struct err *e)
{
	if (geteuid() != 0)
		return 0;
	char lock[PATH_MAX];
	if (snprintf(lock, sizeof(lock), "%s-lock", path) >= (int)sizeof(lock)) {
		err_set(e, "%s: path too long", path);
		return -1;
	}
	if (chown(path, 0, (gid_t)gid) < 0 || chmod(path, 0640) < 0 ||
	    chown(lock, 0, (gid_t)gid) < 0 || chmod(lock, 0660) < 0) {
		err_set(e, "%s: cannot share with group %u: %s", path, gid,
			strerror(errno));
		return -1;
	}
	return 0;
}

void account_close(struct account_db **dbp)
{
	if (!dbp || !*dbp)
		return;
	db_close(&(*dbp)->env);
	free((*dbp)->path);
	free(*dbp);
	*dbp = NULL;
}

/* ---- address syntax -------------------------------------------------- */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool local_char(int c)
{
	/* RFC 5322 atext without '/' (the local part names a directory)
	 * and '%' (old source routing). */
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$&'*+-=?^_`{|}~", c));
}

static int check_local(const char *s, size_t n, struct err *e)
{
	if (n == 0 || n > LOCAL_MAX) {
		err_set(e, "local part must be 1 to %d characters", LOCAL_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (i == 0 || i == n - 1 || s[i - 1] == '.') {
				err_set(e, "misplaced '.' in local part");
				return -1;
			}
		} else if (!local_char(s[i])) {
			err_set(e, "character 0x%02x not allowed in local part",
				(unsigned char)s[i]);
			return -1;
		}
	}
	return 0;
}

static int check_domain(const char *s, size_t n, struct err *e)
{
	if (n == 0 || n > DOMAIN_MAX) {
		err_set(e, "domain must be 1 to %d characters", DOMAIN_MAX);
		return -1;
	}
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '.';
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-') {
				err_set(e, "empty label or label ending in '-' "
					   "in domain");
				return -1;
			}
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (c == '-' && label > 0);
		if (!ok || ++label > LABEL_MAX) {
			err_set(e, "domain is not a host name");
			return -1;
		}
	}
	return 0;
}

int account_canon(const char *in, size_t len, char *out, size_t outsz,
		  struct err *e)
{
	if (len == 0 || len > ACCOUNT_ADDR_MAX || outsz <= len) {
		err_set(e, "address must be 1 to %d characters",
			ACCOUNT_ADDR_MAX);
		return -1;
	}
	size_t at = len;
	for (size_t i = 0; i < len; i++) {
		out[i] = (char)lower((unsigned char)in[i]);
		if (in[i] == '@') {
			if (at != len) {
				err_set(e, "more than one '@' in address");
				return -1;
			}
			at = i;
		}
	}
	out[len] = '\0';
	if (at == len) {
		err_set(e, "address has no '@domain'");
		return -1;
	}
	if (check_local(out, at, e) < 0 ||
	    check_domain(out + at + 1, len - at - 1, e) < 0)
		return -1;
	return 0;
}

/* ---- records --------------------------------------------------------- */

static void default_maildir(const char *addr, char *out, size_t outsz)
{
	const char *at = strchr(addr, '@');
	ASSERT(at);
	(void)snprintf(out, outsz, "%s/%.*s/", at + 1, (int)(at - addr), addr);
}

static bool value_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			return false;
	return true;
}

/* Copies v[0..n) into a fixed field; -1 when it does not fit or holds
 * anything but printable ASCII. */
static int field(char *dst, size_t dstsz, const char *v, size_t n)
{
	if (n >= dstsz || !value_ok(v, n))
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int field_time(int64_t *dst, const char *v, size_t n)
{
	uint64_t t;
	if (parse_uintn(v, n, 0, INT64_MAX, &t) < 0)
		return -1;
	*dst = (int64_t)t;
	return 0;
}

/* Applies one "name=value" line to r; unknown names are skipped. */
static int record_line(struct record *r, const char *l, size_t n,
		       unsigned *seen)
{
	static const char *const names[] = {"hash",    "scram",   "maildir",
					    "created", "changed", "disabled"};
	const char *eq = memchr(l, '=', n);
	if (!eq)
		return -1;
	size_t nl = (size_t)(eq - l), vl = n - nl - 1;
	const char *v = eq + 1;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) != nl || memcmp(l, names[i], nl) != 0)
			continue;
		if (*seen & (1u << i))
			return -1; /* repeated */
		*seen |= 1u << i;
		switch (i) {
		case 0:
			if (field(r->hash, sizeof(r->hash), v, vl) < 0)
				return -1;
			return passwd_hash_valid(r->hash) ? 0 : -1;
		case 1:
			return passwd_scram_valid(v, vl)
				       ? field(r->scram, sizeof(r->scram), v, vl)
				       : -1;
		case 2:
			/* Relative, no "..", ends in '/': it is joined to
			 * virtual_mailbox_base by whoever delivers. */
			if (vl == 0 || v[0] == '/' || v[vl - 1] != '/' ||
			    memmem(v, vl, "..", 2))
				return -1;
			return field(r->maildir, sizeof(r->maildir), v, vl);
		case 3:
			return field_time(&r->created, v, vl);
		case 4:
			return field_time(&r->changed, v, vl);
		default:
			if (vl == 3 && memcmp(v, "yes", 3) == 0)
				r->disabled = true;
			else if (!(vl == 2 && memcmp(v, "no", 2) == 0))
				return -1;
			return 0;
		}
	}
	return 0;
}

static int record_parse(struct record *r, const char *addr, const char *p,
			size_t n, struct err *e)
{
	memset(r, 0, sizeof(*r));
	unsigned seen = 0;
	if (n > RECORD_MAX || n < 4 || memcmp(p, "v=1\n", 4) != 0) {
		err_set(e, "account %s: record has an unknown version", addr);
		return -1;
	}
	size_t off = 4;
	while (off < n) {
		const char *nl = memchr(p + off, '\n', n - off);
		if (!nl || record_line(r, p + off, (size_t)(nl - p - off),
				       &seen) < 0) {
			err_set(e, "account %s: damaged record", addr);
			return -1;
		}
		off = (size_t)(nl - p) + 1;
	}
	if (r->hash[0] == '\0') {
		err_set(e, "account %s: record without a password hash", addr);
		return -1;
	}
	if (r->maildir[0] == '\0')
		default_maildir(addr, r->maildir, sizeof(r->maildir));
	return 0;
}

static void record_format(const struct record *r, const char *addr,
			  struct buf *b)
{
	char def[ACCOUNT_MAILDIR_MAX + 1];
	default_maildir(addr, def, sizeof(def));
	/* All fields are bounded well below RECORD_MAX. */
	int rc = buf_printf(b, "v=1\nhash=%s\n", r->hash);
	if (r->scram[0])
		rc |= buf_printf(b, "scram=%s\n", r->scram);
	rc |= buf_printf(b, "created=%lld\nchanged=%lld\n",
			 (long long)r->created, (long long)r->changed);
	if (strcmp(r->maildir, def) != 0)
		rc |= buf_printf(b, "maildir=%s\n", r->maildir);
	if (r->disabled)
		rc |= buf_printf(b, "disabled=yes\n");
	ASSERT(rc == 0);
}

static void record_info(const struct record *r, const char *addr,
			struct account_info *out)
{
	memset(out, 0, sizeof(*out));
	(void)snprintf(out->address, sizeof(out->address), "%s", addr);
	(void)snprintf(out->maildir, sizeof(out->maildir), "%s", r->maildir);
	out->created = r->created;
	out->changed = r->changed;
	out->disabled = r->disabled;
	out->has_scram = r->scram[0] != '\0';
}

/* Reads and parses the record of a canonical address in its own read
 * transaction. 1 found, 0 not, -1 error. */
static int record_read(struct account_db *db, const char *addr,
		       struct record *r, struct err *e)
{
	if (ensure_open(db, e) < 0)
		return -1;
	if (!db->env)
		return 0;
	struct db_txn *txn;
	if (db_read_begin(db->env, &txn, e) < 0)
		return -1;
	const void *v;
	size_t vl;
	int rc = db_get(txn, TABLE, addr, strlen(addr), &v, &vl, e);
	if (rc == 1 && record_parse(r, addr, v, vl, e) < 0)
		rc = -1;
	db_txn_end(&txn);
	return rc;
}

/* ---- writing ---------------------------------------------------------- */

enum write_op { OP_ADD, OP_PASSWORD, OP_DISABLE, OP_DEL };

struct write_ctx {
	enum write_op op;
	const char *addr;
	const struct record *fresh; /* OP_ADD, OP_PASSWORD */
	bool disabled;              /* OP_DISABLE */
	int found;                  /* out: the key existed */
};

static int put_record(struct db_txn *txn, const struct record *r,
		      const char *addr, struct err *e)
{
	struct buf b;
	buf_init(&b, RECORD_MAX);
	record_format(r, addr, &b);
	int rc = db_put(txn, TABLE, addr, strlen(addr), b.data, b.len, e);
	explicit_bzero(b.data, b.len);
	buf_deinit(&b);
	return rc;
}

static int write_fn(struct db_txn *txn, void *vctx, struct err *e)
{
	struct write_ctx *c = vctx;
	const void *v;
	size_t vl;
	size_t kl = strlen(c->addr);
	c->found = db_get(txn, TABLE, c->addr, kl, &v, &vl, e);
	if (c->found < 0)
		return -1;
	if (c->op == OP_ADD)
		return c->found ? 0 : put_record(txn, c->fresh, c->addr, e);
	if (!c->found)
		return 0;
	if (c->op == OP_DEL)
		return db_del(txn, TABLE, c->addr, kl, e);
	struct record r;
	if (record_parse(&r, c->addr, v, vl, e) < 0)
		return -1;
	if (c->op == OP_DISABLE) {
		r.disabled = c->disabled;
	} else {
		memcpy(r.hash, c->fresh->hash, sizeof(r.hash));
		memcpy(r.scram, c->fresh->scram, sizeof(r.scram));
		r.changed = c->fresh->changed;
	}
	int rc = put_record(txn, &r, c->addr, e);
	explicit_bzero(&r, sizeof(r));
	return rc;
}

static int do_write(struct account_db *db, struct write_ctx *c,
		    struct err *e)
{
	if (db->flags & ACCOUNT_RDONLY) {
		err_set(e, "%s: opened read-only", db->path);
		return -1;
	}
	if (db_write(db->env, write_fn, c, e) < 0)
		return -1;
	return c->found ? 1 : 0;
}

/* Hashes the secret into r (outside any transaction: it is slow). */
static int make_secret(struct record *r, const struct account_secret *sec,
		       struct err *e)
{
	if (sec->len == 0) {
		err_set(e, "empty password");
		return -1;
	}
	if (memchr(sec->password, '\0', sec->len) ||
	    memchr(sec->password, '\n', sec->len) ||
	    memchr(sec->password, '\r', sec->len)) {
		err_set(e, "password contains NUL, CR or LF");
		return -1;
	}
	if (passwd_hash_new(sec->password, sec->len, NULL, r->hash,
			    sizeof(r->hash), e) < 0)
		return -1;
	if (sec->scram_iterations &&
	    passwd_scram_new(sec->password, sec->len, sec->scram_iterations,
			     r->scram, sizeof(r->scram), e) < 0)
		return -1;
	r->changed = (int64_t)time(NULL);
	return 0;
}

/* add (op OP_ADD) or change a password (OP_PASSWORD). */
static int write_secret(struct account_db *db, const char *address,
			const struct account_secret *sec, enum write_op op,
			struct err *e)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	if (account_canon(address, strlen(address), addr, sizeof(addr), e) < 0)
		return -1;
	struct record r;
	memset(&r, 0, sizeof(r));
	if (make_secret(&r, sec, e) < 0)
		return -1;
	r.created = r.changed;
	default_maildir(addr, r.maildir, sizeof(r.maildir));
	struct write_ctx c = {.op = op, .addr = addr, .fresh = &r};
	int rc = do_write(db, &c, e);
	explicit_bzero(&r, sizeof(r));
	if (rc < 0)
		return -1;
	if (op == OP_ADD) {
		if (rc == 1)
			err_set(e, "%s: account exists", addr);
		return !rc;
	}
	if (rc == 0)
		err_set(e, "%s: no such account", addr);
	return rc;
}

int account_add(struct account_db *db, const char *address,
		const struct account_secret *sec, struct err *e)
{
	return write_secret(db, address, sec, OP_ADD, e);
}

int account_set_password(struct account_db *db, const char *address,
			 const struct account_secret *sec, struct err *e)
{
	return write_secret(db, address, sec, OP_PASSWORD, e);
}

static int simple_write(struct account_db *db, const char *address,
			enum write_op op, bool disabled, struct err *e)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	if (account_canon(address, strlen(address), addr, sizeof(addr), e) < 0)
		return -1;
	struct write_ctx c = {.op = op, .addr = addr, .disabled = disabled};
	int rc = do_write(db, &c, e);
	if (rc == 0)
		err_set(e, "%s: no such account", addr);
	return rc;
}

int account_set_disabled(struct account_db *db, const char *address,
			 bool disabled, struct err *e)
{
	return simple_write(db, address, OP_DISABLE, disabled, e);
}

int account_del(struct account_db *db, const char *address, struct err *e)
{
	return simple_write(db, address, OP_DEL, false, e);
}

/* ---- reading ---------------------------------------------------------- */

int account_get(struct account_db *db, const char *address,
		struct account_info *out, struct err *e)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	if (account_canon(address, strlen(address), addr, sizeof(addr), NULL) <
	    0)
		return 0;
	struct record r;
	int rc = record_read(db, addr, &r, e);
	if (rc == 1)
		record_info(&r, addr, out);
	explicit_bzero(&r, sizeof(r));
	return rc;
}

int account_exists(struct account_db *db, const char *address,
		   struct err *e)
{
	struct account_info info;
	return account_get(db, address, &info, e);
}

/* A hash with today's cost, made once per process: checking an unknown
 * address against it costs what a real check costs, so response times do
 * not tell which addresses exist. Its password is irrelevant: a match
 * against it is never a success. */
static const char *dummy_hash(void)
{
	static char dummy[PASSWD_HASH_MAX];
	static const char pw[] = "no such account";
	if (!dummy[0] && passwd_hash_new(pw, sizeof(pw) - 1, NULL, dummy,
					 sizeof(dummy), NULL) < 0)
		dummy[0] = '\0';
	return dummy;
}

int account_check_password(struct account_db *db, const char *address,
			   const char *password, size_t len, char *canon_out,
			   size_t canon_outsz, struct err *e)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	struct record r;
	memset(&r, 0, sizeof(r));
	int found = 0;
	if (account_canon(address, strlen(address), addr, sizeof(addr),
			  NULL) == 0) {
		found = record_read(db, addr, &r, e);
		if (found < 0)
			return -1;
	}
	const char *hash = found ? r.hash : dummy_hash();
	struct err ve;
	int ok = passwd_hash_verify(hash, password, len, &ve);
	if (ok < 0 && found) {
		err_set(e, "account %s: %s", addr, ve.msg);
		explicit_bzero(&r, sizeof(r));
		return -1;
	}
	ok = found && ok == 1 && !r.disabled;
	explicit_bzero(&r, sizeof(r));
	if (ok && canon_out)
		(void)snprintf(canon_out, canon_outsz, "%s", addr);
	return ok;
}

int account_get_scram(struct account_db *db, const char *address, char *out,
		      size_t outsz, struct err *e)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	if (account_canon(address, strlen(address), addr, sizeof(addr), NULL) <
	    0)
		return 0;
	struct record r;
	int rc = record_read(db, addr, &r, e);
	if (rc == 1 && (r.disabled || !r.scram[0] || outsz <= strlen(r.scram)))
		rc = 0;
	if (rc == 1)
		memcpy(out, r.scram, strlen(r.scram) + 1);
	explicit_bzero(&r, sizeof(r));
	return rc;
}

static bool in_domain(const char *addr, const char *domain)
{
	const char *at = strchr(addr, '@');
	return !domain || (at && str_eq_nocase(at + 1, domain));
}

int account_list(struct account_db *db, const char *domain,
		 account_list_fn fn, void *ctx, struct err *e)
{
	if (ensure_open(db, e) < 0)
		return -1;
	if (!db->env)
		return 0;
	struct db_txn *txn;
	struct db_cursor *cur;
	if (db_read_begin(db->env, &txn, e) < 0)
		return -1;
	if (db_cursor_open(txn, TABLE, &cur, e) < 0) {
		db_txn_end(&txn);
		return -1;
	}
	int rc = 0;
	enum db_seek op = DB_FIRST;
	for (;;) {
		const void *k, *v;
		size_t kl, vl;
		int got = db_cursor_get(cur, op, &k, &kl, &v, &vl, e);
		op = DB_NEXT;
		if (got <= 0) {
			rc = got;
			break;
		}
		char addr[ACCOUNT_ADDR_MAX + 1];
		struct record r;
		struct err pe;
		if (kl > ACCOUNT_ADDR_MAX ||
		    account_canon(k, kl, addr, sizeof(addr), &pe) < 0 ||
		    memcmp(addr, k, kl) != 0) {
			log_warn("%s: skipping a key that is not a canonical "
				 "address",
				 db->path);
			continue;
		}
		if (!in_domain(addr, domain))
			continue;
		if (record_parse(&r, addr, v, vl, &pe) < 0) {
			log_warn("%s: %s", db->path, pe.msg);
			continue;
		}
		struct account_info info;
		record_info(&r, addr, &info);
		explicit_bzero(&r, sizeof(r));
		if ((rc = fn(ctx, &info)) != 0)
			break;
	}
	db_cursor_close(&cur);
	db_txn_end(&txn);
	return rc;
}
