package crdt

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// OpFingerprint returns the fingerprint of an op: the lowercase hex SHA-256
// of the canonical JSON object
//
//	{"clock":…,"device_id":…,"hlc":…,"operation":…,"payload":…,"pk":…,"table_name":…}
//
// (sync-contract §3.2 step 2, §3.3). Push uses it to tell a replay of an opId
// from a conflicting reuse of it, and Revision uses it as the final
// tie-break.
//
// The payload is canonicalized with CanonicalJSON, so key order, whitespace
// and number spelling do not matter. An absent payload (nil or empty) and a
// JSON null payload are the same: both encode as null. Any other JSON value
// is accepted, since validation runs after fingerprinting; invalid JSON
// returns CanonicalJSON's error. String fields are encoded like
// CanonicalJSON strings (invalid UTF-8 becomes U+FFFD). The clock is written
// as its exact decimal integer: for |clock| <= 2^53, every clock a
// JavaScript client can send, that is its canonical number form, and beyond
// it distinct clocks still give distinct fingerprints.
func OpFingerprint(table, operation, pk string, payload []byte, clock int64, hlc, deviceID string) (string, error) {
	var f Fingerprinter
	return f.OpFingerprint(table, operation, pk, payload, clock, hlc, deviceID)
}

// Fingerprinter computes OpFingerprint reusing its buffers from one call
// to the next, so that fingerprinting a batch of ops allocates little
// more than the results. Its zero value is ready; it is not safe for
// concurrent use.
type Fingerprinter struct {
	buf     []byte
	members []member
	keys    []byte
	scratch []byte
}

// OpFingerprint is crdt.OpFingerprint.
func (f *Fingerprinter) OpFingerprint(table, operation, pk string, payload []byte, clock int64, hlc, deviceID string) (string, error) {
	buf := f.buf[:0]
	if need := 128 + len(table) + len(pk) + len(hlc) + len(deviceID) + len(payload) + len(payload)/8; cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	defer func() { f.buf = buf[:0] }()
	buf = append(buf, `{"clock":`...)
	buf = strconv.AppendInt(buf, clock, 10)
	buf = append(buf, `,"device_id":`...)
	buf = appendCanonicalString(buf, deviceID)
	buf = append(buf, `,"hlc":`...)
	buf = appendCanonicalString(buf, hlc)
	buf = append(buf, `,"operation":`...)
	buf = appendCanonicalString(buf, operation)
	buf = append(buf, `,"payload":`...)
	if len(payload) == 0 {
		buf = append(buf, "null"...)
	} else {
		c := canonicalizer{in: payload, out: buf, members: f.members[:0], keys: f.keys[:0], scratch: f.scratch[:0]}
		out, err := c.run(buf)
		f.members, f.keys, f.scratch = c.members[:0], c.keys[:0], c.scratch[:0]
		if err != nil {
			return "", err
		}
		buf = out
	}
	buf = append(buf, `,"pk":`...)
	buf = appendCanonicalString(buf, pk)
	buf = append(buf, `,"table_name":`...)
	buf = appendCanonicalString(buf, table)
	buf = append(buf, '}')
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]), nil
}
