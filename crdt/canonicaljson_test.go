package crdt

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCanonicalJSON_Forms(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Structure and whitespace.
		{"keys sorted", `{"b":1,"a":2,"c":3}`, `{"a":2,"b":1,"c":3}`},
		{"nested keys sorted", `{"z":{"y":1,"x":[{"b":1,"a":2}]},"a":null}`, `{"a":null,"z":{"x":[{"a":2,"b":1}],"y":1}}`},
		{"keys by bytes not length", `{"aa":1,"b":2,"a":3,"B":4,"":5}`, `{"":5,"B":4,"a":3,"aa":1,"b":2}`},
		{"keys by decoded bytes", `{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
		{"escaped key sorts by its character", `{"\"":1,"!":2,"#":3}`, `{"!":2,"\"":1,"#":3}`},
		{"non-ascii keys by utf8 bytes", `{"é":1,"z":2,"😀":3,"\uffff":4}`, "{\"z\":2,\"é\":1,\"\uffff\":4,\"😀\":3}"},
		{"whitespace removed", " {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : { } } \n", `{"a":[1,2],"b":{}}`},
		{"empty containers", `[{},[],""]`, `[{},[],""]`},
		{"top-level scalars", ` "x" `, `"x"`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"array order kept", `[3,1,2]`, `[3,1,2]`},

		// Numbers by value.
		{"one spelled five ways", `[1,1.0,1e0,10e-1,0.1E+1,100e-2]`, `[1,1,1,1,1,1]`},
		{"negative zero", `[-0,-0.0,0e5,-0E-3]`, `[0,0,0,0]`},
		{"fractions", `[0.5,-1.25,3.14159]`, `[0.5,-1.25,3.14159]`},
		{"trailing zeros", `[1.50,2.000e1]`, `[1.5,20]`},
		{"large integers in full below 1e21", `[1e20,123456789012345678901e-1]`, `[100000000000000000000,12345678901234567000]`},
		{"exponent from 1e21", `[1e21,-2.5e300]`, `[1e+21,-2.5e+300]`},
		{"small numbers", `[0.000001,0.0000001,1e-7,5e-324]`, `[0.000001,1e-7,1e-7,5e-324]`},
		{"beyond 2^53 rounds like javascript", `9007199254740993`, `9007199254740992`},
		{"underflow is zero", `1e-400`, `0`},
		{"fifteen digit integers verbatim", `[123456789012345,-999999999999999]`, `[123456789012345,-999999999999999]`},
		{"sixteen digit integer by value", `1234567890123456`, `1234567890123456`},

		// Strings, re-encoded as encoding/json does without HTML escaping.
		{"needless escapes dropped", `"\/\u0041\u00e9"`, `"/Aé"`},
		{"short escapes", `"\"\\\b\f\n\r\t"`, `"\"\\\b\f\n\r\t"`},
		{"other controls as lowercase hex escapes", `"\u0000\u001F\u000B"`, `"\u0000\u001f\u000b"`},
		{"html characters raw", `"<a href='x'>&amp;</a>"`, `"<a href='x'>&amp;</a>"`},
		{"line separators escaped", "\"\u2028\\u2029\"", `"\u2028\u2029"`},
		{"surrogate pair decoded", `"\ud83d\ude00"`, `"😀"`},
		{"upper-case hex", `"\uD83D\uDE00\u00C9"`, `"😀É"`},
		{"lone low surrogate", `"\udc00x"`, "\"\ufffdx\""},
		{"lone high surrogate", `"\ud800"`, "\"\ufffd\""},
		{"high surrogate then non-surrogate escape", `"\ud800\u0041"`, "\"\ufffdA\""},
		{"two high surrogates", `"\ud800\ud800\udc00"`, "\"\ufffd𐀀\""},
		{"invalid utf-8 byte", "\"a\xffb\"", "\"a\ufffdb\""},
		{"truncated utf-8 sequence", "\"\xe2\x82\"", "\"\ufffd\ufffd\""},
		{"raw U+FFFD kept", "\"\ufffd\"", "\"\ufffd\""},
		{"delete character raw", "\"\x7f\"", "\"\x7f\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalJSON([]byte(tt.in))
			if err != nil {
				t.Fatalf("CanonicalJSON(%q): %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Fatalf("CanonicalJSON(%q)\n got %s\nwant %s", tt.in, got, tt.want)
			}
			ref, err := refCanonicalJSON([]byte(tt.in))
			if err != nil || string(ref) != tt.want {
				t.Fatalf("reference disagrees: %s, %v", ref, err)
			}
			again, err := CanonicalJSON(got)
			if err != nil || string(again) != string(got) {
				t.Fatalf("not idempotent: %s, %v", again, err)
			}
			if !json.Valid(got) {
				t.Fatalf("output is not valid JSON: %s", got)
			}
		})
	}
}

func TestCanonicalJSON_Errors(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", ``, ErrInvalidJSON},
		{"only whitespace", " \n ", ErrInvalidJSON},
		{"trailing data", `{} x`, ErrInvalidJSON},
		{"two values", `1 2`, ErrInvalidJSON},
		{"trailing comma in object", `{"a":1,}`, ErrInvalidJSON},
		{"trailing comma in array", `[1,]`, ErrInvalidJSON},
		{"missing colon", `{"a" 1}`, ErrInvalidJSON},
		{"unquoted key", `{a:1}`, ErrInvalidJSON},
		{"single quotes", `{'a':1}`, ErrInvalidJSON},
		{"unterminated object", `{"a":1`, ErrInvalidJSON},
		{"unterminated array", `[1,2`, ErrInvalidJSON},
		{"unterminated string", `"abc`, ErrInvalidJSON},
		{"stray close", `]`, ErrInvalidJSON},
		{"mismatched close", `[1}`, ErrInvalidJSON},
		{"raw newline in string", "\"a\nb\"", ErrInvalidJSON},
		{"raw tab in string", "\"a\tb\"", ErrInvalidJSON},
		{"bad escape", `"\x41"`, ErrInvalidJSON},
		{"escaped single quote", `"\'"`, ErrInvalidJSON},
		{"short unicode escape", `"\u12"`, ErrInvalidJSON},
		{"bad hex in escape", `"\u12g4"`, ErrInvalidJSON},
		{"backslash at end", `"\`, ErrInvalidJSON},
		{"leading zero", `01`, ErrInvalidJSON},
		{"negative leading zero", `-01`, ErrInvalidJSON},
		{"bare minus", `-`, ErrInvalidJSON},
		{"plus sign", `+1`, ErrInvalidJSON},
		{"leading dot", `.5`, ErrInvalidJSON},
		{"trailing dot", `1.`, ErrInvalidJSON},
		{"empty exponent", `1e`, ErrInvalidJSON},
		{"signed empty exponent", `1e+`, ErrInvalidJSON},
		{"hex number", `0x10`, ErrInvalidJSON},
		{"NaN", `NaN`, ErrInvalidJSON},
		{"Infinity", `-Infinity`, ErrInvalidJSON},
		{"truncated literal", `tru`, ErrInvalidJSON},
		{"capitalized literal", `True`, ErrInvalidJSON},
		{"literal with suffix", `nulll`, ErrInvalidJSON},
		{"comment", `{} // no`, ErrInvalidJSON},
		{"byte order mark", "\ufeff{}", ErrInvalidJSON},
		{"duplicate key", `{"a":1,"a":2}`, ErrInvalidJSON},
		{"duplicate key after escape decoding", `{"a":1,"\u0061":1}`, ErrInvalidJSON},
		{"duplicate key in nested object", `[{"x":{"b":1,"c":2,"b":1}}]`, ErrInvalidJSON},
		{"duplicate replacement keys", "{\"\\udc00\":1,\"\xff\":2}", ErrInvalidJSON},
		{"overflow", `1e400`, ErrNumberRange},
		{"negative overflow", `[-1.8e308]`, ErrNumberRange},
		{"overflow by long mantissa", `[` + strings.Repeat("9", 400) + `]`, ErrNumberRange},
		{"65 nested arrays", deep(65), ErrTooDeep},
		{"65 nested objects", deepObj(65), ErrTooDeep},
		{"very deep", deep(100000), ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalJSON([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("CanonicalJSON(%.60q) = %s, %v; want error %v", tt.in, got, err, tt.want)
			}
			if _, refErr := refCanonicalJSON([]byte(tt.in)); canonicalErrorClass(refErr) != canonicalErrorClass(err) {
				t.Fatalf("reference says %v, CanonicalJSON says %v", refErr, err)
			}
		})
	}
}

func TestCanonicalJSON_DepthLimitIsInclusive(t *testing.T) {
	in := strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth)
	if _, err := CanonicalJSON([]byte(in)); err != nil {
		t.Fatalf("%d levels: %v", MaxJSONDepth, err)
	}
	in = strings.Repeat(`{"k":`, MaxJSONDepth) + "[]" + strings.Repeat("}", MaxJSONDepth)
	if _, err := CanonicalJSON([]byte(in)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("%d objects around an array: %v; want ErrTooDeep", MaxJSONDepth, err)
	}
}

func TestCanonicalJSON_DoesNotModifyInput(t *testing.T) {
	in := []byte(`{"b":[3,{"d":1,"c":2}],"a":"\u00e9"}`)
	orig := string(in)
	if _, err := CanonicalJSON(in); err != nil {
		t.Fatal(err)
	}
	if string(in) != orig {
		t.Fatalf("input modified: %s", in)
	}
}

// TestCanonicalJSON_KeysWithMixedDecoding exercises the key arena: keys that
// need decoding next to keys sliced from the input, at several depths.
func TestCanonicalJSON_KeysWithMixedDecoding(t *testing.T) {
	for _, in := range []string{
		`{"\u0063":{"\u0062b":1,"ba":{"\u00e9":1,"e":2},"\u2028":3},"b\u0000":[{"y\"":1,"x":2}],"a":0}`,
		// A raw U+2028 is escaped on output but not decoded; an escape
		// after it must not lose it from the decoded key.
		"{\"\u2028\\u0061\":1,\"b\":2,\"\u2028\xff\":3,\"\u2028\":4}",
	} {
		got, err := CanonicalJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		want, err := refCanonicalJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
}
