package engine

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/matrices"
)

type vmSize struct{ cpus, mem int }

// tryAcquire reports whether a VM of size v is admitted at once; if it has
// to queue, the attempt is cancelled (and must reserve nothing).
func tryAcquire(t *testing.T, s *Scheduler, v vmSize) *Grant {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := s.acquire(ctx, v.cpus, v.mem, math.MaxInt, cancel)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire %v: %v", v, err)
	}
	return g
}

// state returns what s has reserved and how many VMs wait.
func state(s *Scheduler) (cpus, mem, running, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cpus, s.memMiB, s.running, len(s.queue)
}

// waitQueued waits until n VMs wait in s.
func waitQueued(t *testing.T, s *Scheduler, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, _, q := state(s); q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never %d VM(s) queued", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// acquireAsync starts Acquire in a goroutine and returns where its result
// arrives; queued (if not nil) is closed when the VM has to wait.
func acquireAsync(ctx context.Context, s *Scheduler, v vmSize, queued chan struct{}) <-chan *Grant {
	return acquireRanked(ctx, s, v, math.MaxInt, queued)
}

// acquireRanked is acquireAsync with a rank.
func acquireRanked(ctx context.Context, s *Scheduler, v vmSize, rank int, queued chan struct{}) <-chan *Grant {
	out := make(chan *Grant, 1)
	go func() {
		var onQueue func()
		if queued != nil {
			onQueue = func() { close(queued) }
		}
		g, err := s.acquire(ctx, v.cpus, v.mem, rank, onQueue)
		if err != nil {
			g = nil
		}
		out <- g
	}()
	return out
}

func TestSchedulerFits(t *testing.T) {
	b := Budget{CPUs: 4, MemMiB: 4096, VMs: 3}
	tests := []struct {
		name   string
		budget Budget
		held   []vmSize
		want   vmSize
		admit  bool
	}{
		{"empty", b, nil, vmSize{2, 1024}, true},
		{"fills the cpus exactly", b, []vmSize{{2, 1024}}, vmSize{2, 1024}, true},
		{"fills the memory exactly", b, []vmSize{{1, 3072}}, vmSize{1, 1024}, true},
		{"too many cpus", b, []vmSize{{2, 512}, {2, 512}}, vmSize{1, 512}, false},
		{"too much memory", b, []vmSize{{1, 3000}}, vmSize{1, 2000}, false},
		{"count cap", b, []vmSize{{1, 1}, {1, 1}, {1, 1}}, vmSize{1, 1}, false},
		{"oversize alone", b, nil, vmSize{8, 16384}, true},
		{"oversize memory alone", b, nil, vmSize{1, 16384}, true},
		{"oversize waits for idle", b, []vmSize{{1, 512}}, vmSize{8, 16384}, false},
		{"nothing beside an oversize VM", b, []vmSize{{8, 16384}}, vmSize{1, 1}, false},
		{"zero cpus count as one", Budget{CPUs: 1}, []vmSize{{0, 0}}, vmSize{0, 0}, false},
		{"no limits", Budget{}, []vmSize{{64, 1 << 20}, {64, 1 << 20}}, vmSize{64, 1 << 20}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewScheduler(tt.budget)
			var grants []*Grant
			for _, h := range tt.held {
				g := tryAcquire(t, s, h)
				if g == nil {
					t.Fatalf("setup: %v not admitted", h)
				}
				grants = append(grants, g)
			}
			cpus0, mem0, run0, _ := state(s)
			g := tryAcquire(t, s, tt.want)
			if got := g != nil; got != tt.admit {
				t.Fatalf("admitted = %v, want %v", got, tt.admit)
			}
			if g == nil {
				if cpus, mem, run, q := state(s); cpus != cpus0 || mem != mem0 || run != run0 || q != 0 {
					t.Fatalf("a refused VM left state cpus=%d mem=%d running=%d queued=%d, want %d %d %d 0", cpus, mem, run, q, cpus0, mem0, run0)
				}
			} else {
				grants = append(grants, g)
			}
			for _, g := range grants {
				g.Release()
			}
			if cpus, mem, run, q := state(s); cpus != 0 || mem != 0 || run != 0 || q != 0 {
				t.Fatalf("after releasing all: cpus=%d mem=%d running=%d queued=%d", cpus, mem, run, q)
			}
		})
	}
}

