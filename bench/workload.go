package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
)

// The OR3 Chat shape: most ops are new messages in existing threads, some
// open threads, some edit messages (from the same device, or from a second
// device with an older clock: a conflicting edit that loses LWW), some
// delete them.
const (
	shareNewThread    = 0.05
	shareEdit         = 0.10
	shareConflictEdit = 0.05
	shareDelete       = 0.05

	minPayload = 512
	maxPayload = 8 << 10

	// zipfS is the Zipf exponent over workspaces: a few busy workspaces,
	// a long tail of quiet ones.
	zipfS = 1.1
)

// payloadSize draws a message body size in [512, 8192] bytes, skewed to
// small: about half are under 800 B, the mean is about 1.4 KiB, one in
// eight is over 3 KiB.
func payloadSize(r *rand.Rand) int {
	u := r.Float64()
	return min(maxPayload, int(minPayload*math.Pow(16, u*u*u)))
}

// text is the filler messages are cut from: printable ASCII that needs no
// JSON escaping and does not compress to nothing.
var text = func() []byte {
	r := rand.New(rand.NewPCG(7, 11))
	const words = "the of and to in is you that it he was for on are as with his they I at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first been call who oil its now find long down day did get come made may part"
	ws := []byte(words)
	var fields [][]byte
	start := 0
	for i, c := range ws {
		if c == ' ' {
			fields = append(fields, ws[start:i])
			start = i + 1
		}
	}
	fields = append(fields, ws[start:])
	out := make([]byte, 0, 64<<10)
	for len(out) < 64<<10 {
		out = append(out, fields[r.IntN(len(fields))]...)
		out = append(out, ' ')
	}
	return out
}()

// zipf picks workspace indexes in [0, n) with a Zipf distribution.
type zipf struct{ z *rand.Zipf }

func newZipf(r *rand.Rand, n int) zipf {
	return zipf{z: rand.NewZipf(r, zipfS, 1, uint64(max(n-1, 0)))}
}

func (z zipf) next() int { return int(z.z.Uint64()) }

// wsState is what the load client knows of one workspace: its threads and
// a window of live messages that edits and deletes pick from, and the ops
// syncd acknowledged (version → op sequence), to pull back later.
type wsState struct {
	id   string
	user string

	mu       sync.Mutex
	threads  []string
	messages []msgRef // live messages (a bounded window)
	acked    []ack
	nextMsg  int
}

type msgRef struct {
	pk     string
	thread string
	clock  int64
}

type ack struct {
	version uint64
	seq     uint64
}

// workload generates ops and tracks acknowledgements. One per run; safe
// for concurrent use by the load clients.
type workload struct {
	prefix string // random per run: op ids and pks never collide across runs
	// pkSuffix ends every thread and message key; the in-process engine
	// figure sets it to roundMark and rewrites its digits on each reuse of
	// a batch, so that every use writes new rows as the HTTP cells do.
	pkSuffix string
	seq      atomic.Uint64
	// clock is the HLC wall part base; ops carry clock = a counter.
	clock atomic.Int64

	ackedOps      atomic.Int64
	conflictsLost atomic.Int64
	bytesSent     atomic.Int64
	payloadBytes  atomic.Int64
	payloadCount  atomic.Int64
}

func newWorkload(r *rand.Rand) *workload {
	return &workload{prefix: fmt.Sprintf("%08x", r.Uint32())}
}

// opID renders op sequence seq as a UUID (version 4, variant 8) whose
// first 8 hex digits are the run prefix, so the harness can tell which op
// a pulled change is from its id alone.
func (w *workload) opID(seq uint64) string { return string(w.appendOpID(nil, seq)) }

// appendOpID appends opID(seq) to b. The load client formats by hand,
// as it encodes: fmt would spend the CPU syncd needs (the two share the
// machine's cores).
func (w *workload) appendOpID(b []byte, seq uint64) []byte {
	b = append(b, w.prefix...)
	b = append(b, '-')
	b = appendHex(b, (seq>>48)&0xffff, 4)
	b = append(b, "-4"...)
	b = appendHex(b, (seq>>36)&0xfff, 3)
	b = append(b, "-8"...)
	b = appendHex(b, (seq>>24)&0xfff, 3)
	b = append(b, '-')
	return appendHex(b, seq&0xffffffffffff, 12)
}

// appendHex appends v in lower-case hex, zero-padded to width digits.
func appendHex(b []byte, v uint64, width int) []byte {
	var d [16]byte
	i := len(d)
	for v > 0 || i > len(d)-width {
		i--
		d[i] = "0123456789abcdef"[v&0xf]
		v >>= 4
	}
	return append(b, d[i:]...)
}

