package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// sqlStore implements Store on either database.
type sqlStore struct {
	b backend
	d *dialect
}

var _ Store = (*sqlStore)(nil)

func (s *sqlStore) Ping(ctx context.Context) error { return s.b.ping(ctx) }
func (s *sqlStore) Close() error                   { return s.b.close() }

// ---- keys ----

const keyColumns = `id, name, hash, prefix, allowed_models, allowed_vendors, rpm, tpm, max_parallel,
	budget_daily, budget_monthly, expires_at, metadata, created_at, updated_at, revoked_at`

func scanKey(r row) (Key, error) {
	var (
		k                         Key
		models, vendors, meta     string
		expires, created, updated nullTime
		revoked                   nullTime
		rpm, tpm, par             int64
	)
	err := r.Scan(&k.ID, &k.Name, &k.Hash, &k.Prefix, &models, &vendors, &rpm, &tpm, &par,
		&k.BudgetDaily, &k.BudgetMonthly, &expires, &meta, &created, &updated, &revoked)
	if err != nil {
		if isNoRows(err) {
			return Key{}, ErrNotFound
		}
		return Key{}, err
	}
	k.RPM, k.TPM, k.MaxParallel = int(rpm), int(tpm), int(par)
	if err := json.Unmarshal([]byte(models), &k.AllowedModels); err != nil {
		return Key{}, fmt.Errorf("store: key %s: allowed_models: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(vendors), &k.AllowedVendors); err != nil {
		return Key{}, fmt.Errorf("store: key %s: allowed_vendors: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(meta), &k.Metadata); err != nil {
		return Key{}, fmt.Errorf("store: key %s: metadata: %w", k.ID, err)
	}
	if k.AllowedModels == nil {
		k.AllowedModels = []string{}
	}
	if k.AllowedVendors == nil {
		k.AllowedVendors = []string{}
	}
	if k.Metadata == nil {
		k.Metadata = map[string]string{}
	}
	k.ExpiresAt = expires.ptr()
	k.CreatedAt = created.Time
	k.UpdatedAt = updated.Time
	k.RevokedAt = revoked.ptr()
	return k, nil
}

func jsonList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // []string always marshals
	return string(b)
}

func jsonMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // map[string]string always marshals
	return string(b)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func checkLimit(name string, v int) error {
	if v < 0 {
		return invalid("%s must not be negative", name)
	}
	return nil
}

func checkBudget(name string, v float64) error {
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid("%s must be a non-negative number", name)
	}
	return nil
}

func checkName(name string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("name is required")
	}
	return nil
}

func (p KeyParams) validate() error {
	if err := checkName(p.Name); err != nil {
		return err
	}
	for _, c := range []struct {
		n string
		v int
	}{{"rpm", p.RPM}, {"tpm", p.TPM}, {"max_parallel", p.MaxParallel}} {
		if err := checkLimit(c.n, c.v); err != nil {
			return err
		}
	}
	if err := checkBudget("budget_daily", p.BudgetDaily); err != nil {
		return err
	}
	return checkBudget("budget_monthly", p.BudgetMonthly)
}