func TestSchedulerOversizeRunsAlone(t *testing.T) {
	s := NewScheduler(Budget{CPUs: 4, MemMiB: 4096})
	a := tryAcquire(t, s, vmSize{1, 512})
	b := tryAcquire(t, s, vmSize{1, 512})
	queued := make(chan struct{})
	big := acquireAsync(context.Background(), s, vmSize{16, 65536}, queued)
	<-queued
	a.Release()
	select {
	case <-big:
		t.Fatal("the oversize VM started beside another")
	default:
	}
	b.Release() // now idle: admitted synchronously
	g := <-big
	if g == nil {
		t.Fatal("the oversize VM was refused")
	}
	if tryAcquire(t, s, vmSize{1, 1}) != nil {
		t.Fatal("a VM started beside the oversize one")
	}
	g.Release()
	if c := tryAcquire(t, s, vmSize{1, 1}); c == nil {
		t.Fatal("nothing admitted after the oversize VM")
	}
}

func TestSchedulerFIFO(t *testing.T) {
	// A small VM that would fit does not overtake a large one that came
	// first.
	s := NewScheduler(Budget{CPUs: 4})
	a := tryAcquire(t, s, vmSize{2, 0})
	qBig, qSmall := make(chan struct{}), make(chan struct{})
	big := acquireAsync(context.Background(), s, vmSize{4, 0}, qBig)
	<-qBig
	small := acquireAsync(context.Background(), s, vmSize{1, 0}, qSmall)
	<-qSmall
	if _, _, run, q := state(s); run != 1 || q != 2 {
		t.Fatalf("running=%d queued=%d, want 1 2", run, q)
	}
	a.Release()
	gBig := <-big
	if _, _, run, q := state(s); run != 1 || q != 1 {
		t.Fatalf("after the first release: running=%d queued=%d, want 1 1 (the large VM only)", run, q)
	}
	gBig.Release()
	(<-small).Release()

	// Many waiters are admitted in the order they came.
	s = NewScheduler(Budget{VMs: 1})
	first := tryAcquire(t, s, vmSize{1, 0})
	const n = 20
	results := make([]<-chan *Grant, n)
	for i := range n {
		q := make(chan struct{})
		results[i] = acquireAsync(context.Background(), s, vmSize{1 + i%3, 0}, q)
		<-q
	}
	first.Release()
	for i := range n {
		g := <-results[i]
		if g == nil {
			t.Fatalf("waiter %d refused", i)
		}
		for j := i + 1; j < n; j++ {
			select {
			case <-results[j]:
				t.Fatalf("waiter %d admitted while %d runs", j, i)
			default:
			}
		}
		g.Release()
	}
}

// TestSchedulerRank: waiters are admitted by rank (the cells' matrix
// order), whatever order they came in; equal ranks keep arrival order.
func TestSchedulerRank(t *testing.T) {
	s := NewScheduler(Budget{VMs: 1})
	first := tryAcquire(t, s, vmSize{1, 0})
	ranks := []int{5, 2, 9, 2, 0}
	results := make([]<-chan *Grant, len(ranks))
	for i, r := range ranks {
		q := make(chan struct{})
		results[i] = acquireRanked(context.Background(), s, vmSize{1, 0}, r, q)
		<-q
	}
	first.Release()
	for _, i := range []int{4, 1, 3, 0, 2} { // ranks 0, 2, 2 (in arrival order), 5, 9
		var g *Grant
		select {
		case g = <-results[i]:
		case <-time.After(10 * time.Second):
			t.Fatalf("waiter %d (rank %d) not admitted next", i, ranks[i])
		}
		if g == nil {
			t.Fatalf("waiter %d (rank %d) refused", i, ranks[i])
		}
		for j := range results {
			if j == i {
				continue
			}
			select {
			case g2 := <-results[j]:
				t.Fatalf("waiter %d (rank %d) admitted while waiter %d (rank %d) runs", j, ranks[j], i, ranks[i])
				g2.Release()
			default:
			}
		}
		g.Release()
	}
}