// appendDec appends v in decimal, zero-padded to width digits.
func appendDec(b []byte, v int64, width int) []byte {
	var d [24]byte
	n := strconv.AppendInt(d[:0], v, 10)
	for range width - len(n) {
		b = append(b, '0')
	}
	return append(b, n...)
}

// appendQuoted appends s as a JSON string: the ids and keys the workload
// makes need no escaping, anything else goes through encoding/json.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// seqOf parses an op id made by opID; ok is false for someone else's.
func (w *workload) seqOf(id string) (uint64, bool) {
	if len(id) != 36 || id[:8] != w.prefix {
		return 0, false
	}
	hex := id[9:13] + id[15:18] + id[20:23] + id[24:36]
	v, err := strconv.ParseUint(hex, 16, 64)
	return v, err == nil
}

// batchBuilder encodes one PushBatch body by hand: the harness must not
// spend the CPU syncd needs on reflection.
type batchBuilder struct {
	buf  []byte
	seqs []uint64
	n    int
}

func (b *batchBuilder) reset(ws string) {
	b.buf = append(b.buf[:0], `{"scope":{"workspaceId":`...)
	b.buf = appendQuoted(b.buf, ws)
	b.buf = append(b.buf, `},"ops":[`...)
	b.seqs = b.seqs[:0]
	b.n = 0
}

func (b *batchBuilder) finish() []byte { return append(b.buf, "]}"...) }

// addOp appends one op. payload is written between the braces of the
// payload object by fill.
func (b *batchBuilder) addOp(w *workload, table, operation, pk, device string, clock int64, fill func([]byte) []byte) {
	if b.n > 0 {
		b.buf = append(b.buf, ',')
	}
	b.n++
	seq := w.seq.Add(1)
	b.seqs = append(b.seqs, seq)
	b.buf = append(b.buf, `{"tableName":"`...)
	b.buf = append(b.buf, table...)
	b.buf = append(b.buf, `","operation":"`...)
	b.buf = append(b.buf, operation...)
	b.buf = append(b.buf, `","pk":`...)
	b.buf = appendQuoted(b.buf, pk)
	if fill != nil {
		b.buf = append(b.buf, `,"payload":{`...)
		b.buf = fill(b.buf)
		b.buf = append(b.buf, '}')
	}
	b.buf = append(b.buf, `,"stamp":{"deviceId":"`...)
	b.buf = append(b.buf, device...)
	b.buf = append(b.buf, `","opId":"`...)
	b.buf = w.appendOpID(b.buf, seq)
	b.buf = append(b.buf, `","hlc":"`...)
	b.buf = appendDec(b.buf, 1_700_000_000_000+clock, 13)
	b.buf = append(b.buf, ':')
	b.buf = appendDec(b.buf, int64(seq%10000), 4)
	b.buf = append(b.buf, ':')
	b.buf = append(b.buf, device...)
	b.buf = append(b.buf, `","clock":`...)
	b.buf = strconv.AppendInt(b.buf, clock, 10)
	// OR3's outbox bookkeeping fields ride along and are ignored.
	b.buf = append(b.buf, `},"id":"`...)
	b.buf = w.appendOpID(b.buf, seq)
	b.buf = append(b.buf, `","createdAt":1700000000000,"attempts":0,"status":"pending"}`...)
}

