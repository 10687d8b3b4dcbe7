package crdt

import (
	"math"
	"testing"
)

func TestCompare(t *testing.T) {
	r := func(clock int64, hlc, op, fp string) Revision { return Revision{clock, hlc, op, fp} }
	tests := []struct {
		name string
		a, b Revision
		want int
	}{
		{"equal", r(1, "h", "o", "f"), r(1, "h", "o", "f"), 0},
		{"zero values equal", Revision{}, Revision{}, 0},
		{"clock decides first", r(2, "a", "a", "a"), r(1, "z", "z", "z"), +1},
		{"clock as integer not string", r(10, "h", "o", ""), r(9, "h", "o", ""), +1},
		{"negative clock below zero", r(-1, "z", "z", "z"), r(0, "", "", ""), -1},
		{"extreme clocks", r(math.MinInt64, "", "", ""), r(math.MaxInt64, "", "", ""), -1},
		{"hlc breaks clock tie", r(1, "1736648823456:0002:abc", "a", ""), r(1, "1736648823456:0001:abc", "z", ""), +1},
		{"hlc byte-wise, not numeric", r(1, "10000", "o", ""), r(1, "9999", "o", ""), -1},
		{"opId breaks hlc tie", r(4, "h", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", ""), r(4, "h", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", ""), +1},
		{"opId case matters (byte order)", r(1, "h", "A", ""), r(1, "h", "a", ""), -1},
		{"fingerprint breaks opId tie", r(1, "h", "o", "f2"), r(1, "h", "o", "f1"), +1},
		{"empty fingerprint lowest", r(1, "h", "o", ""), r(1, "h", "o", "0"), -1},
		{"empty hlc lowest", r(1, "", "z", "z"), r(1, "0", "", ""), -1},
		{"prefix sorts first", r(1, "ab", "", ""), r(1, "abc", "", ""), -1},
		{"bytes above 0x7f after ascii", r(1, "é", "", ""), r(1, "z", "", ""), +1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Fatalf("Compare(%+v, %+v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(tt.b, tt.a); got != -tt.want {
				t.Fatalf("Compare is not antisymmetric: reversed = %d", got)
			}
			if got := tt.a.Beats(tt.b); got != (tt.want > 0) {
				t.Fatalf("Beats = %v, want %v", got, tt.want > 0)
			}
		})
	}
}

func TestRevision_IsZero(t *testing.T) {
	if !(Revision{}).IsZero() {
		t.Fatal("zero revision not IsZero")
	}
	for _, r := range []Revision{{Clock: 1}, {HLC: "h"}, {OpID: "o"}, {Fingerprint: "f"}} {
		if r.IsZero() {
			t.Fatalf("%+v reported IsZero", r)
		}
	}
}

func TestRevision_ReplayDoesNotBeatItself(t *testing.T) {
	r := Revision{Clock: 3, HLC: "3:0:d", OpID: "op", Fingerprint: "fp"}
	if r.Beats(r) {
		t.Fatal("a revision beats itself: replays would re-apply")
	}
}
