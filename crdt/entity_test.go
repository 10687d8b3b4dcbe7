package crdt

import (
	"errors"
	"testing"
)

func rev(clock int64, hlc, opID string) Revision {
	return Revision{Clock: clock, HLC: hlc, OpID: opID}
}

func putOp(r Revision, payload string) Op {
	return Op{Kind: KindPut, Rev: r, Payload: []byte(payload)}
}

func softPutOp(r Revision, payload string) Op {
	return Op{Kind: KindPut, Rev: r, Payload: []byte(payload), SoftDeleted: true}
}

func delOp(r Revision) Op {
	return Op{Kind: KindDelete, Rev: r}
}

// fold applies ops in order to the empty entity.
func fold(ops ...Op) Entity {
	var e Entity
	for _, op := range ops {
		e, _ = e.Apply(op)
	}
	return e
}

func payloadOf(e Entity) string {
	if e.Put == nil {
		return "<none>"
	}
	return string(e.Put.Payload)
}

// ruleCase is one row of a §4.2–4.4 rule table: a stored state built from
// setup ops, one incoming op, and what must follow.
type ruleCase struct {
	name        string
	setup       []Op
	op          Op
	want        Outcome
	wantKind    Kind // SnapshotKind after the op
	wantWinner  Revision
	wantTomb    *Revision
	wantPayload string // payload of the greatest put, "<none>" if none
}

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := fold(tc.setup...)
			after, out := before.Apply(tc.op)
			if out != tc.want {
				t.Errorf("outcome = %+v, want %+v", out, tc.want)
			}
			if got := after.SnapshotKind(); got != tc.wantKind {
				t.Errorf("SnapshotKind = %v, want %v", got, tc.wantKind)
			}
			if after.Winner != tc.wantWinner {
				t.Errorf("Winner = %+v, want %+v", after.Winner, tc.wantWinner)
			}
			switch {
			case (after.Tomb == nil) != (tc.wantTomb == nil):
				t.Errorf("Tomb = %v, want %v", after.Tomb, tc.wantTomb)
			case after.Tomb != nil && *after.Tomb != *tc.wantTomb:
				t.Errorf("Tomb = %+v, want %+v", *after.Tomb, *tc.wantTomb)
			}
			if got := payloadOf(after); got != tc.wantPayload {
				t.Errorf("Put payload = %s, want %s", got, tc.wantPayload)
			}
			// The Winner is always max(row, tombstone): the claim of the
			// package documentation.
			if !after.Equal(NewEntity(after.Put, after.Tomb)) {
				t.Errorf("derived fields disagree with (Put, Tomb): %+v", after)
			}
		})
	}
}

func ptr(r Revision) *Revision { return &r }

