/* SPDX-License-Identifier: MIT */
/*
 * posthorn_map.c - "posthorn map": build lookup tables, query them
 *
 *   posthorn map build [-a] FILE   FILE -> FILE.lmdb (-a: aliases syntax)
 *   posthorn map get SPEC KEY      print KEY's value in SPEC
 *
 * Exit status: 0 done / found; 1 build failed, or KEY not found; 2 usage
 * (including a SPEC that does not parse); 75 (EX_TEMPFAIL) when get could
 * not open or read a table, so a script can tell "not there" from "could
 * not look". The work is in common/map.c; this
 * file only reads the command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/map.h"
#include "common/str.h"
#include "posthorn_cmd.h"

#define EXIT_TEMPFAIL 75

static int usage(void)
{
	fputs("usage: posthorn map build [-a] FILE\n"
	      "       posthorn map get SPEC KEY\n",
	      stderr);
	return 2;
}

/* "lmdb:/etc/x", "hash:/etc/x" (as in postmap) or "/etc/x". */
static const char *strip_type(const char *file)
{
	static const char *const types[] = {"lmdb:", "hash:", "btree:"};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (str_prefix_nocase(file, strlen(file), types[i]))
			return file + strlen(types[i]);
	return file;
}

static int map_build_cmd(int argc, char **argv)
{
	enum map_format fmt = MAP_FORMAT_KV;
	int i = 1;
	if (i < argc && strcmp(argv[i], "-a") == 0) {
		fmt = MAP_FORMAT_ALIASES;
		i++;
	}
	if (i != argc - 1 || argv[i][0] == '-')
		return usage();
	struct err e;
	if (map_build(strip_type(argv[i]), fmt, &e) < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	return 0;
}

static int map_get_cmd(int argc, char **argv)
{
	if (argc != 3)
		return usage();
	struct strv specs;
	strv_init(&specs);
	struct err e;
	int r = map_spec_split(argv[1], &specs, &e);
	if (r < 0 || specs.n == 0) {
		log_error("%s", r < 0 ? e.msg : "no table given");
		strv_deinit(&specs);
		return 2;
	}
	char *value = NULL;
	struct maplist *ml = maplist_open(&specs, &e);
	r = ml ? maplist_lookup(ml, argv[2], &value, &e) : -1;
	int status;
	if (r < 0) {
		log_error("%s", e.msg);
		status = EXIT_TEMPFAIL;
	} else if (r == 0) {
		status = 1;
	} else {
		status = 0;
		if (printf("%s\n", value) < 0 || fflush(stdout) != 0) {
			log_error("write: standard output failed");
			status = 1;
		}
	}
	free(value);
	maplist_close(&ml);
	strv_deinit(&specs);
	return status;
}

int cmd_map(struct posthorn_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "build") == 0)
		return map_build_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "get") == 0)
		return map_get_cmd(argc - 1, argv + 1);
	return usage();
}
