/* SPDX-License-Identifier: MIT */
/*
 * posthorn_init.c - `posthorn -c DIR init [--system] [--hostname H]
 *                   [--domain D]`: a complete, working instance
 *
 * Writes main.cf and master.cf, the alias and virtual alias tables that
 * make postmaster reach a real mailbox, the spool with its modes, a
 * self-signed certificate, and one account whose password is printed
 * once. Two layouts:
 *   default   the embedded demo/test instance: everything under DIR,
 *             loopback, the high ports of DESIGN.md, domain example.test,
 *             log file DIR/log/maillog, account demo@DOMAIN;
 *   --system  a real installation: /var/spool/posthorn, /var/lib/posthorn,
 *             /var/mail/vhosts, every interface, the standard ports,
 *             syslog, account postmaster@DOMAIN.
 * Run as root, the instance uses privilege separation (mail_owner
 * posthorn, mailboxes owned by vmail); otherwise everything belongs to
 * the invoking user.
 *
 * init never overwrites: an existing main.cf is an error, so a typo in
 * -c cannot destroy a configured system.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/account.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/map.h"
#include "common/params.h"
#include "common/privs.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "tools/posthorn_cmd.h"
#include "tools/posthorn_init_text.h"

struct init_ids {
	uid_t owner_uid; /* mail_owner */
	gid_t owner_gid;
	uid_t vmail_uid; /* virtual mailbox owner */
	gid_t vmail_gid;
	char owner[64];
	char vmail_user[64];
	char vmail_group[64];
};

/* What differs between the two layouts (see the file header). */
struct layout {
	bool system;
	char host[256];
	char domain[256];
	const char *first; /* the account init creates: FIRST@DOMAIN */
};

/* The @NAME@ marks of posthorn_init_text.h and their values. */
struct mark {
	const char *name;
	const char *value;
};

/* A copy of tmpl with every mark replaced; caller frees. */
static char *fill(const char *tmpl, const struct mark *marks, size_t n)
{
	struct buf out;
	buf_init(&out, 0);
	for (const char *p = tmpl; *p;) {
		size_t i;
		for (i = 0; i < n; i++) {
			size_t len = strlen(marks[i].name);
			if (strncmp(p, marks[i].name, len) == 0) {
				(void)buf_append_str(&out, marks[i].value);
				p += len;
				break;
			}
		}
		if (i == n)
			(void)buf_append_char(&out, *p++);
	}
	return buf_take(&out);
}

static int resolve_ids(struct init_ids *ids)
{
	struct err e;
	if (privs_is_root()) {
		snprintf(ids->owner, sizeof(ids->owner), "posthorn");
		snprintf(ids->vmail_user, sizeof(ids->vmail_user), "vmail");
		snprintf(ids->vmail_group, sizeof(ids->vmail_group), "vmail");
		if (privs_lookup_user("posthorn", &ids->owner_uid,
				      &ids->owner_gid, &e) < 0 ||
		    privs_lookup_user("vmail", &ids->vmail_uid,
				      &ids->vmail_gid, &e) < 0) {
			log_error("%s: as root, init needs the system users "
				  "posthorn and vmail (see INSTALL; "
				  "tools/deps.sh test creates them)",
				  e.msg);
			return -1;
		}
		return 0;
	}
	struct passwd *pw = getpwuid(getuid());
	ids->owner_uid = ids->vmail_uid = getuid();
	ids->owner_gid = ids->vmail_gid = getgid();
	if (pw)
		snprintf(ids->owner, sizeof(ids->owner), "%s", pw->pw_name);
	else
		snprintf(ids->owner, sizeof(ids->owner), "%ld",
			 (long)getuid());
	snprintf(ids->vmail_user, sizeof(ids->vmail_user), "%ld",
		 (long)getuid());
	snprintf(ids->vmail_group, sizeof(ids->vmail_group), "%ld",
		 (long)getgid());
	return 0;
}

/* Where the service programs are: next to this posthorn binary when it
 * runs from a build tree or a relocated install, else the compiled-in
 * default. */
