package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// runSuite is the one storage test suite, run against every implementation.
// newURL returns the URL of a fresh, empty database for one test; Open on it
// twice must reach the same database.
func runSuite(t *testing.T, newURL func(t *testing.T) string) {
	tests := []struct {
		name string
		fn   func(t *testing.T, url string)
	}{
		{"KeyLifecycle", testKeyLifecycle},
		{"KeyValidation", testKeyValidation},
		{"UsageTotalsAndRecent", testUsageQueries},
		{"InsertBatchAndTimes", testInsertBatch},
		{"Retention", testRetention},
		{"StartRetention", testStartRetention},
		{"MigrationsIdempotent", testMigrations},
		{"MigrationsConcurrent", testMigrationsConcurrent},
		{"WriterFlushesOnClose", testWriterFlush},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newURL(t)) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openT(t *testing.T, url string) Store {
	t.Helper()
	s, err := Open(ctxT(t), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawStrings runs a query on the store's own database and returns the rows
// as strings (the query selects ncols columns, all text).
func rawStrings(t *testing.T, s Store, ncols int, q string, args ...any) [][]string {
	t.Helper()
	ctx := ctxT(t)
	rs, err := s.(*sqlStore).b.reader().query(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	var out [][]string
	for rs.Next() {
		row := make([]string, ncols)
		dest := make([]any, ncols)
		for i := range row {
			dest[i] = &row[i]
		}
		if err := rs.Scan(dest...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var secretRE = regexp.MustCompile(`^sk-gr-[0-9A-Za-z]{32}$`)

func testKeyLifecycle(t *testing.T, url string) {
	ctx := ctxT(t)
	s := openT(t, url)

	// A local zone and nanoseconds: the store keeps UTC, to the microsecond.
	zone := time.FixedZone("UTC+5", 5*3600)
	expires := time.Date(2031, 7, 1, 10, 30, 0, 123456789, zone)
	p := KeyParams{
		Name:           "team-a",
		AllowedModels:  []string{"gpt-4o", "gpt-4o-mini"},
		AllowedVendors: []string{"openai"},
		RPM:            100,
		TPM:            50000,
		MaxParallel:    4,
		BudgetDaily:    2.5,
		BudgetMonthly:  50,
		ExpiresAt:      &expires,
		Metadata:       map[string]string{"team": "a", "user": "bob"},
	}
	before := time.Now().Add(-time.Second)
	k, secret, err := s.CreateKey(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !secretRE.MatchString(secret) {
		t.Errorf("secret %q does not look like sk-gr-<32 base62>", secret)
	}
	if !strings.HasPrefix(k.ID, "key_") || len(k.ID) < 12 {
		t.Errorf("id %q", k.ID)
	}
	if k.Hash != HashSecret(secret) || len(k.Hash) != 64 {
		t.Errorf("hash %q is not the SHA-256 of the secret", k.Hash)
	}
	if k.Prefix != secret[:10]+"…" {
		t.Errorf("prefix %q, want %q", k.Prefix, secret[:10]+"…")
	}
	wantExp := time.Date(2031, 7, 1, 5, 30, 0, 123456000, time.UTC)
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(wantExp) || k.ExpiresAt.Location() != time.UTC {
		t.Errorf("ExpiresAt %v, want %v", k.ExpiresAt, wantExp)
	}
	if k.CreatedAt.Before(before) || k.CreatedAt.Location() != time.UTC || !k.UpdatedAt.Equal(k.CreatedAt) {
		t.Errorf("CreatedAt %v UpdatedAt %v", k.CreatedAt, k.UpdatedAt)
	}
	if k.RevokedAt != nil || !k.Usable(time.Now()) {
		t.Errorf("new key not usable: %+v", k)
	}

	// Only the hash is stored: read the raw table.
	raw := rawStrings(t, s, 7, `SELECT id, name, hash, prefix, CAST(allowed_models AS TEXT),
		CAST(allowed_vendors AS TEXT), CAST(metadata AS TEXT) FROM virtual_keys`)
	if len(raw) != 1 {
		t.Fatalf("%d rows in virtual_keys, want 1", len(raw))
	}
	if raw[0][2] != HashSecret(secret) {
		t.Errorf("stored hash %q, want %q", raw[0][2], HashSecret(secret))
	}
	for i, v := range raw[0] {
		if strings.Contains(v, secret) || strings.Contains(v, secret[10:]) {
			t.Errorf("column %d of the stored key contains the secret: %q", i, v)
		}
	}

	// Lookups.
	got, err := s.GetKey(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, k) {
		t.Errorf("GetKey =\n%+v\nwant\n%+v", got, k)
	}
	got, err = s.KeyByHash(ctx, HashSecret(secret))
	if err != nil || got.ID != k.ID {
		t.Fatalf("KeyByHash = %v, %v", got.ID, err)
	}
	if _, err := s.KeyByHash(ctx, HashSecret(secret+"x")); !errors.Is(err, ErrNotFound) {
		t.Errorf("KeyByHash(wrong) error = %v, want ErrNotFound", err)
	}
	if _, err := s.GetKey(ctx, "key_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetKey(unknown) error = %v, want ErrNotFound", err)
	}

	// Patch: only the given fields change.
	time.Sleep(2 * time.Millisecond)
	name, rpm := "team-a2", 200
	upd, err := s.UpdateKey(ctx, k.ID, KeyPatch{Name: &name, RPM: &rpm})
	if err != nil {
		t.Fatal(err)
	}
	want := k
	want.Name, want.RPM, want.UpdatedAt = name, rpm, upd.UpdatedAt
	if !reflect.DeepEqual(upd, want) {
		t.Errorf("after patch\n%+v\nwant\n%+v", upd, want)
	}
	if !upd.UpdatedAt.After(k.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", upd.UpdatedAt, k.UpdatedAt)
	}
	if got, _ := s.GetKey(ctx, k.ID); !reflect.DeepEqual(got, upd) {
		t.Errorf("GetKey after patch =\n%+v\nwant\n%+v", got, upd)
	}
	// Every other field, including clearing the expiry and emptying lists.
	none := []string{}
	meta := map[string]string{"team": "b"}
	tpm, par, bd, bm := 1, 2, 0.0, 9.99
	upd, err = s.UpdateKey(ctx, k.ID, KeyPatch{AllowedModels: &none, AllowedVendors: &[]string{"gemini", "openai"},
		TPM: &tpm, MaxParallel: &par, BudgetDaily: &bd, BudgetMonthly: &bm, ClearExpiresAt: true, Metadata: &meta})
	if err != nil {
		t.Fatal(err)
	}
	if len(upd.AllowedModels) != 0 || upd.AllowedModels == nil || !reflect.DeepEqual(upd.AllowedVendors, []string{"gemini", "openai"}) ||
		upd.TPM != 1 || upd.MaxParallel != 2 || upd.BudgetDaily != 0 || upd.BudgetMonthly != 9.99 ||
		upd.ExpiresAt != nil || !reflect.DeepEqual(upd.Metadata, meta) || upd.Name != name || upd.RPM != rpm {
		t.Errorf("after full patch: %+v", upd)
	}
	// Expiry round-trips, and an expired key is not usable.
	past := time.Now().Add(-time.Hour)
	upd, err = s.UpdateKey(ctx, k.ID, KeyPatch{ExpiresAt: &past})
	if err != nil {
		t.Fatal(err)
	}
	if upd.ExpiresAt == nil || !upd.ExpiresAt.Equal(utc(past)) || !upd.Expired(time.Now()) || upd.Usable(time.Now()) {
		t.Errorf("expiry %v (want %v), expired=%v", upd.ExpiresAt, utc(past), upd.Expired(time.Now()))
	}
	if got, _ := s.GetKey(ctx, k.ID); got.ExpiresAt == nil || !got.ExpiresAt.Equal(utc(past)) {
		t.Errorf("GetKey expiry %v, want %v", got.ExpiresAt, utc(past))
	}
	// An empty patch changes nothing; unknown ids are ErrNotFound.
	if got, err := s.UpdateKey(ctx, k.ID, KeyPatch{}); err != nil || !reflect.DeepEqual(got, upd) {
		t.Errorf("empty patch = %+v, %v", got, err)
	}
	if _, err := s.UpdateKey(ctx, "key_nope", KeyPatch{Name: &name}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateKey(unknown) error = %v", err)
	}

	// A second key; the list has both, oldest first.
	k2, secret2, err := s.CreateKey(ctx, KeyParams{Name: "team-b"})
	if err != nil {
		t.Fatal(err)
	}
	if secret2 == secret || k2.ID == k.ID {
		t.Error("two keys share a secret or an id")
	}
	if k2.ExpiresAt != nil || len(k2.AllowedModels) != 0 || k2.AllowedModels == nil || k2.Metadata == nil {
		t.Errorf("defaults of a bare key: %+v", k2)
	}
	list, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != k.ID || list[1].ID != k2.ID {
		t.Errorf("ListKeys = %v", list)
	}

	// Rotate: a new secret works, the old one stops working.
	rot, newSecret, err := s.RotateKey(ctx, k2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == secret2 || !secretRE.MatchString(newSecret) || rot.ID != k2.ID ||
		rot.Hash != HashSecret(newSecret) || rot.Prefix != newSecret[:10]+"…" {
		t.Errorf("rotated key %+v secret %q", rot, newSecret)
	}
	if _, err := s.KeyByHash(ctx, HashSecret(secret2)); !errors.Is(err, ErrNotFound) {
		t.Errorf("old secret after rotate: %v, want ErrNotFound", err)
	}
	if got, err := s.KeyByHash(ctx, HashSecret(newSecret)); err != nil || got.ID != k2.ID || got.Name != "team-b" {
		t.Errorf("new secret after rotate: %+v, %v", got, err)
	}
	if _, _, err := s.RotateKey(ctx, "key_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RotateKey(unknown) error = %v", err)
	}

	// Revoke: at once, idempotent, still found by hash but not usable.
	if err := s.RevokeKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	rev, err := s.KeyByHash(ctx, HashSecret(newSecret))
	if err != nil || rev.RevokedAt == nil || rev.Usable(time.Now()) || !rev.Revoked() {
		t.Fatalf("revoked key by hash: %+v, %v", rev, err)
	}
	time.Sleep(2 * time.Millisecond)
	if err := s.RevokeKey(ctx, k2.ID); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	if again, _ := s.GetKey(ctx, k2.ID); again.RevokedAt == nil || !again.RevokedAt.Equal(*rev.RevokedAt) {
		t.Errorf("second revoke moved RevokedAt: %v -> %v", rev.RevokedAt, again.RevokedAt)
	}
	if _, _, err := s.RotateKey(ctx, k2.ID); !errors.Is(err, ErrRevoked) {
		t.Errorf("RotateKey(revoked) error = %v, want ErrRevoked", err)
	}
	if err := s.RevokeKey(ctx, "key_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeKey(unknown) error = %v", err)
	}
	if list, _ := s.ListKeys(ctx); len(list) != 2 || list[1].RevokedAt == nil {
		t.Errorf("ListKeys after revoke: %+v", list)
	}
}

func testKeyValidation(t *testing.T, url string) {
	ctx := ctxT(t)
	s := openT(t, url)
	for _, p := range []KeyParams{
		{Name: "  "},
		{Name: "x", RPM: -1},
		{Name: "x", TPM: -1},
		{Name: "x", MaxParallel: -1},
		{Name: "x", BudgetDaily: -0.01},
		{Name: "x", BudgetMonthly: math.NaN()},
		{Name: "x", BudgetMonthly: math.Inf(1)},
	} {
		if _, _, err := s.CreateKey(ctx, p); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateKey(%+v) error = %v, want ErrInvalid", p, err)
		}
	}
	k, _, err := s.CreateKey(ctx, KeyParams{Name: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	empty, neg, negf := "", -5, -1.0
	for _, p := range []KeyPatch{{Name: &empty}, {RPM: &neg}, {BudgetDaily: &negf}} {
		if _, err := s.UpdateKey(ctx, k.ID, p); !errors.Is(err, ErrInvalid) {
			t.Errorf("UpdateKey(%+v) error = %v, want ErrInvalid", p, err)
		}
	}
	if list, _ := s.ListKeys(ctx); len(list) != 1 {
		t.Errorf("%d keys, want 1", len(list))
	}
}

// usageFixture is the data set of testUsageQueries: five rows in
// [t0, t0+10m) and one an hour before.
func usageFixture(t0 time.Time) []Usage {
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	return []Usage{
		{Time: m(1), RequestID: "r1", KeyID: "key_A", Vendor: "openai", Credential: "0", ModelAsked: "gpt-4o", ModelServed: "gpt-4o",
			Status: 200, LatencyMs: 100, TTFBMs: 50, PromptTokens: 10, CompletionTokens: 20, CachedTokens: 5, Cost: 0.01, Attempts: 1},
		{Time: m(2), RequestID: "r2", KeyID: "key_A", Vendor: "openai", Credential: "1", ModelAsked: "gpt-4o-mini", ModelServed: "gpt-4o-mini",
			Status: 200, LatencyMs: 200, TTFBMs: 70, PromptTokens: 1, CompletionTokens: 2, Cost: 0.02, Attempts: 1},
		{Time: m(3), RequestID: "r3", KeyID: "key_B", Vendor: "gemini", Credential: "0", ModelAsked: "gemini-2.0-flash", ModelServed: "gemini-2.0-flash",
			Status: 429, ErrorClass: "vendor_rate_limited", LatencyMs: 300, Attempts: 3},
		{Time: m(4), RequestID: "r4", Vendor: "mock", Credential: "0", ModelAsked: "nope",
			Status: 400, ErrorClass: "client_bad_request", LatencyMs: 1},
		{Time: m(5), RequestID: "r5", KeyID: "key_B", Vendor: "openai", Credential: "0", ModelAsked: "gpt-4o", ModelServed: "gpt-4o",
			Status: 200, ErrorClass: "vendor_stream_error", LatencyMs: 400, TTFBMs: 30, PromptTokens: 100, CompletionTokens: 7, Cost: 0.04, Attempts: 1, Stream: true},
		{Time: t0.Add(-time.Hour), RequestID: "r0", KeyID: "key_A", Vendor: "openai", Credential: "0", ModelAsked: "gpt-4o", ModelServed: "gpt-4o",
			Status: 200, LatencyMs: 10, PromptTokens: 1000, CompletionTokens: 1000, Cost: 1.0, Attempts: 1},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func testUsageQueries(t *testing.T, url string) {
	ctx := ctxT(t)
	s := openT(t, url)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rows := usageFixture(t0)
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	from, to := t0, t0.Add(10*time.Minute)

	type tot struct {
		group                 string
		req, errs, in, out, c int64
		cost                  float64
	}
	check := func(groupBy string, from, to time.Time, want []tot) {
		t.Helper()
		got, err := s.UsageTotals(ctx, from, to, groupBy)
		if err != nil {
			t.Fatalf("UsageTotals(%q): %v", groupBy, err)
		}
		if len(got) != len(want) {
			t.Fatalf("UsageTotals(%q) = %+v, want %+v", groupBy, got, want)
		}
		for i, w := range want {
			g := got[i]
			if g.Group != w.group || g.Requests != w.req || g.Errors != w.errs || g.PromptTokens != w.in ||
				g.CompletionTokens != w.out || g.CachedTokens != w.c || !near(g.Cost, w.cost) {
				t.Errorf("UsageTotals(%q)[%d] = %+v, want %+v", groupBy, i, g, w)
			}
		}
	}
	check(GroupVendor, from, to, []tot{
		{"openai", 3, 1, 111, 29, 5, 0.07},
		{"gemini", 1, 1, 0, 0, 0, 0},
		{"mock", 1, 1, 0, 0, 0, 0},
	})
	check(GroupModel, from, to, []tot{
		{"gpt-4o", 2, 1, 110, 27, 5, 0.05},
		{"gemini-2.0-flash", 1, 1, 0, 0, 0, 0},
		{"gpt-4o-mini", 1, 0, 1, 2, 0, 0.02},
		{"nope", 1, 1, 0, 0, 0, 0}, // nothing served it: the model asked for
	})
	check(GroupKey, from, to, []tot{
		{"key_A", 2, 0, 11, 22, 5, 0.03},
		{"key_B", 2, 2, 100, 7, 0, 0.04},
		{"", 1, 1, 0, 0, 0, 0},
	})
	check(GroupCredential, from, to, []tot{
		{"openai/0", 2, 1, 110, 27, 5, 0.05},
		{"gemini/0", 1, 1, 0, 0, 0, 0},
		{"mock/0", 1, 1, 0, 0, 0, 0},
		{"openai/1", 1, 0, 1, 2, 0, 0.02},
	})
	check(GroupNone, from, to, []tot{{"", 5, 3, 111, 29, 5, 0.07}})
	check(GroupNone, time.Time{}, time.Time{}, []tot{{"", 6, 3, 1111, 1029, 5, 1.07}}) // open range
	check(GroupNone, t0.Add(-2*time.Hour), t0, []tot{{"", 1, 0, 1000, 1000, 0, 1}})    // to is exclusive
	check(GroupVendor, t0.Add(time.Hour), time.Time{}, nil)                            // nothing in range
	if _, err := s.UsageTotals(ctx, from, to, "colour"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad group_by error = %v, want ErrInvalid", err)
	}
	// Averages.
	all, _ := s.UsageTotals(ctx, from, to, GroupVendor)
	if !near(all[0].AvgLatencyMs, (100+200+400)/3.0) || !near(all[0].AvgTTFBMs, (50+70+30)/3.0) {
		t.Errorf("openai averages %v / %v", all[0].AvgLatencyMs, all[0].AvgTTFBMs)
	}

	// Recent requests, newest first, with each filter.
	ids := func(f Filter) string {
		t.Helper()
		got, err := s.RecentRequests(ctx, f)
		if err != nil {
			t.Fatalf("RecentRequests(%+v): %v", f, err)
		}
		var out []string
		for _, u := range got {
			out = append(out, u.RequestID)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, "r5,r4,r3,r2,r1,r0"},
		{Filter{From: from, To: to}, "r5,r4,r3,r2,r1"},
		{Filter{From: t0.Add(2 * time.Minute), To: t0.Add(4 * time.Minute)}, "r3,r2"},
		{Filter{KeyID: "key_A"}, "r2,r1,r0"},
		{Filter{KeyID: "key_A", From: from}, "r2,r1"},
		{Filter{Vendor: "gemini"}, "r3"},
		{Filter{Model: "gpt-4o"}, "r5,r1,r0"},
		{Filter{Model: "nope"}, "r4"},
		{Filter{Status: 429}, "r3"},
		{Filter{ErrorsOnly: true}, "r5,r4,r3"},
		{Filter{Vendor: "openai", Status: 200, From: from}, "r5,r2,r1"},
		{Filter{Limit: 2}, "r5,r4"},
		{Filter{KeyID: "key_Z"}, ""},
	} {
		if got := ids(c.f); got != c.want {
			t.Errorf("RecentRequests(%+v) = %q, want %q", c.f, got, c.want)
		}
	}
	// Every field round-trips.
	got, err := s.RecentRequests(ctx, Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range got {
		want := rows[5] // r0, the oldest
		if i < 5 {
			want = rows[4-i]
		}
		if !reflect.DeepEqual(u, want) {
			t.Errorf("row %d =\n%+v\nwant\n%+v", i, u, want)
		}
	}

	// Spend.
	for _, c := range []struct {
		key   string
		since time.Time
		want  float64
	}{
		{"key_A", from, 0.03},
		{"key_A", t0.Add(-2 * time.Hour), 1.03},
		{"key_A", t0.Add(2 * time.Minute), 0.02}, // since is inclusive
		{"key_B", from, 0.04},
		{"key_Z", from, 0},
	} {
		got, err := s.SpendSince(ctx, c.key, c.since)
		if err != nil || !near(got, c.want) {
			t.Errorf("SpendSince(%s, %v) = %v, %v; want %v", c.key, c.since, got, err, c.want)
		}
	}
}

func testInsertBatch(t *testing.T, url string) {
	ctx := ctxT(t)
	s := openT(t, url)
	// More rows than one INSERT statement carries, in one call.
	t0 := time.Now().Add(-time.Minute)
	batch := make([]Usage, 1234)
	for i := range batch {
		batch[i] = Usage{Time: t0.Add(time.Duration(i) * time.Millisecond), RequestID: fmt.Sprint(i), Vendor: "v",
			Status: 200, PromptTokens: 1, Cost: 0.001}
	}
	if err := s.InsertUsage(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertUsage(ctx, nil); err != nil {
		t.Fatal(err)
	}
	tot, err := s.UsageTotals(ctx, time.Time{}, time.Time{}, GroupNone)
	if err != nil || len(tot) != 1 || tot[0].Requests != 1234 || tot[0].PromptTokens != 1234 || !near(tot[0].Cost, 1.234) {
		t.Fatalf("totals %+v, %v", tot, err)
	}
	if got, _ := s.RecentRequests(ctx, Filter{Limit: 1}); len(got) != 1 || got[0].RequestID != "1233" {
		t.Errorf("newest row %+v", got)
	}

	// Times: zero means now; a local zone comes back as the same instant in
	// UTC, to the microsecond.
	zone := time.FixedZone("UTC-7", -7*3600)
	local := time.Date(2024, 12, 31, 20, 0, 0, 999999999, zone)
	before := time.Now().Add(-time.Second)
	if err := s.InsertUsage(ctx, []Usage{{RequestID: "zero"}, {RequestID: "local", Time: local}}); err != nil {
		t.Fatal(err)
	}
	z, _ := s.RecentRequests(ctx, Filter{Limit: 1})
	if len(z) != 1 || z[0].RequestID != "zero" || z[0].Time.Before(before) || z[0].Time.Location() != time.UTC {
		t.Errorf("zero time row %+v", z)
	}
	l, _ := s.RecentRequests(ctx, Filter{To: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), Limit: 1})
	if len(l) != 1 || l[0].RequestID != "local" || !l[0].Time.Equal(local.Truncate(time.Microsecond)) || l[0].Time.Location() != time.UTC {
		t.Errorf("local time row %+v, want time %v", l, local.UTC())
	}
}

func testRetention(t *testing.T, url string) {
	ctx := ctxT(t)
	s := openT(t, url)
	cutoff := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var rows []Usage
	for i := 1; i <= 10; i++ {
		rows = append(rows, Usage{Time: cutoff.Add(-time.Duration(i) * time.Minute), RequestID: fmt.Sprint("old", i)})
	}
	rows = append(rows, Usage{Time: cutoff.Add(-time.Microsecond), RequestID: "old-edge"})
	rows = append(rows, Usage{Time: cutoff, RequestID: "keep-edge"}) // exactly at the cutoff: kept
	for i := 1; i <= 4; i++ {
		rows = append(rows, Usage{Time: cutoff.Add(time.Duration(i) * time.Minute), RequestID: fmt.Sprint("new", i)})
	}
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteUsageBefore(ctx, cutoff, 3) // 11 old rows: batches of 3, 3, 3, 2
	if err != nil || n != 11 {
		t.Fatalf("DeleteUsageBefore = %d, %v; want 11", n, err)
	}
	left, _ := s.RecentRequests(ctx, Filter{})
	var ids []string
	for _, u := range left {
		ids = append(ids, u.RequestID)
		if u.Time.Before(cutoff) {
			t.Errorf("row %s at %v survived", u.RequestID, u.Time)
		}
	}
	if got := strings.Join(ids, ","); got != "new4,new3,new2,new1,keep-edge" {
		t.Errorf("rows left: %s", got)
	}
	if n, err := s.DeleteUsageBefore(ctx, cutoff, 3); err != nil || n != 0 {
		t.Errorf("second delete = %d, %v", n, err)
	}
	// Default batch size, and an exact multiple of the batch.
	if n, err := s.DeleteUsageBefore(ctx, cutoff.Add(2*time.Minute+time.Second), 0); err != nil || n != 3 {
		t.Errorf("delete with default batch = %d, %v; want 3", n, err)
	}
	if n, err := s.DeleteUsageBefore(ctx, cutoff.Add(time.Hour), 2); err != nil || n != 2 {
		t.Errorf("delete exact multiple = %d, %v; want 2", n, err)
	}
	// A cancelled context stops it.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.DeleteUsageBefore(cctx, cutoff, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled delete error = %v", err)
	}
}

func testStartRetention(t *testing.T, url string) {
	ctx := ctxT(t)
	s := openT(t, url)
	now := time.Now()
	var rows []Usage
	for i := range RetentionBatch + 7 { // more than one batch
		rows = append(rows, Usage{Time: now.Add(-2*time.Hour - time.Duration(i)*time.Second), RequestID: "old"})
	}
	for range 3 {
		rows = append(rows, Usage{Time: now, RequestID: "new"})
	}
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	r := StartRetention(ctx, s, time.Hour, 20*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Deleted < RetentionBatch+7 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// Let it run again to show it deletes nothing more.
	runs := r.Stats().Runs
	for r.Stats().Runs < runs+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.Stop()
	st := r.Stats()
	if st.Deleted != RetentionBatch+7 || st.LastErr != nil || st.Runs < 2 || st.LastRun.IsZero() {
		t.Errorf("retention stats %+v", st)
	}
	tot, _ := s.UsageTotals(ctx, time.Time{}, time.Time{}, GroupNone)
	if tot[0].Requests != 3 {
		t.Errorf("%d rows left, want 3", tot[0].Requests)
	}
	r.Stop() // twice is fine

	// Disabled retention deletes nothing and stops at once.
	if err := s.InsertUsage(ctx, []Usage{{Time: now.Add(-100 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	off := StartRetention(ctx, s, 0, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	off.Stop()
	if tot, _ := s.UsageTotals(ctx, time.Time{}, time.Time{}, GroupNone); tot[0].Requests != 4 {
		t.Errorf("disabled retention deleted rows: %d left", tot[0].Requests)
	}
}

func migrationVersions(t *testing.T, s Store) string {
	t.Helper()
	rows := rawStrings(t, s, 2, `SELECT CAST(version AS TEXT), name FROM schema_migrations ORDER BY version`)
	var out []string
	for _, r := range rows {
		out = append(out, r[0]+":"+r[1])
	}
	return strings.Join(out, ",")
}

func wantVersions() string {
	var out []string
	for _, m := range migrations {
		out = append(out, fmt.Sprintf("%d:%s", m.version, m.name))
	}
	return strings.Join(out, ",")
}

func testMigrations(t *testing.T, url string) {
	ctx := ctxT(t)
	s1, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := s1.CreateKey(ctx, KeyParams{Name: "persisted"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.InsertUsage(ctx, []Usage{{KeyID: k.ID, Cost: 1.5}}); err != nil {
		t.Fatal(err)
	}
	if got := migrationVersions(t, s1); got != wantVersions() {
		t.Errorf("schema_migrations = %q, want %q", got, wantVersions())
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	// Open again (and a third time, while the second is open): no migration
	// runs twice and the data is still there.
	s2 := openT(t, url)
	s3 := openT(t, url)
	for _, s := range []Store{s2, s3} {
		if got := migrationVersions(t, s); got != wantVersions() {
			t.Errorf("after reopen schema_migrations = %q, want %q", got, wantVersions())
		}
		if got, err := s.KeyByHash(ctx, HashSecret(secret)); err != nil || got.ID != k.ID {
			t.Errorf("key after reopen: %+v, %v", got, err)
		}
		if spend, err := s.SpendSince(ctx, k.ID, time.Now().Add(-time.Hour)); err != nil || spend != 1.5 {
			t.Errorf("spend after reopen: %v, %v", spend, err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	}
}

func testMigrationsConcurrent(t *testing.T, url string) {
	ctx := ctxT(t)
	// Several processes starting at once on an empty database.
	const n = 4
	stores := make([]Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, url) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("concurrent Open %d: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	if got := migrationVersions(t, stores[0]); got != wantVersions() {
		t.Errorf("schema_migrations = %q, want %q", got, wantVersions())
	}
}

func testWriterFlush(t *testing.T, url string) {
	ctx := ctxT(t)
	s := openT(t, url)
	// Neither the interval nor the batch size would flush the last rows:
	// only Close does.
	w := NewWriter(s, WriterOptions{BatchSize: 100, FlushInterval: time.Hour})
	for i := range 250 {
		if !w.Enqueue(Usage{RequestID: fmt.Sprint(i), KeyID: "key_W", Cost: 0.01, Status: 200}) {
			t.Fatalf("Enqueue %d refused", i)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Enqueued != 250 || st.Written != 250 || st.Dropped != 0 || st.Failed != 0 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
	tot, err := s.UsageTotals(ctx, time.Time{}, time.Time{}, GroupKey)
	if err != nil || len(tot) != 1 || tot[0].Requests != 250 || !near(tot[0].Cost, 2.5) {
		t.Errorf("totals after Close: %+v, %v", tot, err)
	}
	if w.Enqueue(Usage{}) {
		t.Error("Enqueue after Close accepted a row")
	}
}
