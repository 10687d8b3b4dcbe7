/** A Server-Sent Events reader over a fetch body (browsers and Node 20 alike). */
export interface SseEvent {
    event: string;
    data: string;
    id?: string;
}

export async function readSse(body: ReadableStream<Uint8Array>, onEvent: (ev: SseEvent) => void, signal?: AbortSignal): Promise<void> {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let ev: SseEvent = { event: '', data: '' };
    let hasData = false;
    const onAbort = () => void reader.cancel().catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            buf += dec.decode(value, { stream: true });
            let nl: number;
            while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
                // A CR at the end of the buffer may be the first half of a CRLF split across chunks.
                if (buf[nl] === '\r' && nl === buf.length - 1) break;
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
                if (line === '') {
                    if (hasData || ev.event) onEvent({ ...ev, event: ev.event || 'message' });
                    ev = { event: '', data: '', id: ev.id };
                    hasData = false;
                    continue;
                }
                if (line.startsWith(':')) continue;
                const c = line.indexOf(':');
                const field = c < 0 ? line : line.slice(0, c);
                const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
                if (field === 'data') {
                    ev.data = hasData ? `${ev.data}\n${val}` : val;
                    hasData = true;
                } else if (field === 'event') ev.event = val;
                else if (field === 'id') ev.id = val;
            }
        }
    } finally {
        signal?.removeEventListener('abort', onAbort);
        reader.releaseLock();
    }
}
