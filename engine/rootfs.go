package engine

import (
	"fmt"
	"os"
	"strings"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/vmrunner"
)

// rootTag is the share tag of the suites' shared root (vm.rootfs host or
// a directory): the agent mounts it by this name.
const rootTag = "kvmtest-root"

// sharedRoot is the root file system a run's suites share: the host
// directory ("" when the suites run in the initramfs) and the transport
// resolved for this host (vmrunner.ResolveShareTransport).
type sharedRoot struct {
	dir       string
	transport string
	// auto: the transport was chosen, not asked for, so a kernel that
	// has only the other one may use that.
	auto bool
}

// resolveSharedRoot resolves the matrix's shared root once per run and
// says which transport carries it (loudly when it is the fallback).
func resolveSharedRoot(o Options) (sharedRoot, error) {
	dir := o.Matrix.SharedRoot()
	if dir == "" {
		return sharedRoot{}, nil
	}
	want := o.Matrix.VM.ShareTransport
	tr, why, err := vmrunner.ResolveShareTransport(want)
	if err != nil {
		return sharedRoot{}, fmt.Errorf("rootfs %s: %w", dir, err)
	}
	o.Progress.Logf("rootfs: %s shared read-only over %s%s", dir, tr, reasonSuffix(why))
	return sharedRoot{dir: dir, transport: tr, auto: shareAuto(want)}, nil
}

// shareAuto reports whether a shared root's transport is kvmtest's
// choice: vm.share-transport auto (or unset) and no transport forced by
// vmrunner.ShareTransportEnv, which is as binding as the matrix's.
func shareAuto(want string) bool {
	if e := os.Getenv(vmrunner.ShareTransportEnv); e != "" && e != "auto" {
		return false
	}
	return want == "" || want == "auto"
}

func reasonSuffix(why string) string {
	if why == "" {
		return ""
	}
	return " (" + why + ")"
}

// rootNeeds are the options a kernel needs to mount a shared root and run
// suites in it, besides the transport's own (rootTransportNeeds).
var rootNeeds = []string{"CONFIG_PCI", "CONFIG_VIRTIO_PCI", "CONFIG_OVERLAY_FS", "CONFIG_TMPFS"}

// rootTransportNeeds are, per transport, the options its guest side needs.
var rootTransportNeeds = map[string][]string{
	proto.TransportVirtiofs: {"CONFIG_FUSE_FS", "CONFIG_VIRTIO_FS"},
	proto.Transport9P:       {"CONFIG_9P_FS", "CONFIG_NET_9P_VIRTIO"},
}

// forCell returns the transport a cell's kernel mounts the root with,
// and the modules it must load first for it (a distribution kernel's
// virtiofs, say), or why that kernel cannot: the options it lacks,
// named. An option set to m counts when the kernel ships its module
// (guestKernel.has). A transport resolved under auto gives way to the
// other when the kernel has only that one. A kernel with no known config
// takes the run's transport.
func (sr sharedRoot) forCell(k *guestKernel) (string, []string, error) {
	if k.Config == nil {
		return sr.transport, nil, nil
	}
	check := func(opts []string) (missing, mods []string) {
		for _, o := range opts {
			ok, mod := k.has(o)
			if !ok {
				missing = append(missing, o)
			} else if mod != "" {
				mods = append(mods, mod)
			}
		}
		return missing, mods
	}
	m, mods := check(rootNeeds)
	if len(m) > 0 {
		return "", nil, fmt.Errorf("rootfs %s needs %s (not set in the kernel's .config; add matrices/configs/rootfs.config to the config's fragments)", sr.dir, strings.Join(m, ", "))
	}
	trMissing, trMods := check(rootTransportNeeds[sr.transport])
	if len(trMissing) == 0 {
		return sr.transport, append(trMods, mods...), nil
	}
	other := proto.Transport9P
	if sr.transport == proto.Transport9P {
		other = proto.TransportVirtiofs
	}
	if !sr.auto {
		return "", nil, fmt.Errorf("rootfs %s over %s needs %s (not set in the kernel's .config)", sr.dir, sr.transport, strings.Join(trMissing, ", "))
	}
	if otherMissing, otherMods := check(rootTransportNeeds[other]); len(otherMissing) == 0 {
		return other, append(otherMods, mods...), nil
	}
	return "", nil, fmt.Errorf("rootfs %s needs CONFIG_VIRTIO_FS or CONFIG_9P_FS with CONFIG_NET_9P_VIRTIO (neither is set in the kernel's .config; add matrices/configs/rootfs.config to the config's fragments)", sr.dir)
}

// cellRoot decides a cell's shared root from its kernel: the manifest's
// Root and the machine's share, or nil when the suites run in the
// initramfs, and the modules to load before it is mounted; an error
// names what the kernel lacks.
func (r *cellRun) cellRoot(k *guestKernel) (*proto.Root, []vmrunner.Share, []string, error) {
	sr := r.root
	if sr.dir == "" {
		return nil, nil, nil, nil
	}
	tr, mods, err := sr.forCell(k)
	if err != nil {
		return nil, nil, nil, err
	}
	root, shares := rootShare(sr.dir, tr)
	return root, shares, mods, nil
}

// rootShare is the manifest's Root and the machine's share of a shared
// root dir over transport.
func rootShare(dir, transport string) (*proto.Root, []vmrunner.Share) {
	return &proto.Root{Tag: rootTag, Transport: transport}, []vmrunner.Share{{Tag: rootTag, Dir: dir}}
}

// shareTransport is what the cell's machine is asked to carry its
// shared root with ("" without one): the cell's transport, or "auto"
// when that is the run's own choice under auto, so that a virtiofsd that
// cannot start still leaves the 9p fallback (the agent mounts whichever
// the machine has).
func (r *cellRun) shareTransport() string {
	if r.manRoot == nil {
		return ""
	}
	if r.root.auto && r.manRoot.Transport == r.root.transport {
		return "auto"
	}
	return r.manRoot.Transport
}
