import { defineConfig } from 'vitest/config';

// `npm run bench`: the adapter-overhead and watch-latency benchmark against a real syncd.
export default defineConfig({
    test: {
        include: ['bench/**/*.bench.test.ts'],
        globalSetup: ['test/global-setup.ts'],
        testTimeout: 300_000,
        hookTimeout: 60_000,
        watch: false,
    },
});
