/** The two decoders of untrusted bytes: the SSE reader and the syncd error body. */
import { describe, expect, it } from 'vitest';
import { errorFromResponse } from '../src/client';
import { readSse, type SseEvent } from '../src/sse';

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
    return new ReadableStream({
        start(c) {
            for (const ch of chunks) c.enqueue(ch);
            c.close();
        },
    });
}

// A small deterministic PRNG (mulberry32) so failures reproduce.
function rng(seed: number) {
    return () => {
        seed |= 0;
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

describe('readSse', () => {
    it('decodes the same events however the bytes are split (random splits, CRLF/LF, comments, multi-line data, UTF-8)', async () => {
        for (let seed = 1; seed <= 200; seed++) {
            const r = rng(seed);
            const nl = r() < 0.5 ? '\n' : '\r\n';
            const want: SseEvent[] = [];
            let text = `: hello${nl}${nl}`;
            const n = 1 + Math.floor(r() * 8);
            for (let i = 0; i < n; i++) {
                const data = [`{"v":${i},"s":"é✓${'x'.repeat(Math.floor(r() * 50))}"}`];
                if (r() < 0.3) data.push('second line');
                const ev = r() < 0.2 ? 'requiresSnapshot' : '';
                text += `id: ${i + 1}${nl}`;
                if (ev) text += `event: ${ev}${nl}`;
                for (const d of data) text += `data: ${d}${nl}`;
                if (r() < 0.3) text += `: keep-alive${nl}`;
                text += nl;
                want.push({ event: ev || 'message', data: data.join('\n'), id: String(i + 1) });
            }
            const bytes = new TextEncoder().encode(text);
            const chunks: Uint8Array[] = [];
            for (let at = 0; at < bytes.length; ) {
                const len = 1 + Math.floor(r() * 20);
                chunks.push(bytes.slice(at, at + len));
                at += len;
            }
            const got: SseEvent[] = [];
            await readSse(streamOf(chunks), (e) => got.push(e));
            expect(got, `seed ${seed}`).toEqual(want);
        }
    });

    it('ignores an unterminated last event and arbitrary garbage without throwing', async () => {
        const got: SseEvent[] = [];
        await readSse(streamOf([new TextEncoder().encode('data: a\n\nnonsense\u0000\xff\ndata: b')]), (e) => got.push(e));
        expect(got.map((e) => e.data)).toEqual(['a']);
    });
});

describe('errorFromResponse', () => {
    const res = (status: number, headers: Record<string, string> = {}) => new Response(null, { status, headers });
    it('keeps status, code and message of a syncd error body', () => {
        const e = errorFromResponse(res(409), '{"error":{"code":"CONFLICT","message":"lease lost"}}', '/p');
        expect(e).toMatchObject({ statusCode: 409, code: 'CONFLICT', message: 'lease lost' });
        const rpc = errorFromResponse(res(429, { 'retry-after': '2' }), '{"ok":false,"error":{"status":429,"code":"RATE_LIMITED","message":"busy"}}', '/p');
        expect(rpc).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED', retryAfterMs: 2000 });
    });
    it('survives any body', () => {
        const r = rng(7);
        for (let i = 0; i < 500; i++) {
            const body = Array.from({ length: Math.floor(r() * 40) }, () => String.fromCharCode(Math.floor(r() * 128))).join('');
            const status = 400 + Math.floor(r() * 200);
            const e = errorFromResponse(res(status), r() < 0.5 ? body : `{"error":${body}}`, '/p');
            expect(e.statusCode).toBe(status);
            expect(typeof e.code).toBe('string');
            expect(e.statusMessage.length).toBeLessThanOrEqual(200);
        }
    });
});
