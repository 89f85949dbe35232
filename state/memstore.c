/*
 * memstore.c — hash table of citizen records plus a heap of firing instants.
 *
 * Entries live in one growable array and never move relative to their index,
 * so both the open-addressing table (slots hold index + 1) and the heap (holds
 * indices) survive a table resize without fix-ups. Each entry owns one malloc'd
 * block [key NUL][record]; a put that changes the record's size reallocates it.
 * A removal (retention) moves the last entry into the freed index and closes
 * the probe chain behind the freed slot (backward shift), so no tombstones.
 */
#include "state/memstore.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define NO_HEAP UINT32_MAX

typedef struct ent {
	uint64_t h;
	char *blk;               /* key, NUL, record */
	uint32_t key_len;
	uint32_t rec_len;
	uint32_t rec_cap;        /* room for the record: a growing record rarely reallocates */
	cd_instant next;         /* CD_INSTANT_NONE: not in the heap */
	uint32_t heap_pos;
} ent;

struct cd_memstore {
	ent *e;
	size_t n, cap;
	uint32_t *slot;          /* 0 empty, else entry index + 1 */
	size_t n_slot;           /* power of two */
	uint32_t *heap;
	size_t n_heap;
	size_t max;
	size_t bytes;
	uint32_t last;           /* entry index + 1 of the last get: the put that follows skips the probe */
};

cd_memstore *cd_memstore_new(size_t max_citizens)
{
	cd_memstore *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->max = max_citizens;
	s->n_slot = 1024;
	s->slot = calloc(s->n_slot, sizeof(*s->slot));
	if (!s->slot) {
		free(s);
		return NULL;
	}
	return s;
}

void cd_memstore_free(cd_memstore *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].blk);
	free(s->e);
	free(s->slot);
	free(s->heap);
	free(s);
}

static size_t find_slot(const cd_memstore *s, uint64_t h, const char *id, size_t len)
{
	size_t mask = s->n_slot - 1, i = (size_t)h & mask;
	for (;;) {
		uint32_t v = s->slot[i];
		if (!v)
			return i;
		const ent *e = &s->e[v - 1];
		if (e->h == h && e->key_len == len && !memcmp(e->blk, id, len))
			return i;
		i = (i + 1) & mask;
	}
}

static int rehash(cd_memstore *s)
{
	size_t n = s->n_slot * 2, mask = n - 1;
	uint32_t *slot = calloc(n, sizeof(*slot));
	if (!slot)
		return -1;
	for (size_t k = 0; k < s->n; k++) {
		size_t i = (size_t)s->e[k].h & mask;
		while (slot[i])
			i = (i + 1) & mask;
		slot[i] = (uint32_t)(k + 1);
	}
	free(s->slot);
	s->slot = slot;
	s->n_slot = n;
	return 0;
}

/* ---- heap over (next, key) ------------------------------------------------ */

/*
 * Heap order: (next, hash of id, id). Many citizens share an instant (breaches
 * fire at local midnight), so ties are common; the hash settles nearly all of
 * them without touching the ids, and the order stays a function of the ids.
 */
static int before(const cd_memstore *s, uint32_t a, uint32_t b)
{
	const ent *x = &s->e[a], *y = &s->e[b];
	if (x->next != y->next)
		return x->next < y->next;
	if (x->h != y->h)
		return x->h < y->h;
	return strcmp(x->blk, y->blk) < 0;
}

static void heap_set(cd_memstore *s, size_t pos, uint32_t idx)
{
	s->heap[pos] = idx;
	s->e[idx].heap_pos = (uint32_t)pos;
}

static void sift_up(cd_memstore *s, size_t pos)
{
	uint32_t idx = s->heap[pos];
	while (pos > 0) {
		size_t parent = (pos - 1) / 2;
		if (!before(s, idx, s->heap[parent]))
			break;
		heap_set(s, pos, s->heap[parent]);
		pos = parent;
	}
	heap_set(s, pos, idx);
}

static void sift_down(cd_memstore *s, size_t pos)
{
	uint32_t idx = s->heap[pos];
	for (;;) {
		size_t l = 2 * pos + 1, r = l + 1, m = pos;
		uint32_t best = idx;
		if (l < s->n_heap && before(s, s->heap[l], best)) {
			m = l;
			best = s->heap[l];
		}
		if (r < s->n_heap && before(s, s->heap[r], best))
			m = r;
		if (m == pos)
			break;
		heap_set(s, pos, s->heap[m]);
		pos = m;
	}
	heap_set(s, pos, idx);
}

static void heap_remove(cd_memstore *s, uint32_t idx)
{
	size_t pos = s->e[idx].heap_pos;
	uint32_t last = s->heap[--s->n_heap];
	s->e[idx].heap_pos = NO_HEAP;
	if (pos == s->n_heap)
		return;
	heap_set(s, pos, last);
	sift_down(s, pos);
	sift_up(s, s->e[last].heap_pos);
}

static int heap_update(cd_memstore *s, uint32_t idx, cd_instant next)
{
	ent *e = &s->e[idx];
	if (e->heap_pos != NO_HEAP)
		heap_remove(s, idx);
	e->next = next;
	if (next == CD_INSTANT_NONE)
		return 0;
	if (s->n_heap % 1024 == 0) {
		uint32_t *h = realloc(s->heap, (s->n_heap + 1024) * sizeof(*h));
		if (!h)
			return -1;
		s->heap = h;
	}
	s->heap[s->n_heap] = idx;
	e->heap_pos = (uint32_t)s->n_heap++;
	sift_up(s, e->heap_pos);
	return 0;
}

