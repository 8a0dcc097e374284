package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/store"
)

// keyParams is the JSON body of POST /admin/keys and PATCH /admin/keys/{id}.
// Pointers tell "absent" from "zero" for PATCH.
type keyParams struct {
	Name           *string            `json:"name"`
	AllowedModels  *[]string          `json:"allowed_models"`
	AllowedVendors *[]string          `json:"allowed_vendors"`
	RPM            *int               `json:"rpm"`
	TPM            *int               `json:"tpm"`
	MaxParallel    *int               `json:"max_parallel"`
	BudgetDaily    *float64           `json:"budget_daily"`
	BudgetMonthly  *float64           `json:"budget_monthly"`
	ExpiresAt      *string            `json:"expires_at"` // RFC 3339, or "" to clear
	ExpiresIn      *string            `json:"expires_in"` // a Go duration, e.g. "720h"
	Metadata       *map[string]string `json:"metadata"`
}

// keyObject is a key as the admin API shows it: never its secret, except
// once, in Key, when it is created or rotated.
type keyObject struct {
	Object string `json:"object"`
	store.Key
	Secret string `json:"key,omitempty"`
}

func (s *Server) adminKeys(w http.ResponseWriter, r *http.Request) {
	st := s.opts.Store
	if st == nil {
		writeError(w, noStore())
		return
	}
	switch r.Method {
	case http.MethodGet:
		keys, err := st.ListKeys(r.Context())
		if err != nil {
			writeError(w, storeError(err))
			return
		}
		out := make([]keyObject, len(keys))
		for i, k := range keys {
			out[i] = keyObject{Object: "api_key", Key: k}
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
	case http.MethodPost:
		var p keyParams
		if e := decodeJSON(r, &p); e != nil {
			writeError(w, e)
			return
		}
		if p.Name == nil || *p.Name == "" {
			writeError(w, errorf(http.StatusBadRequest, "missing_required_parameter", "name", "a key needs a name"))
			return
		}
		kp := store.KeyParams{Name: *p.Name}
		patch, e := p.patch()
		if e != nil {
			writeError(w, e)
			return
		}
		if patch.ExpiresAt != nil && !patch.ExpiresAt.After(time.Now()) {
			// A key born expired is a typo, not a wish: its secret would
			// be handed out and refused on first use.
			writeError(w, errorf(http.StatusBadRequest, "invalid_value", "expires_at", "expires_at must be in the future"))
			return
		}
		applyParams(&kp, patch)
		k, secret, err := st.CreateKey(r.Context(), kp)
		if err != nil {
			writeError(w, storeError(err))
			return
		}
		s.keys.created()
		writeJSON(w, http.StatusCreated, keyObject{Object: "api_key", Key: k, Secret: secret})
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "", "use GET or POST on /admin/keys"))
	}
}

func (s *Server) adminKey(w http.ResponseWriter, r *http.Request) {
	st := s.opts.Store
	if st == nil {
		writeError(w, noStore())
		return
	}
	id := r.PathValue("id")
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		k, err := st.GetKey(ctx, id)
		if err != nil {
			writeError(w, storeError(err))
			return
		}
		writeJSON(w, http.StatusOK, keyObject{Object: "api_key", Key: k})
	case http.MethodPatch:
		var p keyParams
		if e := decodeJSON(r, &p); e != nil {
			writeError(w, e)
			return
		}
		patch, e := p.patch()
		if e != nil {
			writeError(w, e)
			return
		}
		k, err := st.UpdateKey(ctx, id, patch)
		if err != nil {
			writeError(w, storeError(err))
			return
		}
		s.keyChanged(k.Hash)
		writeJSON(w, http.StatusOK, keyObject{Object: "api_key", Key: k})
	case http.MethodDelete:
		k, err := st.GetKey(ctx, id)
		if err == nil {
			err = st.RevokeKey(ctx, id)
		}
		if err != nil {
			writeError(w, storeError(err))
			return
		}
		s.keyChanged(k.Hash)
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "api_key", "deleted": true})
	default:
		w.Header().Set("Allow", "GET, PATCH, DELETE")
		writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "", "use GET, PATCH or DELETE on /admin/keys/{id}"))
	}
}

// adminRotate serves POST /admin/keys/{id}/rotate: a new secret, shown once;
// the old one stops working at once.
func (s *Server) adminRotate(w http.ResponseWriter, r *http.Request) {
	st := s.opts.Store
	if st == nil {
		writeError(w, noStore())
		return
	}
	old, err := st.GetKey(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, storeError(err))
		return
	}
	k, secret, err := st.RotateKey(r.Context(), old.ID)
	if err != nil {
		writeError(w, storeError(err))
		return
	}
	s.keyChanged(old.Hash)
	writeJSON(w, http.StatusOK, keyObject{Object: "api_key", Key: k, Secret: secret})
}

// keyChanged drops a key from this replica's cache and tells the others.
func (s *Server) keyChanged(hash string) {
	s.keys.drop(hash)
	if s.opts.OnKeyChange != nil {
		s.opts.OnKeyChange(hash)
	}
}

// DropKey forgets a cached key; the fleet's change notifications call it.
func (s *Server) DropKey(hash string) { s.keys.drop(hash) }