// TestEntity_PutRules is the table of sync-contract §4.2.
func TestEntity_PutRules(t *testing.T) {
	r4, r5, r6 := rev(4, "h", "o"), rev(5, "h", "o"), rev(6, "h", "o")
	applied := Outcome{Applied: true, PutChanged: true}
	lostButGreatestPut := Outcome{PutChanged: true}
	runRuleCases(t, []ruleCase{
		// Row exists (live): compare with the row.
		{name: "live row, newer put applies", setup: []Op{putOp(r5, "old")}, op: putOp(r6, "new"),
			want: applied, wantKind: KindPut, wantWinner: r6, wantPayload: "new"},
		{name: "live row, identical revision is a no-op", setup: []Op{putOp(r5, "old")}, op: putOp(r5, "old"),
			want: Outcome{}, wantKind: KindPut, wantWinner: r5, wantPayload: "old"},
		{name: "live row, older put loses", setup: []Op{putOp(r5, "old")}, op: putOp(r4, "stale"),
			want: Outcome{}, wantKind: KindPut, wantWinner: r5, wantPayload: "old"},
		{name: "live row, greater opId wins the tie", setup: []Op{putOp(rev(5, "h", "a"), "a")}, op: putOp(rev(5, "h", "b"), "b"),
			want: applied, wantKind: KindPut, wantWinner: rev(5, "h", "b"), wantPayload: "b"},

		// Row exists (soft-deleted by a put with deleted:true).
		{name: "soft-deleted row, newer put revives", setup: []Op{softPutOp(r5, "gone")}, op: putOp(r6, "back"),
			want: applied, wantKind: KindPut, wantWinner: r6, wantPayload: "back"},
		{name: "soft-deleted row, older put loses", setup: []Op{softPutOp(r5, "gone")}, op: putOp(r4, "stale"),
			want: Outcome{}, wantKind: KindDelete, wantWinner: r5, wantPayload: "gone"},
		{name: "soft delete by put creates no tombstone", setup: []Op{putOp(r4, "live")}, op: softPutOp(r5, "gone"),
			want: applied, wantKind: KindDelete, wantWinner: r5, wantPayload: "gone"},

		// Row deleted by a delete op: the row carries the delete's revision.
		{name: "deleted row, newer put resurrects and keeps the tombstone", setup: []Op{putOp(r4, "old"), delOp(r5)}, op: putOp(r6, "new"),
			want: applied, wantKind: KindPut, wantWinner: r6, wantTomb: ptr(r5), wantPayload: "new"},
		{name: "deleted row, older put loses but is the greatest put", setup: []Op{putOp(rev(1, "h", "o"), "first"), delOp(r5)}, op: putOp(r4, "stale"),
			want: lostButGreatestPut, wantKind: KindDelete, wantWinner: r5, wantTomb: ptr(r5), wantPayload: "stale"},

		// No row, tombstone exists: compare with the tombstone.
		{name: "orphan tombstone, newer put inserts", setup: []Op{delOp(r5)}, op: putOp(r6, "new"),
			want: applied, wantKind: KindPut, wantWinner: r6, wantTomb: ptr(r5), wantPayload: "new"},
		{name: "orphan tombstone, equal clock and hlc, smaller opId: no resurrection", setup: []Op{delOp(rev(5, "h", "opD"))}, op: putOp(rev(5, "h", "opC"), "x"),
			want: lostButGreatestPut, wantKind: KindDelete, wantWinner: rev(5, "h", "opD"), wantTomb: ptr(rev(5, "h", "opD")), wantPayload: "x"},
		{name: "orphan tombstone, older put: no resurrection", setup: []Op{delOp(r5)}, op: putOp(r4, "x"),
			want: lostButGreatestPut, wantKind: KindDelete, wantWinner: r5, wantTomb: ptr(r5), wantPayload: "x"},
		{name: "exact revision tie with the tombstone: tombstone wins", setup: []Op{delOp(r5)}, op: putOp(r5, "x"),
			want: lostButGreatestPut, wantKind: KindDelete, wantWinner: r5, wantTomb: ptr(r5), wantPayload: "x"},

		// No row, no tombstone: insert.
		{name: "empty, put inserts", op: putOp(r4, "x"),
			want: applied, wantKind: KindPut, wantWinner: r4, wantPayload: "x"},
		{name: "empty, zero revision still inserts", op: putOp(Revision{}, "x"),
			want: applied, wantKind: KindPut, wantWinner: Revision{}, wantPayload: "x"},
		{name: "empty, soft-deleted put inserts a deleted row", op: softPutOp(r4, "x"),
			want: applied, wantKind: KindDelete, wantWinner: r4, wantPayload: "x"},
	})
}

