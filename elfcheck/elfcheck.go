// Package elfcheck tells, without running it, whether a host file can be
// executed in a kvmtest guest: an ELF program of the guest's architecture
// that needs no dynamic loader the guest lacks, or a #! script whose
// interpreter the guest has.
//
// It reads files only (debug/elf and the first line of a script); what
// the guest's filesystem holds is the caller's to say, through a
// function, so that a suite run in a root filesystem (one that has a
// dynamic loader or a shell) is judged by what that filesystem has.
package elfcheck

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Arch is a guest architecture as ELF headers name it.
type Arch struct {
	Name    string // kvmtest's name of it, as in uname -m: "x86_64"
	Machine elf.Machine
	Class   elf.Class
	Data    elf.Data // byte order
}

// Archs are the architectures ArchByName knows.
var Archs = []Arch{
	{"x86_64", elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	{"aarch64", elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	{"riscv64", elf.EM_RISCV, elf.ELFCLASS64, elf.ELFDATA2LSB},
	{"ppc64le", elf.EM_PPC64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	{"s390x", elf.EM_S390, elf.ELFCLASS64, elf.ELFDATA2MSB},
	{"i386", elf.EM_386, elf.ELFCLASS32, elf.ELFDATA2LSB},
}

// X86_64 is the architecture of every guest today.
var X86_64 = Archs[0]

// ArchByName returns the architecture called name ("arm64" is aarch64,
// "amd64" x86_64), and whether there is one.
func ArchByName(name string) (Arch, bool) {
	switch name {
	case "amd64":
		name = "x86_64"
	case "arm64":
		name = "aarch64"
	}
	for _, a := range Archs {
		if a.Name == name {
			return a, true
		}
	}
	return Arch{}, false
}

// archOf names the architecture of an ELF machine and class, for messages.
func archOf(m elf.Machine, c elf.Class) string {
	for _, a := range Archs {
		if a.Machine == m && a.Class == c {
			return a.Name
		}
	}
	return fmt.Sprintf("%v, %v", m, c)
}

// MissingInterpreterError is the error of Check for a program whose
// interpreter (an ELF program's dynamic loader, a script's #! program)
// the guest does not have.
type MissingInterpreterError struct {
	Interp string // the path the program names
	Script bool   // a #! script (else a dynamically linked ELF program)
}

func (e *MissingInterpreterError) Error() string {
	if e.Script {
		return fmt.Sprintf("is a script for %s (its #! line), which the guest does not have", e.Interp)
	}
	return fmt.Sprintf("is dynamically linked (interpreter %s); the guest's initramfs has no dynamic loader: build it static (CGO_ENABLED=0, -static)", e.Interp)
}

// Check reports why the file at path cannot be executed in a guest of
// architecture arch, or nil when it can. guestHas says whether the
// guest's filesystem has an absolute path; it is asked about interpreters
// only (the dynamic loader an ELF program names in PT_INTERP, the program
// of a script's #! line), and a nil guestHas has nothing. A missing
// interpreter is a *MissingInterpreterError; the other errors are phrases
// to follow the file's name ("is an ELF program for aarch64, but the
// guest is x86_64").
func Check(path string, arch Arch, guestHas func(string) bool) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(fh, head)
	head = head[:n]
	switch {
	case bytes.Equal(head, []byte(elf.ELFMAG)):
		return checkELF(fh, arch, guestHas)
	case bytes.HasPrefix(head, []byte("#!")):
		return checkScript(io.MultiReader(bytes.NewReader(head[2:]), fh), guestHas)
	case n == 0:
		return errors.New("is empty: neither an ELF program nor a #! script")
	}
	return errors.New("is neither an ELF program nor a #! script: the kernel cannot execute it")
}

// checkELF checks an ELF file's class, byte order, machine, type and
// interpreter.
func checkELF(r io.ReaderAt, arch Arch, guestHas func(string) bool) error {
	f, err := elf.NewFile(r)
	if err != nil {
		return fmt.Errorf("is a damaged ELF file: %v", err)
	}
	defer f.Close()
	if f.Machine != arch.Machine || f.Class != arch.Class || f.Data != arch.Data {
		return fmt.Errorf("is an ELF program for %s, but the guest is %s", archOf(f.Machine, f.Class), arch.Name)
	}
	switch f.Type {
	case elf.ET_EXEC, elf.ET_DYN:
	default:
		return fmt.Errorf("is an ELF file of type %v, not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		data, err := io.ReadAll(p.Open())
		if err != nil {
			return fmt.Errorf("is a damaged ELF file: reading its interpreter: %v", err)
		}
		interp := strings.TrimRight(string(data), "\x00")
		if guestHas == nil || !guestHas(interp) {
			return &MissingInterpreterError{Interp: interp}
		}
	}
	return nil
}

// checkScript checks that the program of a script's #! line (r: the
// script after its "#!") is in the guest.
func checkScript(r io.Reader, guestHas func(string) bool) error {
	line, err := bufio.NewReader(io.LimitReader(r, 254)).ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return errors.New("has an empty #! line: it names no interpreter")
	}
	interp := fields[0]
	if !strings.HasPrefix(interp, "/") {
		return fmt.Errorf("names a relative interpreter %q on its #! line: write an absolute path", interp)
	}
	if guestHas == nil || !guestHas(interp) {
		return &MissingInterpreterError{Interp: interp, Script: true}
	}
	return nil
}
