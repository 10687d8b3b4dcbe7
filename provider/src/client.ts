/**
 * A small HTTP client for syncd (shared/spec/api.md): the service token
 * on every call, the acting user in X-Syncd-User, a timeout on every call
 * (AbortSignal.timeout), and the error mapping of errors.ts.
 */
import { SyncdHostError, badGateway, unavailable } from './errors';

/** The protocol this package speaks (`GET /v1/version` → `{protocol}`). */
export const PROTOCOL = 1;

export interface SyncdClientOptions {
    /** Base URL syncd listens on, e.g. http://127.0.0.1:7420 (OR3_SYNCD_URL). */
    url: string;
    /** The service token (OR3_SYNCD_TOKEN). */
    token: string;
    /** Per-call timeout in ms (default 10 s; OR3_SYNCD_TIMEOUT_MS). */
    timeoutMs?: number;
    /** fetch to use (tests); default globalThis.fetch. */
    fetch?: typeof fetch;
}

export interface RequestOptions {
    method?: 'GET' | 'POST';
    body?: unknown;
    /** The acting user (X-Syncd-User). */
    user?: string;
    query?: Record<string, string | number | undefined>;
    timeoutMs?: number;
    /** Expect an object answer (default true); false accepts any JSON. */
    expectObject?: boolean;
    /** Extra request headers. */
    headers?: Record<string, string>;
}

export class SyncdClient {
    readonly url: string;
    readonly timeoutMs: number;
    private readonly token: string;
    private readonly fetchImpl: typeof fetch;
    /** Set by checkVersion: a protocol mismatch fails every later call. */
    private versionError: SyncdHostError | null = null;
    /** The version check every call waits for (once; retried after a transport failure). */
    private verified: Promise<unknown> | null = null;

    constructor(opts: SyncdClientOptions) {
        if (!opts.url) throw new Error('or3-provider-syncd: OR3_SYNCD_URL is not set');
        this.url = opts.url.replace(/\/+$/, '');
        this.token = opts.token ?? '';
        this.timeoutMs = opts.timeoutMs ?? 10_000;
        this.fetchImpl = opts.fetch ?? ((...a) => globalThis.fetch(...a));
    }

    /** The headers of an authenticated call. */
    headers(user?: string, extra?: Record<string, string>): Record<string, string> {
        const h: Record<string, string> = { authorization: `Bearer ${this.token}`, ...extra };
        if (user) h['x-syncd-user'] = user;
        return h;
    }

    /**
     * GET /v1/version; rejects (and fails every later call with 503) when
     * syncd speaks another protocol. Unreachable syncd rejects with 503 but
     * does not latch: the check can run again.
     */
    async checkVersion(): Promise<{ protocol: number; version?: string }> {
        const v = await this.request<{ protocol?: unknown; version?: string }>('/v1/version', { method: 'GET', skipVersionCheck: true } as RequestOptions);
        if (v.protocol !== PROTOCOL) {
            this.versionError = new SyncdHostError(
                503,
                'PROTOCOL_MISMATCH',
                `syncd at ${this.url} speaks protocol ${JSON.stringify(v.protocol)}; or3-provider-syncd needs protocol ${PROTOCOL}`,
            );
            throw this.versionError;
        }
        return { protocol: v.protocol as number, version: v.version };
    }

    /**
     * Resolves once syncd's protocol is known to match; rejects with the
     * mismatch (latched) or with 503 while syncd is unreachable (retried by
     * the next call).
     */
    ensureVersion(): Promise<unknown> {
        if (this.versionError) return Promise.reject(this.versionError);
        if (!this.verified) {
            this.verified = this.checkVersion().catch((e) => {
                if (!this.versionError) this.verified = null;
                throw e;
            });
        }
        return this.verified;
    }

    /** A JSON call. Resolves to the parsed answer; rejects with SyncdHostError. */
    async request<T = any>(path: string, opts: RequestOptions = {}): Promise<T> {
        if (!(opts as { skipVersionCheck?: boolean }).skipVersionCheck) await this.ensureVersion();
        const res = await this.send(path, opts, undefined, opts.headers);
        const text = await this.readText(res, path, opts.timeoutMs);
        if (!res.ok) throw errorFromResponse(res, text, path);
        let body: unknown;
        try {
            body = text === '' ? null : JSON.parse(text);
        } catch {
            throw badGateway(`syncd ${path}: the answer is not JSON`);
        }
        if ((opts.expectObject ?? true) && (body === null || typeof body !== 'object' || Array.isArray(body))) {
            throw badGateway(`syncd ${path}: expected a JSON object`);
        }
        return body as T;
    }

