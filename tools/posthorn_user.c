/* SPDX-License-Identifier: MIT */
/*
 * posthorn_user.c - `posthorn user`: manage the virtual accounts
 *
 *   posthorn user add ADDRESS       create (domain must be virtual)
 *   posthorn user passwd ADDRESS    set a new password
 *   posthorn user del ADDRESS       remove (the maildir stays on disk)
 *   posthorn user disable ADDRESS   refuse logins, keep receiving mail
 *   posthorn user enable ADDRESS
 *   posthorn user list [DOMAIN]     one address per line
 *
 * Passwords are read from standard input, never from the command line
 * (argv is visible to every user in ps): one line from a pipe, or typed
 * twice without echo on a terminal. The buffer is wiped after hashing.
 * Parameters are already loaded by tools/posthorn.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/account.h"
#include "common/log.h"
#include "common/params.h"
#include "common/privs.h"
#include "common/passwd_hash.h"
#include "common/str.h"
#include "posthorn_cmd.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: posthorn user add ADDRESS\n"
		"       posthorn user passwd ADDRESS\n"
		"       posthorn user del ADDRESS\n"
		"       posthorn user disable ADDRESS\n"
		"       posthorn user enable ADDRESS\n"
		"       posthorn user list [DOMAIN]\n"
		"The password is read from standard input (typed twice on a "
		"terminal).\n");
	return 2;
}

/* Reads one line from fd 0 byte by byte (no stdio buffer keeps a copy,
 * and nothing after the line is consumed). Returns its length without
 * the line end, -2 when longer than PASSWD_MAX, -1 on EOF before any
 * byte or a read error. */
