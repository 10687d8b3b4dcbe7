/**
 * or3-provider-syncd: the Nuxt module. It adds one server plugin (the
 * adapter registration), the watch route the client plugin streams from,
 * and the client plugin. Structural (no @nuxt/kit dependency): Nuxt
 * accepts a module function with getMeta/getOptions.
 */
import { fileURLToPath } from 'node:url';
import type { NuxtLike } from './host-types';
import { WATCH_ROUTE } from './watch-proxy';

const resolve = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export const meta = { name: 'or3-provider-syncd', configKey: 'syncd', compatibility: { nuxt: '>=3.0.0' } };

function or3ProviderSyncd(_inlineOptions: Record<string, unknown> | undefined, nuxt: NuxtLike): void {
    nuxt.hook('nitro:config', (config) => {
        config.plugins ??= [];
        config.plugins.push(resolve('./runtime/server/plugins/register.ts'));
    });
    (nuxt.options.serverHandlers ??= []).push({ route: WATCH_ROUTE, method: 'get', handler: resolve('./runtime/server/routes/watch.ts') });
    nuxt.options.plugins.unshift({ src: resolve('./runtime/plugins/syncd-sync.client.ts'), mode: 'client' });
    // Server-only settings are read from OR3_SYNCD_* at run time; never into public config.
    nuxt.options.runtimeConfig.syncd ??= {};
    nuxt.options.runtimeConfig.public ??= {};
    nuxt.options.runtimeConfig.public.syncd = { watchPath: WATCH_ROUTE };
    (nuxt.options.build ??= {}).transpile = [...(nuxt.options.build?.transpile ?? []), 'or3-provider-syncd'];
}

or3ProviderSyncd.getMeta = async () => meta;
or3ProviderSyncd.getOptions = async (inline?: Record<string, unknown>) => inline ?? {};

export default or3ProviderSyncd;
