package store

import (
	"testing"
)

// FuzzParseExport: any bytes (an export file from outside) parse or fail
// without panicking, and whatever parses can be checked by VerifyExcerpt
// without panicking; an excerpt that verifies has every event's hash right.
func FuzzParseExport(f *testing.F) {
	f.Add([]byte(`[{"seq":1,"time":"2026-03-02T09:00:00Z","case_id":1,"actor":"a","event":"e","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"x","links":[{"seq":2,"prev_hash":"a","hash":"b"}]}]`))
	f.Add([]byte("seq,time,case_id,action_id,actor,system,event,result,detail,prev_hash,hash,links\n3,2026-03-02T09:00:00.000000Z,1,0,a,,e,,,p,h,1:a:b;2:b:p\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseExport(data)
		if err != nil {
			return
		}
		if _, err := VerifyExcerpt(c); err != nil {
			return
		}
		for i := range c.Events {
			if HashEvent(&c.Events[i]) != c.Events[i].Hash {
				t.Fatalf("verified excerpt with a wrong hash at %d", c.Events[i].Seq)
			}
		}
	})
}