static long read_line(char *buf, size_t bufsz)
{
	size_t n = 0;
	bool any = false, overlong = false;
	for (;;) {
		char c;
		ssize_t r = read(0, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		any = true;
		if (c == '\n')
			break;
		if (n + 1 < bufsz)
			buf[n++] = c;
		else
			overlong = true;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (overlong || n > PASSWD_MAX)
		return -2;
	return any ? (long)n : -1;
}

/* Prompts on the terminal with echo off; restores the terminal. */
static long prompt(const char *text, char *buf, size_t bufsz)
{
	struct termios old, quiet;
	fputs(text, stderr);
	fflush(stderr);
	bool tty = tcgetattr(0, &old) == 0;
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		(void)tcsetattr(0, TCSAFLUSH, &quiet);
	}
	long n = read_line(buf, bufsz);
	if (tty)
		(void)tcsetattr(0, TCSAFLUSH, &old);
	return n;
}

static char pw1[PASSWD_MAX + 2], pw2[PASSWD_MAX + 2];

static void wipe(void)
{
	explicit_bzero(pw1, sizeof(pw1));
	explicit_bzero(pw2, sizeof(pw2));
}

/* Gets the new password into pw1. Its length, or -1 (reported). */
static long get_password(void)
{
	long n;
	if (isatty(0)) {
		n = prompt("New password: ", pw1, sizeof(pw1));
		if (n >= 0) {
			long m = prompt("Retype new password: ", pw2,
					sizeof(pw2));
			if (m != n || memcmp(pw1, pw2, (size_t)n) != 0) {
				log_error("the passwords do not match");
				return -1;
			}
		}
	} else {
		n = read_line(pw1, sizeof(pw1));
	}
	if (n == -2)
		log_error("password longer than %d bytes", PASSWD_MAX);
	else if (n < 0)
		log_error("no password on standard input");
	else if (n == 0)
		log_error("empty password");
	return n > 0 ? n : -1;
}

static int open_db(struct account_db **db, unsigned flags)
{
	struct err e;
	if (account_open(db, params->account_database, flags, &e) < 0) {
		log_error("cannot open the account database: %s", e.msg);
		return -1;
	}
	/* As root the file may just have been created 0600 root: the
	 * daemons reading accounts need mail_owner's group on it. */
	uid_t uid;
	gid_t gid;
	if (privs_is_root() &&
	    (privs_lookup_user(params->mail_owner, &uid, &gid, &e) < 0 ||
	     account_share_group(params->account_database, gid, &e) < 0))
		log_warn("%s", e.msg);
	return 0;
}

static int do_set_password(const char *verb, const char *addr, bool create)
{
	if (create) {
		char canon[ACCOUNT_ADDR_MAX + 1];
		struct err e;
		if (account_canon(addr, strlen(addr), canon, sizeof(canon),
				  &e) < 0) {
			log_error("%s: %s", addr, e.msg);
			return 1;
		}
		const char *domain = strchr(canon, '@') + 1;
		if (!strv_contains_nocase(&params->virtual_mailbox_domains,
					  domain)) {
			log_error("%s: domain %s is not listed in "
				  "virtual_mailbox_domains",
				  canon, domain);
			return 1;
		}
	}
	struct account_db *db;
	if (open_db(&db, create ? ACCOUNT_CREATE : 0) < 0)
		return 1;
	/* Say so before asking for a password that would be refused; the
	 * write itself checks again, atomically. */
	struct err e;
	int exists = account_exists(db, addr, &e);
	if (exists < 0 || exists == (int)create) {
		if (exists < 0)
			log_error("%s: %s", addr, e.msg);
		else
			log_error("%s: %s", addr,
				  create ? "account exists" : "no such account");
		account_close(&db);
		return 1;
	}
	long n = get_password();
	int rc = 1;
	if (n > 0) {
		struct account_secret sec = {
			.password = pw1,
			.len = (size_t)n,
			.scram_iterations =
				(unsigned)params->account_scram_iterations,
		};
		int got = create ? account_add(db, addr, &sec, &e)
				 : account_set_password(db, addr, &sec, &e);
		if (got == 1)
			rc = 0;
		else
			log_error("%s %s: %s", verb, addr, e.msg);
	}
	wipe();
	account_close(&db);
	return rc;
}

static int do_del(const char *addr)
{
	struct account_db *db;
	if (open_db(&db, 0) < 0)
		return 1;
	struct account_info info;
	struct err e;
	int rc = account_get(db, addr, &info, &e);
	if (rc == 1)
		rc = account_del(db, addr, &e);
	if (rc == 0)
		log_error("%s: no such account", addr);
	else if (rc < 0)
		log_error("del %s: %s", addr, e.msg);
	else
		fprintf(stderr,
			"posthorn: removed %s; its mail in %s/%s was kept\n",
			info.address, params->virtual_mailbox_base,
			info.maildir);
	account_close(&db);
	return rc == 1 ? 0 : 1;
}

static int do_disable(const char *addr, bool disabled)
{
	struct account_db *db;
	if (open_db(&db, 0) < 0)
		return 1;
	struct err e;
	int rc = account_set_disabled(db, addr, disabled, &e);
	if (rc != 1)
		log_error("%s %s: %s", disabled ? "disable" : "enable", addr,
			  e.msg);
	account_close(&db);
	return rc == 1 ? 0 : 1;
}

static int print_one(void *ctx, const struct account_info *info)
{
	const struct posthorn_ctx *pc = ctx;
	if (pc->verbose) {
		char when[32] = "-";
		time_t t = (time_t)info->changed;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
				       &tm);
		printf("%s %s password-changed=%s%s%s\n", info->address,
		       info->maildir, when, info->has_scram ? " scram" : "",
		       info->disabled ? " disabled" : "");
	} else {
		printf("%s%s\n", info->address,
		       info->disabled ? " disabled" : "");
	}
	return ferror(stdout) ? -1 : 0;
}

static int do_list(struct posthorn_ctx *ctx, const char *domain)
{
	struct account_db *db;
	if (open_db(&db, ACCOUNT_RDONLY) < 0)
		return 1;
	struct err e = {{0}};
	int rc = account_list(db, domain, print_one, ctx, &e);
	if (rc < 0)
		log_error("list: %s", rc == -1 && ferror(stdout)
					      ? "cannot write output"
					      : e.msg);
	account_close(&db);
	if (fflush(stdout) != 0)
		rc = -1;
	return rc == 0 ? 0 : 1;
}

int cmd_user(struct posthorn_ctx *ctx, int argc, char **argv)
{
	ASSERT(params != NULL);
	if (argc < 2)
		return usage();
	const char *verb = argv[1];
	if (strcmp(verb, "list") == 0) {
		if (argc > 3)
			return usage();
		return do_list(ctx, argc == 3 ? argv[2] : NULL);
	}
	if (argc != 3)
		return usage();
	const char *addr = argv[2];
	if (strcmp(verb, "add") == 0)
		return do_set_password(verb, addr, true);
	if (strcmp(verb, "passwd") == 0)
		return do_set_password(verb, addr, false);
	if (strcmp(verb, "del") == 0)
		return do_del(addr);
	if (strcmp(verb, "disable") == 0)
		return do_disable(addr, true);
	if (strcmp(verb, "enable") == 0)
		return do_disable(addr, false);
	return usage();
}
