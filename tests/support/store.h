/*
 * store.h — opening and using a consumer/redis_store.h store in tests, with a
 * failure of the test (cmocka's fail_msg) instead of an error to check.
 */
#ifndef CD_TESTS_SUPPORT_STORE_H
#define CD_TESTS_SUPPORT_STORE_H

#include <stdint.h>

#include "consumer/redis_store.h"

/* A store with options o, connected; the caller frees it (cd_redis_free). */
cd_redis *cd_test_store_open(const cd_redis_opts *o);
/* Takes partition p (cd_redis_fence_acquire): the new fencing token. */
int64_t cd_test_take(cd_redis *r, int32_t p);

#endif
