package engine

import (
	"strconv"
	"unicode/utf8"
)

// AppendChangeJSON appends c as the JSON of SyncChange, byte for byte what
// encoding/json writes with HTML escaping off. Pull's JSON path and the
// watch streams use it: it runs once per delivered change, so it avoids
// reflection and allocation.
//
// The payload is copied as it is: the engine stores it compacted and
// validated (sync-contract §3.2 step 3), which is what encoding/json would
// have written for a json.RawMessage.
func AppendChangeJSON(dst []byte, c *SyncChange) []byte {
	return appendChangeFields(dst, c.ServerVersion, c.TableName, c.PK, c.Op, c.Payload, c.Stamp.DeviceID, c.Stamp.OpID, c.Stamp.HLC, c.Stamp.Clock)
}

func appendChangeFields(dst []byte, version uint64, table, pk, op string, payload []byte, device, opID, hlc string, clock int64) []byte {
	dst = append(dst, `{"serverVersion":`...)
	dst = strconv.AppendUint(dst, version, 10)
	dst = append(dst, `,"tableName":`...)
	dst = AppendJSONString(dst, table)
	dst = append(dst, `,"pk":`...)
	dst = AppendJSONString(dst, pk)
	dst = append(dst, `,"op":`...)
	dst = AppendJSONString(dst, op)
	if len(payload) > 0 {
		dst = append(dst, `,"payload":`...)
		dst = append(dst, payload...)
	}
	dst = append(dst, `,"stamp":{"deviceId":`...)
	dst = AppendJSONString(dst, device)
	dst = append(dst, `,"opId":`...)
	dst = AppendJSONString(dst, opID)
	dst = append(dst, `,"hlc":`...)
	dst = AppendJSONString(dst, hlc)
	dst = append(dst, `,"clock":`...)
	dst = strconv.AppendInt(dst, clock, 10)
	return append(dst, "}}"...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping: the short escapes for \b \f \n \r \t " and \\,
// \u00XX for other control characters, \ufffd for invalid UTF-8, and
// \u2028 \u2029 (which JavaScript source may not hold raw).
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