/* ---- API ------------------------------------------------------------------ */

int cd_memstore_get(cd_memstore *s, const char *id, size_t len, const uint8_t **rec, size_t *n)
{
	uint64_t h = XXH3_64bits(id, len);
	uint32_t v = s->slot[find_slot(s, h, id, len)];
	s->last = v;
	if (!v)
		return 0;
	*rec = (const uint8_t *)s->e[v - 1].blk + s->e[v - 1].key_len + 1;
	*n = s->e[v - 1].rec_len;
	return 1;
}

int cd_memstore_put(cd_memstore *s, const char *id, size_t len, const uint8_t *rec, size_t n,
		    cd_instant next_fire, cd_err *err)
{
	uint64_t h = XXH3_64bits(id, len);
	size_t si = 0;
	uint32_t idx;
	ent *e;
	char *blk;

	if (len > UINT32_MAX / 2 || n > UINT32_MAX / 2)
		return cd_err_set(err, 0, "record too large");
	if (s->last && s->e[s->last - 1].h == h && s->e[s->last - 1].key_len == len &&
	    !memcmp(s->e[s->last - 1].blk, id, len))
		idx = s->last - 1;
	else if (!s->slot[si = find_slot(s, h, id, len)]) {
		if (s->max && s->n >= s->max)
			return cd_err_set(err, 0, "the in-memory store is full: %zu citizens (--max-citizens)", s->max);
		if (s->n == s->cap) {
			size_t ncap = s->cap ? s->cap * 2 : 1024;
			ent *ne = realloc(s->e, ncap * sizeof(*ne));
			if (!ne)
				return cd_err_set(err, 1, "out of memory");
			s->e = ne;
			s->cap = ncap;
		}
		idx = (uint32_t)s->n++;
		e = &s->e[idx];
		memset(e, 0, sizeof(*e));
		e->h = h;
		e->key_len = (uint32_t)len;
		e->heap_pos = NO_HEAP;
		e->next = CD_INSTANT_NONE;
		s->slot[si] = idx + 1;
		s->bytes += sizeof(ent) + 2 * sizeof(uint32_t);
		if (s->n * 10 > s->n_slot * 7 && rehash(s) < 0)
			return cd_err_set(err, 1, "out of memory");
	} else
		idx = s->slot[si] - 1;
	s->last = idx + 1;
	e = &s->e[idx];
	if (!e->blk || n > e->rec_cap || n < e->rec_cap / 4) {    /* shrinks too: a folded record gives memory back */
		size_t cap = (n + n / 8 + 15) & ~(size_t)15;     /* ~12% slack, 16-byte steps */
		blk = realloc(e->blk, len + 1 + cap);
		if (!blk)
			return cd_err_set(err, 1, "out of memory");
		if (!e->blk) {
			memcpy(blk, id, len);
			blk[len] = '\0';
			s->bytes += len + 1;
		}
		s->bytes = s->bytes + cap - e->rec_cap;
		e->blk = blk;
		e->rec_cap = (uint32_t)cap;
	}
	e->rec_len = (uint32_t)n;
	memcpy(e->blk + len + 1, rec, n);
	if (heap_update(s, idx, next_fire) < 0)
		return cd_err_set(err, 1, "out of memory");
	return 0;
}

int cd_memstore_del(cd_memstore *s, const char *id, size_t len)
{
	uint64_t h = XXH3_64bits(id, len);
	size_t mask = s->n_slot - 1, i = find_slot(s, h, id, len), j = i;
	uint32_t idx, last;

	if (!s->slot[i])
		return 0;
	idx = s->slot[i] - 1;
	if (s->e[idx].heap_pos != NO_HEAP)
		heap_remove(s, idx);
	s->bytes -= sizeof(ent) + 2 * sizeof(uint32_t) + s->e[idx].key_len + 1 + s->e[idx].rec_cap;
	free(s->e[idx].blk);
	for (;;) {                   /* backward-shift deletion */
		size_t k;
		j = (j + 1) & mask;
		if (!s->slot[j])
			break;
		k = (size_t)s->e[s->slot[j] - 1].h & mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;        /* its home lies after the hole: it stays */
		s->slot[i] = s->slot[j];
		i = j;
	}
	s->slot[i] = 0;
	last = (uint32_t)(s->n - 1);
	if (idx != last) {
		ent *m = &s->e[last];
		s->slot[find_slot(s, m->h, m->blk, m->key_len)] = idx + 1;
		s->e[idx] = *m;
		if (m->heap_pos != NO_HEAP)
			s->heap[m->heap_pos] = idx;
	}
	s->n--;
	s->last = 0;
	return 1;
}

int cd_memstore_next_due(const cd_memstore *s, cd_instant t, const char **id, size_t *len)
{
	const ent *e;
	if (!s->n_heap)
		return 0;
	e = &s->e[s->heap[0]];
	if (e->next > t)
		return 0;
	*id = e->blk;
	*len = e->key_len;
	return 1;
}

size_t cd_memstore_count(const cd_memstore *s) { return s->n; }

size_t cd_memstore_bytes(const cd_memstore *s)
{
	return s->bytes + s->n_slot * sizeof(uint32_t);
}
