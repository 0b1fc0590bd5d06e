/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_ACCOUNT_H
#define POSTHORN_COMMON_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The virtual accounts: one LMDB file (account_database, DB_NOSUBDIR)
 * mapping a canonical address to its password hash and mailbox. Being in
 * this map is what makes an address a virtual mailbox; the password check
 * here is the one smtpd AUTH, pop3d and imapd all use.
 *
 * Addresses are canonical when they are lower case and pass
 * account_canon(): local@domain, local part a dot-atom of letters, digits
 * and !#$&'*+-=?^_`{|}~ (no '/' or '%': the local part names a directory),
 * domain LDH labels. The map key is the canonical address; the value is a
 * versioned text record (see account.c). Passwords are kept only as scrypt
 * hashes (passwd_hash.h), optionally with a SCRAM-SHA-256 verifier.
 *
 * A handle is opened in the process that uses it (never across fork()).
 * Read-only handles used by daemons keep working while `posthorn user`
 * writes: every call is its own short transaction.
 */
struct account_db;

/* Longest address (RFC 5321 4.5.3.1.3 path limit minus the brackets). */
#define ACCOUNT_ADDR_MAX 254
/* Longest maildir path stored for an account (relative to
 * virtual_mailbox_base). */
#define ACCOUNT_MAILDIR_MAX 512

#define ACCOUNT_RDONLY 0x1u /* open for lookups only */
#define ACCOUNT_CREATE 0x2u /* create the file if missing (mode 0600) */

/*
 * Opens the account map at path. A read-only handle on a file that does
 * not exist yet succeeds: it finds nobody until the file appears (it is
 * retried on each call), so daemons may start before the first account is
 * added. Without ACCOUNT_RDONLY, a missing file is an error unless
 * ACCOUNT_CREATE is given. 0, or -1 with e set. Free with account_close.
 */
int account_open(struct account_db **out, const char *path, unsigned flags,
		 struct err *e);
/*
 * Lets the daemons read the map: as root, gives the data file (0640) and
 * LMDB's lock file (0660, readers write their slots there) to group gid,
 * owner root. Services that read accounts run with that group (the service
 * skeleton adds mail_owner's group to the virtual mailbox owner). Without
 * root it does nothing. 0, or -1 with e set.
 */
int account_share_group(const char *path, unsigned gid, struct err *e);
/* Closes the handle; *dbp = NULL; accepts NULL. */
void account_close(struct account_db **dbp);

/*
 * Checks address syntax and writes the canonical (lower-case) form of
 * in[0..len) into out (outsz > ACCOUNT_ADDR_MAX). 0, or -1 with e set
 * saying what is wrong. Never touches the database.
 */
int account_canon(const char *in, size_t len, char *out, size_t outsz,
		  struct err *e);

/* What an account holds, apart from its secrets. */
struct account_info {
	char address[ACCOUNT_ADDR_MAX + 1]; /* canonical */
	char maildir[ACCOUNT_MAILDIR_MAX + 1]; /* relative, ends in '/' */
	int64_t created; /* time(2) of account_add */
	int64_t changed; /* time(2) of the last password change */
	bool disabled;   /* logins refused; mail still delivered */
	bool has_scram;  /* carries a SCRAM-SHA-256 verifier */
};

/* Secrets given to account_add / account_set_password. */
struct account_secret {
	const char *password; /* not NUL-terminated necessarily */
	size_t len;
	/* 0: store no SCRAM-SHA-256 verifier; else its iteration count
	 * (PASSWD_SCRAM_MIN_ITER..MAX). */
	unsigned scram_iterations;
};

/*
 * Creates an account with the password hashed by passwd_hash_new() and the
 * default maildir "domain/local/". Refuses an address that exists (returns
 * 0 with e saying so), a bad address or an empty password (-1). 1 created,
 * 0 exists already, -1 error. Slow: one password hash.
 */
int account_add(struct account_db *db, const char *address,
		const struct account_secret *sec, struct err *e);
/* Replaces the password (and SCRAM verifier) of an existing account.
 * 1 changed, 0 no such account, -1 error. */
int account_set_password(struct account_db *db, const char *address,
			 const struct account_secret *sec, struct err *e);
/* Sets or clears the disabled flag. 1 done, 0 no such account, -1 error. */
int account_set_disabled(struct account_db *db, const char *address,
			 bool disabled, struct err *e);
/* Removes an account (its mail stays on disk). 1 removed, 0 no such
 * account, -1 error. */
int account_del(struct account_db *db, const char *address, struct err *e);

/* 1 the address (any case) is an account, 0 not (also for a malformed
 * address), -1 error. */
int account_exists(struct account_db *db, const char *address,
		   struct err *e);
/* Fills *out for the address. 1 found, 0 not, -1 error. */
int account_get(struct account_db *db, const char *address,
		struct account_info *out, struct err *e);

/*
 * Checks a password. 1 it matches an enabled account; 0 unknown address,
 * wrong password or disabled account (the three take the same time: an
 * unknown address is checked against a dummy hash, so timing does not
 * tell which addresses exist); -1 database error (a temporary failure for
 * the client). With canon_out non-NULL (size > ACCOUNT_ADDR_MAX), the
 * canonical address is written there on success. Slow: one scrypt.
 */
int account_check_password(struct account_db *db, const char *address,
			   const char *password, size_t len, char *canon_out,
			   size_t canon_outsz, struct err *e);

/*
 * Copies the SCRAM-SHA-256 verifier of an enabled account into out
 * (outsz >= PASSWD_SCRAM_MAX). 1 found, 0 no such account, disabled, or
 * no verifier stored, -1 error.
 */
int account_get_scram(struct account_db *db, const char *address, char *out,
		      size_t outsz, struct err *e);

/*
 * Calls fn for every account in address order (domain NULL) or for those
 * of one domain. fn returns 0 to go on, non-zero to stop (that value is
 * returned). fn runs inside a read transaction: it must not call account_*
 * on the same handle. 0 when all were visited, -1 on error.
 */
typedef int (*account_list_fn)(void *ctx, const struct account_info *info);
int account_list(struct account_db *db, const char *domain,
		 account_list_fn fn, void *ctx, struct err *e);

#endif