func (s *sqlStore) CreateKey(ctx context.Context, p KeyParams) (Key, string, error) {
	if err := p.validate(); err != nil {
		return Key{}, "", err
	}
	now := utc(time.Now())
	secret := NewSecret()
	k := Key{
		ID:             newKeyID(),
		Name:           p.Name,
		Hash:           HashSecret(secret),
		Prefix:         DisplayPrefix(secret),
		AllowedModels:  append([]string{}, p.AllowedModels...),
		AllowedVendors: append([]string{}, p.AllowedVendors...),
		RPM:            p.RPM,
		TPM:            p.TPM,
		MaxParallel:    p.MaxParallel,
		BudgetDaily:    p.BudgetDaily,
		BudgetMonthly:  p.BudgetMonthly,
		ExpiresAt:      utcPtr(p.ExpiresAt),
		Metadata:       map[string]string{},
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	for n, v := range p.Metadata {
		k.Metadata[n] = v
	}
	_, err := s.b.writer().exec(ctx, `INSERT INTO virtual_keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		k.ID, k.Name, k.Hash, k.Prefix, jsonList(k.AllowedModels), jsonList(k.AllowedVendors),
		int64(k.RPM), int64(k.TPM), int64(k.MaxParallel), k.BudgetDaily, k.BudgetMonthly,
		s.d.tsArg(k.ExpiresAt), jsonMap(k.Metadata), s.d.ts(now), s.d.ts(now), nil)
	if err != nil {
		return Key{}, "", fmt.Errorf("store: create key: %w", err)
	}
	return k, secret, nil
}

func (s *sqlStore) GetKey(ctx context.Context, id string) (Key, error) {
	return getKey(ctx, s.b.reader(), id)
}

// getKey reads the key with that id through q (the reader, or a transaction).
func getKey(ctx context.Context, q querier, id string) (Key, error) {
	return scanKey(q.queryRow(ctx, `SELECT `+keyColumns+` FROM virtual_keys WHERE id = $1`, id))
}

func (s *sqlStore) KeyByHash(ctx context.Context, hash string) (Key, error) {
	return scanKey(s.b.reader().queryRow(ctx, `SELECT `+keyColumns+` FROM virtual_keys WHERE hash = $1`, hash))
}

func (s *sqlStore) ListKeys(ctx context.Context) ([]Key, error) {
	rs, err := s.b.reader().query(ctx, `SELECT `+keyColumns+` FROM virtual_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	defer rs.Close()
	keys := []Key{}
	for rs.Next() {
		k, err := scanKey(rs)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	return keys, nil
}

func (s *sqlStore) UpdateKey(ctx context.Context, id string, p KeyPatch) (Key, error) {
	var (
		sets []string
		args []any
	)
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, col+" = $"+strconv.Itoa(len(args)))
	}
	if p.Name != nil {
		if err := checkName(*p.Name); err != nil {
			return Key{}, err
		}
		set("name", *p.Name)
	}
	if p.AllowedModels != nil {
		set("allowed_models", jsonList(*p.AllowedModels))
	}
	if p.AllowedVendors != nil {
		set("allowed_vendors", jsonList(*p.AllowedVendors))
	}
	for _, c := range []struct {
		col string
		v   *int
	}{{"rpm", p.RPM}, {"tpm", p.TPM}, {"max_parallel", p.MaxParallel}} {
		if c.v != nil {
			if err := checkLimit(c.col, *c.v); err != nil {
				return Key{}, err
			}
			set(c.col, int64(*c.v))
		}
	}
	for _, c := range []struct {
		col string
		v   *float64
	}{{"budget_daily", p.BudgetDaily}, {"budget_monthly", p.BudgetMonthly}} {
		if c.v != nil {
			if err := checkBudget(c.col, *c.v); err != nil {
				return Key{}, err
			}
			set(c.col, *c.v)
		}
	}
	switch {
	case p.ClearExpiresAt:
		set("expires_at", nil)
	case p.ExpiresAt != nil:
		set("expires_at", s.d.ts(*p.ExpiresAt))
	}
	if p.Metadata != nil {
		set("metadata", jsonMap(*p.Metadata))
	}
	if len(sets) == 0 {
		return s.GetKey(ctx, id)
	}
	set("updated_at", s.d.ts(utc(time.Now())))
	args = append(args, id)
	q := `UPDATE virtual_keys SET ` + strings.Join(sets, ", ") + ` WHERE id = $` + strconv.Itoa(len(args))

	var k Key
	err := inTx(ctx, s.b, func(t tx) error {
		n, err := t.exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		k, err = getKey(ctx, t, id)
		return err
	})
	if err != nil {
		return Key{}, wrapKeyErr("update", err)
	}
	return k, nil
}

func (s *sqlStore) RevokeKey(ctx context.Context, id string) error {
	now := s.d.ts(utc(time.Now()))
	n, err := s.b.writer().exec(ctx,
		`UPDATE virtual_keys SET revoked_at = $1, updated_at = $1 WHERE id = $2 AND revoked_at IS NULL`, now, id)
	if err != nil {
		return fmt.Errorf("store: revoke key: %w", err)
	}
	if n == 0 {
		// Absent, or already revoked (a no-op).
		if _, err := s.GetKey(ctx, id); err != nil {
			return wrapKeyErr("revoke", err)
		}
	}
	return nil
}

func (s *sqlStore) RotateKey(ctx context.Context, id string) (Key, string, error) {
	secret := NewSecret()
	var k Key
	err := inTx(ctx, s.b, func(t tx) error {
		var err error
		k, err = getKey(ctx, t, id)
		if err != nil {
			return err
		}
		if k.Revoked() {
			return ErrRevoked
		}
		k.Hash, k.Prefix, k.UpdatedAt = HashSecret(secret), DisplayPrefix(secret), utc(time.Now())
		_, err = t.exec(ctx, `UPDATE virtual_keys SET hash = $1, prefix = $2, updated_at = $3 WHERE id = $4`,
			k.Hash, k.Prefix, s.d.ts(k.UpdatedAt), id)
		return err
	})
	if err != nil {
		return Key{}, "", wrapKeyErr("rotate", err)
	}
	return k, secret, nil
}

func wrapKeyErr(op string, err error) error {
	if err == ErrNotFound || err == ErrRevoked {
		return err
	}
	return fmt.Errorf("store: %s key: %w", op, err)
}

// ---- usage ----

const usageColumns = `ts, request_id, key_id, vendor, credential, model_asked, model_served, status,
	error_class, latency_ms, ttfb_ms, prompt_tokens, completion_tokens, cached_tokens, cost, attempts, stream`

const usageColumnCount = 17

const usageInsertHead = `INSERT INTO usage_log (` + usageColumns + `) VALUES `

func (s *sqlStore) InsertUsage(ctx context.Context, us []Usage) error {
	if len(us) == 0 {
		return nil
	}
	now := utc(time.Now())
	args := make([][]any, len(us))
	for i, u := range us {
		ts := now
		if !u.Time.IsZero() {
			ts = utc(u.Time)
		}
		args[i] = []any{s.d.ts(ts), u.RequestID, u.KeyID, u.Vendor, u.Credential, u.ModelAsked,
			u.ModelServed, int64(u.Status), u.ErrorClass, u.LatencyMs, u.TTFBMs, u.PromptTokens,
			u.CompletionTokens, u.CachedTokens, u.Cost, int64(u.Attempts), u.Stream}
	}
	err := inTx(ctx, s.b, func(t tx) error {
		return t.insertRows(ctx, usageInsertHead, usageColumnCount, args)
	})
	if err != nil {
		return fmt.Errorf("store: insert %d usage rows: %w", len(us), err)
	}
	return nil
}

// errorCond is the SQL form of Usage.IsError.
const errorCond = `(status >= 400 OR error_class <> '')`

func groupExpr(groupBy string) (string, error) {
	switch groupBy {
	case GroupNone:
		return "", nil
	case GroupVendor:
		return "vendor", nil
	case GroupModel:
		return "COALESCE(NULLIF(model_served, ''), model_asked)", nil
	case GroupKey:
		return "key_id", nil
	case GroupCredential:
		return "vendor || '/' || credential", nil
	}
	return "", invalid("group_by %q: want vendor, model, key or credential", groupBy)
}

// timeRange appends the conditions and arguments for from <= ts < to.
func (s *sqlStore) timeRange(conds []string, args []any, from, to time.Time) ([]string, []any) {
	if !from.IsZero() {
		args = append(args, s.d.ts(utc(from)))
		conds = append(conds, "ts >= $"+strconv.Itoa(len(args)))
	}
	if !to.IsZero() {
		args = append(args, s.d.ts(utc(to)))
		conds = append(conds, "ts < $"+strconv.Itoa(len(args)))
	}
	return conds, args
}

func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

func (s *sqlStore) UsageTotals(ctx context.Context, from, to time.Time, groupBy string) ([]Totals, error) {
	expr, err := groupExpr(groupBy)
	if err != nil {
		return nil, err
	}
	conds, args := s.timeRange(nil, nil, from, to)
	sel, tail := "CAST('' AS TEXT)", ""
	if expr != "" {
		sel, tail = expr, " GROUP BY 1 ORDER BY 2 DESC, 1"
	}
	q := `SELECT ` + sel + `, COUNT(*),
		COALESCE(SUM(CASE WHEN ` + errorCond + ` THEN 1 ELSE 0 END), 0),
		CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT),
		CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT),
		CAST(COALESCE(SUM(cached_tokens), 0) AS BIGINT),
		COALESCE(SUM(cost), 0),
		COALESCE(AVG(latency_ms), 0),
		COALESCE(AVG(ttfb_ms), 0)
		FROM usage_log` + where(conds) + tail
	rs, err := s.b.reader().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: usage totals: %w", err)
	}
	defer rs.Close()
	out := []Totals{}
	for rs.Next() {
		var t Totals
		if err := rs.Scan(&t.Group, &t.Requests, &t.Errors, &t.PromptTokens, &t.CompletionTokens,
			&t.CachedTokens, &t.Cost, &t.AvgLatencyMs, &t.AvgTTFBMs); err != nil {
			return nil, fmt.Errorf("store: usage totals: %w", err)
		}
		out = append(out, t)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: usage totals: %w", err)
	}
	return out, nil
}

