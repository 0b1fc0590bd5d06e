/* SPDX-License-Identifier: MIT */
/*
 * fdpass.c - one file descriptor over a UNIX socket, and peer credentials
 *
 * Ancillary data is easy to get subtly wrong: a receiver that reads with
 * a too-small control buffer gets MSG_CTRUNC and leaks the descriptors it
 * did not see, and a descriptor received without MSG_CMSG_CLOEXEC leaks
 * into every child. Both are handled here, once.
 */
#include "common/fdpass.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MARKER 'F'
#define MAX_FDS 8

static int wait_fd(int sock, short events, int timeout_ms, struct err *e)
{
	struct pollfd p = {.fd = sock, .events = events};
	for (;;) {
		int rc = poll(&p, 1, timeout_ms);
		if (rc > 0)
			return 0;
		if (rc == 0) {
			err_set(e, "timed out");
			return -1;
		}
		if (errno != EINTR) {
			err_set(e, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

int fdpass_send(int sock, int fd, int timeout_ms, struct err *e)
{
	char byte = MARKER;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = u.buf,
	                     .msg_controllen = sizeof(u.buf)};
	memset(&u, 0, sizeof(u));
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	for (;;) {
		if (wait_fd(sock, POLLOUT, timeout_ms, e) < 0)
			return -1;
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == 1)
			return 0;
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		err_set(e, "sendmsg: %s", n < 0 ? strerror(errno) : "short");
		return -1;
	}
}

int fdpass_recv(int sock, int timeout_ms, struct err *e)
{
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
	} u;
	struct msghdr msg;
	ssize_t n;
	for (;;) {
		if (wait_fd(sock, POLLIN, timeout_ms, e) < 0)
			return -1;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		break;
	}
	if (n < 0) {
		err_set(e, "recvmsg: %s", strerror(errno));
		return -1;
	}
	int got = -1, count = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
	     c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
			if (count++ == 0)
				got = fd;
			else
				close(fd);
		}
	}
	if (n != 1 || byte != MARKER || count != 1 ||
	    (msg.msg_flags & MSG_CTRUNC)) {
		if (got >= 0)
			close(got);
		err_set(e, n == 0 ? "peer closed before passing a descriptor"
		                  : "expected exactly one passed descriptor");
		return -1;
	}
	return got;
}

int fdpass_peer_cred(int sock, uid_t *uid, gid_t *gid, pid_t *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -1;
	*uid = cr.uid;
	*gid = cr.gid;
	*pid = cr.pid;
	return 0;
}
