/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_PRIVS_H
#define POSTHORN_COMMON_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"

/*
 * Privilege handling. Posthorn runs with privilege separation when started
 * as root, and entirely as the invoking user otherwise (development, tests).
 */

/* True when the real and effective uid are 0. */
bool privs_is_root(void);
/* Resolves a user name (or a decimal uid) to uid and primary gid.
 * 0, or -1 with e set. */
int privs_lookup_user(const char *name, uid_t *uid, gid_t *gid,
		      struct err *e);
/* Resolves a group name (or a decimal gid). 0 or -1. */
int privs_lookup_group(const char *name, gid_t *gid, struct err *e);
/* Resolves Postfix's "static:NAME" / "static:NUMBER" (virtual_uid_maps,
 * virtual_gid_maps) to an id; is_group selects the group database. */
int privs_lookup_static(const char *spec, bool is_group, unsigned *id,
			struct err *e);
/*
 * Permanently becomes uid/gid: setgroups to gid (plus extra_gid when it is
 * not (gid_t)-1), setgid, setuid, then checks that regaining root fails.
 * Without root this succeeds only when uid/gid are already ours. 0, or -1
 * with e set (the caller must exit).
 */
int privs_drop(uid_t uid, gid_t gid, gid_t extra_gid, struct err *e);
/* Temporarily switches effective ids (root keeps its saved uid) so local
 * can write as a recipient; privs_restore() returns to root. */
int privs_become(uid_t uid, gid_t gid, struct err *e);
int privs_restore(struct err *e);

#endif
