// AG-UI's own TypeScript client: HttpAgent posts a RunAgentInput, parses the SSE, validates every
// event against @ag-ui/core's schemas, checks their order (verifyEvents: a run starts with
// RUN_STARTED, nothing is left open at RUN_FINISHED...) and applies them to its messages.
//
// node agui.mjs URL TEXT...  ->  one JSON line: {error, runError, result, events, messages}
// Each TEXT is a run of its own (run-1, run-2...), sent with the whole conversation so far.
import { HttpAgent } from "@ag-ui/client";

const [url, ...texts] = process.argv.slice(2);
const agent = new HttpAgent({ url, threadId: "thread-1" });
const events = [];
let result = null;
let error = null;
let runError = null;
try {
  for (const [i, text] of texts.entries()) {
    agent.messages = [...agent.messages, { id: `user-${i + 1}`, role: "user", content: text }];
    ({ result } = await agent.runAgent(
      { runId: `run-${i + 1}` },
      {
        onEvent: ({ event }) => { events.push(event.type); },
        onRunErrorEvent: ({ event }) => { runError = { message: event.message, code: event.code }; },
      },
    ));
  }
} catch (failure) {
  error = String(failure.message ?? failure);
}
console.log(JSON.stringify({ error, runError, result, events, messages: agent.messages }));