func (s *sqlStore) RecentRequests(ctx context.Context, f Filter) ([]Usage, error) {
	conds, args := s.timeRange(nil, nil, f.From, f.To)
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.KeyID != "" {
		add("key_id = ?", f.KeyID)
	}
	if f.Vendor != "" {
		add("vendor = ?", f.Vendor)
	}
	if f.Model != "" {
		add("(model_asked = ? OR model_served = ?)", f.Model)
	}
	if f.Status != 0 {
		add("status = ?", int64(f.Status))
	}
	if f.ErrorsOnly {
		conds = append(conds, errorCond)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultRecentLimit
	}
	limit = min(limit, MaxRecentLimit)
	args = append(args, int64(limit))
	q := `SELECT ` + usageColumns + ` FROM usage_log` + where(conds) +
		` ORDER BY ts DESC, id DESC LIMIT $` + strconv.Itoa(len(args))
	rs, err := s.b.reader().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: recent requests: %w", err)
	}
	defer rs.Close()
	out := []Usage{}
	for rs.Next() {
		var (
			u                Usage
			ts               nullTime
			status, attempts int64
		)
		if err := rs.Scan(&ts, &u.RequestID, &u.KeyID, &u.Vendor, &u.Credential, &u.ModelAsked, &u.ModelServed,
			&status, &u.ErrorClass, &u.LatencyMs, &u.TTFBMs, &u.PromptTokens, &u.CompletionTokens,
			&u.CachedTokens, &u.Cost, &attempts, &u.Stream); err != nil {
			return nil, fmt.Errorf("store: recent requests: %w", err)
		}
		u.Time, u.Status, u.Attempts = ts.Time, int(status), int(attempts)
		out = append(out, u)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: recent requests: %w", err)
	}
	return out, nil
}

