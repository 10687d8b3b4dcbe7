package watch

import (
	"strconv"
	"unicode/utf8"

	"github.com/or3/syncd/engine"
)

// appendChange appends c as the JSON of engine.SyncChange, byte for byte
// what encoding/json writes with HTML escaping off. It exists for depth
// and speed, not format: it is a few shallow frames where encoding/json's
// reflection would grow the stream goroutine's stack (see stack.go), and
// it runs once per change for every watcher of a catch-up.
//
// The payload is copied as it is: the engine stores it compacted and
// validated (sync-contract §3.2 step 3), which is what encoding/json would
// have written for a json.RawMessage.
func appendChange(dst []byte, c *engine.SyncChange) []byte {
	dst = append(dst, `{"serverVersion":`...)
	dst = strconv.AppendUint(dst, c.ServerVersion, 10)
	dst = append(dst, `,"tableName":`...)
	dst = appendString(dst, c.TableName)
	dst = append(dst, `,"pk":`...)
	dst = appendString(dst, c.PK)
	dst = append(dst, `,"op":`...)
	dst = appendString(dst, c.Op)
	if len(c.Payload) > 0 {
		dst = append(dst, `,"payload":`...)
		dst = append(dst, c.Payload...)
	}
	dst = append(dst, `,"stamp":{"deviceId":`...)
	dst = appendString(dst, c.Stamp.DeviceID)
	dst = append(dst, `,"opId":`...)
	dst = appendString(dst, c.Stamp.OpID)
	dst = append(dst, `,"hlc":`...)
	dst = appendString(dst, c.Stamp.HLC)
	dst = append(dst, `,"clock":`...)
	dst = strconv.AppendInt(dst, c.Stamp.Clock, 10)
	return append(dst, "}}"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does
// without HTML escaping: the short escapes for \b \f \n \r \t " and \\,
// \u00XX for other control characters, \ufffd for invalid UTF-8, and
// \u2028 \u2029 (which JavaScript source may not hold raw).
func appendString(dst []byte, s string) []byte {
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
