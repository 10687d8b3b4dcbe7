package crdt

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// jsonValue is a JSON value kept abstract enough to be written out many
// equivalent ways: numbers as exact decimals (mant × 10^exp) and strings as
// runes.
type jsonValue struct {
	kind  int // 0 null, 1 bool, 2 number, 3 string, 4 array, 5 object
	b     bool
	mant  int64
	exp   int
	runes []rune
	elems []jsonValue
	keys  [][]rune // object keys, distinct; values in elems
}

// jsonRunes mixes plain ASCII with every character that has an escaping
// rule: quotes, backslash, slash, controls, HTML characters, line
// separators, U+FFFD, non-BMP.
var jsonRunes = []rune{
	'a', 'b', 'z', 'A', '0', ' ', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', 0x00, 0x1f, 0x7f,
	'<', '>', '&', 'ÿ', 'é', '\u2028', '\u2029', '\ufffd', '\ue000', '\uffff', '😀', '\U0010ffff',
}

var genJSONRunes = rapid.SliceOfN(rapid.SampledFrom(jsonRunes), 0, 6)

func genJSONValue(depth int) *rapid.Generator[jsonValue] {
	return rapid.Custom(func(t *rapid.T) jsonValue {
		maxKind := 5
		if depth >= 4 {
			maxKind = 3
		}
		v := jsonValue{kind: rapid.IntRange(0, maxKind).Draw(t, "kind")}
		switch v.kind {
		case 1:
			v.b = rapid.Bool().Draw(t, "bool")
		case 2:
			v.mant = rapid.OneOf(rapid.Int64Range(-20, 20), rapid.Int64Range(-10_000_000, 10_000_000)).Draw(t, "mant")
			v.exp = rapid.OneOf(rapid.IntRange(-8, 8), rapid.IntRange(-340, 300)).Draw(t, "exp")
		case 3:
			v.runes = genJSONRunes.Draw(t, "string")
		case 4:
			v.elems = rapid.SliceOfN(genJSONValue(depth+1), 0, 4).Draw(t, "elems")
		case 5:
			v.keys = rapid.SliceOfNDistinct(genJSONRunes, 0, 5, func(r []rune) string { return string(r) }).Draw(t, "keys")
			v.elems = rapid.SliceOfN(genJSONValue(depth+1), len(v.keys), len(v.keys)).Draw(t, "values")
		}
		return v
	})
}

// render writes v as JSON text, choosing at random among equivalent forms:
// whitespace, member order, number spelling and string escapes.
func render(t *rapid.T, v jsonValue) string {
	var sb strings.Builder
	renderTo(t, &sb, v)
	return sb.String()
}

var genSpace = rapid.SampledFrom([]string{"", "", " ", "\n\t", "\r\n  "})

func renderTo(t *rapid.T, sb *strings.Builder, v jsonValue) {
	sb.WriteString(genSpace.Draw(t, "ws"))
	switch v.kind {
	case 0:
		sb.WriteString("null")
	case 1:
		sb.WriteString(strconv.FormatBool(v.b))
	case 2:
		sb.WriteString(renderNumber(t, v.mant, v.exp))
	case 3:
		renderString(t, sb, v.runes)
	case 4:
		sb.WriteByte('[')
		for i, e := range v.elems {
			if i > 0 {
				sb.WriteByte(',')
			}
			renderTo(t, sb, e)
		}
		sb.WriteString(genSpace.Draw(t, "ws") + "]")
	case 5:
		sb.WriteByte('{')
		idx := make([]int, len(v.keys))
		for i := range idx {
			idx[i] = i
		}
		for n, i := range rapid.Permutation(idx).Draw(t, "order") {
			if n > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(genSpace.Draw(t, "ws"))
			renderString(t, sb, v.keys[i])
			sb.WriteString(genSpace.Draw(t, "ws") + ":")
			renderTo(t, sb, v.elems[i])
		}
		sb.WriteString(genSpace.Draw(t, "ws") + "}")
	}
	sb.WriteString(genSpace.Draw(t, "ws"))
}

// renderNumber spells mant × 10^exp one of many ways: 1, 1.0, 1e0, 10e-1,
// 0.1E+1, ...
func renderNumber(t *rapid.T, mant int64, exp int) string {
	if mant == 0 {
		return rapid.SampledFrom([]string{"0", "-0", "0.0", "0e5", "-0.00E-3", "0E+0"}).Draw(t, "zero")
	}
	sign := ""
	if mant < 0 {
		sign, mant = "-", -mant
	}
	z := rapid.IntRange(0, 3).Draw(t, "trailing-zeros")
	digits := strconv.FormatInt(mant, 10) + strings.Repeat("0", z)
	exp -= z
	var s string
	if rapid.Bool().Draw(t, "leading-zero-form") {
		lz := rapid.IntRange(0, 3).Draw(t, "leading-zeros")
		s = sign + "0." + strings.Repeat("0", lz) + digits
		exp += lz + len(digits)
	} else {
		p := rapid.IntRange(1, len(digits)).Draw(t, "point")
		s = sign + digits[:p]
		if p < len(digits) {
			s += "." + digits[p:]
		}
		exp += len(digits) - p
	}
	if exp == 0 && rapid.Bool().Draw(t, "omit-exponent") {
		return s
	}
	e := rapid.SampledFrom([]string{"e", "E"}).Draw(t, "e")
	if exp >= 0 && rapid.Bool().Draw(t, "plus") {
		e += "+"
	}
	return s + e + strconv.Itoa(exp)
}

