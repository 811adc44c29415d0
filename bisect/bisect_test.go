package bisect

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// states builds a judge over a string of verdicts: 'g' good, 'b' bad,
// 's' untestable. It records the order in which states were asked.
func states(s string, asked *[]int) Judge {
	return func(_ context.Context, i int) (Verdict, error) {
		*asked = append(*asked, i)
		switch s[i] {
		case 'g':
			return Good, nil
		case 'b':
			return Bad, nil
		}
		return Skip, nil
	}
}

func TestSearch(t *testing.T) {
	tests := []struct {
		name       string
		states     string
		firstBad   int
		candidates []int
		err        error
		maxSteps   int
	}{
		{"two states", "gb", 1, []int{1}, nil, 2},
		{"first patch", "gbbb", 1, []int{1}, nil, 4},
		{"second of three patches", "ggbb", 2, []int{2}, nil, 4},
		{"last", "gggggggb", 7, []int{7}, nil, 5},
		{"middle of many", "ggggggggggggggggbbbbbbbbbbbbbbbbb", 16, []int{16}, nil, 7},
		{"a skip is gone around", "ggsgbb", 4, []int{4}, nil, 6},
		{"skips hide the culprit", "ggssbb", 4, []int{2, 3, 4}, nil, 6},
		{"all between skipped", "gsssb", 4, []int{1, 2, 3, 4}, nil, 5},
		{"good end bad", "bbb", -1, nil, ErrGoodIsBad, 1},
		{"bad end good", "ggg", -1, nil, ErrBadIsGood, 2},
		{"untestable good end", "sgb", -1, nil, ErrUntestableEnd, 1},
		{"untestable bad end", "ggs", -1, nil, ErrUntestableEnd, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []int
			res, err := Search(context.Background(), len(tt.states), states(tt.states, &asked))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if len(res.Steps) != len(asked) || len(asked) > tt.maxSteps {
				t.Errorf("%d steps recorded, %d asked %v; want at most %d", len(res.Steps), len(asked), asked, tt.maxSteps)
			}
			if tt.err != nil {
				return
			}
			if res.FirstBad != tt.firstBad || !slices.Equal(res.Candidates, tt.candidates) {
				t.Errorf("first bad %d, candidates %v; want %d, %v (asked %v)", res.FirstBad, res.Candidates, tt.firstBad, tt.candidates, asked)
			}
			if res.Conclusive() != (len(tt.candidates) == 1) {
				t.Errorf("Conclusive() = %v", res.Conclusive())
			}
			if asked[0] != 0 || asked[1] != len(tt.states)-1 {
				t.Errorf("the ends were not tested first: %v", asked)
			}
			seen := map[int]bool{}
			for _, i := range asked {
				if seen[i] {
					t.Errorf("state %d tested twice: %v", i, asked)
				}
				seen[i] = true
			}
		})
	}
}

// TestSearchSteps: without skips a search tests exactly Expected(n)
// states, whichever is the first bad one.
func TestSearchSteps(t *testing.T) {
	for n := 2; n <= 40; n++ {
		for bad := 1; bad < n; bad++ {
			s := make([]byte, n)
			for i := range s {
				s[i] = 'g'
				if i >= bad {
					s[i] = 'b'
				}
			}
			var asked []int
			res, err := Search(context.Background(), n, states(string(s), &asked))
			if err != nil || res.FirstBad != bad {
				t.Fatalf("n=%d bad=%d: %v, first bad %d", n, bad, err, res.FirstBad)
			}
			if len(asked) > Expected(n) {
				t.Errorf("n=%d bad=%d: %d steps, want at most %d", n, bad, len(asked), Expected(n))
			}
		}
	}
}

// TestSearchStops: a judge's error ends the search at once, with the
// steps so far.
func TestSearchStops(t *testing.T) {
	boom := errors.New("interrupted")
	calls := 0
	res, err := Search(context.Background(), 10, func(_ context.Context, i int) (Verdict, error) {
		calls++
		if calls == 3 {
			return Skip, boom
		}
		if i == 0 {
			return Good, nil
		}
		return Bad, nil
	})
	if !errors.Is(err, boom) || calls != 3 || len(res.Steps) != 2 {
		t.Errorf("err %v after %d calls, %d steps; want the judge's error after 3 calls and 2 steps", err, calls, len(res.Steps))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Search(ctx, 4, func(context.Context, int) (Verdict, error) { return Good, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled search: %v", err)
	}
}

func TestExpected(t *testing.T) {
	for _, tt := range []struct{ n, want int }{{1, 0}, {2, 2}, {3, 3}, {4, 4}, {5, 4}, {9, 5}, {17, 6}, {1025, 12}} {
		if got := Expected(tt.n); got != tt.want {
			t.Errorf("Expected(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}
