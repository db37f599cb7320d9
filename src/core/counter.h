/* counter: 64-bit counts and gauges that one thread writes and any thread
 * reads, for the metrics. The writer is the loop that owns what is counted
 * (a worker's connections, the rooms it runs), so an increment needs no
 * lock prefix: a relaxed load and a relaxed store of the same atomic, which
 * compile to a plain load and store on x86-64 and ARM64, while a reader on
 * another thread (the worker that serves /metrics) still reads whole values
 * and ThreadSanitizer sees no race. Never use them from two writers. */
#ifndef SP_COUNTER_H
#define SP_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef atomic_uint_fast64_t sp_counter;

#define SP_COUNT_GET(x)                                                        \
  ((uint64_t)atomic_load_explicit(&(x), memory_order_relaxed))
/* Single writer only (see above). */
#define SP_COUNT_ADD(x, n)                                                     \
  atomic_store_explicit(&(x), SP_COUNT_GET(x) + (uint64_t)(n),                 \
                        memory_order_relaxed)
#define SP_COUNT_SUB(x, n)                                                     \
  atomic_store_explicit(&(x), SP_COUNT_GET(x) - (uint64_t)(n),                 \
                        memory_order_relaxed)
#define SP_COUNT_SET(x, v)                                                     \
  atomic_store_explicit(&(x), (uint64_t)(v), memory_order_relaxed)

#endif
