"""Tick timing as a client sees it: the average interval between tick frames
matches --tick-rate (decimal rates too, default 10)."""
import time

import harness
from harness import Player, Server, is_tick_frame, test


async def measure(server, seconds):
    """Keeps a steered snake alive (joining again after a death) for about
    seconds; returns (ticks, elapsed) summed over the games: the number of
    intervals between consecutive tick frames of one game and their total
    duration (first to last frame of each game)."""
    p = await Player.connect(server, name="metronome")
    p.autopilot = "survive"
    intervals = 0
    elapsed = 0.0
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await p.join()
            start = len(p.frames)
            while p.alive and time.monotonic() < end:
                await p.next_frame(2)
            ticks = [t for t, f in p.frames[start:] if is_tick_frame(f)]
            if not p.alive:
                # the death tick and the GAME OVER render: wait for them
                await p.quiet(0.3)
                ticks = [t for t, f in p.frames[start:] if is_tick_frame(f)]
            if len(ticks) >= 2:
                intervals += len(ticks) - 1
                elapsed += ticks[-1] - ticks[0]
    finally:
        await p.close()
    return intervals, elapsed


async def check_rate(args, hz, seconds, tolerance=0.05):
    with Server(*args) as s:
        n, elapsed = await measure(s, seconds)
    want = 1.0 / hz
    assert n >= 0.5 * seconds * hz, f"only {n} tick intervals in {seconds}s at {hz} Hz"
    avg = elapsed / n
    assert abs(avg - want) <= tolerance * want, \
        f"average tick interval {avg * 1000:.2f} ms over {n} ticks, want {want * 1000:.2f} ms +-{tolerance:.0%}"


@test
async def tick_rate_50():
    await check_rate(("--tick-rate", "50", "--field", "40x30"), 50, 3.0)


@test
async def tick_rate_decimal_12_5():
    await check_rate(("--tick-rate", "12.5", "--field", "40x30"), 12.5, 1.6)


@test
async def tick_rate_default_10():
    await check_rate(("--field", "40x30"), 10, 1.6)


harness.main()
