package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/genrouter/genrouter/internal/media"
	"github.com/genrouter/genrouter/internal/metrics"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/tidwall/gjson"
)

// describePart is where media.DescribeRequest puts the client's image in
// the chat request it builds; errors naming it are renamed for the client,
// whose body is that one part.
const describePart = "messages[1].content[1]"

// describeAnswer is the body of POST /v1/images/text.
type describeAnswer struct {
	Text  string          `json:"text"`
	Model string          `json:"model"`
	Usage json.RawMessage `json:"usage,omitempty"`
}

// imagesText serves POST /v1/images/text, the legacy endpoint that
// describes an image. Its body is one image_url content part
// ({"type":"image_url","image_url":{"url","headers"}}); it becomes a
// non-streaming chat completion (media.describe_prompt as the system prompt,
// media.describe_model or else the first chat model that takes images)
// that is routed, fetched, retried and logged like any other, and the
// answer is {"text","model","usage"}.
func (s *Server) imagesText(w http.ResponseWriter, r *http.Request, c *caller) {
	st, x := s.begin(w, r, c, metrics.OpChat)
	defer s.logExchange(r, x)
	buf, body, apiErr := s.readRequest(w, r, st)
	defer s.putBuffer(buf)
	if apiErr != nil {
		x.fail(w, apiErr)
		return
	}
	vendor := vendorParam(r)
	if e := st.router.Pool.CheckVendor(vendor); e != nil {
		x.fail(w, e)
		return
	}
	model, apiErr := describeModel(st, vendor, c)
	if apiErr != nil {
		x.fail(w, apiErr)
		return
	}
	x.asked = model
	if e := c.allowed(st.router.Pool, model, vendor); e != nil {
		x.fail(w, e)
		return
	}
	chatBody, err := media.DescribeRequest(body, model, st.cfg.Media.DescribePrompt)
	if err != nil {
		x.fail(w, asAPIError(err))
		return
	}
	req, err := openai.ParseChat(chatBody)
	if err != nil {
		x.fail(w, openai.DecodeError(err))
		return
	}
	if e := req.Validate(); e != nil {
		x.fail(w, e)
		return
	}
	t := limits(r, st.cfg.Routing.Timeouts)
	ctx, cancel := withTotal(r, t)
	defer cancel()
	q := route.Query{Vendor: vendor, Model: req.Model, Needs: req.Needs(), Allowed: c.vendors(), AllowedModels: c.models()}
	j := &job{body: chatBody, chat: req, media: media.Needs(req)}
	ans, err := s.dispatch(ctx, st, w, q, j, t, x)
	if err != nil {
		var e *openai.Error
		if errors.As(err, &e) {
			err = renamePart(e)
		}
		x.failDispatch(w, r.Context(), err)
		return
	}
	if ans.stream != nil { // not asked for; an adapter should never do this
		ans.stream.Close()
		ans.lease.Done(nil, 0)
		x.fail(w, errorf(http.StatusBadGateway, "upstream_error", "", "the vendor streamed an answer that was not asked for"))
		return
	}
	x.ttfb = time.Since(x.start)
	x.usage(ans.body)
	text, ok := answerText(ans.body)
	if !ok {
		e := errorf(http.StatusBadGateway, "upstream_error", "", "the vendor's answer has no text")
		ans.lease.Done(e, x.promptTok+x.complTok)
		x.fail(w, e)
		return
	}
	ans.lease.Done(nil, x.promptTok+x.complTok)
	s.price(w.Header(), x)
	out := describeAnswer{Text: text, Model: ans.lease.Combo.Model.Name}
	if u := gjson.GetBytes(ans.body, "usage"); u.IsObject() {
		out.Usage = json.RawMessage(u.Raw)
	}
	b, err := json.Marshal(out)
	if err != nil {
		x.fail(w, errorf(http.StatusInternalServerError, "internal_error", "", "encode response: %v", err))
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	x.status = http.StatusOK
	w.Write(b)
}

// describeModel is media.describe_model, or else the first chat model in
// config order that takes images, among those ?vendor= and the caller's key
// allow.
func describeModel(st *state, vendor string, who *caller) (string, *openai.Error) {
	if m := st.cfg.Media.DescribeModel; m != "" {
		return m, nil
	}
	var models, vendors []string
	if who != nil && who.key != nil {
		models, vendors = who.key.AllowedModels, who.key.AllowedVendors
	}
	for _, c := range st.router.Pool.All() {
		switch {
		case vendor != "" && !c.Vendor.Is(vendor),
			len(vendors) > 0 && !slices.ContainsFunc(vendors, c.Vendor.Is),
			len(models) > 0 && !slices.Contains(models, c.Model.Name):
			continue
		}
		if c.Model.Images && !c.Model.Embedding {
			return c.Model.Name, nil
		}
	}
	where := ""
	if vendor != "" {
		where = " of vendor " + vendor
	}
	return "", errorf(http.StatusBadRequest, "unsupported_capability", "",
		"no configured model%s takes images; set media.describe_model or configure a model with images", where)
}

// renamePart makes an error about the image the media layer refused name
// the client's own field ("image_url") rather than the chat request's part.
func renamePart(e *openai.Error) *openai.Error {
	if e.Param == nil || *e.Param != describePart {
		return e
	}
	c := *e
	p := "image_url"
	c.Param = &p
	c.Message = strings.Replace(c.Message, describePart, p, 1)
	return &c
}

// answerText is the text of a chat completion's first choice: its content
// (a string, or the text of its parts), else its refusal.
func answerText(body []byte) (string, bool) {
	msg := gjson.GetBytes(body, "choices.0.message")
	if !msg.IsObject() {
		return "", false
	}
	switch c := msg.Get("content"); {
	case c.Type == gjson.String:
		return c.String(), true
	case c.IsArray():
		var b strings.Builder
		for _, p := range c.Array() {
			if p.Get("type").String() == "text" {
				b.WriteString(p.Get("text").String())
			}
		}
		return b.String(), true
	}
	if r := msg.Get("refusal"); r.Type == gjson.String {
		return r.String(), true
	}
	return "", false
}
