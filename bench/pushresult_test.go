package bench

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// pushAnswers are answers shaped like syncd's, and the odd spellings the
// fast path must hand to encoding/json.
var pushAnswers = []string{
	`{"results":[{"opId":"a","success":true,"serverVersion":7,"applied":true,"wasExisting":false,"tableName":"messages","operation":"put","payload":{"id":"m1","data":{"content":"hi \"there\" \\ \u00e9"},"n":[1,-2.5e3,true,false,null]}},{"opId":"b","success":true,"serverVersion":8,"applied":false,"winner":{"kind":"put","payload":{},"revision":{"clock":3}}}],"serverVersion":8}`,
	`{"results":[{"opId":"c","success":false,"errorCode":"VALIDATION_ERROR","error":"payload must be an object"}],"serverVersion":0}`,
	` { "results" : [ ] , "serverVersion" : 12 } `,
	`{"results":null,"serverVersion":1}`,
	`{"results":[null,{"opId":"d","applied":null}]}`,
	`{"Results":[{"opId":"e"}]}`,
	`{"results":[{"OPID":"f"}]}`,
	`{"results":[{"opId":"g\u0041"}]}`,
	`{"results":[{"opId":"h"}],"results":[{"success":true}]}`,
	`{"serverVersion":1.5}`,
	`{"serverVersion":-1}`,
	`{"serverVersion":18446744073709551616}`,
	`{"results":[{"opId":"i","success":"yes"}]}`,
	`{"results":[{"opId":"j"}]} x`,
	`{"results":[{"opId":"k","payload":"a` + "\x01" + `b"}]}`,
	`{"results":[{"opId":"l","payload":[1,2,}]}`,
	`{"results":[{"opId":"m","payload":01}]}`,
	`{"results":[{"opId":"\xff"}]}`,
	`null`,
	``,
}

func TestDecodePushResult_AsEncodingJSON(t *testing.T) {
	for _, in := range pushAnswers {
		checkPushResult(t, []byte(in))
	}
}

func TestDecodePushResult_FastPathTakesSyncdAnswers(t *testing.T) {
	for _, in := range pushAnswers[:5] {
		var res pushResult
		if err := fastPushResult([]byte(in), &res); err != nil {
			t.Errorf("fast path refused %s", in)
		}
	}
	if err := fastPushResult([]byte(pushAnswers[0]), &pushResult{}); err != nil {
		t.Fatal(err)
	}
	var res pushResult
	_ = decodePushResult([]byte(pushAnswers[0]), &res)
	if len(res.Results) != 2 || res.Results[0].OpID != "a" || res.Results[1].Applied == nil || *res.Results[1].Applied || res.ServerVersion != 8 {
		t.Fatalf("decoded %+v", res)
	}
}

// checkPushResult fails unless decodePushResult answers as encoding/json.
func checkPushResult(t *testing.T, in []byte) {
	t.Helper()
	var want, got pushResult
	werr := json.Unmarshal(in, &want)
	gerr := decodePushResult(in, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: encoding/json error %v, decodePushResult error %v", in, werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("%q: encoding/json %+v, decodePushResult %+v", in, want, got)
	}
	var fast pushResult
	if fastPushResult(in, &fast) == nil && !reflect.DeepEqual(want, fast) {
		t.Fatalf("%q: fast path %+v, encoding/json %+v", in, fast, want)
	}
}

func FuzzDecodePushResult(f *testing.F) {
	for _, in := range pushAnswers {
		f.Add([]byte(in))
	}
	f.Add([]byte(`{"results":[{"opId":"x","payload":{"a":[{"b":"` + strings.Repeat("z", 300) + `"}]}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) { checkPushResult(t, in) })
}

func BenchmarkDecodePushResult(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"results":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"opId":"00000000-0000-4000-8000-000000000001","success":true,"serverVersion":12345,"applied":true,"wasExisting":false,"tableName":"messages","operation":"put","payload":{"id":"m-1","thread_id":"t-1","role":"user","data":{"content":"`)
		sb.WriteString(strings.Repeat("the of and to ", 90))
		sb.WriteString(`"}}}`)
	}
	sb.WriteString(`],"serverVersion":12345}`)
	in := []byte(sb.String())
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			var res pushResult
			if err := decodePushResult(in, &res); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			var res pushResult
			if err := json.Unmarshal(in, &res); err != nil {
				b.Fatal(err)
			}
		}
	})
}
