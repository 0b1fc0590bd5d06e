/* SPDX-License-Identifier: MIT */
/*
 * maildir.c - Maildir/Maildir++ names: message files, folders, directories
 *
 * Knows the naming conventions other maildir tools share (the ":2," info
 * suffix with its flag letters in ASCII order, Dovecot's ,S= and ,W=
 * attributes, Maildir++ ".A.B" folder directories with a maildirfolder
 * marker) and nothing about indexes or UIDs (mbox*.c).
 *
 * Names from disk are untrusted: parsing takes (pointer, length), bounds
 * every field, and refuses what no maildir writer makes.
 */
#include "common/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/mbox.h"
#include "common/str.h"

/* Flag letters, in ASCII order (the maildir specification asks for it). */
static const struct {
	char letter;
	unsigned flag;
} letters[] = {
	{'D', MBOX_F_DRAFT},    {'F', MBOX_F_FLAGGED}, {'P', MBOX_F_PASSED},
	{'R', MBOX_F_ANSWERED}, {'S', MBOX_F_SEEN},    {'T', MBOX_F_DELETED},
};

static unsigned letter_flag(char c)
{
	for (size_t i = 0; i < sizeof(letters) / sizeof(letters[0]); i++)
		if (letters[i].letter == c)
			return letters[i].flag;
	return 0;
}

/* Finds ",<key>=<digits>" in base and parses the digits. */
static bool base_attr(const char *base, size_t len, char key, uint64_t *out)
{
	for (size_t i = 0; i + 3 <= len; i++) {
		if (base[i] != ',' || base[i + 1] != key || base[i + 2] != '=')
			continue;
		size_t j = i + 3, k = j;
		while (k < len && k - j < 20 && base[k] >= '0' && base[k] <= '9')
			k++;
		if (k > j && (k == len || base[k] == ',') &&
		    parse_uintn(base + j, k - j, 0, UINT64_MAX, out) == 0)
			return true;
	}
	return false;
}

int maildir_name_parse(const char *name, size_t len, struct maildir_name *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0 || len > MAILDIR_FILE_MAX || name[0] == '.' ||
	    memchr(name, '/', len) || memchr(name, '\0', len))
		return -1;
	out->base = name;
	out->base_len = len;
	const char *colon = NULL;
	for (size_t i = len; i > 0; i--)
		if (name[i - 1] == ':') {
			colon = name + i - 1;
			break;
		}
	if (colon && (size_t)(name + len - colon) >= 3 && colon[1] == '2' &&
	    colon[2] == ',' && colon > name) {
		out->base_len = (size_t)(colon - name);
		out->has_info = true;
		size_t nextra = 0;
		for (const char *p = colon + 3; p < name + len; p++) {
			unsigned f = letter_flag(*p);
			if (f) {
				out->flags |= f;
			} else if (((*p >= 'A' && *p <= 'Z') ||
				    (*p >= 'a' && *p <= 'z')) &&
				   nextra < MAILDIR_EXTRA_MAX &&
				   !memchr(out->extra, *p, nextra)) {
				out->extra[nextra++] = *p;
			}
		}
		/* Sort the extra letters (at most 26: insertion sort). */
		for (size_t i = 1; i < nextra; i++)
			for (size_t j = i; j > 0 &&
			     out->extra[j - 1] > out->extra[j]; j--) {
				char t = out->extra[j];
				out->extra[j] = out->extra[j - 1];
				out->extra[j - 1] = t;
			}
		out->extra[nextra] = '\0';
	}
	out->has_size = base_attr(out->base, out->base_len, 'S', &out->size);
	out->has_vsize = base_attr(out->base, out->base_len, 'W', &out->vsize);
	return 0;
}

const char *maildir_letters(unsigned flags, const char *extra, char *out,
			    size_t outsz)
{
	size_t n = 0;
	const char *x = extra ? extra : "";
	/* Merge the flag letters (upper case) with the sorted extras. */
	size_t li = 0, nl = sizeof(letters) / sizeof(letters[0]);
	while ((li < nl || *x) && n + 1 < outsz) {
		while (li < nl && !(flags & letters[li].flag))
			li++;
		if (li < nl && (!*x || letters[li].letter < *x)) {
			out[n++] = letters[li++].letter;
		} else if (*x) {
			out[n++] = *x++;
		}
	}
	if (outsz)
		out[n < outsz ? n : outsz - 1] = '\0';
	return out;
}

int maildir_name_build(char *out, size_t outsz, const char *base,
		       size_t base_len, bool info, unsigned flags,
		       const char *extra)
{
	char l[8 + MAILDIR_EXTRA_MAX];
	int n;
	if (info)
		n = snprintf(out, outsz, "%.*s:2,%s", (int)base_len, base,
			     maildir_letters(flags, extra, l, sizeof(l)));
	else
		n = snprintf(out, outsz, "%.*s", (int)base_len, base);
	if (n < 0 || (size_t)n >= outsz || n > MAILDIR_FILE_MAX)
		return -1;
	return n;
}

