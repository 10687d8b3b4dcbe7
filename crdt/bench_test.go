package crdt

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchMessageText is markdown in the shape of an assistant reply: quotes,
// newlines, code, and some non-ASCII, so the string scanner's escape and
// UTF-8 paths are exercised, not just its ASCII fast path.
const benchMessageText = "Sure — here is the \"merge\" rule you asked about:\n\n" +
	"```go\nif incoming.Beats(stored) {\n\tapply(incoming)\n}\n```\n\n" +
	"Ties go to the greater opId; a tombstone wins an exact tie. Ça marche, 見てください. "

// benchMessage returns an OR3 messages payload of about size bytes, with its
// keys in the insertion order a JavaScript client sends (not sorted).
func benchMessage(size int) []byte {
	head := `{"id":"0b1f3c9e-7d2a-4c55-9a43-2f7e8d6b1a90","thread_id":"7c0d5e8f-1a2b-4c3d-8e9f-0a1b2c3d4e5f",` +
		`"role":"assistant","data":{"model":"openai/gpt-4o","tokens":{"prompt":1234,"completion":567,"cost":0.00213},"parts":[`
	tail := `]},"index":42,"order_key":"1736648823456:0003:abc12345","file_hashes":"[\"sha256:9f86d081884c7d659a2feaa0c55ad015\"]",` +
		`"pending":false,"deleted":false,"created_at":1736648823,"updated_at":1736648830.5,"clock":3,` +
		`"hlc":"1736648823456:0003:abc12345","stream_id":null}`
	var sb strings.Builder
	sb.WriteString(head)
	for i := 0; ; i++ {
		text, err := json.Marshal(strings.Repeat(benchMessageText, 1+i%3))
		if err != nil {
			panic(err)
		}
		part := fmt.Sprintf(`{"type":"text","text":%s,"index":%d,"meta":{"latency_ms":%d.%d,"cached":%t}}`, text, i, 100+i, i%10, i%2 == 0)
		if i > 0 && sb.Len()+len(part)+1+len(tail)+len(summaryField) > size {
			break
		}
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(part)
	}
	// Pad with a plain-text summary so the payload is size bytes exactly.
	sb.WriteString(`],"summary":"`)
	// What is still to come: `"}` then tail without its leading `]}`.
	if pad := size - sb.Len() - len(tail); pad > 0 {
		sb.WriteString(strings.Repeat("x", pad))
	}
	sb.WriteString(`"}`)
	sb.WriteString(tail[len(`]}`):])
	return []byte(sb.String())
}

// summaryField is the smallest padding field benchMessage appends.
const summaryField = `,"summary":""`

var benchInputs = []struct {
	name string
	data []byte
}{
	{"message-1KiB", benchMessage(1 << 10)},
	{"message-256KiB", benchMessage(256 << 10)},
}

// throughput measures fn's speed over n bytes in MB/s (10^6 bytes per
// second, like the testing package), running it for about 200 ms.
func throughput(n int, fn func()) float64 {
	fn()
	start := time.Now()
	iters := 0
	for time.Since(start) < 200*time.Millisecond {
		fn()
		iters++
	}
	return float64(n) * float64(iters) / time.Since(start).Seconds() / 1e6
}

// reportAgainst reports baselines measured in the same run, and the
// benchmark's speed as a fraction of each.
func reportAgainst(b *testing.B, n int, baselines map[string]float64) {
	b.Helper()
	ours := float64(n) * float64(b.N) / b.Elapsed().Seconds() / 1e6
	for name, mbps := range baselines {
		b.ReportMetric(mbps, name+"-MB/s")
		b.ReportMetric(ours/mbps, "x-"+name)
	}
}

var sink []byte

// BenchmarkCanonicalJSON measures CanonicalJSON on OR3 message payloads,
// beside two baselines of the same bytes measured in the same run: memcpy
// (the physical limit of a pass that writes its output) and json.Valid (the
// standard library's validating scanner, which writes nothing). The
// "naive" sub-benchmarks are the obvious alternative, json.Unmarshal into
// any then json.Marshal, for scale.
func BenchmarkCanonicalJSON(b *testing.B) {
	for _, in := range benchInputs {
		b.Run(in.name, func(b *testing.B) {
			dst := make([]byte, len(in.data))
			baselines := map[string]float64{
				"memcpy":     throughput(len(in.data), func() { copy(dst, in.data) }),
				"json.Valid": throughput(len(in.data), func() { json.Valid(in.data) }),
			}
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := CanonicalJSON(in.data)
				if err != nil {
					b.Fatal(err)
				}
				sink = out
			}
			reportAgainst(b, len(in.data), baselines)
		})
		b.Run(in.name+"/naive", func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := json.Unmarshal(in.data, &v); err != nil {
					b.Fatal(err)
				}
				out, err := json.Marshal(v)
				if err != nil {
					b.Fatal(err)
				}
				sink = out
			}
		})
	}
}

// BenchmarkOpFingerprint measures the whole per-op cost at push time
// (canonical JSON plus SHA-256), beside SHA-256 alone over the payload
// bytes, which is its floor.
func BenchmarkOpFingerprint(b *testing.B) {
	for _, in := range benchInputs {
		b.Run(in.name, func(b *testing.B) {
			baselines := map[string]float64{
				"sha256": throughput(len(in.data), func() { sha256.Sum256(in.data) }),
			}
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				fp, err := OpFingerprint("messages", "put", "0b1f3c9e-7d2a-4c55-9a43-2f7e8d6b1a90", in.data, 3,
					"1736648823456:0003:abc12345", "abc12345")
				if err != nil {
					b.Fatal(err)
				}
				sink = []byte(fp[:1])
			}
			reportAgainst(b, len(in.data), baselines)
		})
	}
}

// BenchmarkEntityApply measures one merge step on an entity that already
// has a row and a tombstone.
func BenchmarkEntityApply(b *testing.B) {
	e := fold(putOp(rev(5, "1736648823456:0003:abc12345", "op-5"), `{"id":"t1"}`), delOp(rev(3, "1736648823456:0001:abc12345", "op-3")))
	ops := []Op{
		putOp(rev(6, "1736648823456:0004:abc12345", "op-6"), `{"id":"t1"}`),
		putOp(rev(4, "1736648823456:0002:abc12345", "op-4"), `{"id":"t1"}`),
		delOp(rev(7, "1736648823456:0005:abc12345", "op-7")),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e2, _ := e.Apply(ops[i%len(ops)])
		_ = e2
		i++
	}
}

func TestBenchInputs(t *testing.T) {
	for _, in := range benchInputs {
		if _, err := CanonicalJSON(in.data); err != nil {
			t.Errorf("%s: %v", in.name, err)
		}
		t.Logf("%s: %d bytes", in.name, len(in.data))
	}
}
