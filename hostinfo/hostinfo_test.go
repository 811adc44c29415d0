package hostinfo

import (
	"runtime"
	"testing"
)

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		in           string
		total, avail int
	}{
		{"MemTotal:       24683584 kB\nMemFree:         1000000 kB\nMemAvailable:   23886200 kB\n", 24105, 23326},
		{"MemTotal: 2048 kB\n", 2, 0},
		{"MemFree: 1 kB\n", 0, 0},
		{"", 0, 0},
	}
	for _, tt := range tests {
		if total, avail := ParseMeminfo([]byte(tt.in)); total != tt.total || avail != tt.avail {
			t.Errorf("ParseMeminfo(%q) = %d, %d; want %d, %d", tt.in, total, avail, tt.total, tt.avail)
		}
	}
}

func TestRead(t *testing.T) {
	i := Read()
	if i.CPUs != runtime.NumCPU() {
		t.Errorf("CPUs %d, want %d", i.CPUs, runtime.NumCPU())
	}
	if runtime.GOOS == "linux" && (i.MemTotalMiB <= 0 || i.MemAvailableMiB > i.MemTotalMiB) {
		t.Errorf("memory %+v", i)
	}
}
