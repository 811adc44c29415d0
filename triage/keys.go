package triage

import (
	"regexp/syntax"
	"strings"
)

// A line that starts no report should cost little: before the table's
// regexps, a line is searched for the literals the headers require, all at
// once. The literals are derived from the regexps themselves, so the table
// stays the only place a header is written.

// keySet is a set of indices into keyList.
type keySet [4]uint64

func (s *keySet) add(i int)                 { s[i/64] |= 1 << (i % 64) }
func (s keySet) empty() bool                { return s == keySet{} }
func (s keySet) intersects(t keySet) bool   { return s[0]&t[0]|s[1]&t[1]|s[2]&t[2]|s[3]&t[3] != 0 }
func pairOf(a, b byte) uint16               { return uint16(a)<<8 | uint16(b) }
func (ix *pairIndex) maybe(p uint16) bool   { return ix.bits[p>>3]&(1<<(p&7)) != 0 }
func (ix *pairIndex) set(p uint16)          { ix.bits[p>>3] |= 1 << (p & 7) }
func (ix *pairIndex) keysAt(p uint16) []int { return ix.byPair[p] }

// pairIndex maps the first two bytes of each literal to the literals.
type pairIndex struct {
	bits   [1 << 13]byte // one bit per byte pair
	byPair map[uint16][]int
}

var (
	keyList    []string // the distinct literals
	keyIdx     = pairIndex{byPair: map[uint16][]int{}}
	anyKeyRule bool // a rule has no literal: every line is tried on it
)

func init() {
	seen := map[string]int{}
	for _, x := range rules {
		lits := literals(x.header.String())
		if lits == nil {
			x.anyKey, anyKeyRule = true, true
			continue
		}
		for _, l := range lits {
			i, ok := seen[l]
			if !ok {
				i = len(keyList)
				if i >= 64*len(keySet{}) {
					panic("triage: too many header literals for keySet")
				}
				seen[l] = i
				keyList = append(keyList, l)
				p := pairOf(l[0], l[1])
				keyIdx.set(p)
				keyIdx.byPair[p] = append(keyIdx.byPair[p], i)
			}
			x.keys.add(i)
		}
	}
}

// findKeys returns the literals present in a line.
func findKeys(line string) (found keySet) {
	for i := 0; i+1 < len(line); i++ {
		p := pairOf(line[i], line[i+1])
		if !keyIdx.maybe(p) {
			continue
		}
		for _, k := range keyIdx.keysAt(p) {
			if strings.HasPrefix(line[i:], keyList[k]) {
				found.add(k)
			}
		}
	}
	return found
}

// literals returns strings one of which is in every match of a regexp, each
// at least two bytes long, or nil when it cannot tell.
func literals(expr string) []string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		panic(err)
	}
	lits := required(re.Simplify())
	for i, l := range lits {
		if t := strings.Trim(l, " :[]"); len(t) >= 2 {
			lits[i] = t
		} else if len(l) < 2 {
			return nil
		}
	}
	return lits
}

func required(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		return []string{string(re.Rune)}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		// The child whose shortest literal is the longest is the most
		// selective.
		var best []string
		for _, sub := range re.Sub {
			if lits := required(sub); shortest(lits) > shortest(best) {
				best = lits
			}
		}
		return best
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			lits := required(sub)
			if lits == nil {
				return nil
			}
			all = append(all, lits...)
		}
		return all
	}
	return nil
}

func shortest(lits []string) int {
	if len(lits) == 0 {
		return 0
	}
	n := len(lits[0])
	for _, l := range lits[1:] {
		n = min(n, len(l))
	}
	return n
}