func (p *keyParams) patch() (store.KeyPatch, *openai.Error) {
	kp := store.KeyPatch{Name: p.Name, AllowedModels: p.AllowedModels, AllowedVendors: p.AllowedVendors,
		RPM: p.RPM, TPM: p.TPM, MaxParallel: p.MaxParallel, BudgetDaily: p.BudgetDaily, BudgetMonthly: p.BudgetMonthly,
		Metadata: p.Metadata}
	switch {
	case p.ExpiresIn != nil:
		d, err := time.ParseDuration(*p.ExpiresIn)
		if err != nil || d <= 0 {
			return kp, errorf(http.StatusBadRequest, "invalid_value", "expires_in", "expires_in must be a positive duration like 720h")
		}
		t := time.Now().Add(d).UTC()
		kp.ExpiresAt = &t
	case p.ExpiresAt != nil && *p.ExpiresAt == "":
		kp.ClearExpiresAt = true
	case p.ExpiresAt != nil:
		t, err := time.Parse(time.RFC3339, *p.ExpiresAt)
		if err != nil {
			return kp, errorf(http.StatusBadRequest, "invalid_value", "expires_at", "expires_at must be an RFC 3339 time")
		}
		kp.ExpiresAt = &t
	}
	return kp, nil
}

func applyParams(kp *store.KeyParams, p store.KeyPatch) {
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&kp.RPM, p.RPM)
	set(&kp.TPM, p.TPM)
	set(&kp.MaxParallel, p.MaxParallel)
	if p.AllowedModels != nil {
		kp.AllowedModels = *p.AllowedModels
	}
	if p.AllowedVendors != nil {
		kp.AllowedVendors = *p.AllowedVendors
	}
	if p.BudgetDaily != nil {
		kp.BudgetDaily = *p.BudgetDaily
	}
	if p.BudgetMonthly != nil {
		kp.BudgetMonthly = *p.BudgetMonthly
	}
	if p.Metadata != nil {
		kp.Metadata = *p.Metadata
	}
	kp.ExpiresAt = p.ExpiresAt
}

// adminUsage serves GET /admin/usage?from=&to=&group_by=.
func (s *Server) adminUsage(w http.ResponseWriter, r *http.Request) {
	st := s.opts.Store
	if st == nil {
		writeError(w, noStore())
		return
	}
	q := r.URL.Query()
	from, to, e := timeRange(q.Get("from"), q.Get("to"))
	if e != nil {
		writeError(w, e)
		return
	}
	totals, err := st.UsageTotals(r.Context(), from, to, q.Get("group_by"))
	if err != nil {
		writeError(w, storeError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "group_by": q.Get("group_by"), "data": totals})
}

// adminRequests serves GET /admin/requests: the recent request log, newest
// first, filtered by key, vendor, model, status.
func (s *Server) adminRequests(w http.ResponseWriter, r *http.Request) {
	st := s.opts.Store
	if st == nil {
		writeError(w, noStore())
		return
	}
	q := r.URL.Query()
	from, to, e := timeRange(q.Get("from"), q.Get("to"))
	if e != nil {
		writeError(w, e)
		return
	}
	f := store.Filter{From: from, To: to, KeyID: q.Get("key"), Vendor: q.Get("vendor"), Model: q.Get("model")}
	// A filter that is not understood is refused, never dropped: ignoring
	// it would answer rows the caller asked to leave out.
	if v := q.Get("errors"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, errorf(http.StatusBadRequest, "invalid_value", "errors", "errors must be true or false"))
			return
		}
		f.ErrorsOnly = b
	}
	if v := q.Get("status"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			writeError(w, errorf(http.StatusBadRequest, "invalid_value", "status", "status must be an HTTP status code like 429"))
			return
		}
		f.Status = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-"):
			n = store.MaxRecentLimit // huge: as many as may be had
		case err != nil || n < 1:
			writeError(w, errorf(http.StatusBadRequest, "invalid_value", "limit",
				"limit must be a positive number of rows (at most %d are answered)", store.MaxRecentLimit))
			return
		}
		f.Limit = n
	}
	rows, err := st.RecentRequests(r.Context(), f)
	if err != nil {
		writeError(w, storeError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": rows})
}

func timeRange(from, to string) (time.Time, time.Time, *openai.Error) {
	parse := func(v, name string) (time.Time, *openai.Error) {
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return t, errorf(http.StatusBadRequest, "invalid_value", name, "%s must be an RFC 3339 time", name)
		}
		return t, nil
	}
	f, e := parse(from, "from")
	if e != nil {
		return f, f, e
	}
	t, e := parse(to, "to")
	return f, t, e
}

// maxAdminBody bounds an admin request's JSON body.
const maxAdminBody = 1 << 20

func decodeJSON(r *http.Request, v any) *openai.Error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			return errorf(http.StatusRequestEntityTooLarge, "request_too_large", "", "the request body is over %d bytes", mb.Limit)
		}
		return openai.DecodeError(err)
	}
	return nil
}

func noStore() *openai.Error {
	return errorf(http.StatusNotImplemented, "no_database", "", "this gateway runs without a database (database_url: none)")
}

func storeError(err error) *openai.Error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "id", "no such key")
	case errors.Is(err, store.ErrRevoked):
		return errorf(http.StatusConflict, "key_revoked", "id", "the key is revoked")
	case errors.Is(err, store.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid_value", "", "%v", err)
	}
	return errorf(http.StatusServiceUnavailable, "database_unavailable", "", "the database is unavailable; retry shortly")
}
