// Command go is a genrouter client example using the official OpenAI Go SDK:
// a chat completion, a streamed completion, a tool-call round trip and the
// model list.
//
//	GENROUTER_URL=http://127.0.0.1:8082/v1 go run ./examples/go
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	client := openai.NewClient(
		option.WithBaseURL(env("GENROUTER_URL", "http://127.0.0.1:8082/v1")),
		option.WithAPIKey(env("GENROUTER_API_KEY", "unused")),
	)
	model := env("GENROUTER_MODEL", "gpt-4o-mini")

	steps := []struct {
		name string
		fn   func(context.Context, openai.Client, string) error
	}{
		{"chat", chat},
		{"stream", stream},
		{"tools", tools},
		{"models", models},
	}
	for _, s := range steps {
		fmt.Printf("== %s\n", s.name)
		if err := s.fn(ctx, client, model); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// chat sends one plain chat completion and prints which vendor served it.
func chat(ctx context.Context, client openai.Client, model string) error {
	var resp *http.Response
	completion, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are a terse assistant."),
			openai.UserMessage("Say hello in five words."),
		},
	}, option.WithResponseInto(&resp))
	if err != nil {
		return err
	}
	if len(completion.Choices) == 0 {
		return errors.New("no choices in response")
	}
	fmt.Printf("model=%s served by %s/%s credential=%s request=%s\n",
		completion.Model, resp.Header.Get("X-Genrouter-Vendor"), resp.Header.Get("X-Genrouter-Model"),
		resp.Header.Get("X-Genrouter-Credential"), resp.Header.Get("X-Request-Id"))
	fmt.Println(completion.Choices[0].Message.Content)
	fmt.Printf("usage: prompt=%d completion=%d total=%d\n",
		completion.Usage.PromptTokens, completion.Usage.CompletionTokens, completion.Usage.TotalTokens)
	return nil
}

// stream prints content deltas as they arrive, then the usage chunk.
func stream(ctx context.Context, client openai.Client, model string) error {
	s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         model,
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Count from 1 to 5.")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer s.Close()

	chunks := 0
	var usage *openai.CompletionUsage
	for s.Next() {
		chunk := s.Current()
		chunks++
		for _, c := range chunk.Choices {
			fmt.Print(c.Delta.Content)
		}
		if chunk.JSON.Usage.Valid() {
			u := chunk.Usage
			usage = &u
		}
	}
	fmt.Println()
	if err := s.Err(); err != nil {
		return err
	}
	if chunks == 0 {
		return errors.New("stream ended without chunks")
	}
	if usage == nil {
		fmt.Println("usage: (not reported)")
	} else {
		fmt.Printf("usage: prompt=%d completion=%d total=%d\n",
			usage.PromptTokens, usage.CompletionTokens, usage.TotalTokens)
	}
	return nil
}

// tools offers a get_weather tool, answers the model's call and prints the
// final answer.
func tools(ctx context.Context, client openai.Client, model string) error {
	params := openai.ChatCompletionNewParams{
		Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("What is the weather in Paris? Use the get_weather tool."),
		},
		Tools: []openai.ChatCompletionToolUnionParam{
			openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
				Name:        "get_weather",
				Description: openai.String("Get the current weather for a city."),
				Parameters: openai.FunctionParameters{
					"type": "object",
					"properties": map[string]any{
						"city": map[string]any{"type": "string", "description": "City name"},
					},
					"required": []string{"city"},
				},
			}),
		},
	}

	first, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		return err
	}
	if len(first.Choices) == 0 {
		return errors.New("no choices in response")
	}
	msg := first.Choices[0].Message
	if len(msg.ToolCalls) == 0 {
		return fmt.Errorf("model did not call the tool; it said: %q", msg.Content)
	}

	// Echo the assistant turn with only the fields every vendor accepts.
	assistant := openai.ChatCompletionAssistantMessageParam{}
	if msg.Content != "" {
		assistant.Content.OfString = openai.String(msg.Content)
	}
	for _, call := range msg.ToolCalls {
		assistant.ToolCalls = append(assistant.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
			OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID: call.ID,
				Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{
					Name:      call.Function.Name,
					Arguments: call.Function.Arguments,
				},
			},
		})
	}
	params.Messages = append(params.Messages, openai.ChatCompletionMessageParamUnion{OfAssistant: &assistant})
	for _, call := range msg.ToolCalls {
		fmt.Printf("tool call: %s(%s)\n", call.Function.Name, call.Function.Arguments)
		var args struct {
			City string `json:"city"`
		}
		if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil {
			return fmt.Errorf("tool arguments: %w", err)
		}
		result, _ := json.Marshal(map[string]any{"city": args.City, "temperature_c": 18, "conditions": "partly cloudy"})
		params.Messages = append(params.Messages, openai.ToolMessage(string(result), call.ID))
	}

	final, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		return err
	}
	if len(final.Choices) == 0 {
		return errors.New("no choices in final response")
	}
	fmt.Println("answer:", final.Choices[0].Message.Content)
	return nil
}

// models lists what the gateway serves.
func models(ctx context.Context, client openai.Client, _ string) error {
	page, err := client.Models.List(ctx)
	if err != nil {
		return err
	}
	for _, m := range page.Data {
		fmt.Printf("%s (owned by %s)\n", m.ID, m.OwnedBy)
	}
	fmt.Printf("%d models\n", len(page.Data))
	return nil
}
