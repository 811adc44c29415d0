package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/results"
	"github.com/kvmtest/kvmtest/vmrunner"
)

func TestBootExitCode(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	done := func(status string, code int) *engine.BootResult {
		return &engine.BootResult{VM: &vmrunner.Result{Outcome: vmrunner.OutcomeDone, Slowdown: 1}, Status: status, ExitCode: code}
	}
	vm := func(o vmrunner.Outcome) *engine.BootResult {
		return &engine.BootResult{VM: &vmrunner.Result{Outcome: o, Slowdown: 1}, ExitCode: -1}
	}
	tests := []struct {
		name string
		ctx  context.Context
		res  *engine.BootResult
		want int
	}{
		{"the program passed", context.Background(), done(results.Pass, 0), 0},
		{"the program's own status", context.Background(), done(results.Fail, 7), 7},
		{"interrupted", cancelled, done(results.Pass, 0), results.ExitInterrupted},
		{"kernel crashed", context.Background(), vm(vmrunner.OutcomeCrashed), results.ExitFailed},
		{"VM timed out", context.Background(), vm(vmrunner.OutcomeTimeout), results.ExitFailed},
		{"program timed out", context.Background(), done(results.Timeout, -1), results.ExitFailed},
		{"agent could not start", context.Background(), &engine.BootResult{VM: &vmrunner.Result{Outcome: vmrunner.OutcomeCrashed, Slowdown: 1},
			ExitCode: -1, AgentFailed: "the kernel could not start the guest agent"}, results.ExitInfra},
		{"no boot", context.Background(), vm(vmrunner.OutcomeBootTimeout), results.ExitInfra},
		{"VM died", context.Background(), vm(vmrunner.OutcomeDied), results.ExitInfra},
		{"program could not run", context.Background(), done(results.Error, 0), results.ExitInfra},
		{"program never ended", context.Background(), done("", -1), results.ExitInfra},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bootExitCode(tt.ctx, tt.res, false); got != tt.want {
				t.Errorf("bootExitCode = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestBootRootfsValue: --rootfs takes initramfs, host or an existing
// directory (made absolute), and refuses anything else.
func TestBootRootfsValue(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"initramfs", "initramfs", true},
		{"host", "host", true},
		{dir, dir, true},
		{file, "", false},
		{filepath.Join(dir, "none"), "", false},
	} {
		got, err := bootRootfsValue(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("bootRootfsValue(%q) = %q, %v", tt.in, got, err)
		}
	}
}
