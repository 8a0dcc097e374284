package media

import "testing"

type blob int64

func (b blob) size() int64 { return int64(b) }

func TestLRU(t *testing.T) {
	c := newLRU[blob](2, 1000)
	c.put("a", 10)
	c.put("b", 10)
	c.get("a") // a is now the most recent
	c.put("c", 10)
	if _, ok := c.get("b"); ok || c.len() != 2 {
		t.Errorf("entry bound: b kept, %d entries", c.len())
	}
	c.put("big", 300) // over a quarter of the bytes: not kept
	if _, ok := c.get("big"); ok {
		t.Errorf("an entry over a quarter of the budget was kept")
	}
	c = newLRU[blob](100, 1000)
	for _, k := range []string{"1", "2", "3", "4", "5"} {
		c.put(k, 240)
	}
	if _, ok := c.get("1"); ok || c.len() != 4 {
		t.Errorf("byte bound: %d entries", c.len())
	}
	c.put("5", 10) // replacing an entry frees its bytes
	if c.len() != 4 || c.bytes != 3*240+10 {
		t.Errorf("replace: %d entries, %d bytes", c.len(), c.bytes)
	}
}
