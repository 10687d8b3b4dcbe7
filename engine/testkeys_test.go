package engine

import synclog "github.com/or3/syncd/log"

func counterKeyForTest(ws string) []byte { return synclog.CounterKey(ws) }

func counterRecordForTest(counter, floor uint64) *synclog.CounterRecord {
	return &synclog.CounterRecord{Counter: counter, Floor: floor}
}
