package harness

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStat returns the fields of /proc/PID/stat that follow the
// parenthesised command: state, ppid, pgrp, ... (man 5 proc), so that
// procStat(pid)[0] is the state and [21] the resident set in pages.
func procStat(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(string(data[i+1:])), nil
}

// groupProcs returns procStat of every process in process group pgid that
// has not ended (zombies left out), by pid.
func groupProcs(pgid int) (map[int][]string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	procs := map[int][]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue // not a process
		}
		fields, err := procStat(pid)
		if err != nil || len(fields) < 3 {
			continue // ended meanwhile
		}
		if fields[2] == strconv.Itoa(pgid) && fields[0] != "Z" && fields[0] != "X" {
			procs[pid] = fields
		}
	}
	return procs, nil
}

// procPeakRSS returns a process's peak resident set (VmHWM) in bytes, or 0
// when it cannot be read.
func procPeakRSS(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib << 10
		}
	}
	return 0
}
