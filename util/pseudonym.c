/*
 * pseudonym.c — keyed BLAKE2b pseudonyms of citizen ids (util/pseudonym.h).
 */
#include "util/pseudonym.h"

#include <stdint.h>
#include <string.h>

#include <sodium.h>

/* The development key's secret: public on purpose (it is in the source). */
static const char DEV_SECRET[] = "contactd development key: not a secret, never for personal data";

static void derive(cd_pseudonym_key *key, const char *secret, size_t n)
{
	/* Every key is made here, before any other libsodium call: sodium_init (idempotent,
	 * thread-safe) picks the CPU's BLAKE2b and ChaCha20 code. It fails only where no
	 * random source exists, which nothing here uses: the reference code serves then. */
	int ready = sodium_init();
	(void)ready;
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

/* The encryption key of sealed ids: another key than the MAC's, derived from it. */
static void enc_key(const cd_pseudonym_key *key, unsigned char out[crypto_stream_xchacha20_KEYBYTES])
{
	static const char label[] = "contactd sealed citizen id";
	crypto_generichash(out, crypto_stream_xchacha20_KEYBYTES, (const unsigned char *)label, sizeof(label) - 1,
			   key->k, sizeof(key->k));
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t cd_pseudonym_seal(const cd_pseudonym_key *key, const char *id, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char nonce[crypto_stream_xchacha20_NONCEBYTES] = { 0 }, ek[crypto_stream_xchacha20_KEYBYTES];

	cd_pseudonym(key, id, n, out);
	for (size_t i = 0; i < 16; i++)
		nonce[i] = (unsigned char)(unhex(out[2 + 2 * i]) << 4 | unhex(out[3 + 2 * i]));
	enc_key(key, ek);
	out[CD_PSEUDONYM_LEN] = '.';
	{
		/* a 64-byte block at a time: no buffer of the id's length is needed */
		unsigned char ks[64];
		size_t done = 0;
		uint64_t block = 0;
		while (done < n) {
			size_t k = n - done < sizeof(ks) ? n - done : sizeof(ks);
			crypto_stream_xchacha20_xor_ic(ks, (const unsigned char *)id + done, k, nonce, block++, ek);
			for (size_t i = 0; i < k; i++) {
				out[CD_PSEUDONYM_LEN + 1 + 2 * (done + i)] = hex[ks[i] >> 4];
				out[CD_PSEUDONYM_LEN + 2 + 2 * (done + i)] = hex[ks[i] & 15];
			}
			done += k;
		}
		sodium_memzero(ks, sizeof(ks));
	}
	sodium_memzero(ek, sizeof(ek));
	out[CD_PSEUDONYM_SEALED_MAX(n)] = '\0';
	return CD_PSEUDONYM_SEALED_MAX(n);
}

long cd_pseudonym_open(const cd_pseudonym_key *key, const char *s, size_t n, char *id, size_t cap)
{
	unsigned char nonce[crypto_stream_xchacha20_NONCEBYTES] = { 0 }, ek[crypto_stream_xchacha20_KEYBYTES];
	unsigned char ct[64];
	char check[CD_PSEUDONYM_LEN + 1];
	size_t len, done = 0;
	uint64_t block = 0;

	if (n < CD_PSEUDONYM_LEN + 1 || s[CD_PSEUDONYM_LEN] != '.' || (n - CD_PSEUDONYM_LEN - 1) % 2 ||
	    !cd_pseudonym_is(s, CD_PSEUDONYM_LEN))
		return -1;
	len = (n - CD_PSEUDONYM_LEN - 1) / 2;
	if (len + 1 > cap)
		return -1;
	for (size_t i = 0; i < 16; i++)
		nonce[i] = (unsigned char)(unhex(s[2 + 2 * i]) << 4 | unhex(s[3 + 2 * i]));
	enc_key(key, ek);
	while (done < len) {
		size_t k = len - done < sizeof(ct) ? len - done : sizeof(ct);
		for (size_t i = 0; i < k; i++) {
			int hi = unhex(s[CD_PSEUDONYM_LEN + 1 + 2 * (done + i)]);
			int lo = unhex(s[CD_PSEUDONYM_LEN + 2 + 2 * (done + i)]);
			if (hi < 0 || lo < 0) {
				sodium_memzero(ek, sizeof(ek));
				return -1;
			}
			ct[i] = (unsigned char)(hi << 4 | lo);
		}
		crypto_stream_xchacha20_xor_ic((unsigned char *)id + done, ct, k, nonce, block++, ek);
		done += k;
	}
	sodium_memzero(ek, sizeof(ek));
	id[len] = '\0';
	/* the pseudonym is a MAC of the id: a text not sealed under this key fails here */
	cd_pseudonym(key, id, len, check);
	if (sodium_memcmp(check, s, CD_PSEUDONYM_LEN) != 0) {
		sodium_memzero(id, len);
		id[0] = '\0';
		return -1;
	}
	return (long)len;
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

/* The first occurrence of id[0..n) in the string s, or NULL. */
static const char *find(const char *s, const char *id, size_t n)
{
	for (; *s; s++)
		if (*s == id[0] && !strncmp(s, id, n))
			return s;
	return NULL;
}

void cd_pseudonym_scrub(const cd_pseudonym_key *key, char *text, size_t cap, const char *id, size_t n)
{
	char out[1024], p[CD_PSEUDONYM_LEN + 1], idz[256];
	const char *with, *at, *from = text;
	size_t len = 0, wl;

	if (n < CD_PSEUDONYM_SCRUB_MIN || n >= sizeof(idz) || cap == 0 || (key && key->raw_in_logs) ||
	    memchr(id, '\0', n) || !find(text, id, n))
		return;
	memcpy(idz, id, n);
	idz[n] = '\0';
	with = cd_pseudonym_log(key, idz, p);
	wl = strlen(with);
	if (cap > sizeof(out))
		cap = sizeof(out);
	while ((at = find(from, id, n))) {
		size_t k = (size_t)(at - from);
		if (len + k >= cap)
			k = cap - 1 - len;
		memcpy(out + len, from, k);
		len += k;
		k = wl < cap - 1 - len ? wl : cap - 1 - len;
		memcpy(out + len, with, k);
		len += k;
		from = at + n;
	}
	{
		size_t k = strlen(from);
		if (len + k >= cap)
			k = cap - 1 - len;
		memcpy(out + len, from, k);
		len += k;
	}
	out[len] = '\0';
	memcpy(text, out, len + 1);
	explicit_bzero(idz, sizeof(idz));
}