// TestEntity_DeleteRules is the table of sync-contract §4.3, with the
// tombstone upsert of §4.4 that follows every delete.
func TestEntity_DeleteRules(t *testing.T) {
	r4, r5, r6 := rev(4, "h", "o"), rev(5, "h", "o"), rev(6, "h", "o")
	applied := Outcome{Applied: true, TombChanged: true}
	runRuleCases(t, []ruleCase{
		// Row exists.
		{name: "live row, newer delete applies", setup: []Op{putOp(r5, "row")}, op: delOp(r6),
			want: applied, wantKind: KindDelete, wantWinner: r6, wantTomb: ptr(r6), wantPayload: "row"},
		{name: "live row, older delete loses but installs a tombstone", setup: []Op{putOp(r5, "row")}, op: delOp(r4),
			want: Outcome{TombChanged: true}, wantKind: KindPut, wantWinner: r5, wantTomb: ptr(r4), wantPayload: "row"},
		{name: "soft-deleted row, newer delete applies", setup: []Op{softPutOp(r5, "row")}, op: delOp(r6),
			want: applied, wantKind: KindDelete, wantWinner: r6, wantTomb: ptr(r6), wantPayload: "row"},
		{name: "deleted row, newer delete advances", setup: []Op{putOp(r4, "row"), delOp(r5)}, op: delOp(r6),
			want: applied, wantKind: KindDelete, wantWinner: r6, wantTomb: ptr(r6), wantPayload: "row"},
		{name: "deleted row, delete replay is a no-op", setup: []Op{putOp(r4, "row"), delOp(r5)}, op: delOp(r5),
			want: Outcome{}, wantKind: KindDelete, wantWinner: r5, wantTomb: ptr(r5), wantPayload: "row"},
		// A fingerprint-less legacy put and delete sharing a revision: the
		// delete wins, as snapshots resolve an exact tie (§3.7 rule 5).
		{name: "exact revision tie with the live row: delete wins", setup: []Op{putOp(r5, "row")}, op: delOp(r5),
			want: applied, wantKind: KindDelete, wantWinner: r5, wantTomb: ptr(r5), wantPayload: "row"},

		// No row: the tombstone alone records the delete.
		{name: "empty, delete installs a tombstone and is applied", op: delOp(r4),
			want: applied, wantKind: KindDelete, wantWinner: r4, wantTomb: ptr(r4), wantPayload: "<none>"},
		{name: "orphan tombstone, newer delete advances it", setup: []Op{delOp(r4)}, op: delOp(r5),
			want: applied, wantKind: KindDelete, wantWinner: r5, wantTomb: ptr(r5), wantPayload: "<none>"},
		{name: "orphan tombstone, older delete changes nothing", setup: []Op{delOp(r5)}, op: delOp(r4),
			want: Outcome{}, wantKind: KindDelete, wantWinner: r5, wantTomb: ptr(r5), wantPayload: "<none>"},
	})
}

// TestEntity_TombstoneUpsert is §4.4: every delete upserts the tombstone
// under LWW, whether or not it won the row.
func TestEntity_TombstoneUpsert(t *testing.T) {
	r3, r4, r5, r9 := rev(3, "h", "o"), rev(4, "h", "o"), rev(5, "h", "o"), rev(9, "h", "o")
	runRuleCases(t, []ruleCase{
		{name: "losing delete newer than the tombstone advances it", setup: []Op{putOp(r9, "row"), delOp(r3)}, op: delOp(r5),
			want: Outcome{TombChanged: true}, wantKind: KindPut, wantWinner: r9, wantTomb: ptr(r5), wantPayload: "row"},
		{name: "losing delete older than the tombstone keeps it", setup: []Op{putOp(r9, "row"), delOp(r5)}, op: delOp(r4),
			want: Outcome{}, wantKind: KindPut, wantWinner: r9, wantTomb: ptr(r5), wantPayload: "row"},
		{name: "resurrected row keeps its tombstone; an older delete leaves both", setup: []Op{delOp(r5), putOp(r9, "row")}, op: delOp(r4),
			want: Outcome{}, wantKind: KindPut, wantWinner: r9, wantTomb: ptr(r5), wantPayload: "row"},
	})
}