static char *find_daemon_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *dir = dirname(exe);
		char *cand = xasprintf("%s/../libexec/posthorn", dir);
		char *master = xasprintf("%s/master", cand);
		bool ok = access(master, X_OK) == 0;
		free(master);
		if (ok) {
			char real[PATH_MAX];
			if (realpath(cand, real)) {
				free(cand);
				return xstrdup(real);
			}
		}
		free(cand);
	}
	return xstrdup(POSTHORN_DAEMON_DIR);
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		log_error("create %s: %s", path, strerror(errno));
		return -1;
	}
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		log_error("write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		log_error("mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (chmod(path, mode) < 0 ||
	    (privs_is_root() && chown(path, uid, gid) < 0)) {
		log_error("set owner/mode of %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The directories of the configuration just loaded: where main.cf put
 * the queue, the data, the mailboxes and the log. */
static int make_tree(const char *dir, const struct init_ids *ids)
{
	const char *q = params->queue_directory;
	char *log_dir = NULL;
	if (params->maillog_file[0] == '/' &&
	    strncmp(params->maillog_file, "/dev/", 5) != 0) {
		log_dir = xstrdup(params->maillog_file);
		*strrchr(log_dir, '/') = 0;
	}
	const struct {
		char *path;
		mode_t mode;
		int who; /* 0 root, 1 mail_owner, 2 vmail */
	} dirs[] = {
		{xasprintf("%s/tls", dir), 0755, 0},
		{log_dir ? xstrdup(log_dir) : NULL, 0755, 0},
		{xstrdup(params->data_directory), 0755, 0},
		{xstrdup(params->virtual_mailbox_base), 0700, 2},
		{xstrdup(q), 0755, 0},
		{xasprintf("%s/incoming", q), 0700, 1},
		{xasprintf("%s/queue", q), 0700, 1},
		{xasprintf("%s/index.lmdb", q), 0700, 1}, /* qmgr's index */
		{xasprintf("%s/private", q), 0700, 1},
		/* 0711: every local user may reach public/pickup (sendmail)
		 * but not list what is there. */
		{xasprintf("%s/public", q), 0711, 1},
		{xasprintf("%s/pid", q), 0755, 0},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		uid_t u = dirs[i].who == 1   ? ids->owner_uid
			  : dirs[i].who == 2 ? ids->vmail_uid
					     : 0;
		gid_t g = dirs[i].who == 1   ? ids->owner_gid
			  : dirs[i].who == 2 ? ids->vmail_gid
					     : 0;
		if (rc == 0 && dirs[i].path &&
		    make_dir(dirs[i].path, dirs[i].mode, u, g) < 0)
			rc = -1;
		free(dirs[i].path);
	}
	free(log_dir);
	return rc;
}

/* Daemons running as mail_owner or vmail must be able to reach DIR. */
static void warn_unreachable(const char *dir)
{
	char real[PATH_MAX];
	if (!privs_is_root() || !realpath(dir, real))
		return;
	for (char *slash = real + strlen(real); slash > real;) {
		struct stat st;
		if (stat(real, &st) == 0 && !(st.st_mode & S_IXOTH))
			log_warn("%s is not searchable by other users; the "
				 "unprivileged daemons will not reach %s",
				 real, dir);
		slash = strrchr(real, '/');
		if (!slash)
			break;
		*slash = 0;
	}
}

static char *random_password(void)
{
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyz"
				       "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char raw[16];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		log_fatal("no random bytes for the demo password");
	char *pw = xmalloc(sizeof(raw) + 1);
	for (size_t i = 0; i < sizeof(raw); i++)
		pw[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
	pw[sizeof(raw)] = 0;
	return pw;
}

static int write_config(const char *dir, const struct init_ids *ids,
			const struct layout *lo)
{
	char *daemon_dir = find_daemon_dir();
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	(void)strftime(stamp, sizeof(stamp), "%Y-%m-%d",
		       localtime_r(&now, &tm));
	char *queue = xasprintf("%s/spool", dir);
	const bool sys = lo->system;
	const struct mark marks[] = {
		{"@DATE@", stamp},
		{"@QUEUE@", sys ? "/var/spool/posthorn" : queue},
		{"@DATA@", sys ? "/var/lib/posthorn" : "$config_directory/data"},
		{"@MAIL@", sys ? "/var/mail/vhosts" : "$config_directory/mail"},
		{"@DAEMON_DIR@", daemon_dir},
		{"@LOG@", sys ? "# Logs go to syslog (facility mail); set "
				"maillog_file to use a file."
			      : "maillog_file = $config_directory/log/maillog"},
		{"@OWNER@", ids->owner},
		{"@VUSER@", ids->vmail_user},
		{"@VGROUP@", ids->vmail_group},
		{"@HOST@", lo->host},
		{"@DOMAIN@", lo->domain},
		{"@FIRST@", lo->first},
		{"@INTERFACES@", sys ? "all" : "127.0.0.1"},
		{"@PEERNAME@", sys ? "# Client names are looked up in DNS "
				     "(smtpd_peername_lookup)."
				   : "# No DNS on the way in: the demo must "
				     "work without a resolver.\n"
				     "smtpd_peername_lookup = no"},
		{"@SMTP@", sys ? "smtp" : "2525"},
		{"@SUBMISSION@", sys ? "submission" : "2587"},
		{"@SMTPS@", sys ? "submissions" : "2465"},
		{"@POP3@", sys ? "pop3" : "2110"},
		{"@POP3S@", sys ? "pop3s" : "2995"},
		{"@IMAP@", sys ? "imap" : "2143"},
		{"@IMAPS@", sys ? "imaps" : "2993"},
	};
	const size_t nmarks = sizeof(marks) / sizeof(marks[0]);
	const struct {
		const char *name;
		const char *tmpl;
	} files[] = {
		{"main.cf", INIT_MAIN_CF},
		{"master.cf", INIT_MASTER_CF},
		{"aliases", INIT_ALIASES},
		{"virtual", INIT_VIRTUAL},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && !rc; i++) {
		char *text = fill(files[i].tmpl, marks, nmarks);
		char *path = xasprintf("%s/%s", dir, files[i].name);
		rc = write_file(path, text, 0644);
		free(path);
		free(text);
	}
	free(queue);
	free(daemon_dir);
	return rc;
}

static int build_tables(const char *dir)
{
	struct err e;
	char *aliases = xasprintf("%s/aliases", dir);
	char *virtual = xasprintf("%s/virtual", dir);
	int rc = 0;
	if (map_build(aliases, MAP_FORMAT_ALIASES, &e) < 0 ||
	    map_build(virtual, MAP_FORMAT_KV, &e) < 0) {
		log_error("%s", e.msg);
		rc = -1;
	}
	free(aliases);
	free(virtual);
	return rc;
}

static int make_certificate(const char *dir)
{
	struct err e;
	char *cert = xasprintf("%s/tls/cert.pem", dir);
	char *key = xasprintf("%s/tls/key.pem", dir);
	int rc = tls_cert_generate(params->myhostname, TLS_KEY_EC_P256, 3650,
				   cert, key, &e);
	if (rc < 0)
		log_error("certificate: %s", e.msg);
	free(cert);
	free(key);
	return rc;
}

static int add_first_account(const struct init_ids *ids,
			     const struct layout *lo)
{
	struct err e;
	char *address = xasprintf("%s@%s", lo->first, params->mydomain);
	char *password = random_password();
	struct account_secret sec = {.password = password,
				     .len = strlen(password),
				     .scram_iterations = 0};
	struct account_db *db = NULL;
	int rc = -1;
	if (account_open(&db, params->account_database, ACCOUNT_CREATE, &e) ==
		    0 &&
	    account_add(db, address, &sec, &e) == 1 &&
	    account_share_group(params->account_database, ids->owner_gid,
				&e) == 0)
		rc = 0;
	if (rc < 0)
		log_error("account %s: %s", address, e.msg);
	account_close(&db);
	if (rc == 0)
		printf("posthorn: %s account %s, password %s\n"
		       "posthorn: (shown once; change it with `posthorn "
		       "user passwd %s`)\n",
		       lo->first, address, password, address);
	explicit_bzero(password, strlen(password));
	free(password);
	free(address);
	return rc;
}

static void usage(const char *name)
{
	fprintf(stderr,
		"usage: posthorn -c DIR %s [--system] [--hostname NAME] "
		"[--domain NAME]\n",
		name);
}

/* Fills lo from the command line. 0, or the exit status. */
static int parse_layout(int argc, char **argv, struct layout *lo)
{
	const char *host = NULL, *domain = NULL;
	memset(lo, 0, sizeof(*lo));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--system") == 0)
			lo->system = true;
		else if (strcmp(argv[i], "--hostname") == 0 && i + 1 < argc)
			host = argv[++i];
		else if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
			domain = argv[++i];
		else {
			usage(argv[0]);
			return 2;
		}
	}
	lo->first = lo->system ? "postmaster" : "demo";
	if (!host && lo->system) {
		/* The machine's name; params' %hostname rule (FQDN, else
		 * NAME.localdomain) comes with the loaded defaults. */
		struct err e;
		if (params_load(NULL, NULL, NULL, NULL, &e) < 0) {
			log_error("%s", e.msg);
			return 1;
		}
		host = params->myhostname;
	}
	(void)snprintf(lo->host, sizeof(lo->host), "%s",
		       host ? host : "mail.example.test");
	const char *dot = strchr(lo->host, '.');
	(void)snprintf(lo->domain, sizeof(lo->domain), "%s",
		       domain ? domain
		       : host ? (dot ? dot + 1 : lo->host)
			      : "example.test");
	for (const char *p = lo->host; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-')) {
			log_error("--hostname: \"%s\" is not a host name",
				  lo->host);
			return 1;
		}
	for (const char *p = lo->domain; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-')) {
			log_error("--domain: \"%s\" is not a domain name",
				  lo->domain);
			return 1;
		}
	return 0;
}

int cmd_init(struct posthorn_ctx *ctx, int argc, char **argv)
{
	struct init_ids ids;
	struct layout lo;
	struct err e;
	int rc = parse_layout(argc, argv, &lo);
	if (rc)
		return rc;
	char *main_cf = xasprintf("%s/main.cf", ctx->config_dir);
	if (access(main_cf, F_OK) == 0) {
		log_error("%s exists; init does not overwrite an instance",
			  main_cf);
		free(main_cf);
		return 1;
	}
	free(main_cf);
	if (resolve_ids(&ids) < 0)
		return 1;
	if (mkdir(ctx->config_dir, 0755) < 0 && errno != EEXIST) {
		log_error("mkdir %s: %s", ctx->config_dir, strerror(errno));
		return 1;
	}
	char dir[PATH_MAX];
	if (!realpath(ctx->config_dir, dir)) {
		log_error("%s: %s", ctx->config_dir, strerror(errno));
		return 1;
	}
	if (write_config(dir, &ids, &lo) < 0)
		return 1;
	if (params_load(dir, NULL, NULL, NULL, &e) < 0) {
		log_error("the configuration init wrote does not load: %s",
			  e.msg);
		return 1;
	}
	if (make_tree(dir, &ids) < 0 || build_tables(dir) < 0 ||
	    make_certificate(dir) < 0 || add_first_account(&ids, &lo) < 0)
		return 1;
	warn_unreachable(dir);
	if (lo.system)
		printf("posthorn: installation configured in %s for %s\n"
		       "posthorn: check it with: posthorn -c %s check\n",
		       dir, lo.domain, dir);
	else
		printf("posthorn: instance created in %s\n"
		       "posthorn: start it with: posthorn -c %s start-fg\n",
		       dir, dir);
	return 0;
}