    /**
     * A raw call (streams, blobs): the Response, or a SyncdHostError for a
     * non-2xx answer. No timeout on the body, only on the answer's head;
     * `signal` ends the call.
     */
    async stream(path: string, opts: RequestOptions & { signal?: AbortSignal } = {}): Promise<Response> {
        await this.ensureVersion();
        const head = new AbortController();
        const timer = setTimeout(() => head.abort(new DOMException('timeout', 'TimeoutError')), opts.timeoutMs ?? this.timeoutMs);
        const signal = opts.signal ? AbortSignal.any([opts.signal, head.signal]) : head.signal;
        try {
            const res = await this.send(path, { ...opts }, signal, opts.headers);
            if (!res.ok) throw errorFromResponse(res, await res.text().catch(() => ''), path);
            return res;
        } finally {
            clearTimeout(timer);
        }
    }

    /** POST /v1/rpc/{store}.{method} with the argument array; the result. */
    async rpc<T = any>(store: string, method: string, args: unknown[]): Promise<T> {
        // Trailing undefined arguments become nulls in JSON; syncd ignores them.
        const path = `/v1/rpc/${store}.${method}`;
        const env = await this.request<{ ok?: unknown; result?: T; error?: unknown }>(path, { body: args });
        if (env.ok !== true || !('result' in env)) throw badGateway(`syncd ${path}: not an RPC envelope`);
        return env.result as T;
    }

    private async send(path: string, opts: RequestOptions, signal?: AbortSignal, extra?: Record<string, string>): Promise<Response> {
        const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
        let url = this.url + path;
        if (opts.query) {
            const q = new URLSearchParams();
            for (const [k, v] of Object.entries(opts.query)) if (v !== undefined) q.set(k, String(v));
            url += (url.includes('?') ? '&' : '?') + q.toString();
        }
        const headers = this.headers(opts.user, extra);
        if (opts.body !== undefined) headers['content-type'] = 'application/json';
        try {
            return await this.fetchImpl(url, {
                method,
                headers,
                body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
                signal: signal ?? AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs),
            });
        } catch (e) {
            throw transportError(e, this.url, path, opts.timeoutMs ?? this.timeoutMs);
        }
    }

    private async readText(res: Response, path: string, timeoutMs?: number): Promise<string> {
        try {
            return await res.text();
        } catch (e) {
            throw transportError(e, this.url, path, timeoutMs ?? this.timeoutMs);
        }
    }
}

function transportError(e: unknown, base: string, path: string, timeoutMs: number): SyncdHostError {
    if (e instanceof SyncdHostError) return e;
    const name = (e as { name?: string })?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
        return unavailable(`syncd at ${base} did not answer ${path} within ${timeoutMs} ms`, e);
    }
    const cause = (e as { cause?: { code?: string } })?.cause?.code;
    return unavailable(`syncd at ${base} is unreachable${cause ? ` (${cause})` : ''}`, e);
}

/** The host error for a non-2xx syncd answer (api.md "Errors" and the RPC envelope). */
export function errorFromResponse(res: Response, text: string, path: string): SyncdHostError {
    let code = '';
    let message = '';
    try {
        const b = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
        if (b && typeof b === 'object' && b.error && typeof b.error === 'object') {
            if (typeof b.error.code === 'string') code = b.error.code;
            if (typeof b.error.message === 'string') message = b.error.message;
        }
    } catch {
        // not JSON: keep the status
    }
    const status = res.status >= 400 && res.status <= 599 ? res.status : 502;
    if (status === 502 && !(res.status >= 400)) return badGateway(`syncd ${path}: unexpected status ${res.status}`);
    const ra = res.headers.get('retry-after');
    const retryAfterMs = ra && Number.isFinite(Number(ra)) ? Math.ceil(Number(ra) * 1000) : undefined;
    return new SyncdHostError(status, code || defaultCode(status), message || `syncd ${path} failed with ${status}`, { retryAfterMs });
}

function defaultCode(status: number): string {
    switch (status) {
        case 400: return 'VALIDATION_ERROR';
        case 401: return 'UNAUTHORIZED';
        case 403: return 'FORBIDDEN';
        case 404: return 'NOT_FOUND';
        case 409: return 'CONFLICT';
        case 410: return 'GONE';
        case 413: return 'OVERSIZED';
        case 429: return 'RATE_LIMITED';
        case 503: return 'UNAVAILABLE';
        default: return status >= 500 ? 'SERVER_ERROR' : 'VALIDATION_ERROR';
    }
}