// genOp appends one OR3-shaped op for workspace s to b.
func (w *workload) genOp(r *rand.Rand, s *wsState, b *batchBuilder, device string) {
	clock := w.clock.Add(1)
	s.mu.Lock()
	x := r.Float64()
	switch {
	case len(s.threads) == 0 || x < shareNewThread:
		pk := "t-" + w.prefix + "-" + strconv.FormatUint(w.seq.Load()+1, 10) + w.pkSuffix
		s.threads = append(s.threads, pk)
		s.mu.Unlock()
		b.addOp(w, "threads", "put", pk, device, clock, func(p []byte) []byte {
			p = append(p, `"id":`...)
			p = appendQuoted(p, pk)
			p = append(p, `,"title":"bench thread `...)
			p = strconv.AppendInt(p, clock, 10)
			p = append(p, `","status":"ready","deleted":false,"pinned":false,"forked":false,"created_at":1700000000,"updated_at":1700000000,"clock":`...)
			return strconv.AppendInt(p, clock, 10)
		})
		return
	case len(s.messages) > 0 && x < shareNewThread+shareEdit+shareConflictEdit+shareDelete:
		i := r.IntN(len(s.messages))
		m := s.messages[i]
		switch {
		case x < shareNewThread+shareEdit:
			s.messages[i].clock = clock
			s.mu.Unlock()
			b.addOp(w, "messages", "put", m.pk, device, clock, w.messageFill(r, m.pk, m.thread, clock))
		case x < shareNewThread+shareEdit+shareConflictEdit:
			// A second device edits with an older clock: it is logged and
			// pulled like any op but loses LWW (applied:false).
			s.mu.Unlock()
			old := max(m.clock-1, 0)
			b.addOp(w, "messages", "put", m.pk, "device-b", old, w.messageFill(r, m.pk, m.thread, old))
		default:
			s.messages[i] = s.messages[len(s.messages)-1]
			s.messages = s.messages[:len(s.messages)-1]
			s.mu.Unlock()
			b.addOp(w, "messages", "delete", m.pk, device, clock, nil)
		}
		return
	}
	thread := s.threads[r.IntN(len(s.threads))]
	s.nextMsg++
	pk := "m-" + w.prefix + "-" + strconv.Itoa(s.nextMsg) + "-" + strconv.FormatInt(clock, 10) + w.pkSuffix
	if len(s.messages) < 4096 {
		s.messages = append(s.messages, msgRef{pk: pk, thread: thread, clock: clock})
	} else {
		s.messages[r.IntN(len(s.messages))] = msgRef{pk: pk, thread: thread, clock: clock}
	}
	s.mu.Unlock()
	b.addOp(w, "messages", "put", pk, device, clock, w.messageFill(r, pk, thread, clock))
}

func (w *workload) messageFill(r *rand.Rand, pk, thread string, clock int64) func([]byte) []byte {
	size := payloadSize(r)
	off := r.IntN(len(text) - size)
	role := "user"
	if clock%2 == 0 {
		role = "assistant"
	}
	return func(p []byte) []byte {
		start := len(p)
		p = append(p, `"id":`...)
		p = appendQuoted(p, pk)
		p = append(p, `,"thread_id":`...)
		p = appendQuoted(p, thread)
		p = append(p, `,"role":"`...)
		p = append(p, role...)
		p = append(p, `","index":`...)
		p = strconv.AppendInt(p, clock, 10)
		p = append(p, `,"order_key":"`...)
		p = appendDec(p, 1_700_000_000_000+clock, 13)
		p = append(p, `:0000:dev","deleted":false,"created_at":1700000000,"updated_at":1700000000,"clock":`...)
		p = strconv.AppendInt(p, clock, 10)
		p = append(p, `,"data":{"content":"`...)
		body := max(size-(len(p)-start)-3, 16)
		p = append(p, text[off:off+body]...)
		p = append(p, `"}`...)
		w.payloadBytes.Add(int64(len(p) - start + 2))
		w.payloadCount.Add(1)
		return p
	}
}

// record checks a push answer against the batch it answers and keeps the
// acknowledged ops. It returns an error for any op that did not succeed:
// the workload sends only valid ops.
func (w *workload) record(s *wsState, seqs []uint64, res pushResult) error {
	if len(res.Results) != len(seqs) {
		return fmt.Errorf("push answered %d results for %d ops", len(res.Results), len(seqs))
	}
	acks := make([]ack, 0, len(seqs))
	for i, r := range res.Results {
		if !r.Success || r.ServerVersion == 0 {
			return fmt.Errorf("op %s failed: %s %s", r.OpID, r.ErrorCode, r.Error)
		}
		if seq, ok := w.seqOf(r.OpID); !ok || seq != seqs[i] {
			return fmt.Errorf("result %d names op %s, want %s", i, r.OpID, w.opID(seqs[i]))
		}
		if r.Applied != nil && !*r.Applied {
			w.conflictsLost.Add(1)
		}
		acks = append(acks, ack{version: r.ServerVersion, seq: seqs[i]})
	}
	s.mu.Lock()
	s.acked = append(s.acked, acks...)
	s.mu.Unlock()
	w.ackedOps.Add(int64(len(acks)))
	return nil
}

// sortedAcks returns s's acknowledged ops by version.
func (s *wsState) sortedAcks() []ack {
	s.mu.Lock()
	a := append([]ack(nil), s.acked...)
	s.mu.Unlock()
	sort.Slice(a, func(i, j int) bool { return a[i].version < a[j].version })
	return a
}
