package log

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrCorrupt reports a record that does not decode. It is wrapped in a
// *CorruptionError that names the key.
var ErrCorrupt = errors.New("log: corrupt record")

// CorruptionError names the key whose record failed to decode.
type CorruptionError struct {
	Key []byte
	Err error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("log: corrupt record at key %q: %v", e.Key, e.Err)
}

// Unwrap returns ErrCorrupt so errors.Is(err, ErrCorrupt) holds.
func (e *CorruptionError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

var encPool = sync.Pool{New: func() any {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	return &encoder{buf: &buf, enc: enc}
}}

type encoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

// Encode encodes a record with msgpack. Records are plain structs; the
// types in this package encode as arrays so that adding a field at the end
// stays compatible with data written before.
func Encode(v any) ([]byte, error) {
	var out []byte
	err := encodeTo(v, func(data []byte) error {
		out = append([]byte(nil), data...)
		return nil
	})
	return out, err
}

// encodeTo encodes v into a pooled buffer and passes the encoding to use,
// which must not keep it.
func encodeTo(v any, use func([]byte) error) error {
	e := encPool.Get().(*encoder)
	e.buf.Reset()
	err := e.enc.Encode(v)
	if err != nil {
		err = fmt.Errorf("log: encode %T: %w", v, err)
	} else {
		err = use(e.buf.Bytes())
	}
	if e.buf.Cap() <= 1<<20 {
		encPool.Put(e)
	}
	return err
}

// MustEncode encodes a record whose type is known to encode (all record
// types of this package and of the modules); it panics only on a
// programming error.
func MustEncode(v any) []byte {
	b, err := Encode(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Decode decodes the record stored at key into v. A failure is a
// *CorruptionError naming the key, never a panic.
func Decode(key, data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptionError{Key: append([]byte(nil), key...), Err: fmt.Errorf("panic in decoder: %v", r)}
		}
	}()
	if rec, ok := v.(*ChangeRecord); ok && decodeChangeFast(data, rec) {
		return nil
	}
	if err := checkLengths(data); err != nil {
		return &CorruptionError{Key: append([]byte(nil), key...), Err: err}
	}
	d := decPool.Get().(*decoder)
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	if err = d.dec.Decode(v); err != nil {
		// Not pooled: on a length prefix longer than the data, msgpack
		// grows its read buffer by 1 MiB per attempt before it sees EOF
		// and keeps it, so a pooled decoder fed corrupt records would
		// hold more memory each time (gigabytes under fuzzing).
		return &CorruptionError{Key: append([]byte(nil), key...), Err: err}
	}
	decPool.Put(d)
	return nil
}

type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decPool = sync.Pool{New: func() any { return &decoder{dec: msgpack.NewDecoder(nil)} }}

// checkLengths walks the msgpack value at the start of data and refuses a
// string, binary, extension, array or map that declares more bytes or
// elements than data has left. msgpack allocates a []byte field's declared
// length before reading it, so without this a 30-byte record claiming a
// 1.5 GB bin32 would allocate 1.5 GB (a replication message, a corrupt
// block). Codes it does not know are left to msgpack's own errors. Bytes
// after the value are refused too.
func checkLengths(data []byte) error {
	pos, need := 0, 1 // values still to walk
	for need > 0 {
		if pos >= len(data) {
			return nil // truncated: msgpack says so
		}
		c := data[pos]
		pos++
		need--
		var size, elems int // bytes to skip; values to walk
		var lenBytes int    // width of a length field after c
		extra := 0          // an extension's type byte
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		case c <= 0x8f:
			elems = 2 * int(c&0x0f)
		case c <= 0x9f:
			elems = int(c & 0x0f)
		case c <= 0xbf:
			size = int(c & 0x1f)
		case c == 0xc4, c == 0xd9:
			lenBytes = 1
		case c == 0xc5, c == 0xda:
			lenBytes = 2
		case c == 0xc6, c == 0xdb:
			lenBytes = 4
		case c == 0xc7:
			lenBytes, extra = 1, 1
		case c == 0xc8:
			lenBytes, extra = 2, 1
		case c == 0xc9:
			lenBytes, extra = 4, 1
		case c == 0xca, c == 0xce, c == 0xd2:
			size = 4
		case c == 0xcb, c == 0xcf, c == 0xd3:
			size = 8
		case c == 0xcc, c == 0xd0:
			size = 1
		case c == 0xcd, c == 0xd1:
			size = 2
		case c >= 0xd4 && c <= 0xd8:
			size = 1 + 1<<(c-0xd4)
		case c == 0xdc, c == 0xdd, c == 0xde, c == 0xdf:
			width := 2
			if c == 0xdd || c == 0xdf {
				width = 4
			}
			if len(data)-pos < width {
				return nil
			}
			n := readBE(data[pos : pos+width])
			pos += width
			if c >= 0xde {
				n *= 2
			}
			if n > uint64(len(data)-pos) {
				return fmt.Errorf("msgpack: %d elements declared with %d bytes left", n, len(data)-pos)
			}
			elems = int(n)
		default:
			return nil // 0xc1 (never used): msgpack's error
		}
		if lenBytes > 0 {
			if len(data)-pos < lenBytes {
				return nil
			}
			n := readBE(data[pos : pos+lenBytes])
			pos += lenBytes
			if n+uint64(extra) > uint64(len(data)-pos) {
				return fmt.Errorf("msgpack: %d bytes declared with %d left", n, len(data)-pos)
			}
			size = int(n) + extra
		}
		if size > len(data)-pos {
			return nil // truncated scalar: msgpack's error
		}
		pos += size
		if elems > len(data)-pos-need {
			return fmt.Errorf("msgpack: %d elements declared with %d bytes left", elems, len(data)-pos)
		}
		need += elems
	}
	if pos != len(data) {
		// One record is one value: bytes after it are corruption, and
		// accepting them would let two readers disagree about the record
		// (decodeChangeFast refuses them; a splice at the record's end,
		// as engine.withOrigin does, would land in them).
		return fmt.Errorf("msgpack: %d bytes after the record", len(data)-pos)
	}
	return nil
}

func readBE(b []byte) uint64 {
	var n uint64
	for _, x := range b {
		n = n<<8 | uint64(x)
	}
	return n
}
