/**
 * Nitro plugin: registers the syncd adapters into the host registries,
 * synchronously, then checks syncd's protocol. A syncd that speaks another
 * protocol stops the server (refuses to start); an unreachable one is
 * logged, every call answers 503 until it is reachable, and the check runs
 * again on the next call.
 */
import { registerAuthWorkspaceStore } from '~~/server/auth/store/registry';
import { registerSyncGatewayAdapter } from '~~/server/sync/gateway/registry';
import { registerStorageGatewayAdapter } from '~~/server/storage/gateway/registry';
import { registerWebhookStore } from '~~/server/utils/webhooks/store/registry';
import { registerAdminStoreProvider } from '~~/server/admin/stores/registry';
import { registerProviderAdminAdapter } from '~~/server/admin/providers/registry';
import { registerRateLimitProvider } from '~~/server/utils/rate-limit/registry';
import { registerBackgroundJobProvider } from '~~/server/utils/background-jobs/registry';
import { registerNotificationEmitter } from '~~/server/utils/notifications/registry';
import { registerDeploymentAdminChecker } from '~~/server/auth/deployment-admin';
import { defineNitroPlugin, useRuntimeConfig } from '#imports';
import { checkStartup, registerSyncd } from '../../../register';
import { setRegistration } from '../state';

export default defineNitroPlugin(() => {
    const reg = registerSyncd(
        {
            registerAuthWorkspaceStore,
            registerSyncGatewayAdapter,
            registerStorageGatewayAdapter,
            registerWebhookStore,
            registerAdminStoreProvider,
            registerProviderAdminAdapter,
            registerRateLimitProvider,
            registerBackgroundJobProvider,
            registerNotificationEmitter,
            registerDeploymentAdminChecker,
        },
        useRuntimeConfig(),
    );
    setRegistration(reg);
    // Registration above is synchronous; the protocol check runs after it.
    if (process.env.OR3_SYNCD_ALLOW_PROTOCOL_MISMATCH === '1') void checkStartup(reg, () => {});
    else void checkStartup(reg);
});