// TestEntity_Scenarios replays sync-contract §5 scenarios 22–31 and 33 at
// entity level: which ops were applied, and the final state.
func TestEntity_Scenarios(t *testing.T) {
	const (
		opA = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
		opB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
		opD = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
	)
	tests := []struct {
		name        string
		ops         []Op
		wantApplied []bool
		wantKind    Kind
		wantWinner  Revision
		wantTomb    *Revision
		wantPayload string
	}{
		{
			name:        "22 higher clock wins",
			ops:         []Op{putOp(rev(1, "h1", "op-1"), "first"), putOp(rev(2, "h0", "op-2"), "second")},
			wantApplied: []bool{true, true}, wantKind: KindPut, wantWinner: rev(2, "h0", "op-2"), wantPayload: "second",
		},
		{
			name: "23 equal clock, hlc tie-break",
			ops: []Op{putOp(rev(1, "2025-01-01T00:00:00.000Z-0001", "op-z"), "first"),
				putOp(rev(1, "2025-01-01T00:00:00.000Z-0002", "op-a"), "second")},
			wantApplied: []bool{true, true}, wantKind: KindPut, wantWinner: rev(1, "2025-01-01T00:00:00.000Z-0002", "op-a"), wantPayload: "second",
		},
		{
			name:        "24 equal clock and hlc, opId tie-break",
			ops:         []Op{putOp(rev(4, "4:0:dev", opB), "winner"), putOp(rev(4, "4:0:dev", opA), "loser")},
			wantApplied: []bool{true, false}, wantKind: KindPut, wantWinner: rev(4, "4:0:dev", opB), wantPayload: "winner",
		},
		{
			name:        "25 lower clock does not overwrite",
			ops:         []Op{putOp(rev(5, "5:0:dev", "op-5"), "newer"), putOp(rev(3, "9:0:dev", "op-3"), "older")},
			wantApplied: []bool{true, false}, wantKind: KindPut, wantWinner: rev(5, "5:0:dev", "op-5"), wantPayload: "newer",
		},
		{
			name:        "26 delete creates a tombstone and a soft-deleted row",
			ops:         []Op{putOp(rev(1, "1:0:dev", "op-1"), "row"), {Kind: KindDelete, Rev: rev(2, "2:0:dev", "op-2"), Payload: []byte(`{"deleted_at":1}`)}},
			wantApplied: []bool{true, true}, wantKind: KindDelete, wantWinner: rev(2, "2:0:dev", "op-2"),
			wantTomb: ptr(rev(2, "2:0:dev", "op-2")), wantPayload: "row",
		},
		{
			name:        "27 single tombstone per key",
			ops:         []Op{putOp(rev(1, "1:0:dA", "op-1"), "row"), delOp(rev(2, "2:0:dA", "op-2")), delOp(rev(3, "3:0:dB", "op-3"))},
			wantApplied: []bool{true, true, true}, wantKind: KindDelete, wantWinner: rev(3, "3:0:dB", "op-3"),
			wantTomb: ptr(rev(3, "3:0:dB", "op-3")), wantPayload: "row",
		},
		{
			name:        "28 stale delete against newer live state",
			ops:         []Op{putOp(rev(5, "5:0:dev", "op-5"), "live"), delOp(rev(4, "4:9:device-z", "op-4"))},
			wantApplied: []bool{true, false}, wantKind: KindPut, wantWinner: rev(5, "5:0:dev", "op-5"),
			// §4.4: the losing delete still leaves a (harmless) older tombstone.
			wantTomb: ptr(rev(4, "4:9:device-z", "op-4")), wantPayload: "live",
		},
		{
			name:        "29 delete with a higher clock beats a later-arriving put with a lower clock",
			ops:         []Op{putOp(rev(1, "1:0:dev", "op-1"), "v1"), delOp(rev(3, "3:0:dev", "op-3")), putOp(rev(2, "2:0:dev", "op-2"), "v2")},
			wantApplied: []bool{true, true, false}, wantKind: KindDelete, wantWinner: rev(3, "3:0:dev", "op-3"),
			// The snapshot shows a tombstone with clock 3; the kept payload
			// is the greatest put, whatever the arrival order.
			wantTomb: ptr(rev(3, "3:0:dev", "op-3")), wantPayload: "v2",
		},
		{
			name:        "30 orphan tombstone blocks a stale put",
			ops:         []Op{delOp(rev(5, "5:0:dev", opD)), putOp(rev(5, "5:0:dev", opA), "dead")},
			wantApplied: []bool{true, false}, wantKind: KindDelete, wantWinner: rev(5, "5:0:dev", opD),
			wantTomb: ptr(rev(5, "5:0:dev", opD)), wantPayload: "dead",
		},
		{
			name:        "31 orphan tombstone loses to a strictly newer revision",
			ops:         []Op{delOp(rev(5, "5:0:dev", opD)), putOp(rev(5, "5:0:dev", "op-z-newer"), "alive")},
			wantApplied: []bool{true, true}, wantKind: KindPut, wantWinner: rev(5, "5:0:dev", "op-z-newer"),
			wantTomb: ptr(rev(5, "5:0:dev", opD)), wantPayload: "alive",
		},
		{
			name:        "33 equal-revision snapshot tie, row first",
			ops:         []Op{putOp(rev(7, "7:0:dev", "legacy"), "row"), delOp(rev(7, "7:0:dev", "legacy"))},
			wantApplied: []bool{true, true}, wantKind: KindDelete, wantWinner: rev(7, "7:0:dev", "legacy"),
			wantTomb: ptr(rev(7, "7:0:dev", "legacy")), wantPayload: "row",
		},
		{
			name:        "33 equal-revision snapshot tie, tombstone first",
			ops:         []Op{delOp(rev(7, "7:0:dev", "legacy")), putOp(rev(7, "7:0:dev", "legacy"), "row")},
			wantApplied: []bool{true, false}, wantKind: KindDelete, wantWinner: rev(7, "7:0:dev", "legacy"),
			wantTomb: ptr(rev(7, "7:0:dev", "legacy")), wantPayload: "row",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Entity
			for i, op := range tt.ops {
				var out Outcome
				e, out = e.Apply(op)
				if out.Applied != tt.wantApplied[i] {
					t.Errorf("op %d (%v %+v): applied = %v, want %v", i, op.Kind, op.Rev, out.Applied, tt.wantApplied[i])
				}
			}
			if got := e.SnapshotKind(); got != tt.wantKind {
				t.Errorf("SnapshotKind = %v, want %v", got, tt.wantKind)
			}
			if e.Winner != tt.wantWinner {
				t.Errorf("Winner = %+v, want %+v", e.Winner, tt.wantWinner)
			}
			if (e.Tomb == nil) != (tt.wantTomb == nil) || (e.Tomb != nil && *e.Tomb != *tt.wantTomb) {
				t.Errorf("Tomb = %v, want %v", e.Tomb, tt.wantTomb)
			}
			if got := payloadOf(e); got != tt.wantPayload {
				t.Errorf("Put payload = %s, want %s", got, tt.wantPayload)
			}
			// Scenarios are order-independent in their final state.
			rev := make([]Op, len(tt.ops))
			for i, op := range tt.ops {
				rev[len(rev)-1-i] = op
			}
			if r := fold(rev...); !r.Equal(e) {
				t.Errorf("reverse delivery gives %+v, want %+v", r, e)
			}
		})
	}
}

