// genrouter client example using the official openai package: a chat
// completion, a streamed completion, a tool-call round trip and the model list.
//
//   npm install && GENROUTER_URL=http://127.0.0.1:8082/v1 node index.mjs
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.GENROUTER_URL || "http://127.0.0.1:8082/v1",
  apiKey: process.env.GENROUTER_API_KEY || "unused",
});
const model = process.env.GENROUTER_MODEL || "gpt-4o-mini";

function printUsage(usage) {
  if (!usage) {
    console.log("usage: (not reported)");
    return;
  }
  console.log(
    `usage: prompt=${usage.prompt_tokens} completion=${usage.completion_tokens} total=${usage.total_tokens}`,
  );
}

async function chat() {
  const { data: completion, response } = await client.chat.completions
    .create({
      model,
      messages: [
        { role: "system", content: "You are a terse assistant." },
        { role: "user", content: "Say hello in five words." },
      ],
    })
    .withResponse();
  if (!completion.choices?.length) throw new Error("no choices in response");
  const h = response.headers;
  console.log(
    `model=${completion.model} served by ${h.get("x-genrouter-vendor")}/${h.get("x-genrouter-model")} ` +
      `credential=${h.get("x-genrouter-credential")} request=${h.get("x-request-id")}`,
  );
  console.log(completion.choices[0].message.content);
  printUsage(completion.usage);
}

async function stream() {
  const s = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Count from 1 to 5." }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let chunks = 0;
  let usage = null;
  for await (const chunk of s) {
    chunks++;
    for (const choice of chunk.choices) {
      process.stdout.write(choice.delta?.content ?? "");
    }
    if (chunk.usage) usage = chunk.usage;
  }
  process.stdout.write("\n");
  if (chunks === 0) throw new Error("stream ended without chunks");
  printUsage(usage);
}

async function tools() {
  const messages = [
    { role: "user", content: "What is the weather in Paris? Use the get_weather tool." },
  ];
  const toolDefs = [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "Get the current weather for a city.",
        parameters: {
          type: "object",
          properties: { city: { type: "string", description: "City name" } },
          required: ["city"],
        },
      },
    },
  ];

  const first = await client.chat.completions.create({ model, messages, tools: toolDefs });
  const msg = first.choices?.[0]?.message;
  if (!msg) throw new Error("no choices in response");
  if (!msg.tool_calls?.length) {
    throw new Error(`model did not call the tool; it said: ${JSON.stringify(msg.content)}`);
  }

  messages.push({ role: "assistant", content: msg.content, tool_calls: msg.tool_calls });
  for (const call of msg.tool_calls) {
    console.log(`tool call: ${call.function.name}(${call.function.arguments})`);
    const args = JSON.parse(call.function.arguments || "{}");
    messages.push({
      role: "tool",
      tool_call_id: call.id,
      content: JSON.stringify({ city: args.city, temperature_c: 18, conditions: "partly cloudy" }),
    });
  }

  const final = await client.chat.completions.create({ model, messages, tools: toolDefs });
  if (!final.choices?.length) throw new Error("no choices in final response");
  console.log("answer:", final.choices[0].message.content);
}

async function models() {
  const page = await client.models.list();
  for (const m of page.data) {
    console.log(`${m.id} (owned by ${m.owned_by})`);
  }
  console.log(`${page.data.length} models`);
}

const steps = { chat, stream, tools, models };
try {
  for (const [name, fn] of Object.entries(steps)) {
    console.log(`== ${name}`);
    await fn();
  }
} catch (err) {
  console.error("error:", err?.message ?? err);
  process.exit(1);
}
