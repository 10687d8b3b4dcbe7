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
