/* redis_uv: drives a hiredis asynchronous context from a libuv loop.
 *
 * Our own copy of hiredis's adapters/libuv.h, because the one in Debian's
 * hiredis 0.14.1 returns early when libuv reports a poll error, so a
 * refused or reset connect never reaches hiredis and no callback ever
 * fires. Upstream fixed it (hiredis commit 9ce15c4, "Fix errors not
 * propagating properly with libuv.h"): on an error, hand hiredis the
 * events it was waiting for, and its read or write finds the socket
 * error. We take that idea, free our state when uv_poll_init fails, and
 * start the poll only when the wanted events change. Timeouts are not
 * here (0.14 has no hook for them): src/cluster/redis.c keeps its own. */
#ifndef SP_CLUSTER_REDIS_UV_H
#define SP_CLUSTER_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Attaches ac to loop. Call it right after redisAsyncConnect*, before
 * redisAsyncSetConnectCallback (which asks for the first write event).
 * The adapter's memory is released when hiredis frees the context.
 * Returns 0 or a negative libuv error. */
int sp_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
