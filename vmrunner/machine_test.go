package vmrunner

import (
	"bufio"
	"bytes"
	"runtime"
	"strings"
	"testing"
)

func TestArgvKeepsValuesWhole(t *testing.T) {
	s := Spec{Kernel: "/k/bz Image", Initrd: "/i/x;rm -rf", Cmdline: []string{"foo=$(id)"}, ExtraArgs: []string{"-device", "pvpanic"}}
	s.defaults()
	argv := s.argv(AccelTCG, "/tmp/d", qemuCaps{})
	idx := func(v string) int {
		for i, a := range argv {
			if a == v {
				return i
			}
		}
		return -1
	}
	if i := idx("-kernel"); i < 0 || argv[i+1] != "/k/bz Image" {
		t.Errorf("-kernel value not kept whole: %q", argv)
	}
	if i := idx("-initrd"); i < 0 || argv[i+1] != "/i/x;rm -rf" {
		t.Errorf("-initrd value not kept whole: %q", argv)
	}
	i := idx("-append")
	if i < 0 || !strings.HasSuffix(argv[i+1], " foo=$(id)") || !strings.Contains(argv[i+1], "console=ttyS0") {
		t.Errorf("-append = %q", argv[i+1])
	}
	if argv[len(argv)-2] != "-device" || argv[len(argv)-1] != "pvpanic" {
		t.Errorf("extra args not appended: %q", argv)
	}
	for _, want := range []string{"-no-reboot", "-S", "-nodefaults"} {
		if idx(want) < 0 {
			t.Errorf("argv lacks %s", want)
		}
	}
	if i := idx("-smp"); argv[i+1] != "1,sockets=1,cores=1,threads=1" {
		t.Errorf("-smp %s", argv[i+1])
	}
	s.CPUs = 2
	if a := s.argv(AccelTCG, "/tmp/d", qemuCaps{}); a[idx("-smp")+1] != "2,sockets=2,cores=1,threads=1" {
		t.Errorf("2 CPUs: -smp %s, want one socket per CPU (the MP table lists sockets)", a[idx("-smp")+1])
	}
	if i := idx("-accel"); argv[i+1] != "tcg" || argv[idx("-cpu")+1] != "max" {
		t.Errorf("tcg accel/cpu wrong: %q", argv)
	}
	if a := s.argv(AccelKVM, "/tmp/d", qemuCaps{}); a[idx("-cpu")+1] != "host" {
		t.Errorf("kvm should use -cpu host: %q", a)
	}
}

func TestReadLineBoundsMemory(t *testing.T) {
	long := strings.Repeat("x", 10000)
	in := "short\n" + long + "\nafter\nlast-without-newline"
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	var got []string
	for {
		line, err := readLine(r, 100)
		if len(line) > 0 {
			got = append(got, string(line))
		}
		if err != nil {
			break
		}
	}
	if len(got) != 4 || got[0] != "short" || len(got[1]) > 100 || got[2] != "after" || got[3] != "last-without-newline" {
		var lens []int
		for _, g := range got {
			lens = append(lens, len(g))
		}
		t.Errorf("lines %q (lengths %v)", got, lens)
	}
}

func TestLimitWriterTruncates(t *testing.T) {
	var b bytes.Buffer
	w := &limitWriter{w: &b, max: 10}
	for i := 0; i < 5; i++ {
		if n, err := w.Write([]byte("abcdef")); n != 6 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	out := b.String()
	if !strings.HasPrefix(out, "abcdefabcd\n[kvmtest: console truncated after 10 bytes]") || strings.Count(out, "truncated") != 1 {
		t.Errorf("output %q", out)
	}
}

func TestResolveAccel(t *testing.T) {
	if a, _, err := ResolveAccel("tcg", ""); err != nil || a != AccelTCG {
		t.Errorf("tcg: %s %v", a, err)
	}
	if _, _, err := ResolveAccel("hvf", ""); err == nil {
		t.Error("unknown accelerator accepted")
	}
	a, why, err := ResolveAccel("auto", "x86_64")
	if err != nil || (a != AccelKVM && a != AccelTCG) || why == "" {
		t.Errorf("auto: %s %q %v", a, why, err)
	}
	ok, _ := KVMUsable()
	if _, _, err := ResolveAccel("kvm", ""); (err == nil) != ok {
		t.Errorf("kvm: usable %v but err %v", ok, err)
	}
	// A guest of another architecture than the host's is TCG, said so;
	// KVM cannot run it.
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		foreign = "x86_64"
	}
	a, why, err = ResolveAccel("auto", foreign)
	if err != nil || a != AccelTCG || !strings.Contains(why, foreign+" guest on an") {
		t.Errorf("auto for %s: %s %q %v", foreign, a, why, err)
	}
	if _, _, err := ResolveAccel("kvm", foreign); err == nil || !strings.Contains(err.Error(), "KVM runs only guests of the host's architecture") {
		t.Errorf("kvm for %s: %v", foreign, err)
	}
	if _, _, err := ResolveAccel("auto", "mips"); err == nil {
		t.Error("unknown architecture accepted")
	}
}

func TestHasVirtFlag(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"processor\t: 0\nflags\t\t: fpu vme de pse vmx sse\n", true},
		{"flags\t\t: fpu svm\n", true},
		{"flags\t\t: fpu vme de pse sse hypervisor\n", false},
		{"model name\t: vmx-like CPU\nflags\t: fpu\n", false},
	}
	for _, tt := range tests {
		if got := hasVirtFlag([]byte(tt.in)); got != tt.want {
			t.Errorf("hasVirtFlag(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
