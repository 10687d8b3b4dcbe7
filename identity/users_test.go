package identity

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	synclog "github.com/or3/syncd/log"
)

func TestConfig_Validate(t *testing.T) {
	db := openLog(t, t.TempDir())
	if _, err := New(db, Config{Secret: []byte("short")}); err == nil || !strings.Contains(err.Error(), "Secret") {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := New(db, Config{Secret: testSecret, DefaultWorkspaceName: strings.Repeat("x", 101)}); err == nil {
		t.Fatal("overlong default workspace name accepted")
	}
	if _, err := New(nil, Config{Secret: testSecret}); err == nil {
		t.Fatal("nil log accepted")
	}
	s, err := New(db, Config{Secret: testSecret})
	must(t, err)
	if s.cfg.Now == nil || s.cfg.Logger == nil || s.cfg.Region != "local" || s.cfg.DefaultWorkspaceName != DefaultWorkspaceName {
		t.Fatalf("defaults not filled: %+v", s.cfg)
	}
}

func TestUserID_DeterministicAcrossStores(t *testing.T) {
	a, b := newFixture(t), newFixture(t) // two regions, same secret
	idA := a.user(t, "sub-1", "")
	idB := b.user(t, "sub-1", "")
	if idA != idB {
		t.Fatalf("same subject, same secret: %s vs %s", idA, idB)
	}
	u, err := uuid.Parse(idA)
	must(t, err)
	if u.Version() != 8 || u.Variant() != uuid.RFC4122 {
		t.Fatalf("id %s: version %d variant %v", idA, u.Version(), u.Variant())
	}
	t.Run("different provider, different id", func(t *testing.T) {
		other, err := a.s.GetOrCreateUser(a.ctx, UserInput{Provider: "clerk", ProviderUserID: "sub-1"})
		must(t, err)
		if other.UserID == idA {
			t.Fatal("provider does not enter the id")
		}
	})
	t.Run("separator is unambiguous", func(t *testing.T) {
		if DeriveUserID(testSecret, "ab", "c") == DeriveUserID(testSecret, "a", "bc") {
			t.Fatal("provider/subject boundary collides")
		}
	})
	t.Run("different secret, different id", func(t *testing.T) {
		if DeriveUserID([]byte("another-secret-0123456789abcdef"), "test", "sub-1") == idA {
			t.Fatal("secret does not enter the id")
		}
	})
}

// Scenario 7.
func TestGetOrCreateUser_Idempotent(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := synclog.Open(synclog.Config{Dir: dir, Logger: quietLogger(), MemTableSize: 4 << 20})
	must(t, err)
	s, err := New(db, Config{Secret: testSecret, Logger: quietLogger()})
	must(t, err)
	first, err := s.GetOrCreateUser(ctx, UserInput{Provider: "clerk", ProviderUserID: "user_1", Email: " A@Example.COM "})
	must(t, err)
	second, err := s.GetOrCreateUser(ctx, UserInput{Provider: "clerk", ProviderUserID: "user_1"})
	must(t, err)
	if !first.Created || second.Created || first.UserID != second.UserID {
		t.Fatalf("first %+v second %+v", first, second)
	}
	must(t, db.Close())
	// A later, separate store instance over the same data.
	db2 := openLog(t, dir)
	s2, err := New(db2, Config{Secret: testSecret, Logger: quietLogger()})
	must(t, err)
	u, err := s2.GetUser(ctx, "clerk", "user_1")
	must(t, err)
	if u == nil || u.ID != first.UserID || u.Email != "a@example.com" {
		t.Fatalf("getUser after reopen: %+v", u)
	}
	if u, err := s2.GetUser(ctx, "clerk", "nobody"); err != nil || u != nil {
		t.Fatalf("unknown subject: %+v %v", u, err)
	}
}

// Scenario 8.
func TestGetOrCreateUser_DistinctProvidersAndSubjects(t *testing.T) {
	f := newFixture(t)
	ids := map[string]bool{}
	for _, in := range []UserInput{
		{Provider: "clerk", ProviderUserID: "s1"},
		{Provider: "basic-auth", ProviderUserID: "s1"},
		{Provider: "clerk", ProviderUserID: "s2"},
	} {
		ref, err := f.s.GetOrCreateUser(f.ctx, in)
		must(t, err)
		ids[ref.UserID] = true
	}
	if len(ids) != 3 {
		t.Fatalf("want 3 distinct users, got %d", len(ids))
	}
	if n := f.countKeys(t, synclog.PrefixUser); n != 3 {
		t.Fatalf("%d user records", n)
	}
}

// Scenario 9.
func TestGetOrCreateUser_ConcurrentCallsCreateOneUser(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	ids := make([]string, 10)
	created := make([]bool, 10)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref, err := f.s.GetOrCreateUser(f.ctx, UserInput{Provider: "clerk", ProviderUserID: "racer"})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], created[i] = ref.UserID, ref.Created
		}()
	}
	wg.Wait()
	nCreated := 0
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("different ids: %v", ids)
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Fatalf("%d calls report creating the user", nCreated)
	}
	if u, a := f.countKeys(t, synclog.PrefixUser), f.countKeys(t, synclog.PrefixAccount); u != 1 || a != 1 {
		t.Fatalf("%d users, %d accounts", u, a)
	}
}

