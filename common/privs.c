/* SPDX-License-Identifier: MIT */
/*
 * privs.c - user lookups and dropping privileges
 *
 * The permanent drop sets groups first, then gid, then uid (after setuid the
 * process could no longer change its groups), and proves it worked by
 * trying to get root back: a daemon that reads network input must never
 * be able to.
 */
#include "common/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "common/str.h"

bool privs_is_root(void)
{
	return getuid() == 0 && geteuid() == 0;
}

int privs_lookup_user(const char *name, uid_t *uid, gid_t *gid,
		      struct err *e)
{
	uint64_t v;
	errno = 0;
	struct passwd *pw = getpwnam(name);
	if (!pw && parse_uint(name, 0, 0x7fffffff, &v) == 0) {
		pw = getpwuid((uid_t)v);
		if (!pw) {
			*uid = (uid_t)v;
			*gid = (gid_t)v;
			return 0;
		}
	}
	if (!pw) {
		err_set(e, "unknown user \"%s\"", name);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int privs_lookup_group(const char *name, gid_t *gid, struct err *e)
{
	uint64_t v;
	struct group *gr = getgrnam(name);
	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (parse_uint(name, 0, 0x7fffffff, &v) == 0) {
		*gid = (gid_t)v;
		return 0;
	}
	err_set(e, "unknown group \"%s\"", name);
	return -1;
}

int privs_lookup_static(const char *spec, bool is_group, unsigned *id,
			struct err *e)
{
	if (strncmp(spec, "static:", 7) != 0) {
		err_set(e, "\"%s\": only static:NAME or static:NUMBER is "
			   "supported", spec);
		return -1;
	}
	const char *name = spec + 7;
	if (is_group) {
		gid_t g;
		if (privs_lookup_group(name, &g, e) < 0)
			return -1;
		*id = (unsigned)g;
		return 0;
	}
	uid_t u;
	gid_t g;
	if (privs_lookup_user(name, &u, &g, e) < 0)
		return -1;
	*id = (unsigned)u;
	return 0;
}

int privs_drop(uid_t uid, gid_t gid, gid_t extra_gid, struct err *e)
{
	if (!privs_is_root()) {
		if (getuid() == uid && geteuid() == uid)
			return 0;
		err_set(e, "cannot become uid %u without root", (unsigned)uid);
		return -1;
	}
	gid_t groups[2] = {gid, extra_gid};
	size_t ngroups = extra_gid == (gid_t)-1 || extra_gid == gid ? 1 : 2;
	if (setgroups(ngroups, groups) < 0 || setgid(gid) < 0 ||
	    setuid(uid) < 0) {
		err_set(e, "cannot drop privileges to %u:%u: %s",
			(unsigned)uid, (unsigned)gid, strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		err_set(e, "privileges could be regained after dropping them");
		return -1;
	}
	return 0;
}

int privs_become(uid_t uid, gid_t gid, struct err *e)
{
	if (!privs_is_root() && geteuid() != 0)
		return 0;
	if (setgroups(1, &gid) < 0 || setegid(gid) < 0 || seteuid(uid) < 0) {
		err_set(e, "cannot switch to %u:%u: %s", (unsigned)uid,
			(unsigned)gid, strerror(errno));
		return -1;
	}
	return 0;
}

int privs_restore(struct err *e)
{
	if (getuid() != 0)
		return 0;
	gid_t g = 0;
	if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(1, &g) < 0) {
		err_set(e, "cannot restore root: %s", strerror(errno));
		return -1;
	}
	return 0;
}
