package media

import (
	"container/list"
	"sync"
)

// sized is what the cache bounds by bytes.
type sized interface{ size() int64 }

// lru is a small mutex-guarded LRU bounded by entry count and bytes.
type lru[V sized] struct {
	mu       sync.Mutex
	max      int
	maxBytes int64
	bytes    int64
	order    *list.List // front = most recent
	items    map[string]*list.Element
}

type lruItem[V sized] struct {
	key string
	val V
}

func newLRU[V sized](entries int, bytes int64) *lru[V] {
	return &lru[V]{max: entries, maxBytes: bytes, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruItem[V]).val, true
	}
	var zero V
	return zero, false
}

// put stores val unless it alone would take more than a quarter of the
// budget: one huge file should not flush everything else.
func (c *lru[V]) put(key string, val V) {
	n := val.size()
	if c.max <= 0 || c.maxBytes <= 0 || n > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.bytes -= e.Value.(*lruItem[V]).val.size()
		c.order.Remove(e)
		delete(c.items, key)
	}
	c.items[key] = c.order.PushFront(&lruItem[V]{key, val})
	c.bytes += n
	for c.order.Len() > c.max || c.bytes > c.maxBytes {
		e := c.order.Back()
		it := e.Value.(*lruItem[V])
		c.order.Remove(e)
		delete(c.items, it.key)
		c.bytes -= it.val.size()
	}
}

func (c *lru[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
