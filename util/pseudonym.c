/*
 * pseudonym.c — keyed BLAKE2b pseudonyms of citizen ids (util/pseudonym.h).
 */
#include "util/pseudonym.h"

#include <string.h>

#include <sodium.h>

/* The development key's secret: public on purpose (it is in the source). */
static const char DEV_SECRET[] = "contactd development key: not a secret, never for personal data";

static void derive(cd_pseudonym_key *key, const char *secret, size_t n)
{
	/* crypto_generichash does not need sodium_init (no random numbers, no CPU dispatch state) */
	crypto_generichash(key->k, sizeof(key->k), (const unsigned char *)secret, n, NULL, 0);
}

void cd_pseudonym_key_dev(cd_pseudonym_key *key)
{
	memset(key, 0, sizeof(*key));
	derive(key, DEV_SECRET, sizeof(DEV_SECRET) - 1);
	key->dev = true;
}

int cd_pseudonym_key_from_secret(cd_pseudonym_key *key, const char *name, const char *secret, size_t n,
				 cd_err *err)
{
	memset(key, 0, sizeof(*key));
	if (n < CD_PSEUDONYM_SECRET_MIN)
		return cd_err_set(err, 0, "%s: the key is %zu bytes, at least %d are needed (e.g. openssl rand -hex 32)",
				  name, n, CD_PSEUDONYM_SECRET_MIN);
	derive(key, secret, n);
	return 0;
}

void cd_pseudonym(const cd_pseudonym_key *key, const char *id, size_t n, char out[CD_PSEUDONYM_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[16];

	crypto_generichash(h, sizeof(h), (const unsigned char *)id, n, key->k, sizeof(key->k));
	out[0] = 'h';
	out[1] = ':';
	for (size_t i = 0; i < sizeof(h); i++) {
		out[2 + 2 * i] = hex[h[i] >> 4];
		out[3 + 2 * i] = hex[h[i] & 15];
	}
	out[CD_PSEUDONYM_LEN] = '\0';
}

bool cd_pseudonym_is(const char *s, size_t n)
{
	if (n != CD_PSEUDONYM_LEN || s[0] != 'h' || s[1] != ':')
		return false;
	for (size_t i = 2; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

const char *cd_pseudonym_log(const cd_pseudonym_key *key, const char *id, char buf[CD_PSEUDONYM_LEN + 1])
{
	cd_pseudonym_key dev;
	if (key && key->raw_in_logs)
		return id;
	if (!key) {
		cd_pseudonym_key_dev(&dev);
		key = &dev;
	}
	cd_pseudonym(key, id, strlen(id), buf);
	return buf;
}
