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
