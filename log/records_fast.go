package log

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// A direct msgpack reader for ChangeRecord, the record every pull, watch
// catch-up and replay decodes. It copies the encoded value once and points
// every string and the payload into that copy, so decoding a record is one
// allocation instead of one per field. It understands exactly the types
// EncodeMsgpack writes (and their other widths); anything else makes it
// give up, and Decode falls back to the general decoder.

type mpReader struct {
	b   []byte
	off int
	ok  bool
}

func (r *mpReader) byte1() byte {
	if r.off >= len(r.b) {
		r.ok = false
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *mpReader) take(n int) []byte {
	if n < 0 || r.off+n > len(r.b) {
		r.ok = false
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

func (r *mpReader) uintN(n int) uint64 {
	s := r.take(n)
	if !r.ok {
		return 0
	}
	switch n {
	case 1:
		return uint64(s[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(s))
	case 4:
		return uint64(binary.BigEndian.Uint32(s))
	default:
		return binary.BigEndian.Uint64(s)
	}
}

func (r *mpReader) arrayLen() int {
	c := r.byte1()
	switch {
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f)
	case c == 0xdc:
		return int(r.uintN(2))
	case c == 0xdd:
		return int(r.uintN(4))
	}
	r.ok = false
	return 0
}

// raw reads a str or bin (or nil) and returns the bytes inside the buffer.
func (r *mpReader) raw() []byte {
	c := r.byte1()
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		n = int(r.uintN(1))
	case c == 0xda || c == 0xc5:
		n = int(r.uintN(2))
	case c == 0xdb || c == 0xc6:
		n = int(r.uintN(4))
	case c == 0xc0:
		return nil
	default:
		r.ok = false
		return nil
	}
	return r.take(n)
}

func (r *mpReader) str() string {
	b := r.raw()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (r *mpReader) int() int64 {
	c := r.byte1()
	switch {
	case c <= 0x7f:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	case c == 0xcc:
		return int64(r.uintN(1))
	case c == 0xcd:
		return int64(r.uintN(2))
	case c == 0xce:
		return int64(r.uintN(4))
	case c == 0xcf:
		v := r.uintN(8)
		if v > math.MaxInt64 {
			r.ok = false
		}
		return int64(v)
	case c == 0xd0:
		return int64(int8(r.uintN(1)))
	case c == 0xd1:
		return int64(int16(r.uintN(2)))
	case c == 0xd2:
		return int64(int32(r.uintN(4)))
	case c == 0xd3:
		return int64(r.uintN(8))
	case c == 0xc0:
		return 0
	}
	r.ok = false
	return 0
}

func (r *mpReader) uint() uint64 {
	v := r.int()
	if v < 0 {
		r.ok = false
		return 0
	}
	return uint64(v)
}

// skip skips one value of the kinds this reader knows; others fail.
func (r *mpReader) skip() {
	if r.off >= len(r.b) {
		r.ok = false
		return
	}
	c := r.b[r.off]
	switch {
	case c == 0xc2 || c == 0xc3:
		r.off++
	case (c >= 0xa0 && c <= 0xbf) || c == 0xd9 || c == 0xda || c == 0xdb || c == 0xc4 || c == 0xc5 || c == 0xc6 || c == 0xc0:
		r.raw()
	default:
		r.int()
	}
}

// decodeChangeFast decodes data into rec. It reports false when data uses
// an encoding it does not handle (the caller then uses the general path).
func decodeChangeFast(data []byte, rec *ChangeRecord) bool {
	buf := make([]byte, len(data))
	copy(buf, data)
	return decodeChangeAliased(buf, rec)
}

// DecodeChangeAliased decodes a ChangeRecord whose strings and payload
// alias data: they are valid only as long as data is (for a Pebble
// iterator's value, until the iterator moves). Readers that encode the
// record at once (pull's JSON path) use it to skip every copy. A record it
// cannot read is a *CorruptionError naming key.
func DecodeChangeAliased(key, data []byte, rec *ChangeRecord) error {
	if decodeChangeAliased(data, rec) {
		return nil
	}
	return Decode(key, data, rec)
}

func decodeChangeAliased(buf []byte, rec *ChangeRecord) bool {
	r := &mpReader{b: buf, ok: true}
	n := r.arrayLen()
	if !r.ok {
		return false
	}
	*rec = ChangeRecord{}
	field := 0
	next := func() bool { field++; return field <= n && r.ok }
	if next() {
		rec.Table = r.str()
	}
	if next() {
		rec.PK = r.str()
	}
	if next() {
		rec.Op = uint8(r.uint())
	}
	if next() {
		rec.Payload = r.raw()
	}
	if next() {
		rec.Clock = r.int()
	}
	if next() {
		rec.HLC = r.str()
	}
	if next() {
		rec.DeviceID = r.str()
	}
	if next() {
		rec.OpID = r.str()
	}
	if next() {
		rec.Fingerprint = r.str()
	}
	if next() {
		rec.CreatedAtMs = r.int()
	}
	if next() {
		rec.UserID = r.str()
	}
	if next() {
		rec.Owner = r.str()
	}
	if next() {
		rec.OriginRegion = r.str()
	}
	if next() {
		rec.OriginSeq = r.uint()
	}
	for field < n && r.ok {
		field++
		r.skip()
	}
	return r.ok && r.off == len(r.b)
}
