"""The functions that any thread may call (sp_cluster_lease_valid, _top,
_rooms_json, _get_stats), called from two threads of cluster_node while
its loop claims, renews, loses and releases leases and reads the shared
state. Meant for the ThreadSanitizer build (tests/run.sh runs it there and
plain); any report fails the node's clean close."""
import time

from lib import Nodes, Redis, test, harness


@test
def readers_on_other_threads_while_the_loop_changes_everything():
    with Redis() as r, Nodes(r, lease_ms=1500) as mk:
        a, b = mk("a"), mk("b")
        a.wait_up()
        b.wait_up()
        a.send("hammer 2500")
        end = time.monotonic() + 2.0
        i = 0
        while time.monotonic() < end:
            a.send(f"claim h{i % 4}")  # kept (again after each loss)
            a.send(f"claim c{i % 10}")  # claimed and released
            a.send(f"rooms h0:1:1 h1:2:0 h2:0:0 h3:3:3 c{i % 10}:1:0")
            a.send(f"score p{i % 20} {i + 1}")
            if i % 3 == 0:
                a.send(f"release c{(i + 5) % 10}")
            if i % 25 == 0:
                r.call("DEL", f"sp:lease:h{(i // 25) % 4}")  # a loss at the next renewal
            i += 1
            time.sleep(0.02)
        m = a.expect(r"hammer done calls=(\d+)", timeout=5)[0]
        assert int(m.group(1)) > 100, m.group(0)
        assert a.saw(r"lost h"), "no lease was lost while the readers ran"


if __name__ == "__main__":
    harness.main()
