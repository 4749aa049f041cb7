// useChat's pipeline without React: the AI SDK's own AbstractChat with DefaultChatTransport,
// which posts the conversation, parses the SSE (parseJsonEventStream), validates every chunk
// against uiMessageChunkSchema and assembles the assistant UIMessage (processUIMessageStream).
// The message that comes out is validated again with the SDK's validateUIMessages.
//
// node chat.mjs URL TEXT  ->  one JSON line: {status, error, errors, messages}
import { AbstractChat, DefaultChatTransport, validateUIMessages } from "ai";

class State {
  status = "ready";
  error = undefined;
  messages = [];
  pushMessage = (message) => { this.messages = this.messages.concat(message); };
  popMessage = () => { this.messages = this.messages.slice(0, -1); };
  replaceMessage = (index, message) => {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)];
  };
  snapshot = (value) => structuredClone(value);
}

class Chat extends AbstractChat {
  constructor(init) {
    super({ ...init, state: new State() });
  }
}

const [url, text] = process.argv.slice(2);
const errors = [];
const chat = new Chat({
  transport: new DefaultChatTransport({ api: url }),
  onError: (error) => errors.push(String(error.message ?? error)),
});
await chat.sendMessage({ text });
let invalid = null;
try {
  await validateUIMessages({ messages: chat.messages });
} catch (error) {
  invalid = String(error.message ?? error);
}
console.log(JSON.stringify({
  status: chat.status,
  error: chat.error ? String(chat.error.message) : null,
  errors,
  invalid,
  messages: chat.messages,
}));