func TestSchedulerCancel(t *testing.T) {
	t.Run("already done", func(t *testing.T) {
		s := NewScheduler(Budget{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if g, err := s.Acquire(ctx, 1, 1); g != nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire = %v, %v; want nil, context.Canceled", g, err)
		}
		if cpus, mem, run, q := state(s); cpus+mem+run+q != 0 {
			t.Fatalf("state %d %d %d %d after a cancelled Acquire", cpus, mem, run, q)
		}
	})
	t.Run("deadline while queued", func(t *testing.T) {
		s := NewScheduler(Budget{VMs: 1})
		a := tryAcquire(t, s, vmSize{1, 1})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if g, err := s.Acquire(ctx, 1, 1); g != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire = %v, %v; want nil, context.DeadlineExceeded", g, err)
		}
		if cpus, mem, run, q := state(s); cpus != 1 || mem != 1 || run != 1 || q != 0 {
			t.Fatalf("state %d %d %d %d, want 1 1 1 0", cpus, mem, run, q)
		}
		a.Release()
	})
	t.Run("the head leaves, the next fits", func(t *testing.T) {
		s := NewScheduler(Budget{CPUs: 4})
		a := tryAcquire(t, s, vmSize{2, 0})
		ctx, cancel := context.WithCancel(context.Background())
		qBig, qSmall := make(chan struct{}), make(chan struct{})
		big := acquireAsync(ctx, s, vmSize{4, 0}, qBig)
		<-qBig
		small := acquireAsync(context.Background(), s, vmSize{1, 0}, qSmall)
		<-qSmall
		cancel()
		if g := <-big; g != nil {
			t.Fatal("the cancelled VM was admitted")
		}
		g := <-small
		if g == nil {
			t.Fatal("the small VM was refused")
		}
		if cpus, _, run, q := state(s); cpus != 3 || run != 2 || q != 0 {
			t.Fatalf("cpus=%d running=%d queued=%d, want 3 2 0", cpus, run, q)
		}
		g.Release()
		a.Release()
	})
	t.Run("release races cancel", func(t *testing.T) {
		// Whichever wins, a cancelled Acquire holds nothing.
		for range 200 {
			s := NewScheduler(Budget{VMs: 1})
			a := tryAcquire(t, s, vmSize{1, 1})
			ctx, cancel := context.WithCancel(context.Background())
			q := make(chan struct{})
			res := acquireAsync(ctx, s, vmSize{1, 1}, q)
			<-q
			released := make(chan struct{})
			go func() { a.Release(); close(released) }()
			cancel()
			if g := <-res; g != nil {
				g.Release()
			}
			<-released
			if cpus, mem, run, q := state(s); cpus+mem+run+q != 0 {
				t.Fatalf("leak: cpus=%d mem=%d running=%d queued=%d", cpus, mem, run, q)
			}
		}
	})
}

func TestSchedulerReleaseTwice(t *testing.T) {
	s := NewScheduler(Budget{VMs: 1})
	a := tryAcquire(t, s, vmSize{1, 1})
	b := tryAcquire(t, s, vmSize{1, 1})
	if b != nil {
		t.Fatal("second VM admitted past the cap")
	}
	a.Release()
	a.Release()
	if _, _, run, _ := state(s); run != 0 {
		t.Fatalf("running=%d after a double release", run)
	}
}

func TestSchedulerWaited(t *testing.T) {
	s := NewScheduler(Budget{VMs: 1})
	a := tryAcquire(t, s, vmSize{1, 1})
	if a.Waited > time.Second {
		t.Fatalf("an immediate admission waited %v", a.Waited)
	}
	q := make(chan struct{})
	res := acquireAsync(context.Background(), s, vmSize{1, 1}, q)
	<-q
	const hold = 30 * time.Millisecond
	time.Sleep(hold)
	a.Release()
	g := <-res
	if g.Waited < hold {
		t.Fatalf("Waited = %v, want at least %v", g.Waited, hold)
	}
	g.Release()
}

