package server

import (
	"context"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
)

// A tool loop with reasoning on Claude: OpenAI clients never send back
// Anthropic's signed thinking blocks (and /v1/messages drops the ones its
// clients send), so the second request of every tool loop would carry a
// final assistant turn of tool_use alone, which Anthropic refuses while
// thinking is enabled. The gateway must not enable thinking then.
func TestAnthropicReasoningToolLoop(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "non-stream"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			g, up := oneVendor(t, fake.Anthropic, config.TypeAnthropic, false)
			c := sdk(g)
			params := openai.ChatCompletionNewParams{
				Model:           "my-alias",
				Messages:        []openai.ChatCompletionMessageParamUnion{openai.UserMessage(`weather? args={"city":"Paris"}`)},
				Tools:           weatherTools,
				ReasoningEffort: shared.ReasoningEffortLow,
			}
			params.Messages = answerOneToolCall(t, c, params, "18C and sunny")
			var answer string
			if stream {
				s := c.Chat.Completions.NewStreaming(context.Background(), params)
				acc := openai.ChatCompletionAccumulator{}
				for s.Next() {
					acc.AddChunk(s.Current())
				}
				if err := s.Err(); err != nil {
					t.Fatalf("second request (the tool result): %v", err)
				}
				answer = acc.Choices[0].Message.Content
			} else {
				second, err := c.Chat.Completions.New(context.Background(), params)
				if err != nil {
					t.Fatalf("second request (the tool result): %v", err)
				}
				answer = second.Choices[0].Message.Content
			}
			if !strings.Contains(answer, "18C and sunny") {
				t.Errorf("final answer %q", answer)
			}
			// A new user question after a finished tool loop thinks again.
			params.Messages = append(params.Messages, openai.AssistantMessage(answer), openai.UserMessage("thanks"))
			if _, err := c.Chat.Completions.New(context.Background(), params); err != nil {
				t.Fatal(err)
			}
			if sent := upstreamBody(t, up, 2); sent["thinking"] == nil {
				t.Errorf("thinking was not asked for after the tool loop ended: %v", sent)
			}
		})
	}
}

// The same loop through /v1/messages with the Anthropic SDK, which sends
// its thinking blocks back: they are signed for Anthropic only and are
// dropped on the way, so a Claude vendor must serve the turn without
// thinking rather than refuse it.
func TestMessagesThinkingToolLoopOnClaude(t *testing.T) {
	g, _ := messagesGateway(t, fake.Anthropic, config.TypeAnthropic)
	c := claude(g)
	params := anthropic.MessageNewParams{
		Model: "claude-alias", MaxTokens: 4096, Tools: claudeTools,
		Thinking: anthropic.ThinkingConfigParamOfEnabled(2048),
		Messages: userText(`What is the weather? args={"city":"Paris"}`),
	}
	first, err := c.Messages.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if first.StopReason != anthropic.StopReasonToolUse {
		t.Fatalf("first answer: stop %q content %+v", first.StopReason, first.Content)
	}
	var id string
	for _, b := range first.Content {
		if b.Type == "tool_use" {
			id = b.ID
		}
	}
	params.Messages = append(params.Messages, first.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(id, "18C and sunny", false)))
	second, err := c.Messages.New(context.Background(), params)
	if err != nil {
		t.Fatalf("second request (the tool result): %v", err)
	}
	if second.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("second answer: stop %q content %+v", second.StopReason, second.Content)
	}
}
