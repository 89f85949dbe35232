/*
 * redis_cluster.c — key slots and redirect replies (redis_cluster.h). The CRC
 * is computed bit by bit: a key is a few dozen bytes, hashed once per command,
 * and a table would be 512 bytes of constants to check by eye.
 */
#include "consumer/redis_cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint16_t cd_cluster_crc16(const void *buf, size_t n)
{
	const unsigned char *p = buf;
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

int cd_cluster_keyslot(const void *key, size_t n)
{
	const char *k = key, *open = memchr(k, '{', n);
	if (open) {
		size_t from = (size_t)(open - k) + 1;
		const char *close = memchr(k + from, '}', n - from);
		if (close && close > k + from)    /* "{}" is no tag: the whole key counts */
			return cd_cluster_crc16(k + from, (size_t)(close - (k + from))) & (CD_CLUSTER_SLOTS - 1);
	}
	return cd_cluster_crc16(k, n) & (CD_CLUSTER_SLOTS - 1);
}

int cd_cluster_tag_slot(char tag, int32_t p)
{
	char t[16];
	int n = snprintf(t, sizeof(t), "%c%" PRId32, tag, p);
	return cd_cluster_crc16(t, (size_t)n) & (CD_CLUSTER_SLOTS - 1);
}

int cd_cluster_parse_redirect(const char *s, size_t n, cd_cluster_redirect *out)
{
	char tmp[320], *p, *end, *colon;
	long v;

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (!strncmp(tmp, "MOVED ", 6)) {
		out->ask = 0;
		p = tmp + 6;
	} else if (!strncmp(tmp, "ASK ", 4)) {
		out->ask = 1;
		p = tmp + 4;
	} else
		return -1;
	v = strtol(p, &end, 10);
	if (end == p || *end != ' ' || v < 0 || v >= CD_CLUSTER_SLOTS)
		return -1;
	out->slot = (int)v;
	p = end + 1;
	colon = strrchr(p, ':');              /* IPv6 hosts hold colons: the port follows the last */
	if (!colon || (size_t)(colon - p) >= sizeof(out->host))
		return -1;
	v = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || v <= 0 || v > 65535)
		return -1;
	out->port = (int)v;
	memcpy(out->host, p, (size_t)(colon - p));
	out->host[colon - p] = '\0';
	return 0;
}
