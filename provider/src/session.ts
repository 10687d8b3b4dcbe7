import type { H3EventLike } from './host-types';

/** The prefix under which the host caches the resolved session on event.context. */
export const SESSION_CONTEXT_PREFIX = '__or3_session_context_';

export interface SessionIdentity {
    userId?: string;
    workspaceId?: string;
}

/**
 * The session's user and workspace as the host resolved them
 * (`resolveSessionContext(event)` caches its answer on event.context under
 * `__or3_session_context_*`, which is what the sqlite provider reads too).
 */
export function sessionOf(event: H3EventLike | undefined | null): SessionIdentity {
    const ctx = event?.context;
    if (!ctx) return {};
    for (const key of Object.keys(ctx)) {
        if (!key.startsWith(SESSION_CONTEXT_PREFIX)) continue;
        const s = ctx[key] as { user?: { id?: unknown } | null; workspace?: { id?: unknown } | null } | null;
        if (s && typeof s === 'object' && s.user && typeof s.user.id === 'string') {
            return {
                userId: s.user.id,
                workspaceId: s.workspace && typeof s.workspace.id === 'string' ? s.workspace.id : undefined,
            };
        }
    }
    return {};
}

/** A minimal event carrying a session, for host code paths (and tests) that have none. */
export function eventFor(userId: string, workspaceId?: string): H3EventLike {
    return { context: { [`${SESSION_CONTEXT_PREFIX}syncd`]: { user: { id: userId }, workspace: workspaceId ? { id: workspaceId } : null } } };
}
