//go:build linux

package vmsplice

import (
	"fmt"
	"os"
	"testing"

	"github.com/kvmtest/kvmtest/guest/proto"
)

func TestMain(m *testing.M) {
	if os.Getenv(proto.GuestEnv) != "1" {
		fmt.Println("vmsplice: guest suite, skipped on the host (set KVMTEST_GUEST=1 to run)")
		os.Exit(0)
	}
	os.Exit(m.Run())
}
