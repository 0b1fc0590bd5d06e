/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_VERSION_H
#define POSTHORN_COMMON_VERSION_H

/* The release, shown in logs and by `posthorn -V`. */
#define POSTHORN_VERSION "0.1.0"

#endif
