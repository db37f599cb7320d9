"""The shipped deploy/haproxy.cfg and deploy/haproxy-rooms.lua with real
haproxy 2.6: small Python backends stand in for nodes, leases are taken in
a real Redis by cluster_node (the real key layout), and upgrades to
/connect?room=X must follow X's owner, falling back to the consistent hash
for unknown rooms, unknown servers and owners that are down."""
import time

from lib import Backend, HAProxy, Nodes, Redis, poll, test, harness

NAMES = ["n1", "n2", "n3"]


class Setup:
    def __enter__(self):
        self.redis = Redis()
        self.backends = {n: Backend(n) for n in NAMES}
        self.hap = HAProxy(self.redis, list(self.backends.values()))
        self.nodes = Nodes(self.redis, lease_ms=3000)
        return self

    def __exit__(self, *exc):
        try:
            self.nodes.__exit__(*exc)
        finally:
            self.hap.close()
            for b in self.backends.values():
                b.stop()
            self.redis.close()
        return False

    def where(self, room):
        status, body = self.hap.get(f"/connect?room={room}")
        assert status == 200, (status, body)
        return body


def hashed_elsewhere(s, owner, count=3):
    """Rooms that the hash sends to a server other than owner."""
    rooms = []
    for i in range(200):
        r = f"room{i}"
        if s.where(r) != owner:
            rooms.append(r)
        if len(rooms) == count:
            return rooms
    raise AssertionError("no room hashed away from " + owner)


@test
def unknown_rooms_go_by_consistent_hash():
    with Setup() as s:
        placed = {f"r{i}": s.where(f"r{i}") for i in range(30)}
        assert len(set(placed.values())) == 3, placed  # spread over all nodes
        for room, node in placed.items():
            assert s.where(room) == node  # and stable
        # No room parameter: hashed as "default", always the same node.
        assert len({s.hap.get("/connect")[1] for _ in range(6)}) == 1
        assert s.hap.get("/connect")[1] == s.where("default")


@test
def upgrades_follow_the_lease_owner():
    with Setup() as s:
        rooms = hashed_elsewhere(s, "n2")
        n2 = s.nodes("n2")
        n2.wait_up()
        for r in rooms:
            assert n2.claim(r)[0] == "granted"
        t0 = time.monotonic()
        poll(lambda: all(s.where(r) == "n2" for r in rooms), timeout=2,
             what="rooms routed to their owner")
        print(f"measured: HAProxy routed {len(rooms)} claimed rooms to their owner "
              f"{time.monotonic() - t0:.2f}s after the claims (poll every 250 ms)")
        assert s.hap.map() == {r: "n2" for r in rooms}
        # Released: back to the hash at once (the version changed).
        n2.send(f"release {rooms[0]}")
        poll(lambda: s.where(rooms[0]) != "n2", timeout=2, what="released room back to hash")
        assert rooms[0] not in s.hap.map()


@test
def an_owner_that_is_down_falls_back_to_the_hash():
    with Setup() as s:
        room = hashed_elsewhere(s, "n3", 1)[0]
        hashed = s.where(room)
        n3 = s.nodes("n3", lease_ms=60000)
        n3.wait_up()
        assert n3.claim(room)[0] == "granted"
        poll(lambda: s.where(room) == "n3", timeout=2, what="routed to n3")
        # From a steady state (HAProxy starts servers one check from down).
        poll(lambda: s.hap.server_status("rooms", "n3") == "UP", timeout=5, what="n3 fully up")
        s.backends["n3"].healthy = False  # its /healthz fails from now on
        t0 = time.monotonic()
        poll(lambda: not s.hap.server_up("rooms", "n3"), timeout=5, what="n3 marked down")
        print(f"measured: HAProxy marked a failing node down in {time.monotonic() - t0:.2f}s "
              "(inter 500ms, fastinter 250ms, fall 2)")
        assert s.where(room) == hashed  # the lease still says n3: the hash decides
        assert s.hap.map().get(room) == "n3"
        s.backends["n3"].healthy = True
        poll(lambda: s.where(room) == "n3", timeout=5, what="back to n3 when it is up")


@test
def an_owner_that_is_not_a_server_falls_back_to_the_hash():
    with Setup() as s:
        hashed = s.where("ghost")
        s.redis.call("EVAL", "redis.call('SET', KEYS[1], 'zz 7', 'PX', 60000);"
                     "redis.call('ZADD', KEYS[2], 9e12, 'ghost');"
                     "return redis.call('INCR', KEYS[3])", 3,
                     "sp:lease:ghost", "sp:leases", "sp:leases:ver")
        poll(lambda: s.hap.map().get("ghost") == "zz", timeout=2, what="map has zz")
        for _ in range(5):
            assert s.where("ghost") == hashed


@test
def expired_leases_leave_the_map_and_redis_outages_keep_it():
    with Setup() as s:
        room = hashed_elsewhere(s, "n1", 1)[0]
        n1 = s.nodes("n1", lease_ms=3000, timeout_ms=500)
        n1.wait_up()
        assert n1.claim(room)[0] == "granted"
        poll(lambda: s.where(room) == "n1", timeout=2, what="routed to n1")
        # Redis away: the map stays as it was, the owner keeps its room.
        s.redis.kill9()
        time.sleep(0.6)
        assert s.where(room) == "n1"
        assert "unreachable" in s.hap.logs()
        s.redis.start()  # empty: the lease is gone until n1 re-claims
        n1.wait_up(timeout=4)
        poll(lambda: s.hap.map().get(room) == "n1", timeout=3, what="map after Redis is back")
        # The node dies: its lease expires and a full reload (every 5 s)
        # drops it from the map. (Real nodes also fail their health checks
        # within 2 s, which sends the room to the hash before that.)
        n1.kill()
        t0 = time.monotonic()
        poll(lambda: room not in s.hap.map(), timeout=3 + 6, what="expired lease off the map")
        print(f"measured: a dead node's lease left HAProxy's map {time.monotonic() - t0:.2f}s "
              "after kill -9 (lease 3 s + full reload every 5 s)")
        assert s.where(room) != "n1"


@test
def pages_and_api_go_to_any_node():
    with Setup() as s:
        served = {s.hap.get("/api/rooms")[1] for _ in range(9)}
        assert served == set(NAMES), served
        s.backends["n1"].healthy = False
        poll(lambda: not s.hap.server_up("any", "n1"), timeout=5, what="n1 down in 'any'")
        served = {s.hap.get("/")[1] for _ in range(9)}
        assert served == {"n2", "n3"}, served


if __name__ == "__main__":
    harness.main(timeout=120)
