/**
 * GET /api/sync/syncd-watch?workspaceId=W&cursor=N: the session's watch
 * stream (see watch-proxy.ts). The host resolves the session; syncd checks
 * that its user may read W (403 otherwise).
 */
import { defineEventHandler } from '#imports';
import { resolveSessionContext } from '~~/server/auth/session';
import { SyncdHostError } from '../../../errors';
import { proxyWatch } from '../../../watch-proxy';
import { getRegistration } from '../state';

export default defineEventHandler(async (event) => {
    const client = getRegistration()?.client;
    if (!client || !getRegistration()?.config.sync) throw new SyncdHostError(404, 'NOT_FOUND', 'syncd sync is not enabled');
    const session = await resolveSessionContext(event);
    if (!session?.user?.id) throw new SyncdHostError(401, 'UNAUTHORIZED', 'no session');
    if (!event.node) throw new SyncdHostError(500, 'SERVER_ERROR', 'no node request');
    await proxyWatch(event.node.req, event.node.res, client, session.user.id);
});
