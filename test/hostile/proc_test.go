package hostile_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStatus returns a "kB" field of /proc/self/status (VmRSS, VmHWM) in
// bytes.
func procStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/status %s: %w", field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", field)
}

// resetHWM resets the process's peak RSS (VmHWM) to its current RSS by
// writing 5 to /proc/self/clear_refs (Linux; needs the right to write it).
func resetHWM() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
