package engine

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/kvmtest/kvmtest/hostinfo"
	"github.com/kvmtest/kvmtest/matrices"
)

// Budget is what the VMs running at once may use together. A field that is
// zero or negative sets no limit.
type Budget struct {
	CPUs   int // vCPUs
	MemMiB int // memory, MiB (guest memory and QEMU's own, see vmCost)
	VMs    int // VMs
}

// Scheduler admits VMs against a Budget: a VM starts when its vCPUs and
// memory fit next to those of the VMs already running and the count stays
// within Budget.VMs.
//
// Admission is in order of rank (AcquireVM: the cell's place in the
// matrix), then first come, first served: a VM that does not fit blocks
// the ones behind it, even those that would fit, so a large VM is not
// starved by a stream of small ones. Ranking by matrix order makes the
// order of boots the same on every run, whichever cached build was ready
// first. A VM larger than the whole budget is
// admitted alone, once nothing else runs, rather than never.
//
// A Scheduler is safe for concurrent use.
type Scheduler struct {
	budget Budget

	mu      sync.Mutex
	cpus    int       // vCPUs of the running VMs
	memMiB  int       // memory of the running VMs
	running int       // running VMs
	queue   []*waiter // waiting VMs, in order of arrival
}

type waiter struct {
	cpus, memMiB int
	rank         int
	ready        chan struct{} // closed once admitted
}

// Grant is one admitted VM's reservation. Release it when the VM is gone.
type Grant struct {
	// Waited is how long Acquire blocked before the VM was admitted.
	Waited time.Duration

	s            *Scheduler
	cpus, memMiB int
	once         sync.Once
}

// NewScheduler returns a Scheduler with budget b and nothing running.
func NewScheduler(b Budget) *Scheduler {
	return &Scheduler{budget: b}
}

// Acquire blocks until a VM of cpus vCPUs and memMiB MiB may start, and
// returns its reservation. When ctx is done first, it returns ctx.Err()
// and reserves nothing. A cpus below 1 counts as 1, a negative memMiB as 0.
func (s *Scheduler) Acquire(ctx context.Context, cpus, memMiB int) (*Grant, error) {
	return s.acquire(ctx, cpus, memMiB, math.MaxInt, nil)
}

// AcquireVM is Acquire for a VM of shape vm (see vmCost), queued ahead of
// waiters of a higher rank. When the VM has to wait, queued (if not nil)
// is called once, before AcquireVM blocks.
func (s *Scheduler) AcquireVM(ctx context.Context, vm matrices.VM, rank int, queued func()) (*Grant, error) {
	cpus, mem := vmCost(vm)
	return s.acquire(ctx, cpus, mem, rank, queued)
}

