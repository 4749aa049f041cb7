// useChat's pipeline without React: the AI SDK's own AbstractChat with DefaultChatTransport,
// which posts the conversation, parses the SSE (parseJsonEventStream), validates every chunk
// against uiMessageChunkSchema and assembles the assistant UIMessage (processUIMessageStream).
// The message that comes out is validated again with the SDK's validateUIMessages, where the
// release has it (5.0.0 has not).
//
// node chat.mjs PACKAGE URL TEXT...  ->  one JSON line: {status, error, errors, invalid, messages}
// Each TEXT is sent in turn, as a user types them: the second goes with the whole conversation.
// PACKAGE is "ai" (the current release) or "ai-5.0.0" (the first with this stream, whose
// schemas refuse any field they do not name).
const [pkg, url, ...texts] = process.argv.slice(2);
const { AbstractChat, DefaultChatTransport, validateUIMessages } = await import(pkg);

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

const errors = [];
const chat = new Chat({
  transport: new DefaultChatTransport({ api: url }),
  onError: (error) => errors.push(String(error.message ?? error)),
});
for (const text of texts) {
  await chat.sendMessage({ text });
  if (chat.status === "error") break;
}
let invalid = validateUIMessages ? null : "not validated";
try {
  if (validateUIMessages) await validateUIMessages({ messages: chat.messages });
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
