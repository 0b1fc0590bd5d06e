/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_QUEUE_LIST_H
#define POSTHORN_COMMON_QUEUE_LIST_H

#include <stdio.h>

#include "common/err.h"

/*
 * The queue listing in the layout of Postfix's mailq, so admins and their
 * scripts recognise it: one block per message with id ('!' when on
 * hold), size, arrival time and sender, then one line per recipient still
 * to be delivered (a "(reason)" line above a deferred one), and a total;
 * "Mail queue is empty" when it is. Shared by `posthorn queue list`,
 * mailq, and the showq service that serves mailq to users who cannot
 * read the index themselves.
 */

/* Name of the showq socket under queue_directory (world-reachable). */
#define QUEUE_LIST_SOCKET "public/showq"

/* Reads the index of queue_dir read-only and prints the listing on out.
 * 0, or -1 with e set (nothing printed when the index cannot be opened;
 * *denied is set when that was for lack of permission). */
int queue_list_print(FILE *out, const char *queue_dir, int *denied,
                     struct err *e);

#endif
