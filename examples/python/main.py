"""genrouter client example using the official openai package: a chat
completion, a streamed completion, a tool-call round trip and the model list.

    pip install -r requirements.txt
    GENROUTER_URL=http://127.0.0.1:8082/v1 python main.py
"""

import json
import os
import sys

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("GENROUTER_URL") or "http://127.0.0.1:8082/v1",
    api_key=os.environ.get("GENROUTER_API_KEY") or "unused",
)
MODEL = os.environ.get("GENROUTER_MODEL") or "gpt-4o-mini"


def print_usage(usage):
    if usage is None:
        print("usage: (not reported)")
        return
    print(
        f"usage: prompt={usage.prompt_tokens} "
        f"completion={usage.completion_tokens} total={usage.total_tokens}"
    )


def chat():
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hello in five words."},
        ],
    )
    completion = raw.parse()
    if not completion.choices:
        raise RuntimeError("no choices in response")
    h = raw.headers
    print(
        f"model={completion.model} served by "
        f"{h.get('x-genrouter-vendor')}/{h.get('x-genrouter-model')} "
        f"credential={h.get('x-genrouter-credential')} request={h.get('x-request-id')}"
    )
    print(completion.choices[0].message.content)
    print_usage(completion.usage)


def stream():
    chunks = 0
    usage = None
    with client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count from 1 to 5."}],
        stream=True,
        stream_options={"include_usage": True},
    ) as s:
        for chunk in s:
            chunks += 1
            for choice in chunk.choices:
                print(choice.delta.content or "", end="", flush=True)
            if chunk.usage is not None:
                usage = chunk.usage
    print()
    if chunks == 0:
        raise RuntimeError("stream ended without chunks")
    print_usage(usage)


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
            },
        },
    }
]


def tools():
    messages = [
        {"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}
    ]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    if not first.choices:
        raise RuntimeError("no choices in response")
    msg = first.choices[0].message
    if not msg.tool_calls:
        raise RuntimeError(f"model did not call the tool; it said: {msg.content!r}")

    messages.append(
        {
            "role": "assistant",
            "content": msg.content,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in msg.tool_calls
            ],
        }
    )
    for call in msg.tool_calls:
        print(f"tool call: {call.function.name}({call.function.arguments})")
        args = json.loads(call.function.arguments or "{}")
        result = {"city": args.get("city"), "temperature_c": 18, "conditions": "partly cloudy"}
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})

    final = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    if not final.choices:
        raise RuntimeError("no choices in final response")
    print("answer:", final.choices[0].message.content)


def models():
    page = client.models.list()
    for m in page.data:
        print(f"{m.id} (owned by {m.owned_by})")
    print(f"{len(page.data)} models")


def main():
    for name, fn in (("chat", chat), ("stream", stream), ("tools", tools), ("models", models)):
        print(f"== {name}")
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - report any failure and exit non-zero
            print(f"error: {name}: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