func renderString(t *rapid.T, sb *strings.Builder, runes []rune) {
	sb.WriteByte('"')
	for _, r := range runes {
		var forms []string
		if r >= 0x20 && r != '"' && r != '\\' {
			forms = append(forms, string(r))
		}
		switch r {
		case '"', '\\', '/':
			forms = append(forms, `\`+string(r))
		case '\b':
			forms = append(forms, `\b`)
		case '\f':
			forms = append(forms, `\f`)
		case '\n':
			forms = append(forms, `\n`)
		case '\r':
			forms = append(forms, `\r`)
		case '\t':
			forms = append(forms, `\t`)
		case utf8.RuneError:
			// Everything encoding/json decodes to U+FFFD: a byte that is
			// never valid, a lead byte with no continuation (no form
			// starts with a continuation byte, so it cannot complete),
			// and a lone low surrogate escape (no form ends in an
			// unpaired high surrogate, so it cannot pair up).
			forms = append(forms, "\xff", "\xc3", `\udc00`, `\uDFFF`)
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			forms = append(forms, fmt.Sprintf(`\u%04x\u%04X`, r1, r2))
		} else {
			forms = append(forms, fmt.Sprintf(`\u%04x`, r), fmt.Sprintf(`\u%04X`, r))
		}
		sb.WriteString(rapid.SampledFrom(forms).Draw(t, "char"))
	}
	sb.WriteByte('"')
}

// TestCanonicalJSON_EquivalentTextsAgree: any two renderings of one value —
// other whitespace, member order, number spellings and string escapes —
// have the same canonical form, which is idempotent, valid JSON, and what the
// naive reference produces.
func TestCanonicalJSON_EquivalentTextsAgree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := genJSONValue(0).Draw(t, "value")
		a, b := render(t, v), render(t, v)
		ca, err := CanonicalJSON([]byte(a))
		if err != nil {
			t.Fatalf("CanonicalJSON(%q): %v", a, err)
		}
		cb, err := CanonicalJSON([]byte(b))
		if err != nil {
			t.Fatalf("CanonicalJSON(%q): %v", b, err)
		}
		if string(ca) != string(cb) {
			t.Fatalf("equivalent texts differ:\n%q\n%q\n->\n%s\n%s", a, b, ca, cb)
		}
		checkCanonicalOutput(t, []byte(a), ca)
	})
}

// checkCanonicalOutput asserts the laws every successful output obeys.
func checkCanonicalOutput(t lawT, in, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("output is not valid JSON: %q", out)
	}
	again, err := CanonicalJSON(out)
	if err != nil || string(again) != string(out) {
		t.Fatalf("not idempotent: %q -> %q, %v", out, again, err)
	}
	ref, err := refCanonicalJSON(in)
	if err != nil || string(ref) != string(out) {
		t.Fatalf("reference disagrees on %q:\n got %q\nwant %q (%v)", in, out, ref, err)
	}
}

// TestCanonicalJSON_ArbitraryBytes: on any bytes CanonicalJSON either fails
// with one of its sentinels, exactly when the reference fails, or succeeds
// with the reference's output.
func TestCanonicalJSON_ArbitraryBytes(t *testing.T) {
	alphabet := []byte(`{}[]:,"\ u0123456789abcdefE.+-tnrl` + "\x00\n\xff\xc3\xa9")
	rapid.Check(t, func(t *rapid.T) {
		in := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 40).Draw(t, "in")
		checkCanonicalAgainstReference(t, in)
	})
}

func checkCanonicalAgainstReference(t lawT, in []byte) {
	t.Helper()
	out, err := CanonicalJSON(in)
	_, refErr := refCanonicalJSON(in)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("CanonicalJSON(%q): %v; reference: %v", in, err, refErr)
	}
	if err != nil {
		if c := canonicalErrorClass(err); strings.HasPrefix(c, "unknown") {
			t.Fatalf("CanonicalJSON(%q): error matches no sentinel: %v", in, err)
		}
		if out != nil {
			t.Fatalf("CanonicalJSON(%q) returned output with an error", in)
		}
		return
	}
	checkCanonicalOutput(t, in, out)
}

// TestAppendCanonicalString: the strings OpFingerprint writes are the
// canonical form of encoding/json's encoding of the same Go string,
// including invalid UTF-8.
func TestAppendCanonicalString(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.OneOf(rapid.String(), rapid.StringOf(rapid.SampledFrom(jsonRunes)),
			rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) string { return string(b) })).Draw(t, "s")
		marshalled, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		want, err := CanonicalJSON(marshalled)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendCanonicalString(nil, s); string(got) != string(want) {
			t.Fatalf("appendCanonicalString(%q) = %q, want %q", s, got, want)
		}
	})
}

// TestCanonicalJSON_NumbersMatchFloatFormatting checks the plain-decimal
// fast path (and the slow path next to it) against the definition: parse as
// float64, print as encoding/json prints a float64, -0 as 0.
func TestCanonicalJSON_NumbersMatchFloatFormatting(t *testing.T) {
	digit := rapid.SampledFrom([]byte("0123456789"))
	rapid.Check(t, func(t *rapid.T) {
		var sb strings.Builder
		if rapid.Bool().Draw(t, "neg") {
			sb.WriteByte('-')
		}
		intPart := rapid.SliceOfN(digit, 0, 17).Draw(t, "int")
		if len(intPart) == 0 || intPart[0] == '0' {
			sb.WriteByte('0')
		} else {
			sb.Write(intPart)
		}
		if frac := rapid.SliceOfN(digit, 0, 17).Draw(t, "frac"); len(frac) > 0 {
			sb.WriteByte('.')
			sb.Write(frac)
		}
		in := sb.String()
		got, err := CanonicalJSON([]byte(in))
		if err != nil {
			t.Fatalf("CanonicalJSON(%s): %v", in, err)
		}
		want, err := refCanonicalJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("CanonicalJSON(%s) = %s, want %s", in, got, want)
		}
	})
}
