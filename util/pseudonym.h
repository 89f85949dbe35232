/*
 * pseudonym.h — the keyed hash that names a citizen wherever the id itself
 * must not appear: log lines, dead-letter header texts and Redis key names.
 *
 * A CPR number has too few possible values for a plain hash to hide it (all
 * of them can be hashed in minutes), so the hash is keyed: BLAKE2b with a
 * 256-bit key (libsodium's crypto_generichash), 128 bits of it written as
 * "h:" and 32 lowercase hex digits. Without the key a pseudonym cannot be
 * turned back into an id nor computed from one; with it, an operator can
 * compute the pseudonym of an id to find its key or its log lines.
 *
 * The key is derived from a secret (the citizen-key-file option: at least
 * CD_PSEUDONYM_SECRET_MIN bytes, e.g. `openssl rand -hex 32`) by unkeyed
 * BLAKE2b-256; cd_pseudonym_key_dev gives the built-in development key, which
 * anyone can recompute (docs/decisions.md, "Citizen pseudonyms").
 *
 * Ownership: a cd_pseudonym_key is a plain value, owned by whoever holds it;
 * it is never logged. Thread-safe: the functions only read the key.
 */
#ifndef CD_UTIL_PSEUDONYM_H
#define CD_UTIL_PSEUDONYM_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* "h:" and 32 hex digits. */
#define CD_PSEUDONYM_LEN 34
#define CD_PSEUDONYM_SECRET_MIN 32

typedef struct cd_pseudonym_key {
	unsigned char k[32];
	bool dev;                 /* the built-in development key */
	bool raw_in_logs;         /* --log-citizen-ids: cd_pseudonym_log gives the raw id (debugging only) */
} cd_pseudonym_key;

/* The built-in development key (dev set, raw_in_logs clear). */
void cd_pseudonym_key_dev(cd_pseudonym_key *key);
/* The key derived from secret[0..n): 0, or -1 when the secret is shorter than
 * CD_PSEUDONYM_SECRET_MIN bytes (the message names `name`, never the secret). */
int cd_pseudonym_key_from_secret(cd_pseudonym_key *key, const char *name, const char *secret, size_t n,
				 cd_err *err);

/* Writes the pseudonym of id[0..n) and a NUL to out. */
void cd_pseudonym(const cd_pseudonym_key *key, const char *id, size_t n, char out[CD_PSEUDONYM_LEN + 1]);
/* Whether s[0..n) has a pseudonym's form ("h:" and 32 lowercase hex digits). */
bool cd_pseudonym_is(const char *s, size_t n);

/*
 * A sealed id: the pseudonym, '.', and the id encrypted under the key, in hex
 * ("h:<32>.<2n>"). Deterministic (the same id always seals to the same text:
 * it can be a ZSET member that ZADD updates), and only the key opens it. The
 * construction is SIV: the pseudonym is a MAC of the id and serves as the
 * XChaCha20 nonce; opening recomputes it, so a changed text or another key
 * is refused. For the timer index, which must give back whom it names.
 */
#define CD_PSEUDONYM_SEALED_MAX(n) (CD_PSEUDONYM_LEN + 1 + 2 * (n))
/* Writes the sealed form of id[0..n) and a NUL to out (CD_PSEUDONYM_SEALED_MAX(n) + 1 bytes); returns its length. */
size_t cd_pseudonym_seal(const cd_pseudonym_key *key, const char *id, size_t n, char *out);
/* Opens s[0..n) into id (cap bytes, NUL-terminated): its length, or -1 when s is
 * not a text sealed under key (another key, changed, or too long for cap). */
long cd_pseudonym_open(const cd_pseudonym_key *key, const char *s, size_t n, char *id, size_t cap);

/*
 * What a log line or an error text names a citizen by: the pseudonym, or the id
 * itself when key->raw_in_logs is set. Returns buf or id. A NULL key gives the
 * development key's pseudonym (tools with no configuration).
 */
const char *cd_pseudonym_log(const cd_pseudonym_key *key, const char *id, char buf[CD_PSEUDONYM_LEN + 1]);

/*
 * Error texts quote values of the input ("invalid timestamp '…'"), and a
 * producer may put a citizen's id in any field. Replaces each occurrence of
 * id[0..n) in text (NUL-terminated, in a buffer of cap bytes) by what
 * cd_pseudonym_log names it by, cut at cap. Ids shorter than
 * CD_PSEUDONYM_SCRUB_MIN bytes are left: too short to identify anyone, they
 * would match inside the message's own words and numbers.
 */
#define CD_PSEUDONYM_SCRUB_MIN 4
void cd_pseudonym_scrub(const cd_pseudonym_key *key, char *text, size_t cap, const char *id, size_t n);

#endif
