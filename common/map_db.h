/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MAP_DB_H
#define POSTHORN_COMMON_MAP_DB_H

#include <stddef.h>

/*
 * How an lmdb: table is laid out in its file; map_build.c writes it and
 * map.c reads it. Not for other modules.
 *
 * LMDB keys are at most 511 bytes but table keys may be MAP_KEY_MAX. A key
 * of up to MAP_DB_SHORT_MAX bytes is stored as itself with the value as
 * the record. A longer key is stored under its first MAP_DB_PREFIX bytes,
 * a NUL and 16 hex digits of its 64-bit FNV-1a hash, with the record
 * "full key NUL value", so a lookup can prove it found the right key. Text
 * keys never hold a NUL, so the two kinds cannot meet.
 *
 * The record MAP_DB_FORMAT_KEY (it starts with a NUL, so no lookup can hit
 * it) holds MAP_DB_FORMAT_VALUE, marking a file as built by map_build.
 */
#define MAP_DB_SHORT_MAX 480
#define MAP_DB_PREFIX 464
#define MAP_DB_KEY_BUF (MAP_DB_PREFIX + 1 + 16)
#define MAP_DB_FORMAT_KEY "\0posthorn-map-format"
#define MAP_DB_FORMAT_KEY_LEN (sizeof(MAP_DB_FORMAT_KEY) - 1)
#define MAP_DB_FORMAT_VALUE "1"

/* Writes the stored key for key[0..klen) into out (MAP_DB_KEY_BUF bytes)
 * and returns its length. */
size_t map_db_key(const char *key, size_t klen, char *out);

#endif
