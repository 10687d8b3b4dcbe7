package blobs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"testing"

	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/storagetest"
)

// TestS3Commit_ChecksOnRealMinIO: on the S3 backend the presigned PUT
// carries the intent's SHA-256 and type, signed, so MinIO itself refuses
// other bytes or another type; and commit, which only stats the object
// (size, type and the digest MinIO recorded), still refuses an object
// under the intent's key whose size, type or bytes are not the intent's
// (409, the stray removed, no file_meta) — even one written behind
// syncd's back without a checksum, which commit then hashes.
func TestS3Commit_ChecksOnRealMinIO(t *testing.T) {
	e := newEnv(t, "s3", nil)
	ctx := context.Background()
	data := storagetest.Bytes(4096, 61)
	ans, code := e.presign(data, "image/png", nil)
	if code != 200 {
		t.Fatal(code)
	}
	st := e.store(t)

	t.Run("OtherBytesRefusedByMinIO", func(t *testing.T) {
		other := append([]byte(nil), data...)
		other[100] ^= 1
		if code := e.transfer(ans, other); code/100 == 2 {
			t.Fatalf("PUT of other bytes: %d", code)
		}
		if e.exists(t, ans.StorageID) {
			t.Fatal("MinIO stored bytes that do not match the signed checksum")
		}
	})
	t.Run("OtherTypeRefusedByMinIO", func(t *testing.T) {
		a := ans
		a.Headers = map[string]string{}
		for k, v := range ans.Headers {
			a.Headers[k] = v
		}
		a.Headers["Content-Type"] = "application/pdf"
		if code := e.transfer(a, data); code/100 == 2 {
			t.Fatalf("PUT with another type: %d", code)
		}
		if e.exists(t, ans.StorageID) {
			t.Fatal("MinIO stored an object of another type than the signed one")
		}
	})
	t.Run("NoObjectIs409", func(t *testing.T) {
		if code := e.op(e.user, "commit", e.commitBody(ans, data, "image/png"), nil); code != http.StatusConflict {
			t.Fatalf("commit without an object: %d, want 409", code)
		}
	})
	// Objects under the intent's key that did not come through its URL.
	strays := []struct {
		name string
		body []byte
		mime string
		sum  []byte
	}{
		{"OtherBytesNoChecksum", storagetest.Bytes(4096, 62), "image/png", nil},
		{"OtherBytesOwnChecksum", storagetest.Bytes(4096, 63), "image/png", sumOf(storagetest.Bytes(4096, 63))},
		{"OtherSize", data[:4000], "image/png", sumOf(data[:4000])},
		{"OtherType", data, "image/jpeg", sumOf(data)},
	}
	for _, s := range strays {
		t.Run("Stray"+s.name+"Is409AndRemoved", func(t *testing.T) {
			if _, err := st.Put(ctx, ans.StorageID, bytes.NewReader(s.body), storage.PutOptions{Size: int64(len(s.body)), ContentType: s.mime, SHA256: s.sum}); err != nil {
				t.Fatal(err)
			}
			if code := e.op(e.user, "commit", e.commitBody(ans, data, "image/png"), nil); code != http.StatusConflict {
				t.Fatalf("commit over a stray: %d, want 409", code)
			}
			if e.exists(t, ans.StorageID) {
				t.Fatal("the stray is still stored after the refused commit")
			}
		})
	}
	if chs := e.fileMetaChanges(); len(chs) != 0 {
		t.Fatalf("file_meta written by refused commits: %+v", chs)
	}
	// The intent is still active: the right bytes through its URL commit.
	if code := e.transfer(ans, data); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	if code := e.op(e.user, "commit", e.commitBody(ans, data, "image/png"), nil); code != 200 {
		t.Fatalf("commit: %d", code)
	}
	if code := e.op(e.user, "commit", e.commitBody(ans, data, "image/png"), nil); code != http.StatusConflict {
		t.Fatalf("second commit of the intent: %d, want 409", code)
	}
	if chs := e.fileMetaChanges(); len(chs) != 1 {
		t.Fatalf("want one file_meta change, got %d", len(chs))
	}
	checkReplay(t, e.d)
}

func sumOf(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
