/*
 * memstore.h — the in-memory citizen store: citizen id → citizen record, with
 * a timer index ordered by each citizen's next firing instant.
 *
 * It serves replay and tests; Redis serves production with the same record
 * bytes (citizen.h). Records are kept encoded, which is what keeps a whole
 * country's history in memory (the benchmark reports bytes per citizen).
 *
 * The timer index is a binary heap over (next_fire, hash of the citizen id,
 * citizen id), so that "everything due by t" comes out in a deterministic
 * order whatever the insertion order. Ownership: the store copies what it is given; pointers it
 * returns stay valid until the next call that modifies the store.
 */
#ifndef CD_STATE_MEMSTORE_H
#define CD_STATE_MEMSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "state/date.h"
#include "util/err.h"

typedef struct cd_memstore cd_memstore;

/* max_citizens bounds the store (0: no bound). NULL when out of memory. */
cd_memstore *cd_memstore_new(size_t max_citizens);
void cd_memstore_free(cd_memstore *s);

/*
 * 1 and the record when the citizen is known, 0 when not. (Not const: it
 * remembers the entry, so that the put which usually follows skips the probe.)
 */
int cd_memstore_get(cd_memstore *s, const char *id, size_t id_len, const uint8_t **rec, size_t *n);

/* Stores (replaces) a citizen's record and next firing instant (CD_INSTANT_NONE: none). 0 / -1. */
int cd_memstore_put(cd_memstore *s, const char *id, size_t id_len, const uint8_t *rec, size_t n,
		    cd_instant next_fire, cd_err *err);

/* Removes a citizen's record and timer (retention). 1 when it was there, 0 when not. */
int cd_memstore_del(cd_memstore *s, const char *id, size_t len);

/*
 * The citizen whose next firing instant is the earliest (ties: see above)
 * and <= t, or 0 when none is due. *id is NUL-terminated and valid until the next modification.
 * The caller advances that citizen and puts it back (with a later instant).
 */
int cd_memstore_next_due(const cd_memstore *s, cd_instant t, const char **id, size_t *id_len);

size_t cd_memstore_count(const cd_memstore *s);
/* Bytes held for records, keys and index (an estimate of malloc'ed memory). */
size_t cd_memstore_bytes(const cd_memstore *s);

#endif
