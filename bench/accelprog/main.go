// Command accelprog times four kinds of work, for bench/accel-factor.sh
// and bench/arch.sh: run natively and in a guest, the ratio of its times
// is how much slower the guest is. Static Go, pinned to one CPU
// (GOMAXPROCS=1, the guests have one vCPU):
//
//	cpu      sorting, hashing into a map, string building (integer, branches, cache)
//	syscall  getppid(2) in a loop (entry and exit only)
//	pipe     4 KiB ping-pong over two pipes between two goroutines (wake-ups, copies)
//	fault    touching fresh anonymous memory, page by page (page faults)
//
// It prints one line per phase: "phase NAME SECONDS".
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func phase(name string, f func()) {
	start := time.Now()
	f()
	fmt.Printf("phase %s %.4f\n", name, time.Since(start).Seconds())
}

func main() {
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(400)
	phase("cpu", func() {
		x := uint64(88172645463325252)
		for round := 0; round < 6; round++ {
			a := make([]int, 200000)
			for i := range a {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				a[i] = int(x % 1000003)
			}
			sort.Ints(a)
			m := make(map[int]int, len(a))
			for _, v := range a {
				m[v]++
			}
			var b strings.Builder
			for i := 0; i < 50000; i++ {
				b.WriteString(strconv.Itoa(m[a[i]] + i))
			}
			if b.Len() == 0 {
				os.Exit(1)
			}
		}
	})
	phase("syscall", func() {
		for i := 0; i < 400000; i++ {
			syscall.Getppid()
		}
	})
	phase("pipe", func() {
		var p1, p2 [2]int
		if err := syscall.Pipe(p1[:]); err != nil {
			panic(err)
		}
		if err := syscall.Pipe(p2[:]); err != nil {
			panic(err)
		}
		const n = 20000
		done := make(chan bool)
		go func() {
			buf := make([]byte, 4096)
			for i := 0; i < n; i++ {
				syscall.Read(p1[0], buf)
				syscall.Write(p2[1], buf)
			}
			done <- true
		}()
		buf := make([]byte, 4096)
		for i := 0; i < n; i++ {
			syscall.Write(p1[1], buf)
			syscall.Read(p2[0], buf)
		}
		<-done
	})
	phase("fault", func() {
		for round := 0; round < 8; round++ {
			b, err := syscall.Mmap(-1, 0, 32<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
			if err != nil {
				panic(err)
			}
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			syscall.Munmap(b)
		}
	})
}