// TestSchedulerStress checks the budget holds under contention, with
// cancellations, and that nothing leaks (run with -race).
func TestSchedulerStress(t *testing.T) {
	b := Budget{CPUs: 8, MemMiB: 4096, VMs: 3}
	s := NewScheduler(b)
	var mu sync.Mutex
	var cpus, mem, running, peak int
	var admitted, cancelled atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := vmSize{1 + i%4, 512 * (1 + i%5)}
			if i%16 == 0 {
				v = vmSize{12, 8192} // oversize
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(40))*time.Millisecond)
			defer cancel()
			if i%2 == 0 {
				ctx = context.Background()
			}
			g, err := s.Acquire(ctx, v.cpus, v.mem)
			if err != nil {
				cancelled.Add(1)
				return
			}
			admitted.Add(1)
			mu.Lock()
			cpus, mem, running = cpus+v.cpus, mem+v.mem, running+1
			peak = max(peak, running)
			if running > 1 && (cpus > b.CPUs || mem > b.MemMiB || running > b.VMs) {
				t.Errorf("over budget: %d VMs, %d vCPUs, %d MiB", running, cpus, mem)
			}
			mu.Unlock()
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
			mu.Lock()
			cpus, mem, running = cpus-v.cpus, mem-v.mem, running-1
			mu.Unlock()
			g.Release()
		}()
	}
	wg.Wait()
	if c, m, r, q := state(s); c+m+r+q != 0 {
		t.Fatalf("leak: cpus=%d mem=%d running=%d queued=%d", c, m, r, q)
	}
	if admitted.Load() < 32 {
		t.Fatalf("only %d VMs admitted (the 32 without a deadline must be)", admitted.Load())
	}
	t.Logf("admitted %d, cancelled %d, peak %d VMs", admitted.Load(), cancelled.Load(), peak)
}

func TestUsableMemMiB(t *testing.T) {
	tests := []struct{ avail, want int }{
		{0, 0},
		{512, 0},
		{1024, 0},
		{2048, 1024},     // the 1 GiB floor
		{4096, 3072},     // a quarter is 1 GiB
		{16384, 12288},   // a quarter
		{262144, 196608}, // a quarter
	}
	for _, tt := range tests {
		if got := usableMemMiB(tt.avail); got != tt.want {
			t.Errorf("usableMemMiB(%d) = %d, want %d", tt.avail, got, tt.want)
		}
	}
}

func TestDefaultJobs(t *testing.T) {
	small := matrices.VM{CPUs: 1, MemoryMiB: 512} // 768 MiB with QEMU's own
	tests := []struct {
		name         string
		vm           matrices.VM
		cores, avail int
		want         int
	}{
		{"cores bound", small, 8, 65536, 8},
		{"memory bound", small, 64, 8192, 8}, // 6144 / 768
		{"memory unknown", small, 8, 0, 8},
		{"no memory to spare", small, 8, 1024, 1},
		{"just one", small, 8, 2048, 1}, // 1024 / 768
		{"two vCPUs", matrices.VM{CPUs: 2, MemoryMiB: 512}, 8, 65536, 4},
		{"more vCPUs than cores", matrices.VM{CPUs: 16, MemoryMiB: 512}, 8, 65536, 1},
		{"big memory", matrices.VM{CPUs: 1, MemoryMiB: 4096}, 32, 32768, 5}, // 24576 / 4352
		{"defaults", matrices.VM{}, 4, 65536, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultJobs(tt.vm, tt.cores, tt.avail); got != tt.want {
				t.Errorf("defaultJobs(%+v, %d cores, %d MiB) = %d, want %d", tt.vm, tt.cores, tt.avail, got, tt.want)
			}
		})
	}
}
