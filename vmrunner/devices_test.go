package vmrunner

import (
	"slices"
	"strings"
	"testing"
)

// TestDevices: each QEMU feature gives its QEMU arguments and its kernel
// arguments together.
func TestDevices(t *testing.T) {
	tests := []struct {
		name   string
		dev    Device
		option bool // a machine option: before -append
		qemu   []string
		kargs  []string
	}{
		{"machine type", MachineType{Name: "q35"}, true, []string{"-machine", "q35"}, nil},
		{"kvm", Accelerator{Name: AccelKVM}, true, []string{"-accel", "kvm", "-cpu", "host"}, nil},
		{"tcg", Accelerator{Name: AccelTCG}, true, []string{"-accel", "tcg", "-cpu", "max"}, nil},
		{"memory", Memory{MiB: 2048}, true, []string{"-m", "2048"}, nil},
		{"one socket per CPU", SMP{CPUs: 3}, true, []string{"-smp", "3,sockets=3,cores=1,threads=1"}, nil},
		{"bare", Bare{}, true, []string{"-nodefaults", "-no-user-config", "-display", "none"}, nil},
		{"end on panic", EndOnPanic{}, true, []string{"-no-reboot"}, []string{"panic=-1"}},
		{"paused", Paused{}, true, []string{"-S"}, nil},
		{"direct boot", DirectBoot{Kernel: "/k/bz Image", Initrd: "/i/x;rm -rf"}, true,
			[]string{"-kernel", "/k/bz Image", "-initrd", "/i/x;rm -rf"}, []string{"rdinit=/init"}},
		{"console", SerialConsole{Socket: "/d/con.sock"}, false,
			[]string{"-chardev", "socket,id=con,path=/d/con.sock", "-serial", "chardev:con"}, []string{"console=ttyS0"}},
		{"event channel is the second UART", EventChannel{Socket: "/d/ev.sock"}, false,
			[]string{"-chardev", "socket,id=ev,path=/d/ev.sock", "-serial", "chardev:ev"}, []string{"8250.nr_uarts=2"}},
		{"qmp", QMPSocket{Path: "/d/qmp.sock"}, false, []string{"-qmp", "unix:/d/qmp.sock,server=on,wait=off"}, nil},
		{"pvpanic", PVPanic{}, false, []string{"-device", "pvpanic-pci", "-action", "panic=none"}, nil},
		{"extra", Extra{QEMU: []string{"-device", "virtio-rng-pci"}, Kernel: []string{"foo=$(id)"}}, false,
			[]string{"-device", "virtio-rng-pci"}, []string{"foo=$(id)"}},
		{"extra empty", Extra{}, false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.dev.QEMUArgs(); !slices.Equal(got, tt.qemu) {
				t.Errorf("QEMUArgs = %q, want %q", got, tt.qemu)
			}
			if got := tt.dev.KArgs(); !slices.Equal(got, tt.kargs) {
				t.Errorf("KArgs = %q, want %q", got, tt.kargs)
			}
			if _, ok := tt.dev.(machineOption); ok != tt.option {
				t.Errorf("machine option %v, want %v", ok, tt.option)
			}
		})
	}
}

// fakeDevice is a device from outside the runner (as Spec.Devices gives).
type fakeDevice struct{ qemu, kargs []string }

func (f fakeDevice) QEMUArgs() []string { return f.qemu }
func (f fakeDevice) KArgs() []string    { return f.kargs }

// TestMachineArgv: QEMU's command line is the machine options in list
// order, -append with every device's kernel arguments in list order, then
// the other devices in list order.
func TestMachineArgv(t *testing.T) {
	tests := []struct {
		name string
		devs []Device
		want []string
	}{
		{"no devices", nil, []string{"qemu"}},
		{"no kernel arguments, no -append", []Device{Memory{MiB: 64}, QMPSocket{Path: "q"}},
			[]string{"qemu", "-m", "64", "-qmp", "unix:q,server=on,wait=off"}},
		{"options first, kernel arguments in list order",
			[]Device{
				fakeDevice{qemu: []string{"-virtfs", "x"}, kargs: []string{"a=1"}},
				EndOnPanic{},
				SerialConsole{Socket: "c"},
				DirectBoot{Kernel: "k", Initrd: "i"},
				fakeDevice{kargs: []string{"b=2"}},
			},
			[]string{"qemu", "-no-reboot", "-kernel", "k", "-initrd", "i",
				"-append", "a=1 panic=-1 console=ttyS0 rdinit=/init b=2",
				"-virtfs", "x", "-chardev", "socket,id=con,path=c", "-serial", "chardev:con"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := machineArgv("qemu", tt.devs); !slices.Equal(got, tt.want) {
				t.Errorf("machineArgv\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestSpecDevices: the runner's machine, with pvpanic only when QEMU has
// both the device and -action and the machine has PCI, the spec's own
// devices after the runner's, and the spec's extra arguments last.
func TestSpecDevices(t *testing.T) {
	all := qemuCaps{action: true, pvpanicPCI: true}
	own := fakeDevice{qemu: []string{"-device", "virtio-9p-pci"}, kargs: []string{"mine=1"}}
	tests := []struct {
		name     string
		spec     Spec
		caps     qemuCaps
		pvpanic  bool
		cmdline  string
		qemuTail []string
	}{
		{"no caps", Spec{}, qemuCaps{}, false, "console=ttyS0 panic=-1 rdinit=/init 8250.nr_uarts=2", []string{"unix:/d/qmp.sock,server=on,wait=off"}},
		{"all caps", Spec{}, all, true, "console=ttyS0 panic=-1 rdinit=/init 8250.nr_uarts=2", []string{"-action", "panic=none"}},
		{"no -action", Spec{}, qemuCaps{pvpanicPCI: true}, false, "console=ttyS0 panic=-1 rdinit=/init 8250.nr_uarts=2", nil},
		{"microvm", Spec{ExtraArgs: []string{"-M", "microvm"}}, all, false, "console=ttyS0 panic=-1 rdinit=/init 8250.nr_uarts=2", []string{"-M", "microvm"}},
		{"own devices then extra", Spec{Devices: []Device{own}, Cmdline: []string{"quiet"}, ExtraArgs: []string{"-snapshot"}}, all, true,
			"console=ttyS0 panic=-1 rdinit=/init 8250.nr_uarts=2 mine=1 quiet", []string{"panic=none", "-device", "virtio-9p-pci", "-snapshot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			s.defaults()
			devs := s.devices(AccelTCG, "/d", tt.caps)
			if has := slices.ContainsFunc(devs, func(d Device) bool { _, ok := d.(PVPanic); return ok }); has != tt.pvpanic {
				t.Errorf("pvpanic %v, want %v", has, tt.pvpanic)
			}
			if got := kernelCmdline(devs); got != tt.cmdline {
				t.Errorf("kernel command line %q, want %q", got, tt.cmdline)
			}
			argv := s.argv(AccelTCG, "/d", tt.caps)
			if tt.qemuTail != nil && !slices.Equal(argv[len(argv)-len(tt.qemuTail):], tt.qemuTail) {
				t.Errorf("argv ends %q, want %q", argv, tt.qemuTail)
			}
			if i := slices.Index(argv, "-append"); i < 0 || argv[i+1] != tt.cmdline {
				t.Errorf("argv's -append is not the kernel command line: %q", argv)
			}
			if strings.Contains(strings.Join(argv, " "), "pvpanic-pci") != tt.pvpanic {
				t.Errorf("argv and devices disagree on pvpanic: %q", argv)
			}
		})
	}
}