// TestEntity_ScenarioReplay is §5 scenario 3 at entity level: replaying an op
// changes nothing and is not applied again.
func TestEntity_ScenarioReplay(t *testing.T) {
	ops := []Op{putOp(rev(1, "1:0:d", "x"), "a"), delOp(rev(2, "2:0:d", "y")), putOp(rev(3, "3:0:d", "z"), "b")}
	for _, op := range ops {
		e := fold(ops...)
		again, out := e.Apply(op)
		if out != (Outcome{}) || !again.Equal(e) {
			t.Errorf("replaying %+v: outcome %+v, state changed: %v", op, out, !again.Equal(e))
		}
	}
}

func TestEntity_Predicates(t *testing.T) {
	tests := []struct {
		name                 string
		e                    Entity
		empty, deleted, live bool
		kind                 Kind
	}{
		{"empty", Entity{}, true, false, false, 0},
		{"live", fold(putOp(rev(1, "h", "o"), "x")), false, false, true, KindPut},
		{"soft-deleted", fold(softPutOp(rev(1, "h", "o"), "x")), false, true, false, KindDelete},
		{"deleted", fold(putOp(rev(1, "h", "o"), "x"), delOp(rev(2, "h", "o"))), false, true, false, KindDelete},
		{"orphan tombstone", fold(delOp(rev(2, "h", "o"))), false, true, false, KindDelete},
		{"resurrected", fold(delOp(rev(2, "h", "o")), putOp(rev(3, "h", "o"), "x")), false, false, true, KindPut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Empty(); got != tt.empty {
				t.Errorf("Empty = %v", got)
			}
			if got := tt.e.Deleted(); got != tt.deleted {
				t.Errorf("Deleted = %v", got)
			}
			if got := tt.e.Live(); got != tt.live {
				t.Errorf("Live = %v", got)
			}
			if got := tt.e.SnapshotKind(); got != tt.kind {
				t.Errorf("SnapshotKind = %v", got)
			}
		})
	}
}

