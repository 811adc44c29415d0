package engine

import (
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/matrices"
)

// TestSharedRootForCell: a kernel is checked for what mounting the shared
// root needs before it boots; under auto a kernel with only the other
// transport uses it, a forced transport is required, and what is missing
// is named.
func TestSharedRootForCell(t *testing.T) {
	base := "CONFIG_PCI=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_OVERLAY_FS=y\nCONFIG_TMPFS=y\n"
	virtiofs := "CONFIG_FUSE_FS=y\nCONFIG_VIRTIO_FS=y\n"
	ninep := "CONFIG_9P_FS=y\nCONFIG_NET_9P=y\nCONFIG_NET_9P_VIRTIO=y\n"
	tests := []struct {
		name, config string
		root         sharedRoot
		want, err    string
	}{
		{"virtiofs kernel", base + virtiofs, sharedRoot{"/", "virtiofs", true}, "virtiofs", ""},
		{"9p only, auto", base + ninep, sharedRoot{"/", "virtiofs", true}, "9p", ""},
		{"9p only, virtiofs forced", base + ninep, sharedRoot{"/", "virtiofs", false}, "", "rootfs / over virtiofs needs CONFIG_FUSE_FS, CONFIG_VIRTIO_FS"},
		{"neither", base, sharedRoot{"/", "virtiofs", true}, "", "needs CONFIG_VIRTIO_FS or CONFIG_9P_FS"},
		{"no overlay, no PCI", "CONFIG_TMPFS=y\n" + virtiofs, sharedRoot{"/srv/root", "virtiofs", true}, "", "rootfs /srv/root needs CONFIG_PCI, CONFIG_VIRTIO_PCI, CONFIG_OVERLAY_FS"},
		{"9p needs its virtio transport", base + "CONFIG_9P_FS=y\n", sharedRoot{"/", "9p", false}, "", "needs CONFIG_NET_9P_VIRTIO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := tt.root.forCell(&guestKernel{Config: matrices.ParseKernelConfig([]byte(tt.config))})
			if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("forCell = %q, %v; want %q, %q", got, err, tt.want, tt.err)
			}
		})
	}
	if got, _, err := (sharedRoot{"/", "9p", true}).forCell(&guestKernel{}); got != "9p" || err != nil {
		t.Errorf("no config known: %q, %v; want the run's transport", got, err)
	}
}