func (s *sqlStore) SpendSince(ctx context.Context, keyID string, since time.Time) (float64, error) {
	var v float64
	err := s.b.reader().queryRow(ctx,
		`SELECT COALESCE(SUM(cost), 0) FROM usage_log WHERE key_id = $1 AND ts >= $2`,
		keyID, s.d.ts(utc(since))).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: spend since: %w", err)
	}
	return v, nil
}

func (s *sqlStore) DeleteUsageBefore(ctx context.Context, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultDeleteBatch
	}
	// One short statement (and transaction) per batch, so that writers are
	// never held up for long. PostgreSQL has no DELETE ... LIMIT, hence the
	// subquery, which walks the ts index from the oldest row.
	q := `DELETE FROM usage_log WHERE id IN (SELECT id FROM usage_log WHERE ts < $1 ORDER BY ts LIMIT $2)`
	cutoff := s.d.ts(utc(before))
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.b.writer().exec(ctx, q, cutoff, int64(batch))
		total += n
		if err != nil {
			return total, fmt.Errorf("store: delete usage: %w", err)
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

// nullTime scans a nullable timestamp from either database: time.Time from
// PostgreSQL, fixed-width UTC text from SQLite.
type nullTime struct {
	Time  time.Time
	Valid bool
}

func (n *nullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n = nullTime{}
		return nil
	case time.Time:
		*n = nullTime{Time: utc(x), Valid: true}
		return nil
	case string:
		return n.parse(x)
	case []byte:
		return n.parse(string(x))
	}
	return fmt.Errorf("store: cannot scan %T into a timestamp", v)
}

func (n *nullTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("store: bad timestamp %q: %w", s, err)
	}
	*n = nullTime{Time: utc(t), Valid: true}
	return nil
}

func (n nullTime) ptr() *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time
	return &t
}

var _ sql.Scanner = (*nullTime)(nil)