func TestEntity_ApplyIsPure(t *testing.T) {
	e := fold(putOp(rev(3, "h", "o"), "row"), delOp(rev(2, "h", "o")))
	putBefore, tombBefore := *e.Put, *e.Tomb
	payloadBefore := string(e.Put.Payload)
	for _, op := range []Op{putOp(rev(9, "h", "o"), "new"), delOp(rev(9, "h", "p")), putOp(rev(1, "h", "o"), "old"), delOp(rev(1, "h", "o"))} {
		if _, _ = e.Apply(op); e.Put.Rev != putBefore.Rev || string(e.Put.Payload) != payloadBefore ||
			e.Put.SoftDeleted != putBefore.SoftDeleted || *e.Tomb != tombBefore {
			t.Fatalf("Apply(%+v) modified its receiver", op)
		}
	}
	a := fold(putOp(rev(1, "h", "o"), "a"))
	b := fold(putOp(rev(2, "h", "o"), "b"), delOp(rev(3, "h", "o")))
	aPut, bPut, bTomb := *a.Put, *b.Put, *b.Tomb
	_ = Merge(a, b)
	if a.Put.Rev != aPut.Rev || b.Put.Rev != bPut.Rev || *b.Tomb != bTomb {
		t.Fatal("Merge modified an argument")
	}
}

func TestEntity_UnknownKindIgnored(t *testing.T) {
	e := fold(putOp(rev(1, "h", "o"), "x"))
	for _, k := range []Kind{0, 3, 255} {
		got, out := e.Apply(Op{Kind: k, Rev: rev(9, "h", "o"), Payload: []byte("y")})
		if out != (Outcome{}) || !got.Equal(e) {
			t.Errorf("kind %d changed the entity", k)
		}
	}
}

func TestOp_Validate(t *testing.T) {
	if err := putOp(rev(0, "h", "o"), "{}").Validate(); err != nil {
		t.Errorf("valid put: %v", err)
	}
	if err := delOp(rev(1, "h", "o")).Validate(); err != nil {
		t.Errorf("valid delete: %v", err)
	}
	if err := (Op{Kind: 7}).Validate(); err == nil || !errors.Is(err, ErrUnknownKind) {
		t.Errorf("kind 7: %v", err)
	}
	if err := delOp(rev(-1, "h", "o")).Validate(); err == nil || !errors.Is(err, ErrNegativeClock) {
		t.Errorf("negative clock: %v", err)
	}
}

func TestKind_String(t *testing.T) {
	for k, want := range map[Kind]string{KindPut: "put", KindDelete: "delete", 0: "Kind(0)", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestMerge_Identity(t *testing.T) {
	e := fold(putOp(rev(1, "h", "o"), "x"), delOp(rev(0, "h", "o")))
	if !Merge(Entity{}, e).Equal(e) || !Merge(e, Entity{}).Equal(e) {
		t.Fatal("the empty entity is not Merge's identity")
	}
	if !Merge(Entity{}, Entity{}).Empty() {
		t.Fatal("merging two empty entities is not empty")
	}
}

func TestEntity_Equal(t *testing.T) {
	base := fold(putOp(rev(2, "h", "o"), `{"a":1}`), delOp(rev(1, "h", "o")))
	differ := map[string]Entity{
		"empty":          {},
		"put revision":   fold(putOp(rev(2, "h", "p"), `{"a":1}`), delOp(rev(1, "h", "o"))),
		"payload":        fold(putOp(rev(2, "h", "o"), `{"a":2}`), delOp(rev(1, "h", "o"))),
		"soft deleted":   fold(softPutOp(rev(2, "h", "o"), `{"a":1}`), delOp(rev(1, "h", "o"))),
		"tombstone":      fold(putOp(rev(2, "h", "o"), `{"a":1}`), delOp(rev(1, "h", "p"))),
		"no tombstone":   fold(putOp(rev(2, "h", "o"), `{"a":1}`)),
		"no put":         fold(delOp(rev(1, "h", "o"))),
		"deleted winner": fold(putOp(rev(2, "h", "o"), `{"a":1}`), delOp(rev(3, "h", "o"))),
	}
	for name, o := range differ {
		if base.Equal(o) || o.Equal(base) {
			t.Errorf("%s: entities reported Equal", name)
		}
	}
	same := fold(delOp(rev(1, "h", "o")), putOp(rev(2, "h", "o"), `{"a":1}`))
	if !base.Equal(same) || !same.Equal(base) {
		t.Error("same state reached in another order is not Equal")
	}
	// Nil and empty payloads are the same bytes.
	if !fold(Op{Kind: KindPut, Rev: rev(1, "h", "o")}).Equal(fold(putOp(rev(1, "h", "o"), ""))) {
		t.Error("nil and empty payloads differ")
	}
}
