// Server-sent events as the WHATWG HTML standard defines their parsing (§9.2.6), over a fetch
// body: the CLI follows a deployment with it, and the tests read the API's streams with it.

export interface SseMessage {
  /** The `event:` field; `message` when none was given. */
  event: string;
  data: string;
  /** The last `id:` seen so far in the stream (it carries over to later events). */
  id?: string;
}

export type SseItem = SseMessage | { comment: string } | { retry: number };

/** Feeds text in, takes parsed items out; line endings CRLF, LF or CR. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private lastId: string | undefined;
  private sawCr = false;

  push(text: string): SseItem[] {
    const items: SseItem[] = [];
    let chunk = text;
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.sawCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.sawCr = false;
    this.buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      if (match[0] === '\r' && match.index === this.buffer.length - 1) {
        this.sawCr = true;
      }
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const item = this.line(line);
      if (item) items.push(item);
    }
    return items;
  }

  private line(line: string): SseItem | undefined {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return undefined;
      }
      const message: SseMessage = { event: this.event || 'message', data: this.data.join('\n'), id: this.lastId };
      this.data = [];
      this.event = '';
      return message;
    }
    if (line.startsWith(':')) return { comment: line.slice(1).trimStart() };
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) return { retry: Number(value) };
        break;
      default:
        break;
    }
    return undefined;
  }
}

/** The items of an event stream's body, as they arrive. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseItem> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const item of parser.push(decoder.decode(value, { stream: true }))) yield item;
    }
    for (const item of parser.push(decoder.decode())) yield item;
  } finally {
    // Left early (the caller stopped reading): the connection is closed, not left open.
    await reader.cancel().catch(() => undefined);
  }
}
