/* SPDX-License-Identifier: MIT */
/*
 * local_msg.c - the queued message as local sees it: loaded once per
 * request, its Delivered-To headers (loop detection), and the header
 * lines a delivered copy gets in front (with a forwarded recipient's
 * delivered-to chain, proto_deliver.h)
 *
 * The queue file is the message exactly as delivered, LF line ends
 * (common/queue_file.h), so a maildir copy is the prepended lines plus
 * these bytes, unchanged. It is read as root, before any switch to a
 * recipient's ids (the queue belongs to mail_owner).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/queue_env.h"
#include "common/str.h"
#include "common/xalloc.h"
#include "local.h"

#define DELIVERED_TO_MAX 1000 /* Delivered-To headers remembered */

/* True when name[0..len) is the header field name want (any case). */
static bool field_is(const char *line, size_t len, const char *want)
{
	size_t n = strlen(want);
	return len > n && line[n] == ':' && strn_eq_nocase(line, n, want);
}

/* Fills header_len and delivered_to. */
static void parse_header(struct local_msg *m)
{
	const char *p = m->data, *end = m->data + m->len;
	struct buf value;
	bool in_dt = false;
	buf_init(&value, LOCAL_ADDR_MAX * 4);
	strv_init(&m->delivered_to);
	m->header_len = m->len;
	for (;;) {
		const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p))
					 : NULL;
		const char *line_end = nl ? nl : end;
		size_t len = (size_t)(line_end - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		bool cont = len > 0 && (p[0] == ' ' || p[0] == '\t');
		if (in_dt && !cont) {
			char *v = xmemdup(value.data ? value.data : "",
					  value.len);
			str_trim(v);
			size_t vl = strlen(v);
			if (vl >= 2 && v[0] == '<' && v[vl - 1] == '>') {
				v[vl - 1] = '\0';
				memmove(v, v + 1, vl - 1);
			}
			str_lower(v);
			if (m->delivered_to.n < DELIVERED_TO_MAX && v[0])
				strv_push(&m->delivered_to, v);
			free(v);
			in_dt = false;
			buf_reset(&value);
		}
		if (p >= end)
			break;
		if (len == 0) {
			m->header_len = (size_t)((nl ? nl + 1 : end) - m->data);
			break;
		}
		if (cont && in_dt) {
			(void)buf_append(&value, p, len);
		} else if (!cont && field_is(p, len, "Delivered-To")) {
			in_dt = true;
			(void)buf_append(&value, p + 13, len - 13);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	buf_deinit(&value);
}

void local_msg_set(struct local_msg *m, const char *data, size_t len)
{
	m->data = xmemdup(data, len);
	m->len = len;
	parse_header(m);
}

int local_msg_load(struct local_msg *m, const char *queue_dir,
		   const char *queue_file, uint64_t max, struct err *e)
{
	memset(m, 0, sizeof(*m));
	/* qmgr names a file inside the queue; refuse anything else. */
	size_t ql = strlen(queue_file);
	if (ql == 0 || ql > 256 || queue_file[0] == '/' ||
	    strstr(queue_file, "..") != NULL) {
		err_set(e, "bad queue file name");
		return -1;
	}
	char *path = xasprintf("%s/%s", queue_dir, queue_file);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	int rc = -1;
	if (fd < 0 || fstat(fd, &st) < 0) {
		err_set(e, "open %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		err_set(e, "%s: not a regular file or larger than %llu bytes",
			path, (unsigned long long)max);
		goto out;
	}
	size_t size = (size_t)st.st_size;
	m->data = xmalloc(size + 1);
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, m->data + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set(e, "read %s: %s", path,
				n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	m->data[size] = '\0';
	m->len = size;
	parse_header(m);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		free(m->data);
		m->data = NULL;
	}
	free(path);
	return rc;
}

void local_msg_deinit(struct local_msg *m)
{
	free(m->data);
	strv_deinit(&m->delivered_to);
	memset(m, 0, sizeof(*m));
}

bool local_msg_delivered_to(const struct local_msg *m, const char *addr)
{
	return strv_contains_nocase(&m->delivered_to, addr);
}

/* Appends s with control characters replaced (a header must stay one
 * line whatever an address holds). */
static void append_clean(struct buf *out, const char *s)
{
	for (; *s; s++)
		(void)buf_append_char(out, (unsigned char)*s < ' ' ||
						   *s == 0x7f
					       ? '?'
					       : *s);
}

void local_msg_prepend(struct buf *out, const char *sender, const char *addr,
		       const char *dlvto)
{
	(void)buf_append_str(out, "Return-Path: <");
	append_clean(out, sender);
	(void)buf_append_str(out, ">\nDelivered-To: ");
	append_clean(out, addr);
	(void)buf_append_char(out, '\n');
	size_t pos = 0, alen;
	const char *a;
	/* The chain passed queue_dlvto_safe: addresses without controls,
	 * one per line. */
	while (dlvto && queue_dlvto_next(dlvto, strlen(dlvto), &pos, &a,
					 &alen)) {
		(void)buf_append_str(out, "Delivered-To: ");
		(void)buf_append(out, a, alen);
		(void)buf_append_char(out, '\n');
	}
}

bool local_chain_has(const char *dlvto, const char *addr)
{
	size_t pos = 0, alen;
	const char *a;
	while (dlvto && queue_dlvto_next(dlvto, strlen(dlvto), &pos, &a,
					 &alen))
		if (strn_eq_nocase(a, alen, addr))
			return true;
	return false;
}
