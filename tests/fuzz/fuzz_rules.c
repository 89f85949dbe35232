/*
 * fuzz_rules.c — a rules file through the rules loader (cd_rules_load, what
 * every command calls at start-up), from a private directory holding it.
 *
 * The input is the ruleset file, optionally followed by a line
 * "//overlays.json" and the overlay configuration, and a line
 * "//merges.json" and the merges (in that order); without them the overlay
 * configuration enables nothing and nothing is merged. Checked: a load that
 * fails says why, and loading the same files twice gives the same outcome
 * and the same message (the loader keeps no state between loads).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto/rules_json.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[128];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!p) {
		unlink(path);
		return;
	}
	f = fopen(path, "wb");
	FUZZ_CHECK(f && fwrite(p, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

static void cleanup(void)
{
	put("fuzz.json", NULL, 0);
	put("overlays.json", NULL, 0);
	put("merges.json", NULL, 0);
	rmdir(dir);
}

/* Where "\n//name\n" starts in [p, p+n), or NULL. */
static const uint8_t *section(const uint8_t *p, size_t n, const char *name)
{
	char mark[32];
	size_t m = (size_t)snprintf(mark, sizeof(mark), "\n//%s\n", name);
	for (const uint8_t *q = p; n >= m && (q = memchr(q, '\n', (size_t)(p + n - q))); q++)
		if ((size_t)(p + n - q) >= m && !memcmp(q, mark, m))
			return q;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char no_overlays[] = "{\"overlays\": []}";
	const uint8_t *end = data + size, *ov, *mg;
	cd_rules *r1 = NULL, *r2 = NULL;
	cd_err e1, e2;
	int rc1, rc2;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/contactd-fuzz-rules-XXXXXX");
		FUZZ_CHECK(mkdtemp(dir), "mkdtemp failed");
		atexit(cleanup);
	}
	mg = section(data, size, "merges.json");
	ov = section(data, mg ? (size_t)(mg - data) : size, "overlays.json");
	put("fuzz.json", data, (size_t)((ov ? ov : mg ? mg : end) - data));
	if (ov)   /* the part after "\n//overlays.json\n" */
		put("overlays.json", ov + 17, (size_t)((mg ? mg : end) - (ov + 17)));
	else
		put("overlays.json", (const uint8_t *)no_overlays, sizeof(no_overlays) - 1);
	put("merges.json", mg ? mg + 15 : NULL, mg ? (size_t)(end - (mg + 15)) : 0);

	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	rc1 = cd_rules_load(dir, NULL, &r1, &e1);
	FUZZ_CHECK(rc1 == 0 ? r1 != NULL : r1 == NULL && e1.msg[0], "a load failed without a reason");
	rc2 = cd_rules_load(dir, NULL, &r2, &e2);
	FUZZ_CHECK(rc1 == rc2 && !strcmp(e1.msg, e2.msg), "two loads of the same files differ: '%s' / '%s'", e1.msg,
		   e2.msg);
	if (rc1 == 0)
		FUZZ_CHECK(cd_rules_count(r1) == cd_rules_count(r2), "two loads give different rulesets");
	cd_rules_free(r1);
	cd_rules_free(r2);
	return 0;
}
