/**
 * Errors the host sees. SyncdHostError is structurally an h3 `H3Error`
 * (static `__h3_error__`, `statusCode`, `statusMessage`, `data`), so the
 * host's error handler answers with its status, exactly as for
 * `createError({ statusCode })`.
 *
 * Mapping (issue 12, "Bad input"):
 * - syncd answered 4xx/5xx with an error body → the same status, syncd's
 *   code and message;
 * - syncd unreachable or timed out → 503 UNAVAILABLE;
 * - syncd answered something that is not the documented shape → 502.
 */
export class SyncdHostError extends Error {
    static __h3_error__ = true;
    statusCode: number;
    statusMessage: string;
    /** The api.md error code (VALIDATION_ERROR, CONFLICT, ...). */
    code: string;
    data: { code: string; provider: 'syncd'; retryAfterMs?: number };
    fatal = false;
    unhandled = false;
    retryAfterMs?: number;

    constructor(statusCode: number, code: string, message: string, opts: { retryAfterMs?: number; cause?: unknown } = {}) {
        super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
        this.name = 'SyncdHostError';
        this.statusCode = statusCode;
        this.statusMessage = message.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200);
        this.code = code;
        this.retryAfterMs = opts.retryAfterMs;
        this.data = { code, provider: 'syncd', ...(opts.retryAfterMs !== undefined ? { retryAfterMs: opts.retryAfterMs } : {}) };
    }

    toJSON() {
        return { statusCode: this.statusCode, statusMessage: this.statusMessage, message: this.message, data: this.data };
    }
}

export function isSyncdHostError(e: unknown): e is SyncdHostError {
    return e instanceof SyncdHostError;
}

export const unavailable = (message: string, cause?: unknown) => new SyncdHostError(503, 'UNAVAILABLE', message, { cause });
export const badGateway = (message: string) => new SyncdHostError(502, 'BAD_GATEWAY', message);