func (s *Scheduler) acquire(ctx context.Context, cpus, memMiB, rank int, queued func()) (*Grant, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &waiter{cpus: max(cpus, 1), memMiB: max(memMiB, 0), rank: rank, ready: make(chan struct{})}
	s.mu.Lock()
	i := len(s.queue)
	for i > 0 && s.queue[i-1].rank > rank {
		i--
	}
	s.queue = slices.Insert(s.queue, i, w)
	s.admit()
	s.mu.Unlock()
	select {
	case <-w.ready:
	default:
		if queued != nil {
			queued()
		}
		select {
		case <-w.ready:
		case <-ctx.Done():
			s.mu.Lock()
			select {
			case <-w.ready:
				// Admitted meanwhile: give it back.
				s.release(w.cpus, w.memMiB)
			default:
				s.queue = slices.DeleteFunc(s.queue, func(x *waiter) bool { return x == w })
				s.admit() // w may have been holding up the queue
			}
			s.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	// Admitted; a cancellation that raced with it wins, so that a caller
	// whose ctx is done never holds a reservation.
	if err := ctx.Err(); err != nil {
		s.mu.Lock()
		s.release(w.cpus, w.memMiB)
		s.mu.Unlock()
		return nil, err
	}
	return &Grant{Waited: time.Since(start), s: s, cpus: w.cpus, memMiB: w.memMiB}, nil
}

// Release gives the reservation back, letting waiting VMs in. Calls after
// the first do nothing.
func (g *Grant) Release() {
	g.once.Do(func() {
		g.s.mu.Lock()
		g.s.release(g.cpus, g.memMiB)
		g.s.mu.Unlock()
	})
}

// release returns a reservation and admits whoever now fits. s.mu is held.
func (s *Scheduler) release(cpus, memMiB int) {
	s.cpus -= cpus
	s.memMiB -= memMiB
	s.running--
	s.admit()
}

// admit starts waiting VMs in order while the first one fits. s.mu is held.
func (s *Scheduler) admit() {
	for len(s.queue) > 0 && s.fits(s.queue[0]) {
		w := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.cpus += w.cpus
		s.memMiB += w.memMiB
		s.running++
		close(w.ready)
	}
}

// fits reports whether w may start next to the running VMs. s.mu is held.
func (s *Scheduler) fits(w *waiter) bool {
	if s.running == 0 {
		return true // alone, whatever its size
	}
	b := s.budget
	return (b.VMs <= 0 || s.running < b.VMs) &&
		(b.CPUs <= 0 || s.cpus+w.cpus <= b.CPUs) &&
		(b.MemMiB <= 0 || s.memMiB+w.memMiB <= b.MemMiB)
}

const (
	// qemuOverheadMiB is what a VM takes beyond its guest memory: QEMU
	// itself, its device state and, under TCG, the translated code cache.
	qemuOverheadMiB = 256
	// minReserveMiB is the least memory kept back from VMs (see usableMemMiB).
	minReserveMiB = 1024
)

// vmCost is what one VM of shape vm takes from a Budget: its vCPUs (each a
// host thread, under KVM as under TCG) and its guest memory plus
// qemuOverheadMiB. Unset sizes take the matrix defaults.
func vmCost(vm matrices.VM) (cpus, memMiB int) {
	cpus, memMiB = vm.CPUs, vm.MemoryMiB
	if cpus <= 0 {
		cpus = matrices.DefaultCPUs
	}
	if memMiB <= 0 {
		memMiB = matrices.DefaultMemoryMiB
	}
	return cpus, memMiB + qemuOverheadMiB
}

// usableMemMiB is how much of availMiB (MemAvailable) the VMs may take:
// all of it but a reserve of a quarter, and at least 1 GiB. The reserve is
// for what runs beside the VMs: the kernel builds, which overlap boots and
// run make -j<cores> (compilers and the final link, whose memory grows
// with the machine, hence a fraction rather than a fixed amount), the page
// cache that keeps the source trees and objects hot, and the host itself
// (hence the floor on small machines).
func usableMemMiB(availMiB int) int {
	return max(availMiB-max(availMiB/4, minReserveMiB), 0)
}

// defaultJobs is DefaultJobs for a host of cores cores and availMiB MiB
// available (0: unknown, not limiting).
func defaultJobs(vm matrices.VM, cores, availMiB int) int {
	cpus, mem := vmCost(vm)
	n := cores / cpus
	if availMiB > 0 {
		n = min(n, usableMemMiB(availMiB)/mem)
	}
	return max(n, 1)
}

// hostBudget is the Budget of this machine for at most jobs VMs: its cores
// and its usable memory (no memory limit when MemAvailable is unknown). It
// also returns MemAvailable, 0 when unknown.
func hostBudget(jobs int) (b Budget, availMiB int) {
	b = Budget{CPUs: runtime.NumCPU(), VMs: jobs}
	if availMiB = hostinfo.Read().MemAvailableMiB; availMiB > 0 {
		// At least 1 MiB: with no memory to spare, VMs run one at a time
		// (a VM larger than the budget runs alone) rather than unlimited.
		b.MemMiB = max(usableMemMiB(availMiB), 1)
	}
	return b, availMiB
}

// newHostScheduler is Run's Scheduler: at most jobs VMs at once within the
// host's budget. It logs the budget and what it means for VMs of shape vm.
func newHostScheduler(jobs int, vm matrices.VM, logf func(string, ...any)) *Scheduler {
	b, avail := hostBudget(jobs)
	cpus, mem := vmCost(vm)
	n := max(b.CPUs/cpus, 1)
	if jobs > 0 {
		n = min(n, jobs)
	}
	memNote := "memory not limited (MemAvailable unknown)"
	if b.MemMiB > 0 {
		usable := usableMemMiB(avail)
		n = min(n, max(usable/mem, 1))
		memNote = fmt.Sprintf("%d MiB of memory (MemAvailable %d MiB less %d MiB kept for builds and the host)", usable, avail, avail-usable)
	}
	logf("VM budget: %d vCPUs, %s, at most %d VM(s); so %d VM(s) of %d vCPU(s) and %d MiB (with QEMU's own) at once", b.CPUs, memNote, jobs, n, cpus, mem)
	return NewScheduler(b)
}
