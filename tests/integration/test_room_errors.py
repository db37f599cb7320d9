"""An error inside one room's tick is logged with the room's name and that
room is reset; the other rooms go on. The failure is injected with the
SNAKEPIT_TEST_FAIL_ROOM testing knob (the room fails on every 5th tick)."""
import json

import harness
from harness import Pilot, Server, recv_cmds, test, wait_cmd, ws_connect


@test
async def failing_room_is_reset_and_others_go_on():
    with Server("--tick-rate", "50", "--field", "100x50", "--seed", "3",
                env={"SNAKEPIT_TEST_FAIL_ROOM": "bad"}) as s:
        bad = await ws_connect(s, room="bad")
        good = await ws_connect(s, room="good")
        for ws, name in ((bad, "b"), (good, "g")):
            await ws.send(json.dumps(["new_player", name]))
            hs, _ = await wait_cmd(ws, "handshake")
            ws.my_id = hs[2]
            await wait_cmd(ws, "top_scores")
            await ws.send(json.dumps(["join"]))
            await wait_cmd(ws, "p_joined")
        # the bad room: its snake is declared dead and the field is reset
        _, before = await wait_cmd(bad, "reset_world", timeout=5)
        assert ["p_gameover", bad.my_id] in before, before
        assert s.log_has(r"level=error event=room_error room=bad error=\"injected failure\"")
        assert not s.log_has(r"event=room_error room=good", timeout=0.1)
        # the good room keeps ticking (its snake steered clear of walls):
        # 20 more render frames, and its snake is still alive
        pilot = Pilot(good, 100, 50)
        pilot.me, pilot.alive = good.my_id, True
        renders = 0
        while renders < 20:
            if pilot.feed(await recv_cmds(good)):
                renders += 1
                await pilot.steer()
        assert pilot.alive and not pilot.dead
        # and the reset room can be played again
        await bad.send(json.dumps(["join"]))
        joined, seen = await wait_cmd(bad, "p_joined", timeout=5)
        assert joined[1] == bad.my_id
        await bad.close()
        await good.close()


harness.main()
