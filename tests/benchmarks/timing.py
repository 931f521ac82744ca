"Best-of-n wall time of an in-process call, for the benchmarks that time Python functions rather than child processes."
import time


def best_seconds(fn, reps=3):
    "The shortest of `reps` timings of `fn()`: the least disturbed by other work on a shared machine."
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
    return best
