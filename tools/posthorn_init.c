/* SPDX-License-Identifier: MIT */
/*
 * posthorn_init.c - `posthorn -c DIR init`: a complete instance in DIR
 *
 * Writes main.cf and master.cf for the embedded default (loopback, the
 * high ports of DESIGN.md, domain example.test), the alias and virtual
 * alias tables that make postmaster reach a real mailbox, the spool with
 * its modes, a self-signed certificate, and one demo account whose
 * password is printed once. Run as root, the instance uses privilege
 * separation (mail_owner posthorn, mailboxes owned by vmail); otherwise
 * everything belongs to the invoking user.
 *
 * init never overwrites: an existing main.cf is an error, so a typo in
 * -c cannot destroy a configured system.
 */
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

static int make_tree(const char *dir, const struct init_ids *ids)
{
	static const struct {
		const char *sub;
		mode_t mode;
		int who; /* 0 root, 1 mail_owner, 2 vmail */
	} dirs[] = {
		{"tls", 0755, 0},
		{"log", 0755, 0},
		{"data", 0755, 0},
		{"mail", 0700, 2},
		{"spool", 0755, 0},
		{"spool/incoming", 0700, 1},
		{"spool/queue", 0700, 1},
		{"spool/index.lmdb", 0700, 1}, /* queue index (qmgr) */
		{"spool/private", 0700, 1},
		/* 0711: every local user may reach public/pickup (sendmail)
		 * but not list what is there. */
		{"spool/public", 0711, 1},
		{"spool/pid", 0755, 0},
	};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = xasprintf("%s/%s", dir, dirs[i].sub);
		uid_t u = dirs[i].who == 1   ? ids->owner_uid
			  : dirs[i].who == 2 ? ids->vmail_uid
					     : 0;
		gid_t g = dirs[i].who == 1   ? ids->owner_gid
			  : dirs[i].who == 2 ? ids->vmail_gid
					     : 0;
		int rc = make_dir(p, dirs[i].mode, u, g);
		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
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

static int write_config(const char *dir, const struct init_ids *ids)
{
	char *daemon_dir = find_daemon_dir();
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	(void)strftime(stamp, sizeof(stamp), "%Y-%m-%d",
		       localtime_r(&now, &tm));
	char *main_cf = xasprintf(INIT_MAIN_CF, stamp, dir, daemon_dir,
				  ids->owner, ids->vmail_user,
				  ids->vmail_group);
	char *path = xasprintf("%s/main.cf", dir);
	int rc = write_file(path, main_cf, 0644);
	free(path);
	free(main_cf);
	free(daemon_dir);
	if (rc < 0)
		return -1;
	path = xasprintf("%s/master.cf", dir);
	rc = write_file(path, INIT_MASTER_CF, 0644);
	free(path);
	if (rc < 0)
		return -1;
	path = xasprintf("%s/aliases", dir);
	rc = write_file(path, INIT_ALIASES, 0644);
	free(path);
	if (rc < 0)
		return -1;
	path = xasprintf("%s/virtual", dir);
	rc = write_file(path, INIT_VIRTUAL, 0644);
	free(path);
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

static int add_demo_user(const struct init_ids *ids)
{
	struct err e;
	char *address = xasprintf("demo@%s", params->mydomain);
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
		log_error("demo account: %s", e.msg);
	account_close(&db);
	if (rc == 0)
		printf("posthorn: demo account %s, password %s\n"
		       "posthorn: (shown once; change it with `posthorn "
		       "user passwd %s`)\n",
		       address, password, address);
	explicit_bzero(password, strlen(password));
	free(password);
	free(address);
	return rc;
}

int cmd_init(struct posthorn_ctx *ctx, int argc, char **argv)
{
	struct init_ids ids;
	struct err e;
	if (argc > 1) {
		fprintf(stderr, "usage: posthorn -c DIR %s\n", argv[0]);
		return 2;
	}
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
	if (make_tree(dir, &ids) < 0 || write_config(dir, &ids) < 0)
		return 1;
	if (params_load(dir, NULL, NULL, NULL, &e) < 0) {
		log_error("the configuration init wrote does not load: %s",
			  e.msg);
		return 1;
	}
	if (build_tables(dir) < 0 || make_certificate(dir) < 0 ||
	    add_demo_user(&ids) < 0)
		return 1;
	warn_unreachable(dir);
	printf("posthorn: instance created in %s\n"
	       "posthorn: start it with: posthorn -c %s start-fg\n",
	       dir, dir);
	return 0;
}
