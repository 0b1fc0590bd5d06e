/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MAILDIR_H
#define POSTHORN_COMMON_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * Maildir and Maildir++ naming: message file names with their ":2,"
 * flag suffix and Dovecot's ",S=" / ",W=" size attributes, unique names
 * for new files, folder names to directory names, and making the
 * directories. Pure functions apart from maildir_make and the pid/host
 * read by maildir_unique. The mailbox store (mbox.h) is built on this;
 * nothing here touches an index.
 */

#define MAILDIR_FILE_MAX 255  /* bytes in a file name (NAME_MAX) */
#define MAILDIR_EXTRA_MAX 26  /* info letters we do not interpret */

/* A message file name, parsed. */
struct maildir_name {
	const char *base; /* the unique part: everything before ":2," */
	size_t base_len;
	bool has_info;    /* the name carries ":2,<letters>" */
	unsigned flags;   /* MBOX_F_* from the letters */
	char extra[MAILDIR_EXTRA_MAX + 1]; /* other letters, sorted */
	bool has_size, has_vsize;
	uint64_t size;    /* ,S=<n> in the base */
	uint64_t vsize;   /* ,W=<n> in the base */
};

/*
 * Parses a directory entry name[0..len). 0, or -1 when it is not a
 * message file: empty, starting with '.', longer than MAILDIR_FILE_MAX,
 * or holding '/' or NUL. An info part other than "2," (e.g. ":1,") leaves
 * the whole name as the base.
 */
int maildir_name_parse(const char *name, size_t len, struct maildir_name *out);

/* The info letters for flags plus extra, in ASCII order, into out
 * (outsz > 6 + MAILDIR_EXTRA_MAX). Returns out. */
const char *maildir_letters(unsigned flags, const char *extra, char *out,
			    size_t outsz);

/* Writes base[0..base_len) followed, when info, by ":2," and the letters,
 * into out. The length, or -1 when it does not fit in outsz or exceeds
 * MAILDIR_FILE_MAX. */
int maildir_name_build(char *out, size_t outsz, const char *base,
		       size_t base_len, bool info, unsigned flags,
		       const char *extra);

/*
 * A new unique base name
 *   <secs>.M<usecs>P<pid>Q<counter>.<host>,S=<size>,W=<vsize>
 * with '/', ':' and ',' in the host name written as \057, \072, \054
 * (the maildir convention). The length, or -1 if outsz is too small.
 */
int maildir_unique(char *out, size_t outsz, uint64_t size, uint64_t vsize);

/*
 * Maps a folder name ("A/B", "INBOX") to its Maildir++ directory name
 * relative to the maildir (".A.B"; "" for INBOX), checking the name rules
 * of mbox.h. The length, or -1 with e set.
 */
int maildir_folder_dir(const char *name, char *out, size_t outsz,
		       struct err *e);
/* The reverse, for a directory entry ".A.B" of the maildir: writes "A/B".
 * The length, or -1 when it is not a folder directory name (".", "..",
 * empty levels, a name that breaks the rules). */
int maildir_folder_from_dir(const char *dir, size_t len, char *out,
			    size_t outsz);
/* True for "INBOX" in any case. */
bool maildir_is_inbox(const char *name);

/*
 * Makes the directories of a maildir at path (path itself, cur, new, tmp;
 * mode 0700, missing parents too when parents is set) and, for a folder,
 * the empty "maildirfolder" file. Existing ones are fine. 0 or -1.
 */
int maildir_make(const char *path, bool folder, bool parents, struct err *e);

/* Creates path as an empty file (mode 0600, not through a symlink)
 * unless it exists. 0, or -1 with e set. */
int maildir_touch(const char *path, struct err *e);

#endif
