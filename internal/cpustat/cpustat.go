// Package cpustat reads CPU time from Linux's /proc, for the benchmarks
// that report what each process (and the whole machine) spent per unit of
// work. Every reading is 0 where /proc cannot tell (another OS, a process
// gone).
package cpustat

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// tick is USER_HZ, the unit of /proc's CPU times: 100 on Linux.
const tick = time.Second / 100

// Machine is the whole machine's busy CPU time so far: every kind of time
// in /proc/stat's first line but idle and iowait.
func Machine() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	var busy int64
	for i, v := range strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:] {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * tick
}

// Process is pid's own user+system CPU time so far.
func Process(pid int) time.Duration {
	f := statFields(pid)
	if f == nil {
		return 0
	}
	return own(f)
}

// Reaped is the CPU time of pid's children that have ended and been waited
// for (cutime + cstime).
func Reaped(pid int) time.Duration {
	f := statFields(pid)
	if f == nil {
		return 0
	}
	return ticks(f[13]) + ticks(f[14])
}

// Tree is the CPU time of pid and its live children (a postmaster and its
// backends).
func Tree(pid int) time.Duration {
	total := Process(pid)
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil || child == pid {
			continue
		}
		if f := statFields(child); f != nil {
			if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
				total += own(f)
			}
		}
	}
	return total
}

// statFields are the fields of /proc/<pid>/stat after the command name
// (which may hold spaces): f[0] is the state, f[1] the parent's pid, f[11]
// and f[12] utime and stime, f[13] and f[14] cutime and cstime.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return nil
	}
	if f := strings.Fields(s[i+2:]); len(f) > 14 {
		return f
	}
	return nil
}

// own is the user+system time in a process's stat fields.
func own(f []string) time.Duration { return ticks(f[11]) + ticks(f[12]) }

func ticks(v string) time.Duration {
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.Duration(n) * tick
}
