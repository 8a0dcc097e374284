package server

import (
	"context"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
)

// Vendors may frame their events in any way SSE allows: keepalive
// comments between events, and an event's JSON spread over several data:
// lines. Whatever the framing, the official SDKs on both APIs get the same
// whole answer: every chunk parses, carries the model asked for, and the
// stream ends cleanly with the usage and the finish reason; and the gateway
// counts the tokens (the log line, usage rows, budgets).
func TestStreamFraming(t *testing.T) {
	framings := []struct {
		name string
		opts fake.Options
	}{
		{"keepalive comments", fake.Options{Keepalive: true}},
		{"multi-line data", fake.Options{MultilineData: true}},
		{"multi-line data crlf", fake.Options{MultilineData: true, CRLF: true}},
		{"spaced JSON", fake.Options{SpacedJSON: true}},
	}
	for _, f := range flavors {
		for _, fr := range framings {
			t.Run(f.name+"/"+fr.name, func(t *testing.T) {
				opts := fr.opts
				opts.CRLF = opts.CRLF || f.crlf
				up := fake.Start(t, f.flavor, opts)
				v := vendorOf("v", f.typ, up.URL(), []string{"k"}, "served-model")
				v.API = f.api
				g := startGateway(t, configOf(config.UnknownModelsPool, v))

				stream := sdk(g).Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
					Model:         "my-alias",
					Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("framed stream")},
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
				})
				acc := openai.ChatCompletionAccumulator{}
				chunks := 0
				for stream.Next() {
					ch := stream.Current()
					chunks++
					if ch.Model != "my-alias" {
						t.Errorf("chunk %d: model %q", chunks, ch.Model)
					}
					acc.AddChunk(ch)
				}
				if err := stream.Err(); err != nil {
					t.Fatalf("chat stream after %d chunks: %v", chunks, err)
				}
				if len(acc.Choices) != 1 || !strings.Contains(acc.Choices[0].Message.Content, "framed stream") ||
					acc.Choices[0].FinishReason != "stop" || acc.Usage.TotalTokens == 0 {
					t.Errorf("accumulated %+v usage %+v", acc.Choices, acc.Usage)
				}

				ms := claude(g).Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
					Model: "claude-alias", MaxTokens: 256, Messages: userText("framed stream")})
				defer ms.Close()
				var msg anthropic.Message
				for ms.Next() {
					if err := msg.Accumulate(ms.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := ms.Err(); err != nil {
					t.Fatalf("messages stream: %v", err)
				}
				if len(msg.Content) != 1 || !strings.Contains(msg.Content[0].Text, "framed stream") ||
					msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.OutputTokens == 0 {
					t.Errorf("message %+v", msg)
				}
				for _, path := range []string{"/v1/chat/completions", "/v1/messages"} {
					eventually(t, "the log line of "+path, func() bool { return strings.Contains(g.logs.String(), `"path":"`+path+`"`) })
					if line := grepLines(g.logs.String(), `"path":"`+path+`"`); !strings.Contains(line, `"prompt_tokens":`) {
						t.Errorf("%s: the gateway counted no tokens: %s", path, line)
					}
				}
			})
		}
	}
}

// A stream whose client did not ask for include_usage still costs tokens:
// the gateway must count them (log line, usage rows, token limits and
// budgets) even though it sends the client no usage. Anthropic and Gemini
// native report usage whatever was asked; OpenAI-format vendors send none
// unless asked (left out here: counting those needs the gateway to ask).
func TestStreamUsageCountedWithoutIncludeUsage(t *testing.T) {
	for _, f := range flavors {
		if f.typ != config.TypeAnthropic && f.api != config.APINative {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			g, _ := oneVendor(t, f.flavor, f.typ, f.crlf, f.api)
			status, _, body := post(t, g.URL+"/chat/completions",
				`{"model":"a","stream":true,"messages":[{"role":"user","content":"count me"}]}`)
			if status != 200 || !strings.HasSuffix(body, "data: [DONE]\n\n") || strings.Contains(body, `"usage"`) {
				t.Fatalf("%d\n%s", status, body)
			}
			eventually(t, "the request's log line", func() bool { return strings.Contains(g.logs.String(), `"path":"/v1/chat/completions"`) })
			if line := grepLines(g.logs.String(), `"path":"/v1/chat/completions"`); !strings.Contains(line, `"completion_tokens":`) {
				t.Errorf("the gateway counted no tokens: %s", line)
			}
		})
	}
}