/* The host name with the maildir escapes, computed once per process. */
static const char *safe_host(void)
{
	static char host[128];
	static pid_t for_pid;
	if (host[0] && for_pid == getpid())
		return host;
	char raw[64];
	if (gethostname(raw, sizeof(raw)) < 0)
		raw[0] = '\0';
	raw[sizeof(raw) - 1] = '\0';
	size_t n = 0;
	for (const char *p = raw; *p && n + 5 < sizeof(host); p++) {
		const char *esc = *p == '/' ? "\\057"
				  : *p == ':' ? "\\072"
				  : *p == ',' ? "\\054"
					      : NULL;
		if (esc) {
			memcpy(host + n, esc, 4);
			n += 4;
		} else if ((unsigned char)*p > ' ' && (unsigned char)*p < 0x7f) {
			host[n++] = *p;
		}
	}
	if (n == 0) {
		memcpy(host, "localhost", 9);
		n = 9;
	}
	host[n] = '\0';
	for_pid = getpid();
	return host;
}

int maildir_unique(char *out, size_t outsz, uint64_t size, uint64_t vsize)
{
	static unsigned long counter;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	int n = snprintf(out, outsz, "%lld.M%06ldP%ldQ%lu.%s,S=%llu,W=%llu",
			 (long long)tv.tv_sec, (long)tv.tv_usec,
			 (long)getpid(), ++counter, safe_host(),
			 (unsigned long long)size, (unsigned long long)vsize);
	if (n < 0 || (size_t)n >= outsz || n > MAILDIR_FILE_MAX - 16)
		return -1;
	return n;
}

bool maildir_is_inbox(const char *name)
{
	return str_eq_nocase(name, "INBOX");
}

int maildir_folder_dir(const char *name, char *out, size_t outsz,
		       struct err *e)
{
	size_t len = strlen(name);
	if (maildir_is_inbox(name)) {
		if (outsz == 0)
			return -1;
		out[0] = '\0';
		return 0;
	}
	if (len == 0 || len > MBOX_NAME_MAX) {
		err_set(e, "folder name must be 1 to %d bytes", MBOX_NAME_MAX);
		return -1;
	}
	if (len + 2 > outsz) {
		err_set(e, "folder name too long");
		return -1;
	}
	size_t n = 0, level = 0, depth = 1;
	out[n++] = '.';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '/') {
			if (level == 0) {
				err_set(e, "empty level in folder name");
				return -1;
			}
			if (++depth > MBOX_DEPTH_MAX) {
				err_set(e, "folder name deeper than %d levels",
					MBOX_DEPTH_MAX);
				return -1;
			}
			level = 0;
			out[n++] = '.';
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == '.') {
			err_set(e, "folder name holds %s",
				c == '.' ? "'.'" : "a control character");
			return -1;
		}
		if (++level > MBOX_LEVEL_MAX) {
			err_set(e, "folder name level longer than %d bytes",
				MBOX_LEVEL_MAX);
			return -1;
		}
		out[n++] = (char)c;
	}
	if (level == 0) {
		err_set(e, "empty level in folder name");
		return -1;
	}
	out[n] = '\0';
	return (int)n;
}

int maildir_folder_from_dir(const char *dir, size_t len, char *out,
			    size_t outsz)
{
	if (len < 2 || dir[0] != '.' || len - 1 >= outsz ||
	    len - 1 > MBOX_NAME_MAX)
		return -1;
	for (size_t i = 1; i < len; i++)
		out[i - 1] = dir[i] == '.' ? '/' : dir[i];
	out[len - 1] = '\0';
	/* Round trip through the forward mapping checks every rule. */
	char back[MBOX_NAME_MAX + 2];
	int n = maildir_folder_dir(out, back, sizeof(back), NULL);
	if (n < 0 || (size_t)n != len || memcmp(back, dir, len) != 0 ||
	    maildir_is_inbox(out))
		return -1;
	return (int)(len - 1);
}

static int make_dir(const char *path, struct err *e)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	err_set(e, "mkdir %s: %s", path, strerror(errno));
	return -1;
}

/* mkdir -p for the parents of path (not path itself). */
static int make_parents(const char *path, struct err *e)
{
	char tmp[4096];
	size_t len = strlen(path);
	if (len >= sizeof(tmp)) {
		err_set(e, "path too long: %s", path);
		return -1;
	}
	memcpy(tmp, path, len + 1);
	while (len > 1 && tmp[len - 1] == '/')
		tmp[--len] = '\0';
	for (size_t i = 1; i < len; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = '\0';
		int r = make_dir(tmp, e);
		tmp[i] = '/';
		if (r < 0)
			return -1;
	}
	return 0;
}

int maildir_make(const char *path, bool folder, bool parents, struct err *e)
{
	static const char *const subs[] = {"tmp", "new", "cur"};
	char p[4096];
	if (parents && make_parents(path, e) < 0)
		return -1;
	if (make_dir(path, e) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		int n = snprintf(p, sizeof(p), "%s/%s", path, subs[i]);
		if (n < 0 || (size_t)n >= sizeof(p)) {
			err_set(e, "path too long: %s", path);
			return -1;
		}
		if (make_dir(p, e) < 0)
			return -1;
	}
	if (!folder)
		return 0;
	int n = snprintf(p, sizeof(p), "%s/maildirfolder", path);
	if (n < 0 || (size_t)n >= sizeof(p)) {
		err_set(e, "path too long: %s", path);
		return -1;
	}
	return maildir_touch(p, e);
}

int maildir_touch(const char *path, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err_set(e, "create %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}
