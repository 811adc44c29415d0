package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/results"
)

// rootWriterProgram runs in the host's root shared into the guest. It
// writes where the overlay lets it (/etc), then tries, as the root user
// of the guest can, to change the host: it leaves its chroot, remounts
// the agent's mount of the share read-write, and writes a new file and
// an existing one of the host (os.Args[1], os.Args[2]) through it; it
// says what each attempt gave, and exits 1 if any changed the host's
// files.
const rootWriterProgram = `package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

func main() {
	newFile, victim := os.Args[1], os.Args[2]
	if err := os.WriteFile("/etc/kvmtest-overlay-probe", []byte("guest\n"), 0o644); err != nil {
		fmt.Println("overlay write:", err)
		os.Exit(2)
	}
	fmt.Println("overlay write: ok")
	// Out of the chroot: a chroot inside it, then up past its root.
	os.Mkdir("/tmp/out", 0o755)
	if err := syscall.Chroot("/tmp/out"); err != nil {
		fmt.Println("chroot:", err)
		os.Exit(2)
	}
	for i := 0; i < 64; i++ {
		syscall.Chdir("..")
	}
	if err := syscall.Chroot("."); err != nil {
		fmt.Println("chroot out:", err)
		os.Exit(2)
	}
	share := "/kvmtest/rootfs/lower"
	if err := syscall.Mount("", share, "", syscall.MS_REMOUNT, ""); err != nil {
		fmt.Println("remount rw:", err)
		os.Exit(2)
	}
	fmt.Println("remount rw: ok")
	// The guest's own view: the mount is read-write now.
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[1] == share {
			fmt.Println("share mount options:", strings.Split(f[3], ",")[0])
		}
	}
	changed := false
	if err := os.WriteFile(share+newFile, []byte("from the guest\n"), 0o644); err != nil {
		fmt.Println("host create:", err)
	} else {
		fmt.Println("host create: ok")
		changed = true
	}
	f, err := os.OpenFile(share+victim, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		_, err = f.WriteString("from the guest\n")
		f.Close()
	}
	if err != nil {
		fmt.Println("host append:", err)
	} else {
		fmt.Println("host append: ok")
		changed = true
	}
	if changed {
		os.Exit(1)
	}
}
`

// rootfsMatrix writes a matrix whose suites run in the host's root
// (vm.rootfs: host) on 6.12 with the minimal config and rootfs.config: a
// host program (python3, dynamically linked, from the host's /usr/bin)
// and the writer above.
func rootfsMatrix(t *testing.T, writer, newFile, victim string) string {
	t.Helper()
	root := repoRoot(t)
	m := fmt.Sprintf(`name: e2e-rootfs
kernels:
  - {name: "6.12", version: "6.12", source: {tarball: /usr/src/linux-source-6.12.tar.xz}}
patchsets:
  - name: base
configs:
  - {name: rootfs, base: tinyconfig, fragments: [%s, %s]}
suites:
  - {name: host-python, command: [python3, -c, "import os, sys; print('python', sys.version_info[0], os.uname().release)"], timeout: 1m}
  - {name: writer, binary: %s, args: [%s, %s], timeout: 1m}
vm: {memory: 512M, cpus: 1, accel: auto, boot-timeout: 30s, rootfs: host}
`, filepath.Join(root, "matrices", "configs", "qemu-minimal.config"), filepath.Join(root, "matrices", "configs", "rootfs.config"),
		writer, newFile, victim)
	return writeTempMatrix(t, "rootfs.yaml", m)
}

// TestRootfsHost runs suites in the host's root shared read-only into a
// real guest, over virtiofs (the real virtiofsd) and over the 9p
// fallback (forced with KVMTEST_SHARE_TRANSPORT): a dynamically linked
// host program runs, a suite writes to the overlay, and a guest that
// mounts the share again read-write cannot change a host file, which
// stays as it was. No virtiofsd is left behind.
func TestRootfsHost(t *testing.T) {
	requireE2E(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3 on the host")
	}
	bin := kvmtestBinary(t)
	writer := buildGuestProgram(t, rootWriterProgram)
	for _, transport := range []string{"virtiofs", "9p"} {
		t.Run(transport, func(t *testing.T) {
			host := t.TempDir()
			newFile, victim := filepath.Join(host, "created-by-guest"), filepath.Join(host, "victim")
			if err := os.WriteFile(victim, []byte("host\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command(bin, "run", rootfsMatrix(t, writer, newFile, victim), "--out", out)
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), "KVMTEST_SHARE_TRANSPORT="+transport)
			output, err := cmd.CombinedOutput()
			t.Logf("KVMTEST_SHARE_TRANSPORT=%s kvmtest run:\n%s", transport, output)
			if err != nil {
				t.Errorf("run: %v", err)
			}
			if !strings.Contains(string(output), "shared read-only over "+transport) {
				t.Errorf("the run does not say it shares the root over %s", transport)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "host\n" {
				t.Errorf("the host file the guest tried to change holds %q (%v)", b, err)
			}
			if _, err := os.Stat(newFile); err == nil {
				t.Error("the guest created a file on the host")
			}
			if _, err := os.Stat("/etc/kvmtest-overlay-probe"); err == nil {
				t.Error("the guest's write to its overlay reached the host's /etc")
			}
			if pids := processesNamed("virtiofsd"); len(pids) > 0 {
				t.Errorf("virtiofsd left behind: pids %v", pids)
			}
			run, err := results.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			c := run.Cells[0]
			said := map[string][]string{}
			for _, e := range readEvents(t, filepath.Join(out, "cells", c.ID, "events.jsonl")) {
				if e.Kind == proto.KindOutput {
					said[e.Suite] = append(said[e.Suite], e.Output)
				}
			}
			t.Logf("guest output: %q", said)
			if c.Status != results.StatusPassed {
				t.Errorf("cell %s: %s", c.Status, c.Reason)
			}
			if got := strings.Join(said["host-python"], "\n"); !strings.HasPrefix(got, "python 3 6.12") {
				t.Errorf("host-python said %q, want python 3 on the guest's 6.12", got)
			}
			if got := strings.Join(said["writer"], "\n"); !strings.Contains(got, "overlay write: ok") || !strings.Contains(got, "remount rw: ok") ||
				!strings.Contains(got, "share mount options: rw") || !strings.Contains(got, "created-by-guest: read-only file system") ||
				!strings.Contains(got, "victim: read-only file system") {
				t.Errorf("writer said %q: want the overlay written, the share remounted read-write and the host's files refused (EROFS)", got)
			}
		})
	}
}

// processesNamed returns the pids of the processes whose comm is name.
func processesNamed(name string) []string {
	var pids []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(b)) == name {
			pids = append(pids, d.Name())
		}
	}
	return pids
}