// Scenario 10.
func TestGetOrCreateUser_UUIDSubjectIsNeverTheUserID(t *testing.T) {
	f := newFixture(t)
	sub := uuid.NewString()
	ref, err := f.s.GetOrCreateUser(f.ctx, UserInput{Provider: "basic-auth", ProviderUserID: sub})
	must(t, err)
	if ref.UserID == sub {
		t.Fatal("the subject became the user id")
	}
	if ok, err := f.s.UserExists(f.ctx, sub); err != nil || ok {
		t.Fatalf("the subject resolves as a user id: %v %v", ok, err)
	}
	_, err = f.s.GetOrCreateDefaultWorkspace(f.ctx, sub)
	wantErr(t, err, ErrUserNotFound, 404)
}

// Scenario 11.
func TestGetOrCreateUser_ExistingUserWritesNothing(t *testing.T) {
	f := newFixture(t)
	f.user(t, "s", "a@x.io")
	before := f.countKeys(t, synclog.PrefixSystem)
	for range 3 {
		f.user(t, "s", "a@x.io")
		f.user(t, "s", "") // not reported is not "cleared"
	}
	if after := f.countKeys(t, synclog.PrefixSystem); after != before {
		t.Fatalf("%d events appended for a known user", after-before)
	}
}

func TestGetOrCreateUser_ProfileChangesAreRecorded(t *testing.T) {
	f := newFixture(t)
	id := f.user(t, "s", "old@x.io")
	f.clock.Advance(1000)
	_, err := f.s.GetOrCreateUser(f.ctx, UserInput{Provider: "test", ProviderUserID: "s", Email: "New@X.io", DisplayName: "Ann"})
	must(t, err)
	u := f.userRec(t, id)
	if u.Email != "new@x.io" || u.DisplayName != "Ann" {
		t.Fatalf("profile not updated: %+v", u)
	}
}

func TestGetOrCreateUser_RejectsBadInput(t *testing.T) {
	f := newFixture(t)
	for name, in := range map[string]UserInput{
		"no provider":      {ProviderUserID: "s"},
		"no subject":       {Provider: "p"},
		"NUL in provider":  {Provider: "a\x00b", ProviderUserID: "s"},
		"long subject":     {Provider: "p", ProviderUserID: strings.Repeat("s", MaxIDLen+1)},
		"long email":       {Provider: "p", ProviderUserID: "s", Email: strings.Repeat("e", MaxEmailLen) + "@x"},
		"long displayName": {Provider: "p", ProviderUserID: "s", DisplayName: strings.Repeat("d", MaxDisplayNameLen+1)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.s.GetOrCreateUser(f.ctx, in)
			wantErr(t, err, ErrInvalidArgument, 400)
		})
	}
}

// Scenario 14.
func TestUserExists_MalformedIDIsFalse(t *testing.T) {
	f := newFixture(t)
	id := f.user(t, "s", "")
	for _, bad := range []string{"", "garbage", strings.Repeat("x", 10_000), "\x00\xff"} {
		ok, err := f.s.UserExists(f.ctx, bad)
		if err != nil || ok {
			t.Fatalf("UserExists(%q) = %v, %v", bad, ok, err)
		}
	}
	if ok, err := f.s.UserExists(f.ctx, id); err != nil || !ok {
		t.Fatalf("UserExists(real) = %v, %v", ok, err)
	}
}
