package replica

import (
	"encoding/binary"
	"errors"
	"regexp"
)

// Event is one event a region accepted, as replication ships it: its origin
// (region, sequence), its receipt time at the origin (for lag), and its key
// and record as the origin logged them. Key is nil when the event was
// collected at the origin before it was published: the sequence still
// ships, so consumers see the origin sequence gap-free.
type Event struct {
	Region string
	Seq    uint64
	AtMs   int64
	Key    []byte
	Value  []byte
}

// Wire format of one message (big-endian):
//
//	'S' 0x01 | u16 len region | u64 seq | i64 atMs | u32 len key | key | value…
const (
	wireMagic   = 'S'
	wireVersion = 1
	wireHeader  = 2 + 2 + 8 + 8 + 4
	// MaxRegionLen bounds a region name (cmd/syncd enforces 1..64).
	MaxRegionLen = 64
)

// ErrMalformed reports a message that is not a replication event.
var ErrMalformed = errors.New("replica: malformed message")

var regionRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidRegion reports whether s is a region name replication accepts.
func ValidRegion(s string) bool { return regionRE.MatchString(s) }

// Encode appends the wire form of ev to dst.
func Encode(dst []byte, ev *Event) []byte {
	dst = append(dst, wireMagic, wireVersion)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(ev.Region)))
	dst = append(dst, ev.Region...)
	dst = binary.BigEndian.AppendUint64(dst, ev.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ev.AtMs))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(ev.Key)))
	dst = append(dst, ev.Key...)
	return append(dst, ev.Value...)
}

// Decode parses a message. It never panics; anything that is not exactly
// one well-formed event (bad magic or version, bad region, zero sequence,
// truncated key, a record without a key) is ErrMalformed. Key and Value
// alias data.
func Decode(data []byte) (Event, error) {
	var ev Event
	if len(data) < wireHeader || data[0] != wireMagic || data[1] != wireVersion {
		return ev, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(data[2:]))
	p := 4
	if n == 0 || n > MaxRegionLen || len(data) < p+n+20 {
		return ev, ErrMalformed
	}
	ev.Region = string(data[p : p+n])
	if !ValidRegion(ev.Region) {
		return Event{}, ErrMalformed
	}
	p += n
	ev.Seq = binary.BigEndian.Uint64(data[p:])
	ev.AtMs = int64(binary.BigEndian.Uint64(data[p+8:]))
	k := binary.BigEndian.Uint32(data[p+16:])
	p += 20
	if ev.Seq == 0 || uint64(k) > uint64(len(data)-p) {
		return Event{}, ErrMalformed
	}
	if k > 0 {
		ev.Key = data[p : p+int(k)]
		ev.Value = data[p+int(k):]
	} else if len(data) > p {
		return Event{}, ErrMalformed
	}
	return ev, nil
}

// A message may carry a run of events (one quorum write, one delivery and
// one ack for many events):
//
//	'S' 0x02 | u16 count | count × (u32 len | one event in the form above)
//
// The events are of one region, with consecutive sequences.
const (
	wireRunVersion = 2
	// MaxRun bounds the events of one message.
	MaxRun = 1024
)

// EncodeRun appends the wire form of evs (1 ≤ len ≤ MaxRun, one region,
// consecutive sequences) to dst.
func EncodeRun(dst []byte, evs []Event) []byte {
	dst = append(dst, wireMagic, wireRunVersion)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(evs)))
	for i := range evs {
		at := len(dst)
		dst = binary.BigEndian.AppendUint32(dst, 0)
		dst = Encode(dst, &evs[i])
		binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	}
	return dst
}

// RunSize is the length of EncodeRun's output for evs, so the publisher
// allocates a run's message once.
func RunSize(evs []Event) int {
	n := 4
	for i := range evs {
		n += 4 + wireHeader + len(evs[i].Region) + len(evs[i].Key) + len(evs[i].Value)
	}
	return n
}

// DecodeRun parses a message of one event (Encode) or of a run
// (EncodeRun). It never panics; anything else — a malformed event, an
// empty run, events of different regions or not consecutive — is
// ErrMalformed. Keys and values alias data.
func DecodeRun(data []byte) ([]Event, error) {
	if len(data) >= 2 && data[0] == wireMagic && data[1] == wireVersion {
		ev, err := Decode(data)
		if err != nil {
			return nil, err
		}
		return []Event{ev}, nil
	}
	if len(data) < 4 || data[0] != wireMagic || data[1] != wireRunVersion {
		return nil, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(data[2:]))
	if n == 0 || n > MaxRun {
		return nil, ErrMalformed
	}
	evs := make([]Event, 0, n)
	p := 4
	for i := 0; i < n; i++ {
		if len(data)-p < 4 {
			return nil, ErrMalformed
		}
		l := binary.BigEndian.Uint32(data[p:])
		p += 4
		if uint64(l) > uint64(len(data)-p) {
			return nil, ErrMalformed
		}
		ev, err := Decode(data[p : p+int(l)])
		if err != nil || (i > 0 && (ev.Region != evs[0].Region || ev.Seq != evs[i-1].Seq+1)) {
			return nil, ErrMalformed
		}
		evs = append(evs, ev)
		p += int(l)
	}
	if p != len(data) {
		return nil, ErrMalformed
	}
	return evs, nil
}