// OpenAI-format vendors send stream usage only when asked. With
// stream_usage on (auto for OpenAI's API and Azure) the gateway asks on the
// client's behalf, counts the tokens and hides the usage the client did not
// ask for; with it off the request goes upstream untouched and the tokens
// stay unknown.
func TestStreamUsageAskedOfOpenAIFormatVendors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		flavor      fake.Flavor
		typ         string
		streamUsage string
		options     string // the client's stream_options, if any
		asked       bool
	}{
		{"openai always", fake.OpenAI, config.TypeOpenAI, config.StreamUsageAlways, "", true},
		{"openai always, client's options kept", fake.OpenAI, config.TypeOpenAI, config.StreamUsageAlways, `{"include_obfuscation":false}`, true},
		{"openai usage refused by the client", fake.OpenAI, config.TypeOpenAI, config.StreamUsageAlways, `{"include_usage":false}`, true},
		{"azure auto", fake.Azure, config.TypeAzure, "", "", true},
		{"compatible always", fake.OpenAI, config.TypeOpenAICompatible, config.StreamUsageAlways, "", true},
		{"compatible auto", fake.OpenAI, config.TypeOpenAICompatible, "", "", false},
		{"openai never", fake.OpenAI, config.TypeOpenAI, config.StreamUsageNever, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := fake.Start(t, tc.flavor, fake.Options{})
			v := vendorOf("v", tc.typ, up.URL(), []string{"k"}, "served-model")
			v.StreamUsage = tc.streamUsage
			g := startGateway(t, configOf(config.UnknownModelsPool, v))
			opts := ""
			if tc.options != "" {
				opts = `,"stream_options":` + tc.options
			}
			sent := `{"model":"a","stream":true` + opts + `,"messages":[{"role":"user","content":"count me"}]}`
			status, _, body := post(t, g.URL+"/chat/completions", sent)
			if status != 200 || !strings.HasSuffix(body, "data: [DONE]\n\n") || strings.Contains(body, `"usage"`) {
				t.Fatalf("the client got usage it did not ask for, or no clean stream: %d\n%s", status, body)
			}
			if !strings.Contains(body, "count me") {
				t.Fatalf("no content: %s", body)
			}
			reqs := up.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d upstream requests", len(reqs))
			}
			upBody := string(reqs[0].Body)
			if got := gjson.Get(upBody, "stream_options.include_usage").Bool(); got != tc.asked {
				t.Errorf("upstream include_usage %v, want %v: %s", got, tc.asked, upBody)
			}
			if tc.options == `{"include_obfuscation":false}` && !gjson.Get(upBody, "stream_options.include_obfuscation").Exists() {
				t.Errorf("the client's stream option was lost: %s", upBody)
			}
			if !tc.asked && upBody != strings.Replace(sent, `"model":"a"`, `"model":"served-model"`, 1) {
				t.Errorf("the request was changed on its way upstream:\n%s\n%s", sent, upBody)
			}
			eventually(t, "the request's log line", func() bool { return strings.Contains(g.logs.String(), `"path":"/v1/chat/completions"`) })
			line := grepLines(g.logs.String(), `"path":"/v1/chat/completions"`)
			if counted := strings.Contains(line, `"completion_tokens":`); counted != tc.asked {
				t.Errorf("tokens counted %v, want %v: %s", counted, tc.asked, line)
			}
		})
	}
}
