package route

import (
	"math"
	"testing"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/genrouter/genrouter/internal/vendors/mock"
)

func model(name string) config.Model {
	return config.Model{Name: name, Tools: true, Images: true, Streaming: true}
}

func testPool(t *testing.T, unknown string) *Pool {
	t.Helper()
	noImages := model("gpt-text")
	noImages.Images = false
	cfg := &config.Config{
		Routing: config.Routing{Strategy: "even", UnknownModels: unknown},
		Vendors: []config.Vendor{
			{Name: "openai", Type: "openai", Credentials: []config.Credential{{Key: "k1", Name: "0"}, {Key: "k2", Name: "1"}},
				Models: []config.Model{model("gpt-4o"), noImages, {Name: "text-embedding-3-small", Embedding: true}}},
			{Name: "gem", Type: "gemini", Credentials: []config.Credential{{Key: "g1", Name: "0"}},
				Models: []config.Model{model("gemini-2.0-flash"), model("gpt-4o")}},
		},
	}
	p, err := NewPool(cfg, func(config.Vendor) (vendors.Adapter, error) { return mock.New(), nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCandidates(t *testing.T) {
	tests := []struct {
		name    string
		unknown string
		q       Query
		want    int    // candidates
		status  int    // or an error status
		param   string // and its param
	}{
		{"configured model over vendors", "pool", Query{Model: "gpt-4o"}, 3, 0, ""},
		{"vendor by name", "pool", Query{Model: "gpt-4o", Vendor: "gem"}, 1, 0, ""},
		{"vendor by type", "pool", Query{Model: "gpt-4o", Vendor: "gemini"}, 1, 0, ""},
		{"unknown vendor", "pool", Query{Model: "gpt-4o", Vendor: "azure"}, 0, 400, "vendor"},
		{"unknown model pools chat models", "pool", Query{Model: "whatever"}, 6, 0, ""},
		{"unknown model pools vendor's chat models", "pool", Query{Model: "whatever", Vendor: "openai"}, 4, 0, ""},
		{"unknown model rejected", "reject", Query{Model: "whatever"}, 0, 404, "model"},
		{"images filter", "pool", Query{Model: "whatever", Needs: openai.Needs{Images: true}}, 4, 0, ""},
		{"missing capability", "pool", Query{Model: "gpt-text", Needs: openai.Needs{Images: true}}, 0, 400, ""},
		{"embeddings", "pool", Query{Model: "text-embedding-3-small", Embedding: true}, 2, 0, ""},
		{"embeddings unknown model pools embedding models", "pool", Query{Model: "x", Embedding: true}, 2, 0, ""},
		{"embeddings at a vendor without any", "pool", Query{Model: "x", Embedding: true, Vendor: "gem"}, 0, 404, "model"},
		{"embeddings from a configured chat model", "pool", Query{Model: "gpt-4o", Embedding: true}, 0, 404, "model"},
		{"chat with a configured embedding model", "pool", Query{Model: "text-embedding-3-small"}, 0, 404, "model"},
		{"chat with an embedding model of another vendor", "pool", Query{Model: "text-embedding-3-small", Vendor: "gem"}, 2, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := testPool(t, tt.unknown).Candidates(tt.q)
			if tt.status != 0 {
				if e == nil || e.Status != tt.status || (tt.param != "" && (e.Param == nil || *e.Param != tt.param)) {
					t.Fatalf("got %v, want %d on %q", e, tt.status, tt.param)
				}
				return
			}
			if e != nil || len(got) != tt.want {
				t.Fatalf("got %d candidates, err %v; want %d", len(got), e, tt.want)
			}
			for _, c := range got {
				if tt.q.Vendor != "" && c.Vendor.Name != tt.q.Vendor && c.Vendor.Type != tt.q.Vendor {
					t.Errorf("candidate from vendor %s", c.Vendor.Name)
				}
				if c.Model.Embedding != tt.q.Embedding {
					t.Errorf("candidate %s of the wrong kind", c.Model.Name)
				}
			}
		})
	}
}

// ChiSquareCritical is the chi-square value exceeded with probability 1e-4
// at df degrees of freedom (Wilson–Hilferty approximation).
func chiSquareCritical(df int) float64 {
	const z = 3.719 // the normal quantile for p = 1e-4
	d := float64(df)
	return d * math.Pow(1-2/(9*d)+z*math.Sqrt(2/(9*d)), 3)
}

func chiSquare(counts map[int]int, k, n int) float64 {
	exp := float64(n) / float64(k)
	var x float64
	for i := 0; i < k; i++ {
		d := float64(counts[i]) - exp
		x += d * d / exp
	}
	return x
}

type firstHeavy struct{ n int }

// Select favours the first candidate a little: a biased strategy the
// evenness check must catch.
func (f *firstHeavy) Select(c []*Combination) *Combination {
	f.n++
	if f.n%5 == 0 {
		return c[0]
	}
	return Even{}.Select(c)
}

func TestEvenIsUniform(t *testing.T) {
	cands, _ := testPool(t, "pool").Candidates(Query{Model: "whatever"})
	const n = 20000
	for _, tc := range []struct {
		name    string
		sel     Selector
		uniform bool
	}{{"even", Even{}, true}, {"biased", &firstHeavy{}, false}} {
		counts := map[int]int{}
		for i := 0; i < n; i++ {
			c := tc.sel.Select(cands)
			for j := range cands {
				if cands[j] == c {
					counts[j]++
				}
			}
		}
		x, crit := chiSquare(counts, len(cands), n), chiSquareCritical(len(cands)-1)
		if (x < crit) != tc.uniform {
			t.Errorf("%s: chi-square %.1f vs critical %.1f: uniform=%v, want %v", tc.name, x, crit, x < crit, tc.uniform)
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	p := testPool(&testing.T{}, "pool")
	q := Query{Model: "gpt-4o", Needs: openai.Needs{Streaming: true}}
	b.ReportAllocs()
	for b.Loop() {
		c, _ := p.Candidates(q)
		Even{}.Select(c)
	}
}
