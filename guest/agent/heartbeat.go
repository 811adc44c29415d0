package main

import (
	"sync"
	"time"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// startHeartbeat sends a heartbeat event to sink every interval until
// stop is called. stop waits for the sender to end, so no heartbeat
// follows it. A non-positive interval sends none.
func startHeartbeat(sink Sink, interval time.Duration) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = sink.Send(proto.Event{Kind: proto.KindHeartbeat})
			}
		}
	})
	return sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
}

// heartbeatInterval is the manifest's heartbeat interval; 0 when the
// manifest cannot be loaded (the worker reports that).
func heartbeatInterval(manifest string) time.Duration {
	m, err := loadManifest(manifest)
	if err != nil {
		return 0
	}
	return time.Duration(m.Heartbeat)
}
