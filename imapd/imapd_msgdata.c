/* SPDX-License-Identifier: MIT */
/*
 * imapd_msgdata.c - a message's file, MIME tree and cached FETCH data
 *
 * Small files are read into one buffer the process reuses (mapping and
 * unmapping costs more than the copy for the typical message); large
 * ones are mapped, so FETCH BODY[] of a big attachment costs page-cache
 * copies only. Maildir files never change once written (flags live in
 * the name), so a mapping stays valid while we hold it, even if another
 * session expunges the message meanwhile.
 */
#include "imapd/imapd_msgdata.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"

/* Files up to this size are read into the shared buffer. */
#define READ_MAX (1024 * 1024)

/* The buffer small files are read into, and whether a msgdata holds it
 * (one message at a time is the rule; a second one maps its file). */
static char *readbuf;
static bool readbuf_busy;

static int read_all(int fd, char *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

void imapd_msgdata_init(struct imapd_msgdata *md, uint32_t uid)
{
	memset(md, 0, sizeof(*md));
	md->uid = uid;
}

int imapd_msgdata_file(struct imapd_msgdata *md, struct mbox_folder *f,
                       struct err *e)
{
	if (md->data)
		return 1;
	int fd;
	int rc = mbox_msg_open(f, md->uid, &fd, e);
	if (rc <= 0)
		return rc;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		err_set(e, "fstat: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (st.st_size == 0) {
		close(fd);
		md->data = "";
		md->len = 0;
		return 1;
	}
	if (st.st_size <= READ_MAX && !readbuf_busy) {
		if (!readbuf)
			readbuf = xmalloc(READ_MAX);
		int rrc = read_all(fd, readbuf, (size_t)st.st_size);
		int saved = errno;
		close(fd);
		if (rrc < 0) {
			err_set(e, "read: %s", strerror(saved));
			return -1;
		}
		readbuf_busy = true;
		md->owns_readbuf = true;
		md->data = readbuf;
		md->len = (size_t)st.st_size;
		return 1;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int saved = errno;
	close(fd);
	if (p == MAP_FAILED) {
		err_set(e, "mmap: %s", strerror(saved));
		return -1;
	}
	md->map = p;
	md->map_len = (size_t)st.st_size;
	md->data = p;
	md->len = md->map_len;
	return 1;
}

const struct mime_msg *imapd_msgdata_mime(struct imapd_msgdata *md)
{
	if (!md->mime)
		md->mime = mime_parse(md->data, md->len);
	return md->mime;
}

int imapd_msgdata_cache(struct imapd_msgdata *md, struct mbox_folder *f,
                        struct err *e)
{
	if (md->blob)
		return 1;
	unsigned version;
	void *blob;
	size_t len;
	int rc = mbox_cache_get(f, md->uid, &version, &blob, &len, e);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (version == IMAP_STRUCT_CACHE_VERSION &&
		    imap_struct_cache_parse(blob, len, &md->cache) == 0) {
			md->blob = blob;
			md->blob_len = len;
			return 1;
		}
		free(blob);
	}
	/* A miss: a message another tool delivered, or an old version. */
	rc = imapd_msgdata_file(md, f, e);
	if (rc <= 0)
		return rc;
	struct buf b;
	buf_init(&b, MBOX_CACHE_MAX);
	if (imap_struct_cache_build(&b, imapd_msgdata_mime(md)) < 0 ||
	    imap_struct_cache_parse(b.data, b.len, &md->cache) < 0) {
		buf_deinit(&b);
		err_set(e, "message structure too large to cache");
		return -1;
	}
	struct err pe;
	(void)mbox_cache_put(f, md->uid, IMAP_STRUCT_CACHE_VERSION, b.data,
	                     b.len, &pe);
	md->blob_len = b.len;
	md->blob = buf_take(&b);
	/* buf_take hands over the same bytes the cache points into. */
	return 1;
}

void imapd_msgdata_release(struct imapd_msgdata *md)
{
	mime_free(&md->mime);
	if (md->map)
		munmap(md->map, md->map_len);
	if (md->owns_readbuf)
		readbuf_busy = false;
	free(md->blob);
	imapd_msgdata_init(md, 0);
}
