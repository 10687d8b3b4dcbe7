package log

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Hand-written msgpack codecs for the records on the hot paths (every push
// writes a ChangeRecord and a RowRecord; every pull and snapshot reads
// them). They produce exactly the array layout the reflective codec would
// (so either can read the other's output), without reflection. Decoding
// accepts shorter arrays (records written before a field was added) and
// skips unknown trailing fields (records written by a newer version).

var (
	_ msgpack.CustomEncoder = (*ChangeRecord)(nil)
	_ msgpack.CustomDecoder = (*ChangeRecord)(nil)
	_ msgpack.CustomEncoder = (*RowRecord)(nil)
	_ msgpack.CustomDecoder = (*RowRecord)(nil)
	_ msgpack.CustomEncoder = (*Revision)(nil)
	_ msgpack.CustomDecoder = (*Revision)(nil)
)

const changeRecordFields = 14

// EncodeMsgpack implements msgpack.CustomEncoder.
func (r *ChangeRecord) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeArrayLen(changeRecordFields); err != nil {
		return err
	}
	return firstErr(
		e.EncodeString(r.Table), e.EncodeString(r.PK), e.EncodeUint(uint64(r.Op)), e.EncodeBytes(r.Payload),
		e.EncodeInt(r.Clock), e.EncodeString(r.HLC), e.EncodeString(r.DeviceID), e.EncodeString(r.OpID),
		e.EncodeString(r.Fingerprint), e.EncodeInt(r.CreatedAtMs), e.EncodeString(r.UserID), e.EncodeString(r.Owner),
		e.EncodeString(r.OriginRegion), e.EncodeUint(r.OriginSeq),
	)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *ChangeRecord) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("change record: nil")
	}
	*r = ChangeRecord{}
	fd := fieldDecoder{d: d, n: n}
	r.Table = fd.str()
	r.PK = fd.str()
	r.Op = uint8(fd.uint())
	r.Payload = fd.bytes()
	r.Clock = fd.int()
	r.HLC = fd.str()
	r.DeviceID = fd.str()
	r.OpID = fd.str()
	r.Fingerprint = fd.str()
	r.CreatedAtMs = fd.int()
	r.UserID = fd.str()
	r.Owner = fd.str()
	r.OriginRegion = fd.str()
	r.OriginSeq = fd.uint()
	return fd.finish()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (r *Revision) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeArrayLen(4); err != nil {
		return err
	}
	return firstErr(e.EncodeInt(r.Clock), e.EncodeString(r.HLC), e.EncodeString(r.OpID), e.EncodeString(r.Fingerprint))
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *Revision) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("revision: nil")
	}
	*r = Revision{}
	fd := fieldDecoder{d: d, n: n}
	r.Clock = fd.int()
	r.HLC = fd.str()
	r.OpID = fd.str()
	r.Fingerprint = fd.str()
	return fd.finish()
}

const rowRecordFields = 14

// EncodeMsgpack implements msgpack.CustomEncoder.
func (r *RowRecord) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeArrayLen(rowRecordFields); err != nil {
		return err
	}
	return firstErr(
		r.Winner.EncodeMsgpack(e), e.EncodeUint(uint64(r.WinnerKind)), e.EncodeBool(r.HasPut), r.Put.EncodeMsgpack(e),
		e.EncodeBytes(r.Payload), e.EncodeBool(r.SoftDel), e.EncodeBool(r.HasTomb), r.Tomb.EncodeMsgpack(e),
		e.EncodeUint(r.ServerVersion), e.EncodeString(r.DeviceID), e.EncodeInt(r.CreatedAtMs), e.EncodeInt(r.UpdatedAtMs),
		e.EncodeInt(r.DeletedAtMs), e.EncodeString(r.Owner),
	)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *RowRecord) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("row record: nil")
	}
	*r = RowRecord{}
	fd := fieldDecoder{d: d, n: n}
	fd.rev(&r.Winner)
	r.WinnerKind = uint8(fd.uint())
	r.HasPut = fd.bool()
	fd.rev(&r.Put)
	r.Payload = fd.bytes()
	r.SoftDel = fd.bool()
	r.HasTomb = fd.bool()
	fd.rev(&r.Tomb)
	r.ServerVersion = fd.uint()
	r.DeviceID = fd.str()
	r.CreatedAtMs = fd.int()
	r.UpdatedAtMs = fd.int()
	r.DeletedAtMs = fd.int()
	r.Owner = fd.str()
	return fd.finish()
}

// fieldDecoder reads the fields of an array-encoded record in order,
// leaving absent trailing fields at their zero value.
type fieldDecoder struct {
	d   *msgpack.Decoder
	n   int // fields left in the array
	err error
}

func (f *fieldDecoder) next() bool {
	if f.err != nil || f.n == 0 {
		return false
	}
	f.n--
	return true
}

func (f *fieldDecoder) str() string {
	if !f.next() {
		return ""
	}
	s, err := f.d.DecodeString()
	f.err = err
	return s
}

func (f *fieldDecoder) bytes() []byte {
	if !f.next() {
		return nil
	}
	b, err := f.d.DecodeBytes()
	f.err = err
	return b
}

func (f *fieldDecoder) int() int64 {
	if !f.next() {
		return 0
	}
	v, err := f.d.DecodeInt64()
	f.err = err
	return v
}

func (f *fieldDecoder) uint() uint64 {
	if !f.next() {
		return 0
	}
	v, err := f.d.DecodeUint64()
	f.err = err
	return v
}

func (f *fieldDecoder) bool() bool {
	if !f.next() {
		return false
	}
	v, err := f.d.DecodeBool()
	f.err = err
	return v
}

func (f *fieldDecoder) rev(r *Revision) {
	if !f.next() {
		return
	}
	f.err = r.DecodeMsgpack(f.d)
}

// finish skips fields a newer writer added and reports the first error.
func (f *fieldDecoder) finish() error {
	for f.err == nil && f.n > 0 {
		f.n--
		f.err = f.d.Skip()
	}
	return f.err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
