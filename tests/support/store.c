/*
 * store.c — store helpers for tests (see store.h).
 */
#include "tests/support/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

cd_redis *cd_test_store_open(const cd_redis_opts *o)
{
	cd_err err;
	cd_redis *r = cd_redis_new(o);
	assert_non_null(r);
	if (cd_redis_connect(r, &err) < 0)
		fail_msg("connect to port %d: %s", o->port, err.msg);
	return r;
}

int64_t cd_test_take(cd_redis *r, int32_t p)
{
	int64_t token = 0;
	cd_err err;
	if (cd_redis_fence_acquire(r, p, &token, &err) < 0)
		fail_msg("fence_acquire %d: %s", (int)p, err.msg);
	return token;
}
