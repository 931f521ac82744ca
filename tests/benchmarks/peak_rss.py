"The source of `peak_rss_mb()` for the benchmarks' child processes (each measures its own memory)."

PEAK_RSS = r'''
import resource
def peak_rss_mb():
    # VmHWM is this process's own high-water mark. ru_maxrss is not: Linux carries the parent's peak across the
    # fork/exec that started us, so every child of a large pytest process reported the parent's RSS
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    except OSError: pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
'''
