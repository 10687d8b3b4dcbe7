package log

// A direct msgpack reader for RowRecord, the record every snapshot page
// and canonical-storage page decodes per row: one allocation (a copy of
// the encoded value, which every string and the payload point into)
// instead of the general decoder's reflection and per-field copies. It
// understands what EncodeMsgpack writes; anything else falls back to the
// general decoder.

// DecodeRow decodes a RowRecord stored at key. The record owns its memory.
func DecodeRow(key, data []byte, row *RowRecord) error {
	buf := make([]byte, len(data))
	copy(buf, data)
	if decodeRowAliased(buf, row) {
		return nil
	}
	return Decode(key, data, row)
}

func (r *mpReader) boolean() bool {
	switch r.byte1() {
	case 0xc3:
		return true
	case 0xc2:
		return false
	}
	r.ok = false
	return false
}

func (r *mpReader) revision(rev *Revision) {
	n := r.arrayLen()
	if !r.ok {
		return
	}
	*rev = Revision{}
	if n > 0 {
		rev.Clock = r.int()
	}
	if n > 1 {
		rev.HLC = r.str()
	}
	if n > 2 {
		rev.OpID = r.str()
	}
	if n > 3 {
		rev.Fingerprint = r.str()
	}
	for i := 4; i < n && r.ok; i++ {
		r.skip()
	}
}

func decodeRowAliased(buf []byte, row *RowRecord) bool {
	r := &mpReader{b: buf, ok: true}
	n := r.arrayLen()
	if !r.ok {
		return false
	}
	*row = RowRecord{}
	field := 0
	next := func() bool { field++; return field <= n && r.ok }
	if next() {
		r.revision(&row.Winner)
	}
	if next() {
		row.WinnerKind = uint8(r.uint())
	}
	if next() {
		row.HasPut = r.boolean()
	}
	if next() {
		r.revision(&row.Put)
	}
	if next() {
		row.Payload = r.raw()
	}
	if next() {
		row.SoftDel = r.boolean()
	}
	if next() {
		row.HasTomb = r.boolean()
	}
	if next() {
		r.revision(&row.Tomb)
	}
	if next() {
		row.ServerVersion = r.uint()
	}
	if next() {
		row.DeviceID = r.str()
	}
	if next() {
		row.CreatedAtMs = r.int()
	}
	if next() {
		row.UpdatedAtMs = r.int()
	}
	if next() {
		row.DeletedAtMs = r.int()
	}
	if next() {
		row.Owner = r.str()
	}
	for field < n && r.ok {
		field++
		r.skip()
	}
	return r.ok && r.off == len(buf)
}

// DecodeRowAliased decodes a RowRecord whose strings and payload alias
// data: valid only as long as data is (for a Pebble iterator's value,
// until the iterator moves). Readers that encode the row at once (the
// snapshot JSON path) use it to skip every copy.
func DecodeRowAliased(key, data []byte, row *RowRecord) error {
	if decodeRowAliased(data, row) {
		return nil
	}
	return Decode(key, data, row)
}
